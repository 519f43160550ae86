"""``edge-rep record``: store a serial link's raw bytes with host receive times (a sensor log)."""

from ..config import SerialSection
from . import config_number, number, path_arg

NAME = "record"
HELP = "record the raw bytes of a sensor board's serial port into a sensor log (replayable byte for byte)"
EXAMPLE = "edge-rep record --port /dev/ttyUSB0 --out data/logs/car1.edgelog --label car --seconds 600"
ORDER = 41


def add_arguments(p) -> None:
    p.add_argument("--port", required=True, type=path_arg,
                   help="serial device, e.g. /dev/ttyUSB0 or a /dev/serial/by-id/ path")
    p.add_argument("--out", required=True, type=path_arg, help="log file to create (never overwritten)")
    p.add_argument("--baud", type=config_number(SerialSection, "baud"), default=SerialSection.baud,
                   help=f"line speed (default {SerialSection.baud})")
    p.add_argument("--format", choices=("binary", "csv"), default="binary",
                   help="what the board sends: binary protocol frames (default) or CSV lines")
    p.add_argument("--config", type=path_arg,
                   help="edge-rep.toml whose [csv] channel map is stored in the log (with --format csv; "
                        "default: the built-in defaults)")
    p.add_argument("--seconds", type=number(float, ge=0, le=366 * 86400), default=0.0,
                   help="stop after this long (default 0: until Ctrl-C)")
    p.add_argument("--label", metavar="CLASS", default=None,
                   help="label the whole recording with CLASS (one of the model's classes): writes "
                        "OUT.labels.json beside the log when the recording ends; relabel stretches later with "
                        "'edge-rep label OUT START END CLASS' (firmware_bridge/LOGFORMAT.md)")
    p.add_argument("--model", metavar="FILE", type=path_arg, default=None,
                   help="the model whose classes --label must name (default: the bundled model)")
    p.add_argument("--quiet", action="store_true", help="no periodic summary")


def run(args) -> int:
    import logging
    import os
    import signal
    import time

    from firmware_bridge.codec import Decoder
    from firmware_bridge.port import open_port
    from firmware_bridge.sensorlog import LogHeader, LogWriter, csv_header

    from .. import __version__
    from ..errors import EdgeRepError
    from ..stream.notices import LinkChange
    from ..stream.sources import SerialSource

    if args.label is not None:                     # a wrong class fails before the port is touched
        from ..log_conversion import check_class, labels_path
        from ..modelinfo import model_info
        check_class(args.label, model_info(args.model)["classes"], where="--label")
        if os.path.lexists(labels_path(args.out)):
            raise EdgeRepError(f"--out {args.out}: {labels_path(args.out)} already exists (labels of another "
                               f"recording?); choose another --out or move that file")
    extra = {}
    if args.format == "csv":                       # the channel map, so the log can be decoded later
        from ..config import load_config
        cfg = load_config(args.config)
        extra = csv_header(cfg.csv.channels, cfg.csv.separator)
    open_port(args.port, args.baud).close()        # a missing, busy or forbidden port fails here, with one line
    writer = LogWriter(args.out, LogHeader(port=args.port, baudrate=args.baud, input=args.format,
                                           tool=f"edge-rep {__version__}", extra=extra))
    # The stream's serial source: bytes go to the log on the reader thread, as they arrive; once open,
    # the port is waited for across unplugs for as long as the recording runs.
    source = SerialSource(args.port, args.baud, reconnect_s=(0.1, 2.0), open_timeout_s=0, writer=writer)
    logging.getLogger("edge_rep.stream").addHandler(logging.NullHandler())   # link changes are printed below
    dec = Decoder() if args.format == "binary" else None
    t_end = time.monotonic() + args.seconds if args.seconds > 0 else float("inf")
    next_report = time.monotonic() + 5.0

    def on_term(signum, frame):                    # systemd stop: end like Ctrl-C, keeping every byte
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        source.start()
        for batch in source:
            for item in batch:
                if isinstance(item, LinkChange):
                    print(f"record: {item.message}", flush=True)
                elif dec:
                    dec.feed(item.data)
            if source.record_error:
                raise EdgeRepError(f"log {args.out}: writing failed ({source.record_error}); it holds what came "
                                   f"before; free some space and record again")
            if not args.quiet and time.monotonic() >= next_report:
                next_report += 5.0
                stats = (f", {dec.stats.frames} frames, {dec.stats.crc_errors} CRC errors" if dec else "")
                print(f"record: {writer.bytes} bytes{stats}", flush=True)
            if time.monotonic() >= t_end:
                break
    except KeyboardInterrupt:
        pass                                        # Ctrl-C ends a recording normally: keep what was taken
    finally:
        source.close()                              # stops the reader, then closes (fsyncs) the log
    print(f"wrote {args.out}: {writer.bytes} bytes in {writer.records} records")
    if args.label is not None:
        from ..log_conversion import write_labels
        from ..recording import LabelInterval
        if writer.last_time is None:
            print(f"record: no bytes came, so {args.out} is not labelled")
        else:
            span = max(writer.last_time - writer.header.start_time, 1e-3)
            path = write_labels(args.out, [LabelInterval(0.0, round(span, 3), args.label)])
            print(f"wrote {path}: 0..{span:.1f} s {args.label}")
    return 0
