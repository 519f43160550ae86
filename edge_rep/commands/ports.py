"""``edge-rep ports``: the serial ports, their stable names and USB ids; ``--probe`` listens for a board."""

from . import config_number, number

NAME = "ports"
HELP = "list serial ports (by-id names, USB vendor/product/serial); --probe listens for a board's HELLO"
EXAMPLE = "edge-rep ports --probe"
ORDER = 29


def add_arguments(p) -> None:
    from ..config import SerialSection

    p.add_argument("--probe", action="store_true",
                   help="open each port not held by another process and listen for a HELLO (opening a port can "
                        "reset a board; never done without this option)")
    p.add_argument("--port", action="append", default=None, metavar="PATH",
                   help="probe or list only this port (repeatable); with --probe it may be any tty, e.g. a pty")
    p.add_argument("--baud", type=config_number(SerialSection, "baud"), default=None,
                   help="baud rate for --probe (default 921600, the firmware's)")
    p.add_argument("--wait", type=number(float, gt=0, le=60), default=None, metavar="S",
                   help="seconds to listen per port (default 1.5: the HELLO period and a margin)")
    p.add_argument("--json", action="store_true", help="one JSON object per port")


def run(args) -> int:
    import json
    import os
    import sys
    from dataclasses import asdict

    from ..ports import PROBE_WAIT_S, PortInfo, list_serial_ports, probe_port

    ports = list_serial_ports()
    if args.port:
        known = {p.device: p for p in ports}
        ports = [known.get(os.path.realpath(path)) or known.get(path)
                 or PortInfo(device=path, description="not listed by the system (a pty, or not plugged in)")
                 for path in args.port]
    if not ports:       # not an error: the board may simply not be plugged in yet
        print("no serial ports found (plug the board in; ls /dev/serial/by-id)", file=sys.stderr if args.json else None)
        return 0
    for p in ports:
        probe = probe_port(p.device, args.baud, args.wait or PROBE_WAIT_S) if args.probe else None
        if args.json:
            d = asdict(p)
            if probe is not None:
                d["probe"] = asdict(probe)
            print(json.dumps(d))
            continue
        usb = (f"USB {p.vid:04x}:{p.pid:04x}" if p.vid is not None and p.pid is not None else "not USB")
        extras = ", ".join(x for x in (usb, p.manufacturer, p.product,
                                       f"serial {p.serial_number}" if p.serial_number else None) if x)
        print(f"{p.device}  {p.description}  ({extras})".replace("   ", "  "))
        for link in p.by_id:
            print(f"  {link}")
        if probe is not None:
            print(f"  probe: {probe.state}: {probe.detail}")
    return 0
