"""Serial ports on pseudo-terminals: exclusive opening, one-line errors, and reading across an unplug."""

import os
import stat
import threading
import time

import pytest

from firmware_bridge.errors import BridgeError
from firmware_bridge.port import PortReader, open_port
from firmware_bridge.pty import PtyLink


def wait_for(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


def test_missing_port_is_a_one_line_error(tmp_path):
    with pytest.raises(BridgeError, match=r"not found; is the board plugged in") as e:
        open_port(str(tmp_path / "ttyNOPE"))
    assert "\n" not in str(e.value)


def test_second_opener_is_refused_as_busy():
    link = PtyLink()
    try:
        first = open_port(link.path)
        with pytest.raises(BridgeError, match="busy, another program"):
            open_port(link.path)
        first.close()
        open_port(link.path).close()        # free again once the first one let go
    finally:
        link.close()


def test_permission_denied_names_the_dialout_group():
    link = PtyLink()
    root = os.geteuid() == 0
    try:
        os.chmod(link.path, stat.S_IRUSR | stat.S_IWUSR if root else 0)   # owner-only, like root:dialout 0660
        if root:
            os.seteuid(65534)          # act as an outsider: root would bypass the permission check
        try:
            with pytest.raises(BridgeError, match="permission denied; add your user to the dialout group"):
                open_port(link.path)
        finally:
            if root:
                os.seteuid(0)
    finally:
        link.close()


def test_reader_survives_unplug_and_reopens_the_new_device(tmp_path):
    sym = tmp_path / "ttyBOARD"
    link = PtyLink(sym)
    got, states = bytearray(), []
    lock = threading.Lock()

    def on_bytes(data, t):
        with lock:
            got.extend(data)

    reader = PortReader(str(sym), on_bytes, on_state=states.append, backoff_s=(0.02, 0.1))
    reader.start()
    try:
        assert reader.connected.wait(5)
        link.write(b"first")
        assert wait_for(lambda: bytes(got) == b"first")
        link.close()                                   # unplug: the device disappears
        assert wait_for(lambda: reader.reconnects == 1 and not reader.connected.is_set())
        time.sleep(0.2)                                # a few failed reopen attempts with back-off
        link.open()                                    # it reappears (a new pty behind the same symlink)
        assert reader.connected.wait(5)
        link.write(b"second")
        assert wait_for(lambda: bytes(got) == b"firstsecond")
        assert any(s.startswith("disconnected") for s in states) and any(s.startswith("waiting") for s in states)
    finally:
        reader.stop()
        link.close()
    assert not reader.is_alive()
