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
``stop()`` is called. Opening a port can reset the board; its HELLO tells the decoder.

Every failure is a ``PortError`` whose ``kind`` (a ``PortErrorKind``) says what went wrong, so callers
branch on the kind, never on the message; the message is the one line a user reads.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from enum import Enum

import serial

from .errors import BridgeError

DEFAULT_BAUDRATE = 921600


class PortErrorKind(str, Enum):
    NOT_FOUND = "not_found"          # no such device (unplugged, wrong path); it may appear later
    PERMISSION = "permission"        # this user may not open it (the dialout group)
    BUSY = "busy"                    # another program holds it (exclusive open)
    NOT_A_TTY = "not_a_tty"          # the path is not a serial device
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


def open_port(path: str, baudrate: int = DEFAULT_BAUDRATE, timeout: float = 0.1) -> serial.Serial:
    """Open ``path`` with exclusive access (no second reader can steal bytes); ``PortError`` if it cannot."""
    check_port_path(path)
    try:
        return serial.Serial(path, baudrate=baudrate, timeout=timeout, exclusive=True)
    except (serial.SerialException, OSError) as e:
        raise _open_error(path, e) from None


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
    """Reads a port forever, reopening it after unplugs, feeding ``protocol`` on this thread."""

    def __init__(self, path: str, protocol: PortProtocol, baudrate: int = DEFAULT_BAUDRATE,
                 backoff_s: tuple[float, float] = (0.1, 2.0)):
        super().__init__(name=f"port-reader {path}", daemon=True)
        self.path, self.baudrate = path, baudrate
        self.protocol = protocol
        self.backoff_s = backoff_s
        self.reconnects = 0
        self.connected = threading.Event()
        self._halt = threading.Event()
        self._ser: serial.Serial | None = None

    def stop(self, timeout: float = 2.0) -> None:
        self._halt.set()
        ser = self._ser
        if ser is not None:
            try:
                ser.cancel_read()
            except (OSError, serial.SerialException, AttributeError):
                pass
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    def run(self) -> None:
        delay = self.backoff_s[0]
        last_error = None
        while not self._halt.is_set():
            try:
                self._ser = open_port(self.path, self.baudrate)
            except PortError as e:
                if (e.kind, e.cause) != last_error:      # say it once, not every retry
                    self.protocol.open_failed(e)
                    last_error = (e.kind, e.cause)
                self._halt.wait(delay)
                delay = min(delay * 2, self.backoff_s[1])
                continue
            last_error, delay = None, self.backoff_s[0]
            self.connected.set()
            self.protocol.connection_made(self.path)
            try:
                while not self._halt.is_set():
                    data = self._ser.read(max(1, self._ser.in_waiting))
                    if data:
                        self.protocol.data_received(data, time.time())
            except (serial.SerialException, OSError, TypeError) as e:   # TypeError: pyserial on a closed fd
                if not self._halt.is_set():
                    self.reconnects += 1
                    self.protocol.connection_lost(PortError(PortErrorKind.DISCONNECTED, self.path,
                                                            f"port {self.path}: disconnected ({e}); reopening it",
                                                            str(e)))
            finally:
                self.connected.clear()
                try:
                    self._ser.close()
                except (OSError, serial.SerialException):
                    pass
                self._ser = None
