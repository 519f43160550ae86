"""Serial ports: opening with clear errors, and a reader that survives unplugging.

    ser = open_port("/dev/ttyUSB0", 921600)          # BridgeError one-liner if missing, busy or forbidden
    reader = PortReader("/dev/ttyUSB0", on_bytes=lambda data, host_time: ..., on_state=print)
    reader.start(); ...; reader.stop()

``PortReader`` is a thread (after pyserial's serial.threaded.ReaderThread) that reads whatever arrives
and, when the device goes away (SerialException/OSError, e.g. a USB unplug), closes the port and
reopens it with exponential back-off until it comes back or ``stop()`` is called. Opening a port can
reset the board; its HELLO tells the decoder. ``on_state`` gets one line per change, starting with
``connected:``, ``disconnected:`` or ``waiting:`` (the port cannot be opened yet; said once per reason).
"""

from __future__ import annotations

import errno
import threading
import time
from typing import Callable

import serial

from .errors import BridgeError

DEFAULT_BAUDRATE = 921600


def open_port(path: str, baudrate: int = DEFAULT_BAUDRATE, timeout: float = 0.1) -> serial.Serial:
    """Open ``path`` with exclusive access (no second reader can steal bytes)."""
    try:
        return serial.Serial(path, baudrate=baudrate, timeout=timeout, exclusive=True)
    except (serial.SerialException, OSError) as e:
        code = getattr(e, "errno", None)
        text = str(e)
        if code == errno.ENOENT or "No such file" in text:
            raise BridgeError(f"port {path}: not found; is the board plugged in? (see ls /dev/serial/by-id)") from None
        if code == errno.EACCES or "Permission denied" in text:
            raise BridgeError(f"port {path}: permission denied; add your user to the dialout group "
                              f"(sudo usermod -aG dialout $USER) and log in again") from None
        if code in (errno.EBUSY, errno.EAGAIN) or "exclusively lock" in text:
            raise BridgeError(f"port {path}: busy, another program has it open; stop it (fuser {path})") from None
        if code == errno.ENOTTY or "Inappropriate ioctl" in text:
            raise BridgeError(f"port {path}: not a serial device; give the board's tty") from None
        raise BridgeError(f"port {path}: cannot open it ({text}); check the device") from None


class PortReader(threading.Thread):
    """Reads a port forever, reopening it after unplugs. Callbacks run on this thread."""

    def __init__(self, path: str, on_bytes: Callable[[bytes, float], None], baudrate: int = DEFAULT_BAUDRATE,
                 on_state: Callable[[str], None] | None = None, backoff_s: tuple[float, float] = (0.1, 2.0)):
        super().__init__(name=f"port-reader {path}", daemon=True)
        self.path, self.baudrate = path, baudrate
        self.on_bytes, self.on_state = on_bytes, on_state or (lambda s: None)
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
            except BridgeError as e:
                if str(e) != last_error:            # say it once, not every retry
                    self.on_state(f"waiting: {e}")
                    last_error = str(e)
                self._halt.wait(delay)
                delay = min(delay * 2, self.backoff_s[1])
                continue
            last_error, delay = None, self.backoff_s[0]
            self.connected.set()
            self.on_state(f"connected: {self.path}")
            try:
                while not self._halt.is_set():
                    data = self._ser.read(max(1, self._ser.in_waiting))
                    if data:
                        self.on_bytes(data, time.time())
            except (serial.SerialException, OSError, TypeError) as e:   # TypeError: pyserial on a closed fd
                if not self._halt.is_set():
                    self.reconnects += 1
                    self.on_state(f"disconnected: {self.path} ({e}); reopening")
            finally:
                self.connected.clear()
                try:
                    self._ser.close()
                except (OSError, serial.SerialException):
                    pass
                self._ser = None
