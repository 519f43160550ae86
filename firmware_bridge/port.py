"""Serial ports: opening with typed errors, and a reader thread that survives unplugging.

    ser = open_port("/dev/ttyUSB0", 921600)      # PortError (kind NOT_FOUND, BUSY, ...) if it cannot

    class Board(PortProtocol):
        def data_received(self, data, host_time): ...
        def connection_lost(self, error): ...     # error.kind is DISCONNECTED; the reader reopens

    reader = PortReader("/dev/ttyUSB0", Board())
    reader.start(); ...; reader.stop()

``PortReader`` is a thread (after pyserial's serial.threaded.ReaderThread) that reads whatever arrives
and hands it to a ``PortProtocol`` object. When the device goes away (SerialException/OSError, e.g. a
USB unplug) it closes the port and reopens it with exponential back-off until it comes back or
``stop()`` is called. No exception ends the thread: anything unexpected (a setting pyserial refuses, a
bug in a protocol callback) is reported to the protocol or logged, and the reader goes on. Opening a
port can reset the board; its HELLO tells the decoder.

Exclusive access is taken twice: pyserial's ``exclusive=True`` is an advisory ``flock`` that only other
flock users respect, so the port is also put in the kernel's exclusive mode (``TIOCEXCL``), which makes
every other open fail with EBUSY (except for root), until it is closed.

Every failure is a ``PortError`` whose ``kind`` (a ``PortErrorKind``) says what went wrong, so callers
branch on the kind, never on the message; the message is the one line a user reads.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import math
import os
import stat
import termios
import threading
import time
from enum import Enum

import serial

from .errors import BridgeError

DEFAULT_BAUDRATE = 921600
MAX_WAIT_S = 3600.0        # longest back-off between reopen attempts, whatever is configured

log = logging.getLogger("firmware_bridge.port")


class PortErrorKind(str, Enum):
    NOT_FOUND = "not_found"          # no such device (unplugged, wrong path); it may appear later
    PERMISSION = "permission"        # this user may not open it (the dialout group)
    BUSY = "busy"                    # another program holds it (exclusive open)
    NOT_A_TTY = "not_a_tty"          # the path is not a serial device
    BAD_SETTINGS = "bad_settings"    # the device refuses the line settings (an impossible baud rate)
    CANNOT_OPEN = "cannot_open"      # any other failure to open it
    DISCONNECTED = "disconnected"    # it went away while open (a USB unplug)


class PortError(BridgeError):
    """A serial port that cannot be opened or went away. ``kind``: what happened; ``path``: the port;
    ``cause``: the operating system's words ("" when the kind says it all)."""

    def __init__(self, kind: PortErrorKind, path: str, message: str, cause: str = ""):
        super().__init__(message)
        self.kind, self.path, self.cause = kind, path, cause


# errno -> (kind, what the user reads after "port PATH: ")
_OPEN_ERRORS = {
    errno.ENOENT: (PortErrorKind.NOT_FOUND, "not found; is the board plugged in? (see ls /dev/serial/by-id)"),
    errno.EACCES: (PortErrorKind.PERMISSION, "permission denied; add your user to the dialout group "
                                             "(sudo usermod -aG dialout $USER) and log in again"),
    # a cgroup device policy (systemd's DevicePolicy=closed, a container without --device) denies the open
    # with EPERM: waiting will not help, so it is fatal like EACCES, with the policy named
    errno.EPERM: (PortErrorKind.PERMISSION, "not permitted by the device policy; allow it (systemd: "
                                            "DeviceAllow=char-tty... in the unit; docker: --device {path})"),
    errno.EBUSY: (PortErrorKind.BUSY, "busy, another program has it open; stop it (fuser {path})"),
    errno.EAGAIN: (PortErrorKind.BUSY, "busy, another program has it open; stop it (fuser {path})"),
    errno.ENOTTY: (PortErrorKind.NOT_A_TTY, "not a serial device; give the board's tty"),
}


def _errno(e: BaseException) -> int | None:
    """The OS error number behind a pyserial failure. pyserial raises its configuration errors (e.g.
    ENOTTY from termios on a plain file) without one; the exception they wrap has it."""
    while e is not None:
        code = getattr(e, "errno", None)
        if code is None and e.args and isinstance(e.args[0], int):
            code = e.args[0]                   # termios.error(errno, text)
        if code is not None:
            return code
        e = e.__cause__ or e.__context__
    return None


def _open_error(path: str, e: BaseException) -> PortError:
    """The ``PortError`` for an exception raised while opening ``path``."""
    kind, text = _OPEN_ERRORS.get(_errno(e), (PortErrorKind.CANNOT_OPEN, "cannot open it ({cause}); check the device"))
    return PortError(kind, path, f"port {path}: " + text.format(path=path, cause=e), str(e))


def check_port_path(path: str) -> None:
    """``PortError`` (kind NOT_A_TTY) at once when ``path`` exists but is no device (a directory, a regular
    file, a FIFO): waiting will not turn it into one. A path not there yet passes: the board may come."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        if e.errno in (errno.ENAMETOOLONG, errno.ELOOP):
            raise PortError(PortErrorKind.NOT_A_TTY, path, f"port {path[:60]}: {e.strerror}; give the board's tty",
                            e.strerror) from None
        return                          # not there yet, or unreadable: open_port says which
    if not stat.S_ISCHR(mode):
        kind = ("a directory" if stat.S_ISDIR(mode) else "a regular file" if stat.S_ISREG(mode)
                else "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "not a character device")
        raise PortError(PortErrorKind.NOT_A_TTY, path, f"port {path}: is {kind}, not a serial device; give the "
                        f"board's tty (see ls /dev/serial/by-id)")


class ExclusiveSerial(serial.Serial):
    """pyserial's Serial that also holds the kernel's exclusive mode (TIOCEXCL) while open: pyserial's
    ``exclusive`` flock is advisory, so a program that does not flock (a terminal, ModemManager, cat)
    could otherwise open the port too and steal bytes."""

    def open(self) -> None:
        super().open()
        try:
            fcntl.ioctl(self.fd, termios.TIOCEXCL)
        except OSError:
            super().close()
            raise

    def close(self) -> None:
        if self.is_open and self.fd is not None:
            try:
                fcntl.ioctl(self.fd, termios.TIOCNXCL)   # a pty's slave outlives us: leave it openable
            except OSError:
                pass
        super().close()


def open_port(path: str, baudrate: int = DEFAULT_BAUDRATE, timeout: float = 0.1) -> serial.Serial:
    """Open ``path`` with exclusive access (flock and TIOCEXCL: no second reader can steal bytes);
    ``PortError`` if it cannot."""
    check_port_path(path)
    try:
        return ExclusiveSerial(path, baudrate=baudrate, timeout=timeout, exclusive=True)
    except (serial.SerialException, OSError) as e:
        raise _open_error(path, e) from None
    except (ValueError, OverflowError) as e:       # pyserial's word for a baud rate the system cannot set
        raise PortError(PortErrorKind.BAD_SETTINGS, path, f"port {path}: cannot use {baudrate} baud ({e}); "
                        f"set a baud rate the board uses, e.g. {DEFAULT_BAUDRATE}", str(e)) from None


def _wait_s(seconds: float) -> float:
    """A back-off wait the timers accept: finite, at least 10 ms, at most ``MAX_WAIT_S``."""
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return MAX_WAIT_S
    return min(max(s, 0.01), MAX_WAIT_S) if math.isfinite(s) else MAX_WAIT_S


class PortProtocol:
    """What a ``PortReader`` tells its owner (after pyserial's serial.threaded.Protocol). Every method
    runs on the reader thread, so it must be quick; the defaults do nothing."""

    def connection_made(self, path: str) -> None:
        """The port is open (again); bytes follow."""

    def data_received(self, data: bytes, host_time: float) -> None:
        """Bytes as read, with the host time of the read (UNIX seconds)."""

    def connection_lost(self, error: PortError) -> None:
        """The port went away while open (``error.kind`` DISCONNECTED); the reader reopens it."""

    def open_failed(self, error: PortError) -> None:
        """The port cannot be opened (yet); once per distinct error, the reader retries with back-off."""


class PortReader(threading.Thread):
    """Reads a port forever, reopening it after unplugs, feeding ``protocol`` on this thread. No exception
    ends the thread; ``errors`` counts the unexpected ones (each is reported, see the module docstring)."""

    def __init__(self, path: str, protocol: PortProtocol, baudrate: int = DEFAULT_BAUDRATE,
                 backoff_s: tuple[float, float] = (0.1, 2.0)):
        super().__init__(name=f"port-reader {path}", daemon=True)
        self.path, self.baudrate = path, baudrate
        self.protocol = protocol
        self.backoff_s = (_wait_s(backoff_s[0]), _wait_s(max(backoff_s[0], backoff_s[1])))
        self.reconnects = 0
        self.errors = 0
        self.connected = threading.Event()
        self._halt = threading.Event()
        self._ser: serial.Serial | None = None

    def stop(self, timeout: float = 2.0) -> None:
        self._halt.set()
        ser = self._ser
        if ser is not None:
            try:
                ser.cancel_read()
            except Exception:  # noqa: BLE001 - stopping must not fail on a port in any state
                pass
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    def _tell(self, callback, *args) -> None:
        """Call a protocol method; an exception in it is logged and counted, never the end of the thread."""
        try:
            callback(*args)
        except Exception as e:  # noqa: BLE001 - the reader outlives any bug in its owner
            self.errors += 1
            if self.errors <= 3 or self.errors % 1000 == 0:
                log.error("port %s: %s failed (%s: %s); the reader goes on (%d such errors)", self.path,
                          getattr(callback, "__name__", "callback"), type(e).__name__, e, self.errors)

    def run(self) -> None:
        delay = self.backoff_s[0]
        last_error = None
        while not self._halt.is_set():
            try:
                self._ser = open_port(self.path, self.baudrate)
            except Exception as e:  # noqa: BLE001 - PortError, or anything pyserial raises: retry, never die
                if not isinstance(e, PortError):
                    self.errors += 1
                    e = PortError(PortErrorKind.CANNOT_OPEN, self.path, f"port {self.path}: cannot open it "
                                  f"({type(e).__name__}: {e}); retrying", f"{type(e).__name__}: {e}")
                if (e.kind, e.cause) != last_error:      # say it once, not every retry
                    self._tell(self.protocol.open_failed, e)
                    last_error = (e.kind, e.cause)
                self._halt.wait(delay)
                delay = min(delay * 2, self.backoff_s[1])
                continue
            last_error, delay = None, self.backoff_s[0]
            self.connected.set()
            self._tell(self.protocol.connection_made, self.path)
            try:
                while not self._halt.is_set():
                    data = self._ser.read(max(1, self._ser.in_waiting))
                    if data:
                        self._tell(self.protocol.data_received, data, time.time())
            except Exception as e:  # noqa: BLE001 - SerialException/OSError on unplug; anything else too
                if not self._halt.is_set():
                    self.reconnects += 1
                    if not isinstance(e, (serial.SerialException, OSError, TypeError)):  # TypeError: a closed fd
                        self.errors += 1
                    cause = str(e) if isinstance(e, (serial.SerialException, OSError)) else f"{type(e).__name__}: {e}"
                    self._tell(self.protocol.connection_lost,
                               PortError(PortErrorKind.DISCONNECTED, self.path,
                                         f"port {self.path}: disconnected ({cause}); reopening it", cause))
                    self._halt.wait(self.backoff_s[0])     # a port that fails at once must not spin
            finally:
                self.connected.clear()
                try:
                    self._ser.close()
                except Exception:  # noqa: BLE001 - a vanished device may fail in any way on close
                    pass
                self._ser = None
