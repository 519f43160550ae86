"""``edge-rep ports``: listing (pyserial's comports, monkeypatched: it never lists ptys) with by-id links and
USB ids, and ``--probe`` on real pseudo-terminals: a board's HELLO is heard, silence and foreign bytes are
told apart, and a port another process holds is reported busy without being opened."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest
from serial.tools import list_ports
from serial.tools.list_ports_common import ListPortInfo

from edge_rep import ports as P
from edge_rep.cli import main
from firmware_bridge.codec import encode
from firmware_bridge.port import open_port
from firmware_bridge.protocol import FMT_INT16, ChannelDescriptor, Hello
from firmware_bridge.pty import PtyLink

HELLO = Hello(board_id=7, seq=0, timestamp_us=10, board_uid=42, board_name="node-a", firmware="1.1.0",
              channels=[ChannelDescriptor(0, "acoustic", 8000.0, FMT_INT16, 20 / 32768, "Pa", "ICS-40180")])


@pytest.fixture
def board():
    """A pty whose board end repeats ``payload`` every 0.2 s from a thread (set ``payload`` to send)."""
    link = PtyLink()
    state = {"payload": b"", "stop": False}

    def send():
        while not state["stop"]:
            if state["payload"]:
                link.write(state["payload"])
            time.sleep(0.2)

    t = threading.Thread(target=send, daemon=True)
    t.start()
    yield link, state
    state["stop"] = True
    t.join(2)
    link.close()


def fake_port(device, vid=None, pid=None, serial=None, description="n/a"):
    p = ListPortInfo(device, skip_link_detection=True)
    p.vid, p.pid, p.serial_number, p.description = vid, pid, serial, description
    p.manufacturer, p.product = ("FTDI", "FT232R USB UART") if vid else (None, None)
    return p


def test_listing_gives_by_id_names_and_usb_ids(tmp_path, monkeypatch, capsys):
    dev_usb, dev_uart = tmp_path / "ttyUSB0", tmp_path / "ttyS0"
    dev_usb.touch()
    dev_uart.touch()
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    (by_id / "usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0").symlink_to(dev_usb)
    monkeypatch.setattr(list_ports, "comports", lambda: [fake_port(str(dev_uart)),
                                                         fake_port(str(dev_usb), 0x0403, 0x6001, "A50285BI",
                                                                   "FT232R USB UART")])
    monkeypatch.setattr(P, "BY_ID", by_id)
    got = {p.device: p for p in P.list_serial_ports()}
    usb = got[str(dev_usb)]
    assert usb.by_id == [str(by_id / "usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0")]
    assert (usb.vid, usb.pid, usb.serial_number) == (0x0403, 0x6001, "A50285BI")
    assert got[str(dev_uart)].by_id == [] and got[str(dev_uart)].vid is None
    assert main(["ports"]) == 0
    out = capsys.readouterr().out
    assert "USB 0403:6001" in out and "serial A50285BI" in out and "usb-FTDI_FT232R" in out and "not USB" in out
    assert "probe" not in out                      # nothing is opened without --probe


def test_no_ports_is_not_an_error(monkeypatch, capsys):
    monkeypatch.setattr(list_ports, "comports", lambda: [])
    assert main(["ports"]) == 0
    assert "no serial ports found" in capsys.readouterr().out
    assert main(["ports", "--json"]) == 0
    cap = capsys.readouterr()
    assert cap.out == "" and "no serial ports found" in cap.err


def test_probe_hears_a_board_hello(board):
    link, state = board
    state["payload"] = encode(HELLO)
    r = P.probe_port(link.path, seconds=3.0)
    assert r.state == "board" and r.board["board_id"] == 7 and r.board["name"] == "node-a"
    assert r.board["channels"][0]["modality"] == "acoustic" and r.seconds < 3.0   # stops at the first HELLO


def test_probe_tells_silence_from_foreign_bytes(board):
    link, state = board
    t0 = time.monotonic()
    r = P.probe_port(link.path, seconds=0.5)
    assert r.state == "silent" and r.bytes_in == 0 and time.monotonic() - t0 >= 0.5
    state["payload"] = b"AT+GMR\r\nOK\r\n"               # a modem, or the wrong baud rate
    r = P.probe_port(link.path, seconds=0.8)
    assert r.state == "bytes" and r.bytes_in > 0 and "baud" in r.detail


def test_probe_never_opens_a_port_held_by_another_process(board):
    link, state = board
    state["payload"] = encode(HELLO)
    with open_port(link.path) as held:          # the daemon's exclusive open, in this process
        r = P.probe_port(link.path, seconds=0.5)
        assert r.state == "busy" and held.is_open
    with open(link.path, "rb") as tty:          # a program that neither flocks nor sets TIOCEXCL
        holder = subprocess.Popen(["sleep", "30"], stdin=tty)
    try:
        deadline = time.monotonic() + 5
        while holder.pid not in P.holders(link.path) and time.monotonic() < deadline:
            time.sleep(0.05)
        r = P.probe_port(link.path, seconds=0.5)
        assert r.state == "busy" and str(holder.pid) in r.detail
    finally:
        holder.kill()
        holder.wait()


def test_cli_probe_json_on_a_named_port(board, capsys):
    link, state = board
    state["payload"] = encode(HELLO)
    assert main(["ports", "--port", link.path, "--probe", "--wait", "3", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["device"] == link.path and d["probe"]["state"] == "board" and d["probe"]["board"]["firmware"] == "1.1.0"
    assert main(["ports", "--probe", "--wait", "0"]) == 2           # bounds are checked
