"""Where the bytes come from: a serial port (live) or a sensor log (log playback, ``edge-rep replay``).

Both are iterables of batches: each batch is a list of ``Chunk``s (bytes and their arrival time) and,
live, ``LinkChange``s (the port came up, went down, cannot be opened yet), an empty batch meaning
"nothing new yet" so the loop can do its housekeeping.

``SerialSource`` reads the port on its own thread (``firmware_bridge.port.PortReader``: exclusive
open, reopen with back-off after an unplug) and, given a ``LogWriter``, writes every byte to that
sensor log on that thread before anything else touches it, so a slow model never costs recorded data.
``edge-rep stream --record`` and ``edge-rep record`` both read the port through it.
``LogSource`` feeds a log's records as they were received, with their receive times, paced to real time or
as fast as possible.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from pathlib import Path

from firmware_bridge.port import PortError, PortErrorKind, PortProtocol, PortReader
from firmware_bridge.sensorlog import LogHeader, LogWriter, read_log

from ..config import SerialSection
from ..errors import EdgeRepError
from .notices import LinkChange
from .runner import Chunk

log = logging.getLogger("edge_rep.stream")

QUEUE_CHUNKS = 4096        # chunks waiting for the main loop (a few MB at most); beyond it bytes are dropped
POLL_S = 0.2               # how long the main loop waits for bytes before housekeeping
# Errors that waiting will not fix: fail at once instead of waiting for the port to appear.
_FATAL_OPEN = (PortErrorKind.PERMISSION, PortErrorKind.NOT_A_TTY, PortErrorKind.BUSY)


def new_recording(record_dir: str | Path, node: str, header: LogHeader) -> LogWriter:
    """A new sensor log ``DIR/<node or host>-<UTC time>.edgelog`` for a live run (``[record] dir``)."""
    d = Path(record_dir)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EdgeRepError(f"record dir {d}: cannot create it ({e.strerror}); check [record] dir") from None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return LogWriter(d / f"{node or socket.gethostname()}-{stamp}.edgelog", header)


class SerialSource(PortProtocol):
    """A serial port's bytes; with ``writer``, also recorded into that sensor log (closed by ``close``).
    ``record_error`` says why recording stopped, if it did (e.g. a full disk)."""

    def __init__(self, port: str, baud: int = 921600, reconnect_s: tuple[float, float] = (0.5, 10.0),
                 open_timeout_s: float = 10.0, writer: LogWriter | None = None):
        self.name, self.port, self.baud = port, port, int(baud)
        self.open_timeout_s = float(open_timeout_s)
        self.q: queue.Queue = queue.Queue(maxsize=QUEUE_CHUNKS)
        self.dropped_chunks = 0
        self.writer = writer
        self.record_error = ""
        self._open_error: PortError | None = None
        self._stopped = threading.Event()
        self.reader = PortReader(port, self, self.baud, backoff_s=(float(reconnect_s[0]), float(reconnect_s[1])))

    @classmethod
    def from_config(cls, section: SerialSection, writer: LogWriter | None = None) -> SerialSource:
        """From ``[serial]`` (port, baud, reconnect back-off, open time-out)."""
        return cls(section.port, section.baud, (section.reconnect_min_s, section.reconnect_max_s),
                   section.open_timeout_s, writer)

    # -- reader thread (PortProtocol) -----------------------------------------------------------
    def data_received(self, data: bytes, host_time: float) -> None:
        if self.writer is not None:
            try:
                self.writer.write(data, host_time)
            except OSError as e:        # a full disk must not stop the stream
                log.error("recording to %s failed (%s); recording stops", self.writer.path, e.strerror)
                self.record_error = e.strerror or str(e)
                self.writer = None
        try:
            self.q.put_nowait(Chunk(host_time, data))
        except queue.Full:
            self.dropped_chunks += 1

    def connection_made(self, path: str) -> None:
        self._open_error = None
        self._link("link_up", f"connected: {path}", logging.INFO)

    def connection_lost(self, error: PortError) -> None:
        self._link("link_down", f"disconnected: {error.path} ({error.cause}); reopening")

    def open_failed(self, error: PortError) -> None:
        self._open_error = error
        self._link("link_wait", f"waiting: {error}")

    def _link(self, event: str, text: str, level: int = logging.WARNING) -> None:
        log.log(level, "port %s", text)
        try:
            self.q.put_nowait(LinkChange(event, text))
        except queue.Full:
            pass

    # -- main thread ----------------------------------------------------------------------------
    def start(self, stop: threading.Event | None = None) -> None:
        """Open the port; a ``PortError`` if it cannot be opened within ``open_timeout_s`` (0: wait
        forever) or cannot ever be (busy, forbidden, not a tty). Returns early, with the source closed,
        when ``stop`` is set (SIGTERM while waiting)."""
        self.reader.start()
        deadline = time.monotonic() + self.open_timeout_s if self.open_timeout_s > 0 else float("inf")
        while not self.reader.connected.wait(0.05):
            if stop is not None and stop.is_set():
                return self.close()
            error = self._open_error
            if (error is not None and error.kind in _FATAL_OPEN) or time.monotonic() > deadline:
                self.close()
                raise error or PortError(PortErrorKind.CANNOT_OPEN, self.port, f"port {self.port}: did not open")

    def __iter__(self):
        while not self._stopped.is_set():
            try:
                first = self.q.get(timeout=POLL_S)
            except queue.Empty:
                yield []
                continue
            batch = [first]
            while True:
                try:
                    batch.append(self.q.get_nowait())
                except queue.Empty:
                    break
            yield batch

    def close(self) -> None:
        self._stopped.set()
        self.reader.stop()
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class LogSource:
    """A sensor log's records, in order; ``speed`` "realtime" sleeps to reproduce their arrival times."""

    def __init__(self, path: str | Path, speed: str = "max"):
        if speed not in ("max", "realtime"):
            raise EdgeRepError(f"playback speed '{speed}': use 'realtime' or 'max'")
        self.name, self.speed = str(path), speed
        self.log = read_log(path)
        if self.log.tail_bytes:
            log.warning("log %s: %d bytes after its last complete record are ignored (torn write)",
                        path, self.log.tail_bytes)
        if not self.log.records:
            raise EdgeRepError(f"log {path}: holds no records; record one with 'edge-rep record' or --record")

    def __iter__(self):
        recs = self.log.records
        t_first, start = recs[0][0], time.monotonic()
        for t, data in recs:
            if self.speed == "realtime":
                delay = start + (t - t_first) - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield [Chunk(t, data)]    # the receive time the log kept: the link's silences replay as they were

    def close(self) -> None:
        pass
