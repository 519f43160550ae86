"""``edge-rep replay``: log playback, a recorded sensor log through exactly the live streaming path.

The command keeps the name users know; inside the code this is *log playback*, and *replay* means
REP replaying a dropped modality's cached buffers (docs/architecture.md, glossary)."""

from . import path_arg
from .stream import add_common, apply_common

NAME = "replay"
HELP = "run a recorded sensor log through the streaming path (same output as live, deterministic)"
EXAMPLE = "edge-rep replay tests/data/logs/acoustic_drop.edgelog --speed max --out replay.jsonl"
# With LOG.labels.json beside the log, window and detection lines gain "truth" and the run ends with a
# per-scenario accuracy table and the detection metrics (stderr; stream/truth.py).
ORDER = 31


def add_arguments(p) -> None:
    p.add_argument("log", metavar="LOG", type=path_arg,
                   help="sensor log (edge-rep record, or edge-rep stream --record)")
    p.add_argument("--speed", choices=("realtime", "max"), default="max",
                   help="pace records as they arrived (realtime) or as fast as possible (max, default)")
    add_common(p)


def run(args) -> int:
    import sys

    from ..config import load_config
    from ..inpaths import input_file
    from ..stream.daemon import model_meta, open_backend, run_playback, setup_logging
    from ..stream.truth import LogTruth

    input_file(args.log, "sensor log", option="LOG")     # a FIFO or a device is refused unread
    cfg = load_config(args.config)
    apply_common(cfg, args)
    setup_logging(cfg.logging.level)
    truth = LogTruth.for_log(args.log, model_meta(cfg).classes)     # None without labels; before the model loads
    backend = open_backend(cfg)
    runner = run_playback(cfg, args.log, args.speed, backend=backend, json_lines=args.json, truth=truth)
    print(f"edge-rep replay: {runner.summary()}", file=sys.stderr)
    if truth is not None:
        print(f"edge-rep replay: against {args.log}.labels.json\n{truth.finish().table()}", end="", file=sys.stderr)
    return 0
