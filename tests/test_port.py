"""Serial ports on pseudo-terminals: exclusive opening, one-line errors with a kind, and reading across an unplug."""

import os
import stat
import threading
import time

import pytest

from firmware_bridge.port import PortError, PortErrorKind, PortProtocol, PortReader, open_port
from firmware_bridge.pty import PtyLink


def wait_for(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


def test_missing_port_is_a_one_line_error(tmp_path):
    with pytest.raises(PortError, match=r"not found; is the board plugged in") as e:
        open_port(str(tmp_path / "ttyNOPE"))
    assert "\n" not in str(e.value) and e.value.kind == PortErrorKind.NOT_FOUND and e.value.exit_code == 2


def test_a_plain_file_is_not_a_tty(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("x")
    with pytest.raises(PortError, match="not a serial device") as e:
        open_port(str(plain))
    assert e.value.kind == PortErrorKind.NOT_A_TTY


def test_second_opener_is_refused_as_busy():
    link = PtyLink()
    try:
        first = open_port(link.path)
        with pytest.raises(PortError, match="busy, another program") as e:
            open_port(link.path)
        assert e.value.kind == PortErrorKind.BUSY
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
            with pytest.raises(PortError, match="permission denied; add your user to the dialout group") as e:
                open_port(link.path)
            assert e.value.kind == PortErrorKind.PERMISSION
        finally:
            if root:
                os.seteuid(0)
    finally:
        link.close()


class Recorder(PortProtocol):
    """Every callback of a PortReader, in order: ("made", path), ("lost", kind), ("failed", kind); and the bytes."""

    def __init__(self):
        self.got, self.calls = bytearray(), []
        self.lock = threading.Lock()

    def connection_made(self, path):
        self.calls.append(("made", path))

    def data_received(self, data, host_time):
        with self.lock:
            self.got.extend(data)

    def connection_lost(self, error):
        self.calls.append(("lost", error.kind))

    def open_failed(self, error):
        self.calls.append(("failed", error.kind))


def test_reader_survives_unplug_and_reopens_the_new_device(tmp_path):
    sym = tmp_path / "ttyBOARD"
    link = PtyLink(sym)
    proto = Recorder()
    reader = PortReader(str(sym), proto, backoff_s=(0.02, 0.1))
    reader.start()
    try:
        assert reader.connected.wait(5)
        link.write(b"first")
        assert wait_for(lambda: bytes(proto.got) == b"first")
        link.close()                                   # unplug: the device disappears
        assert wait_for(lambda: reader.reconnects == 1 and not reader.connected.is_set())
        time.sleep(0.2)                                # a few failed reopen attempts with back-off
        link.open()                                    # it reappears (a new pty behind the same symlink)
        assert reader.connected.wait(5)
        link.write(b"second")
        assert wait_for(lambda: bytes(proto.got) == b"firstsecond")
    finally:
        reader.stop()
        link.close()
    assert not reader.is_alive()
    # typed, in order: open, lost (disconnected), reopening fails (the device is gone: not found),
    # open again
    made, lost, *failed, again = proto.calls
    assert made == again == ("made", str(sym)) and lost == ("lost", PortErrorKind.DISCONNECTED), proto.calls
    assert ("failed", PortErrorKind.NOT_FOUND) in failed, proto.calls
