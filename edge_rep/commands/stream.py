"""``edge-rep stream``: classify a sensor board's serial stream, surviving dropped channels."""

from ..backends import CHOICES as BACKENDS   # the names only: imports no runtime
from ..config import LoggingSection, SerialSection, key_choices   # light: option help and choices come from the schema

NAME = "stream"
HELP = "classify a sensor board's serial stream live (JSON lines out), replaying dropped channels' buffers"
EXAMPLE = "edge-rep stream --port /dev/ttyUSB0 --out results.jsonl --record logs/"
ORDER = 30


def add_common(p) -> None:
    """Options shared with ``edge-rep replay``."""
    p.add_argument("--config", metavar="TOML", help="edge-rep.toml (default: built-in defaults)")
    p.add_argument("--model", metavar="FILE", help="model file (.engine, .onnx or .safetensors); default: bundled")
    p.add_argument("--backend", choices=BACKENDS, help="runtime (default: [model] backend, auto)")
    p.add_argument("--out", metavar="-|FILE.jsonl", help="JSON lines to stdout (-) or a file (default: [output] jsonl)")
    p.add_argument("--holdover", type=float, metavar="S", help="seconds a dropped modality's buffers are replayed")
    p.add_argument("--log-level", choices=key_choices(LoggingSection, "level"), help="diagnostics on stderr")


def add_arguments(p) -> None:
    p.add_argument("--port", help=f"serial device (default: [serial] port, {SerialSection.port})")
    p.add_argument("--baud", type=int, help=f"line speed (default: [serial] baud, {SerialSection.baud})")
    p.add_argument("--record", metavar="DIR", help="also write the raw bytes as sensor logs into DIR")
    add_common(p)


def apply_common(cfg, args) -> None:
    from ..errors import EdgeRepError
    if args.model:
        cfg.model.path = args.model
    if args.backend:
        cfg.model.backend = args.backend
    if args.out:
        cfg.output.jsonl = args.out
    if args.holdover is not None:
        if not args.holdover >= 0:
            raise EdgeRepError(f"--holdover {args.holdover}: must be >= 0 seconds")
        cfg.replay.holdover_s = args.holdover
    if args.log_level:
        cfg.logging.level = args.log_level


def run(args) -> int:
    import sys

    from ..config import load_config
    from ..errors import EdgeRepError
    from ..stream.daemon import run_stream, setup_logging

    cfg = load_config(args.config)
    apply_common(cfg, args)
    if args.port:
        cfg.serial.port = args.port
    if args.baud is not None:
        if args.baud <= 0:
            raise EdgeRepError(f"--baud {args.baud}: must be a positive number of baud, e.g. 921600")
        cfg.serial.baud = args.baud
    if args.record:
        cfg.record.dir = args.record
    setup_logging(cfg.logging.level)
    runner = run_stream(cfg)
    print(f"edge-rep stream: {runner.summary()}", file=sys.stderr)
    return 0
