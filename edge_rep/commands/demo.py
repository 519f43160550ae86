"""``edge-rep demo``: the main job on embedded defaults (no hardware).

A simulated sensor board streams synthetic pass-bys over a pseudo-terminal; ``edge-rep stream``'s
own code reads that pty with the bundled model. The board's microphone drops out for the middle third
and comes back: classification carries on through the drop, first replaying the acoustic buffers
cached before it, then (after the hold-over) on the scenario's learned buffers, and the channel's
recovery is reported. Window and detection lines carry the simulator's own truth; after each detection
the running accuracy against it is printed, and the scores at the end.
"""

from ..backends import CHOICES as BACKENDS   # the names only: imports no runtime
from ..config import ReplaySection
from . import SEED, config_number, number, path_arg
from .stream import add_http, apply_http

NAME = "demo"
HELP = "run the main job on embedded defaults: a simulated sensor board and the bundled model"
EXAMPLE = "edge-rep demo --seconds 30"
ORDER = 0


def add_arguments(p) -> None:
    p.add_argument("--seconds", type=number(float, ge=5, le=3600), default=30.0, help="how long to run (default 30)")
    p.add_argument("--seed", type=SEED, default=7, help="seed of the synthetic signals (default 7)")
    p.add_argument("--holdover", type=config_number(ReplaySection, "holdover_s"), default=5.0,
                   help="seconds the dropped microphone's buffers are replayed (default 5, short to show both)")
    p.add_argument("--json", action="store_true", help="print the JSON lines instead of readable lines")
    p.add_argument("--model", metavar="FILE", type=path_arg, help="model file (default: the bundled model)")
    p.add_argument("--backend", choices=BACKENDS, default="auto")
    add_http(p)


def run(args) -> int:
    import sys
    import tempfile
    import threading
    from pathlib import Path

    from firmware_bridge.pty import PtyLink

    from ..config import load_config
    from ..errors import EdgeRepError
    from ..inpaths import input_file
    from ..simulator import Scenario, Simulator, run_realtime
    from ..stream.daemon import open_backend, run_stream, setup_logging
    from ..stream.outputs import JsonlSink
    from ..stream.truth import LogTruth, RunningAccuracySink

    cfg = load_config(None)
    cfg.model.path = str(input_file(args.model, "model file", option="--model")) if args.model else ""
    cfg.model.backend = args.backend
    cfg.replay.holdover_s = args.holdover
    cfg.output.status_line = "off"
    cfg.node.id = "demo"
    cfg.serial.reconnect_min_s, cfg.serial.open_timeout_s = 0.2, 10.0
    apply_http(cfg, args)
    setup_logging("warning")
    backend = open_backend(cfg)
    cfg.detections.alarm_classes = [c for c in backend.meta.classes if c != "background"]

    secs = args.seconds
    drop_at, back_at = round(secs / 3), round(2 * secs / 3)
    scenario = Scenario.parse([f"drop:acoustic@{drop_at}-{back_at}"])
    print(f"edge-rep demo: simulating a board for {secs:g} s (synthetic pass-bys, seed {args.seed}); "
          f"its microphone drops at t={drop_at} s and returns at t={back_at} s", flush=True)
    sim = Simulator.synthetic(backend.meta.profile, secs + 1, args.seed, scenario)
    with tempfile.TemporaryDirectory(prefix="edge-rep-demo-") as tmp:
        link = PtyLink(Path(tmp) / "board")
        cfg.serial.port = str(link.link)
        print(f"edge-rep demo: board on {link.path}; streaming it with {backend.describe()}, "
              f"buffer hold-over {args.holdover:g} s", flush=True)
        if cfg.http.address:
            print(f"edge-rep demo: follow it live on {_page_url(cfg)}", flush=True)
        board = threading.Thread(target=run_realtime, args=(sim, link), kwargs={"on_event": lambda s: None},
                                 daemon=True, name="simulated board")
        # the simulated board boots once, at the recording's start: its board time is the labels' time
        truth = LogTruth(sim.recording.labels, {0: 0.0})
        sink = JsonlSink("-") if args.json else RunningAccuracySink(truth, sys.stdout)
        try:
            runner = run_stream(cfg, backend, sinks=[sink], on_started=board.start, stop_after_s=secs + 0.5,
                                truth=truth)
        finally:
            if board.is_alive():
                board.join(timeout=5)     # the board's last packets, before its pty goes away
            link.close()
    s = runner.stats
    print(f"edge-rep demo: {runner.summary()}", file=sys.stderr)
    print(f"edge-rep demo: against the simulator's truth\n{truth.finish().table()}", end="",
          file=sys.stderr if args.json else sys.stdout)
    if s.classified == 0:
        raise EdgeRepError("the demo classified no window; run 'edge-rep simulate' and 'edge-rep stream' by hand "
                           "to see where it stops", exit_code=1)
    return 0


def _page_url(cfg) -> str:
    """The web view's address; port 0 is resolved here to a free port, so that it can be printed."""
    import socket

    from ..config import http_endpoint
    host, port = http_endpoint(cfg.http.address, cfg.http.public)
    if port == 0:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        cfg.http.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"
