"""``edge-rep stream``: classify a sensor board's serial stream, surviving dropped channels."""

from ..backends import CHOICES as BACKENDS   # the names only: imports no runtime
from ..config import LoggingSection, ReplaySection, SerialSection, key_choices   # light: help, choices, bounds
from . import config_number, path_arg

NAME = "stream"
HELP = "classify a sensor board's serial stream live (JSON lines out), replaying dropped channels' buffers"
EXAMPLE = "edge-rep stream --port /dev/ttyUSB0 --model build/export/model.onnx --out results.jsonl --record data/logs/"
ORDER = 30


def add_common(p) -> None:
    """Options shared with ``edge-rep replay``."""
    p.add_argument("--config", metavar="TOML", type=path_arg, help="edge-rep.toml (default: built-in defaults)")
    p.add_argument("--model", metavar="FILE", type=path_arg,
                   help="model file (.engine, .onnx or .safetensors); default: bundled")
    p.add_argument("--backend", choices=BACKENDS, help="runtime (default: [model] backend, auto)")
    p.add_argument("--out", metavar="-|FILE.jsonl", type=path_arg,
                   help="JSON lines to stdout (-) or a file (default: [output] jsonl)")
    p.add_argument("--holdover", type=config_number(ReplaySection, "holdover_s"), metavar="S",
                   help="seconds a dropped modality's buffers are replayed")
    p.add_argument("--log-level", choices=key_choices(LoggingSection, "level"), help="diagnostics on stderr")
    p.add_argument("--json", action="store_true",
                   help="JSON lines on stdout even when it is a terminal (default there: one readable line per "
                        "window and per event; a pipe or a file always gets JSON lines)")
    add_http(p)


def add_http(p) -> None:
    """``--http`` and ``--http-public`` (stream, replay, demo)."""
    p.add_argument("--http", metavar="HOST:PORT", type=path_arg,
                   help="also serve a live web page there (latest label and probabilities, channel health, "
                        "scenario and buffer replay, events, a spectrogram per modality), e.g. 127.0.0.1:8080 "
                        "(default: [http] address, off); loopback only unless --http-public")
    p.add_argument("--http-public", action="store_true",
                   help="allow a --http address reachable from the network (the page has no authentication)")


def apply_http(cfg, args) -> None:
    """The web view's options over ``[http]``, checked as the config file's are (one line, exit 2)."""
    from ..config import http_endpoint
    if args.http is not None:
        cfg.http.address = args.http
    if args.http_public:
        cfg.http.public = True
    if cfg.http.address and (args.http is not None or args.http_public):
        http_endpoint(cfg.http.address, cfg.http.public)


def add_arguments(p) -> None:
    p.add_argument("--port", type=path_arg, help=f"serial device (default: [serial] port, {SerialSection.port})")
    p.add_argument("--baud", type=config_number(SerialSection, "baud"),
                   help=f"line speed (default: [serial] baud, {SerialSection.baud})")
    p.add_argument("--record", metavar="DIR", type=path_arg, help="also write the raw bytes as sensor logs into DIR")
    add_common(p)


def apply_common(cfg, args) -> None:
    from ..inpaths import input_file
    if args.model:
        cfg.model.path = str(input_file(args.model, "model file", option="--model"))
    if args.backend:
        cfg.model.backend = args.backend
    if args.out:
        cfg.output.jsonl = args.out
    if args.holdover is not None:
        cfg.replay.holdover_s = args.holdover
    if args.log_level:
        cfg.logging.level = args.log_level
    apply_http(cfg, args)
    from ..config import check_detections
    from ..stream.daemon import model_meta
    check_detections(cfg, model_meta(cfg).classes)     # [detections] against the model, before it loads


def run(args) -> int:
    import sys

    from firmware_bridge.port import check_port_path

    from ..config import load_config
    from ..stream.daemon import run_stream, setup_logging

    cfg = load_config(args.config)
    apply_common(cfg, args)
    if args.port:
        cfg.serial.port = args.port
    if args.baud is not None:
        cfg.serial.baud = args.baud
    if args.record:
        cfg.record.dir = args.record
    check_port_path(cfg.serial.port)    # a directory or a file fails now; a missing port is waited for
    setup_logging(cfg.logging.level)
    runner = run_stream(cfg, json_lines=args.json)
    print(f"edge-rep stream: {runner.summary()}", file=sys.stderr)
    return 0
