"""Serial ports and the boards on them: ``edge-rep ports [--probe]``.

    for p in list_serial_ports(): print(p.device, p.by_id, p.vid, p.pid, p.serial_number)
    result = probe_port("/dev/ttyUSB0")      # ProbeResult: state "board" | "bytes" | "silent" | "busy" | "error"

Listing only reads sysfs (pyserial's ``serial.tools.list_ports``) and /dev/serial/by-id: it never opens a
port. Probing opens one, which can reset a board (DTR) or take bytes from a daemon reading it, so it is
done only when asked, and never on a port another process holds: it takes the daemon's own exclusive open
(``firmware_bridge.port.open_port``: flock + TIOCEXCL), and first looks in /proc for any process with the
device open (TIOCEXCL does not stop root, and a terminal program does not flock).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from firmware_bridge.protocol import HELLO_PERIOD_S

BY_ID = Path("/dev/serial/by-id")
PROBE_WAIT_S = HELLO_PERIOD_S + 0.5     # a 1.1 board repeats its HELLO every second; margin for a late one


@dataclass
class PortInfo:
    """One serial port. ``vid``/``pid``: USB vendor/product ids (None for a non-USB port)."""

    device: str
    by_id: list[str] = field(default_factory=list)
    description: str = ""
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None
    manufacturer: str | None = None
    product: str | None = None
    location: str | None = None


@dataclass
class ProbeResult:
    """What listening to a port for ``seconds`` heard. ``state``: "board" (a HELLO decoded: ``board``
    holds its id, name, firmware and channels), "bytes" (bytes but no edge-rep frame: another baud rate or
    another device), "silent", "busy" (another process holds it: not opened) or "error" (cannot open)."""

    state: str
    detail: str = ""
    seconds: float = 0.0
    bytes_in: int = 0
    board: dict | None = None


def _by_id_links(by_id: Path | None = None) -> dict[str, list[str]]:
    """Real device path -> its /dev/serial/by-id links."""
    links: dict[str, list[str]] = {}
    try:
        entries = sorted((by_id or BY_ID).iterdir())
    except OSError:
        return links
    for e in entries:
        try:
            links.setdefault(os.path.realpath(e), []).append(str(e))
        except OSError:
            continue
    return links


def list_serial_ports(by_id: Path | None = None) -> list[PortInfo]:
    """The serial ports the system knows (pyserial's ``comports``), sorted by device, each with its
    ``by_id`` (default /dev/serial/by-id) links and USB ids. Empty when there are none."""
    from serial.tools import list_ports

    links = _by_id_links(by_id)
    ports = []
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        ports.append(PortInfo(device=p.device, by_id=links.get(os.path.realpath(p.device), []),
                              description=p.description if p.description not in (None, "n/a") else "",
                              vid=p.vid, pid=p.pid, serial_number=p.serial_number, manufacturer=p.manufacturer,
                              product=p.product, location=p.location))
    return ports


def holders(path: str, proc: Path = Path("/proc")) -> list[int]:
    """Process ids (other than this one) with ``path``'s device open, from /proc/PID/fd; [] when /proc is
    unreadable."""
    try:
        target = os.stat(path).st_rdev
    except OSError:
        return []
    found = []
    for pid_dir in proc.glob("[0-9]*"):
        if pid_dir.name == str(os.getpid()):
            continue
        try:
            for fd in os.scandir(pid_dir / "fd"):
                try:
                    st = os.stat(fd.path)
                except OSError:
                    continue
                if st.st_rdev == target and os.path.realpath(fd.path).startswith("/dev/"):
                    found.append(int(pid_dir.name))
                    break
        except OSError:
            continue
    return sorted(found)


def probe_port(path: str, baudrate: int | None = None, seconds: float = PROBE_WAIT_S) -> ProbeResult:
    """Listen to ``path`` for up to ``seconds`` (stopping at the first HELLO) and say what is there. A port
    another process holds is reported "busy" and not read. Never raises for a port's state."""
    from firmware_bridge.codec import Decoder
    from firmware_bridge.port import DEFAULT_BAUDRATE, PortError, PortErrorKind, open_port
    from firmware_bridge.protocol import Hello

    held = holders(path)
    if held:
        return ProbeResult("busy", f"held by process {', '.join(map(str, held))}; not opened (fuser -v {path})")
    try:
        ser = open_port(path, baudrate or DEFAULT_BAUDRATE, timeout=0.05)
    except PortError as e:
        return ProbeResult("busy" if e.kind == PortErrorKind.BUSY else "error", str(e))
    dec = Decoder()
    start = time.monotonic()
    try:
        while (elapsed := time.monotonic() - start) < seconds:
            try:
                data = ser.read(max(1, ser.in_waiting))
            except Exception as e:  # noqa: BLE001 - SerialException/OSError: the device went away
                return ProbeResult("error", f"read failed ({e})", elapsed, dec.stats.bytes_in)
            for m in dec.feed(data) if data else ():
                if isinstance(m, Hello):
                    board = {"board_id": m.board_id, "board_uid": m.board_uid, "name": m.board_name,
                             "firmware": m.firmware,
                             "channels": [{"id": c.channel_id, "modality": c.modality, "sample_rate_hz": c.sample_rate,
                                           "units": c.units, "sensor": c.sensor} for c in m.channels]}
                    return ProbeResult("board", f"HELLO from board {m.board_id} '{m.board_name}' firmware "
                                       f"{m.firmware}: " + ", ".join(f"{c.modality} {c.sample_rate:g} Hz"
                                                                     for c in m.channels),
                                       time.monotonic() - start, dec.stats.bytes_in, board)
    finally:
        ser.close()
    n = dec.stats.bytes_in
    if n:
        return ProbeResult("bytes", f"{n} bytes but no edge-rep HELLO in {seconds:g} s; check the baud rate "
                           "(serial.baud) or that this is the sensor board", seconds, n)
    return ProbeResult("silent", f"nothing heard in {seconds:g} s (a board repeats its HELLO every "
                       f"{HELLO_PERIOD_S:g} s); is it powered and flashed?", seconds, 0)
