"""Where the bytes come from: a serial port (live) or a sensor log (replay).

Both are iterables of batches: each batch is a list of ``Chunk``s (bytes and their arrival time) and
link notices (dicts), an empty batch meaning "nothing new yet" so the loop can do its housekeeping.

``SerialSource`` reads the port on its own thread (``firmware_bridge.port.PortReader``: exclusive
open, reopen with back-off after an unplug) and, with ``record_dir``, writes every byte to a sensor
log on that thread before anything else touches it, so a slow model never costs recorded data.
``LogSource`` feeds a log's records as they were received, paced to real time or as fast as possible.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from pathlib import Path

from firmware_bridge.port import PortReader
from firmware_bridge.sensorlog import LogHeader, LogWriter, read_log

from ..errors import EdgeRepError
from .runner import Chunk

log = logging.getLogger("edge_rep.stream")

QUEUE_CHUNKS = 4096        # chunks waiting for the main loop (a few MB at most); beyond it bytes are dropped
POLL_S = 0.2               # how long the main loop waits for bytes before housekeeping
# Errors that waiting will not fix: fail at once instead of waiting for the port to appear.
_FATAL_OPEN = ("permission denied", "not a serial device", "busy")


class SerialSource:
    def __init__(self, port: str, baud: int = 921600, reconnect_s: tuple[float, float] = (0.5, 10.0),
                 open_timeout_s: float = 10.0, record_dir: str | Path | None = None, node: str = "",
                 wire_format: str = "binary", log_extra: dict | None = None):
        self.name, self.port, self.baud = port, port, int(baud)
        self.open_timeout_s = float(open_timeout_s)
        self.q: queue.Queue = queue.Queue(maxsize=QUEUE_CHUNKS)
        self.dropped_chunks = 0
        self._last_state = ""
        self._stopped = threading.Event()
        self.writer: LogWriter | None = None
        if record_dir:
            d = Path(record_dir)
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise EdgeRepError(f"record dir {d}: cannot create it ({e.strerror}); check [record] dir") from None
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            self.log_path = d / f"{node or socket.gethostname()}-{stamp}.edgelog"
            self.writer = LogWriter(self.log_path, LogHeader(port=port, baudrate=self.baud, input=wire_format,
                                                             tool="edge-rep stream", extra=dict(log_extra or {})))
        self.reader = PortReader(port, self._on_bytes, self.baud, on_state=self._on_state,
                                 backoff_s=(float(reconnect_s[0]), float(reconnect_s[1])))

    # -- reader thread --------------------------------------------------------------------------
    def _on_bytes(self, data: bytes, host_time: float) -> None:
        if self.writer is not None:
            try:
                self.writer.write(data, host_time)
            except OSError as e:        # a full disk must not stop the stream
                log.error("recording to %s failed (%s); recording stops", self.writer.path, e.strerror)
                self.writer = None
        try:
            self.q.put_nowait(Chunk(host_time, data))
        except queue.Full:
            self.dropped_chunks += 1

    def _on_state(self, text: str) -> None:
        self._last_state = text
        kind = text.split(":", 1)[0]
        level = logging.INFO if kind == "connected" else logging.WARNING
        log.log(level, "port %s", text)
        notice = {"type": "notice",
                  "event": {"connected": "link_up", "disconnected": "link_down"}.get(kind, "link_wait"),
                  "message": text}
        try:
            self.q.put_nowait(notice)
        except queue.Full:
            pass

    # -- main thread ----------------------------------------------------------------------------
    def start(self, stop: threading.Event | None = None) -> None:
        """Open the port; an EdgeRepError if it cannot be opened within ``open_timeout_s`` (0: wait
        forever). Returns early, with the source closed, when ``stop`` is set (SIGTERM while waiting)."""
        self.reader.start()
        deadline = time.monotonic() + self.open_timeout_s if self.open_timeout_s > 0 else float("inf")
        while not self.reader.connected.wait(0.05):
            if stop is not None and stop.is_set():
                return self.close()
            state = self._last_state.lower()
            if any(f in state for f in _FATAL_OPEN) or time.monotonic() > deadline:
                self.close()
                msg = self._last_state.removeprefix("waiting: ") or f"port {self.port}: did not open"
                raise EdgeRepError(msg if "port" in msg else f"port {self.port}: {msg}")

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
            if self.writer.records == 0:        # the port never gave a byte: no empty log left behind
                self.writer.path.unlink(missing_ok=True)
            self.writer = None


class LogSource:
    """A sensor log's records, in order; ``speed`` "realtime" sleeps to reproduce their arrival times."""

    def __init__(self, path: str | Path, speed: str = "max"):
        if speed not in ("max", "realtime"):
            raise EdgeRepError(f"replay speed '{speed}': use 'realtime' or 'max'")
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
            yield [Chunk(time.time(), data)]

    def close(self) -> None:
        pass
