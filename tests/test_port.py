"""Serial ports on pseudo-terminals: exclusive opening, one-line errors with a kind, and reading across an unplug."""

import errno
import os
import stat
import threading
import time

import pytest
from unprivileged import as_nobody

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


# -- exclusive access, and a reader thread no exception ends -----------------------------------------------

def _plain_open(path):
    """What a program that does not flock (cat, a terminal, ModemManager) gets when it opens ``path``."""
    def attempt():
        try:
            fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as e:
            return errno.errorcode[e.errno]
        os.close(fd)
        return "opened"
    return attempt


def test_tiocexcl_keeps_programs_that_do_not_flock_out():
    master, slave = os.openpty()
    path = os.ttyname(slave)
    os.chmod(path, 0o666)                   # our own pty: an unprivileged child may try it
    try:
        assert as_nobody(_plain_open(path)) == "opened"       # nobody holds it: anyone may open it
        ser = open_port(path)
        assert as_nobody(_plain_open(path)) == "EBUSY"        # the kernel's exclusive mode, not only the flock

        def with_pyserial():
            try:
                open_port(path)
            except PortError as e:
                return [e.kind.value, str(e)]
            return "opened"
        assert as_nobody(with_pyserial) == ["busy", f"port {path}: busy, another program has it open; stop it "
                                                    f"(fuser {path})"]
        ser.close()
        assert as_nobody(_plain_open(path)) == "opened"       # closing leaves the exclusive mode
    finally:
        os.close(master)
        os.close(slave)


def test_an_impossible_baud_rate_is_a_settings_error_and_the_reader_survives_it():
    link = PtyLink()
    try:
        with pytest.raises(PortError) as e:
            open_port(link.path, 9223372036854775807)
        assert e.value.kind == PortErrorKind.BAD_SETTINGS
        assert str(e.value) == (f"port {link.path}: cannot use 9223372036854775807 baud (signed integer is greater "
                                f"than maximum); set a baud rate the board uses, e.g. 921600")
        proto = Recorder()
        reader = PortReader(link.path, proto, baudrate=9223372036854775807, backoff_s=(1e300, 1e300))
        reader.start()
        try:
            assert wait_for(lambda: proto.calls)
            time.sleep(0.2)
            assert reader.is_alive() and proto.calls == [("failed", PortErrorKind.BAD_SETTINGS)]   # said once
        finally:
            reader.stop()                    # a back-off of 1e300 s is capped: stop() ends the wait at once
        assert not reader.is_alive()
    finally:
        link.close()


def test_the_reader_outlives_exceptions_in_its_protocol_and_in_opening(monkeypatch, caplog):
    import firmware_bridge.port as port_mod
    link = PtyLink()

    class Flaky(Recorder):
        def data_received(self, data, host_time):
            if b"!" in data:
                raise RuntimeError("a bug in the owner")
            super().data_received(data, host_time)

    real_open, calls = port_mod.open_port, []

    def open_once_broken(path, baudrate):
        calls.append(path)
        if len(calls) == 1:
            raise RuntimeError("pyserial tripped")
        return real_open(path, baudrate)

    monkeypatch.setattr(port_mod, "open_port", open_once_broken)
    proto = Flaky()
    failures = []
    proto.open_failed = lambda e: failures.append((e.kind, str(e)))
    reader = PortReader(link.path, proto, backoff_s=(0.02, 0.05))
    reader.start()
    try:
        assert reader.connected.wait(5)
        assert failures == [(PortErrorKind.CANNOT_OPEN,
                             f"port {link.path}: cannot open it (RuntimeError: pyserial tripped); retrying")]
        link.write(b"!")
        time.sleep(0.2)
        link.write(b"after")
        assert wait_for(lambda: bytes(proto.got) == b"after"), (bytes(proto.got), reader.errors)
        assert reader.is_alive() and reader.errors == 2 and reader.reconnects == 0
    finally:
        reader.stop()
        link.close()
    assert (f"port {link.path}: data_received failed (RuntimeError: a bug in the owner); the reader goes on "
            f"(2 such errors)") in caplog.text


def test_a_device_policy_denial_is_a_fatal_permission_error_naming_the_policy():
    """EPERM is what a cgroup device policy (systemd DevicePolicy=closed, a container without --device)
    answers; waiting never helps, so it is fatal like EACCES, and the line says which policy to open."""
    from firmware_bridge.port import _open_error
    e = _open_error("/dev/ttyTHS1", OSError(errno.EPERM, "Operation not permitted"))
    assert e.kind == PortErrorKind.PERMISSION and e.exit_code == 2
    assert "DeviceAllow=" in str(e) and "--device /dev/ttyTHS1" in str(e) and "\n" not in str(e)
