"""``edge-rep doctor``: check this host or Jetson (model, TensorRT, engine, parity, latency, serial port,
service, disk), one line per check, for a bug report."""

from . import path_arg

NAME = "doctor"
HELP = ("check this device: model, TensorRT and engine, parity, latency, serial port, service, disk space "
        "(one line per check; exit 1 on a failure)")
EXAMPLE = "edge-rep doctor --config /etc/edge-rep/edge-rep.toml"
ORDER = 28


def add_arguments(p) -> None:
    p.add_argument("--config", type=path_arg, default=None, metavar="FILE",
                   help="edge-rep.toml to check (default: /etc/edge-rep/edge-rep.toml when it exists, else the "
                        "defaults)")
    p.add_argument("--model", type=path_arg, default=None, metavar="M",
                   help="model file or stem (default: the config's [model] path, else the bundled model)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")


def run(args) -> int:
    import json

    from ..doctor import Context, format_report, run_checks

    report = run_checks(Context.from_options(args.config, args.model))
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 1 if report["failed"] else 0
