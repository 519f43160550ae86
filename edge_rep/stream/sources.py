"""Where the bytes come from: a serial port (live) or a sensor log (log playback, ``edge-rep replay``).

Both are iterables of batches: each batch is a list of ``Chunk``s (bytes and their arrival time) and,
live, ``LinkChange``s (the port came up, went down, cannot be opened yet; bytes were dropped; the
recording paused or resumed), an empty batch meaning "nothing new yet" so the loop can do its
housekeeping.

``SerialSource`` reads the port on its own thread (``firmware_bridge.port.PortReader``: exclusive
open, reopen with back-off after an unplug) and, given a ``LogWriter`` or a ``LogRecorder``, writes
every byte to the sensor log on that thread before anything else touches it, so a slow model never
costs recorded data. The bytes then wait for the main loop in a queue bounded in bytes
(``QUEUE_BYTES``); what does not fit is dropped, and the drop is reported as a ``queue_overflow``
notice. ``edge-rep stream --record`` and ``edge-rep record`` both read the port through it.
``LogSource`` feeds a log's records as they were received, with their receive times, one at a time
(bounded memory), paced to real time or as fast as possible.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from itertools import chain
from pathlib import Path

from firmware_bridge.port import PortError, PortErrorKind, PortProtocol, PortReader
from firmware_bridge.sensorlog import LogReader

from ..config import SerialSection
from ..errors import EdgeRepError
from .notices import SHOWN, LinkChange
from .runner import Chunk

log = logging.getLogger("edge_rep.stream")

# Bytes waiting for the main loop: about 90 s of a 921600-baud link, so only a main loop stalled that long
# loses any; beyond it new bytes are dropped (and reported). Link changes get a small reserve above it.
QUEUE_BYTES = 8 << 20
NOTICE_RESERVE = 64 << 10
POLL_S = 0.2               # how long the main loop waits for bytes before housekeeping
# Errors that waiting will not fix: fail at once instead of waiting for the port to appear. A busy port
# is waited for (ModemManager or brltty may hold a new port for a few seconds).
_FATAL_OPEN = (PortErrorKind.PERMISSION, PortErrorKind.NOT_A_TTY, PortErrorKind.BAD_SETTINGS)


class ChunkQueue:
    """From the reader thread to the main loop, bounded in bytes: ``put`` refuses (and counts) what does
    not fit; ``get_batch`` returns everything waiting, followed by one ``queue_overflow`` LinkChange that
    says how many bytes and chunks were dropped since the previous batch, when any were."""

    def __init__(self, max_bytes: int = QUEUE_BYTES):
        self.max_bytes = int(max_bytes)
        self.dropped_bytes = self.dropped_chunks = 0          # totals
        self._items: deque = deque()
        self._bytes = 0
        self._cond = threading.Condition()
        self._drop = None                                     # [bytes, chunks, first and last host time]

    def put(self, item, size: int, host_time: float | None = None) -> bool:
        limit = self.max_bytes + (NOTICE_RESERVE if isinstance(item, LinkChange) else 0)
        with self._cond:
            if self._bytes + size > limit:
                self.dropped_bytes += size
                self.dropped_chunks += 1
                t = time.time() if host_time is None else host_time
                if self._drop is None:
                    self._drop = [0, 0, t, t]
                self._drop[0] += size
                self._drop[1] += 1
                self._drop[3] = t
                self._cond.notify()
                return False
            self._items.append(item)
            self._bytes += size
            self._cond.notify()
            return True

    def get_batch(self, timeout: float) -> list:
        with self._cond:
            if not self._items and self._drop is None:
                self._cond.wait(timeout)
            batch = list(self._items)
            self._items.clear()
            self._bytes = 0
            drop, self._drop = self._drop, None
        if drop is not None:
            nbytes, chunks, t0, t1 = drop
            text = (f"the main loop fell behind: {nbytes} bytes in {chunks} reads received over {t1 - t0:.1f} s "
                    f"were dropped (the queue holds {self.max_bytes / 1e6:g} MB); "
                    f"{self.dropped_bytes} bytes dropped in total")
            log.error("%s", text, extra=SHOWN)
            batch.append(LinkChange("queue_overflow", text))
        return batch


class SerialSource(PortProtocol):
    """A serial port's bytes; with ``writer``, also recorded into sensor logs (closed by ``close``):
    a ``LogWriter`` (``edge-rep record``: a write error ends the recording and ``record_error`` says
    why) or a ``LogRecorder`` (``stream --record``: it pauses and resumes by itself, with notices)."""

    def __init__(self, port: str, baud: int = 921600, reconnect_s: tuple[float, float] = (0.5, 10.0),
                 open_timeout_s: float = 10.0, writer=None, queue_bytes: int = QUEUE_BYTES):
        self.name, self.port, self.baud = port, port, baud
        self.open_timeout_s = float(open_timeout_s)
        self.q = ChunkQueue(queue_bytes)
        self.writer = writer
        self.record_error = ""
        self._open_error: PortError | None = None
        self._starting = False           # start() waits for the port and says so itself
        self._stopped = threading.Event()
        self.reader = PortReader(port, self, self.baud, backoff_s=reconnect_s)

    @classmethod
    def from_config(cls, section: SerialSection, writer=None) -> SerialSource:
        """From ``[serial]`` (port, baud, reconnect back-off, open time-out)."""
        return cls(section.port, section.baud, (section.reconnect_min_s, section.reconnect_max_s),
                   section.open_timeout_s, writer)

    @property
    def dropped_bytes(self) -> int:
        return self.q.dropped_bytes

    # -- reader thread (PortProtocol) -----------------------------------------------------------
    def data_received(self, data: bytes, host_time: float) -> None:
        if self.writer is not None:
            self._record(data, host_time)
        self.q.put(Chunk(host_time, data), len(data), host_time)

    def _record(self, data: bytes, host_time: float) -> None:
        try:
            self.writer.write(data, host_time)
        except Exception as e:  # noqa: BLE001 - a LogWriter's full disk (or anything else) must not stop the stream
            reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
            log.error("recording to %s failed (%s); recording stops", getattr(self.writer, "path", "?"), reason)
            self.record_error = reason
            self._link("output_down", f"recording stopped: {reason}")
            try:
                self.writer.close()
            except Exception:  # noqa: BLE001 - the disk that failed the write may fail the close too
                pass
            self.writer = None
            return
        self._writer_notices()

    def _writer_notices(self) -> None:
        take = getattr(self.writer, "take_notices", None)
        for event, text in (take() if take is not None else ()):
            self._link(event, text, None)

    def connection_made(self, path: str) -> None:
        self._open_error = None
        self._link("link_up", f"connected: {path}", logging.INFO)
        if self.writer is not None:
            self._writer_notices()

    def connection_lost(self, error: PortError) -> None:
        self._link("link_down", f"disconnected: {error.path} ({error.cause}); reopening")

    def open_failed(self, error: PortError) -> None:
        self._open_error = error
        self._link("link_wait", f"waiting: {error}", None if self._starting else logging.WARNING)

    def _link(self, event: str, text: str, level: int | None = logging.WARNING) -> None:
        if level is not None:
            log.log(level, "port %s", text, extra=SHOWN)
        self.q.put(LinkChange(event, text), len(text))

    # -- main thread ----------------------------------------------------------------------------
    def start(self, stop: threading.Event | None = None, tick=None) -> None:
        """Open the port; a ``PortError`` if it cannot be opened within ``open_timeout_s`` (0: wait
        forever) or cannot ever be (forbidden, not a tty, impossible settings); a busy port is waited
        for. Returns early, with the source closed, when ``stop`` is set (SIGTERM while waiting).
        ``tick()`` is called about 20 times a second meanwhile (the daemon pings systemd's watchdog)."""
        self._starting = True
        self.reader.start()
        deadline = time.monotonic() + self.open_timeout_s if self.open_timeout_s > 0 else float("inf")
        said = None
        try:
            while not self.reader.connected.wait(0.05):
                if tick is not None:
                    tick()
                if stop is not None and stop.is_set():
                    return self.close()
                error = self._open_error
                if (error is not None and error.kind in _FATAL_OPEN) or time.monotonic() > deadline:
                    self.close()
                    raise error or PortError(PortErrorKind.CANNOT_OPEN, self.port, f"port {self.port}: did not "
                                             f"open within {self.open_timeout_s:g} s; check [serial] port")
                if error is not None and error is not said:      # at once, and again if the reason changes
                    said = error
                    log.warning("%s: %s", self.waiting_text(), error)
        finally:
            self._starting = False

    def waiting_text(self) -> str:
        """What start() says while the port cannot be opened yet."""
        if self.open_timeout_s > 0:
            return f"waiting up to {self.open_timeout_s:g} s for {self.port} (serial.open_timeout_s)"
        return f"waiting for {self.port} without a time limit (serial.open_timeout_s = 0)"

    def __iter__(self):
        while not self._stopped.is_set():
            yield self.q.get_batch(POLL_S)

    def close(self) -> None:
        self._stopped.set()
        self.reader.stop()
        if self.writer is not None:
            try:
                self.writer.close()
            except OSError as e:
                log.error("closing the sensor log failed (%s)", e.strerror or e)
            self.writer = None


class LogSource:
    """A sensor log's records, in order, read one at a time (a log of any size plays back in bounded
    memory); ``speed`` "realtime" sleeps to reproduce their arrival times. Damage and a torn end are
    logged as warnings once the log has been read."""

    def __init__(self, path: str | Path, speed: str = "max"):
        if speed not in ("max", "realtime"):
            raise EdgeRepError(f"playback speed '{speed}': use 'realtime' or 'max'")
        self.name, self.speed = str(path), speed
        self.reader = LogReader(path)
        self.header = self.reader.header
        self._records = iter(self.reader)
        try:
            self._first = next(self._records, None)
        except BaseException:
            self.reader.close()
            raise
        if self._first is None:
            self.reader.close()
            raise EdgeRepError(f"log {path}: holds no records; record one with 'edge-rep record' or --record")

    def __iter__(self):
        t_first, start = self._first[0], time.monotonic()
        for t, data in chain([self._first], self._records):
            if self.speed == "realtime":
                delay = start + (t - t_first) - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield [Chunk(t, data)]    # the receive time the log kept: the link's silences replay as they were
        self.report()

    def report(self) -> None:
        """Warn about what the reader skipped (damaged records) or could not read (a torn end)."""
        r = self.reader
        if r.damage:
            where = ", ".join(f"{n} at byte {off}" for off, n in r.damage[:5]) + (" ..." if len(r.damage) > 5 else "")
            log.warning("log %s: skipped %d damaged bytes in %d place(s) (%s); the records around them were read",
                        self.name, r.skipped_bytes, len(r.damage), where)
        if r.tail_bytes:
            log.warning("log %s: %d bytes after its last complete record are ignored (torn write)",
                        self.name, r.tail_bytes)

    def close(self) -> None:
        self.reader.close()
