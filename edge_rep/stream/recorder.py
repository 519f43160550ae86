"""``stream --record DIR``: the link's raw bytes as a series of sensor logs, bounded in size and disk use.

    rec = LogRecorder("/var/lib/edge-rep/logs", "node-7", header, RecordSection())
    rec.write(data, host_time)         # on the reader thread; never raises
    rec.take_notices()                 # [("output_down", "..."), ("output_up", "...")] since the last call
    rec.close()

A node records about 1.5 GB a day, so the logs are cut and pruned (``[record]``):

- a new log ``DIR/<node>-<UTC time>.edgelog`` is started when the current one passes ``rotate_mb``;
- the oldest of this node's own logs (named so by this class, starting with the sensor log magic) are
  deleted while all of them together pass ``keep_mb``, or while the disk has less than
  ``min_free_mb`` free; the log being written is never deleted;
- recording pauses while the disk still has less than ``min_free_mb`` free, or after a write failed
  (a full disk, an I/O error), so the JSON lines on the same disk keep their room; it resumes in a
  new log once there is room again (checked every ``RETRY_S``). Each pause and resume is a notice
  (``output_down``, ``output_up``) with the bytes that were not recorded; the stream itself goes on.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
from pathlib import Path

from firmware_bridge.errors import BridgeError
from firmware_bridge.sensorlog import MAGIC, LogHeader, LogWriter

from ..config import RecordSection
from ..errors import EdgeRepError
from ..outpaths import check_writable_place

log = logging.getLogger("edge_rep.stream")

CHECK_S = 1.0          # how often the free space is looked at while recording
RETRY_S = 10.0         # how often a paused recording looks for room again
MB = 1_000_000


def disk_free(path: str | os.PathLike) -> int:
    """Bytes an unprivileged writer may still use on the file system that holds ``path``."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class LogRecorder:
    """Writes every byte it is given into this node's current sensor log in ``folder`` (see the module
    docstring for rotation, pruning and pausing). ``free(path) -> bytes`` is ``disk_free`` unless a test
    gives another. EdgeRepError at start if the folder cannot be made."""

    def __init__(self, folder: str | os.PathLike, node: str, header: LogHeader,
                 section: RecordSection | None = None, free=disk_free):
        section = section or RecordSection()
        self.folder = Path(folder)
        self.node = node or socket.gethostname()
        self.header = header
        self.rotate_bytes = int(section.rotate_mb * MB) if section.rotate_mb else 0
        self.keep_bytes = int(section.keep_mb * MB) if section.keep_mb else 0
        self.min_free = int(section.min_free_mb * MB)
        self.free = free
        # checked now, made with the first bytes: a run that got no data leaves nothing behind
        if not os.path.lexists(self.folder):
            check_writable_place(self.folder, "record dir")
        elif not (self.folder.is_dir() and os.access(self.folder, os.W_OK | os.X_OK)):
            raise EdgeRepError(f"record dir {self.folder}: is not a writable folder; check [record] dir")
        self._name = re.compile(re.escape(self.node) + r"-(\d{8}T\d{6}Z)(?:-(\d+))?\.edgelog")
        self.writer: LogWriter | None = None
        self.paths: list[Path] = []          # logs this run wrote, in order
        self.records = self.bytes = 0        # totals over every log of this run
        self.unrecorded = 0                  # bytes received while paused (not in any log)
        self.deleted: list[Path] = []        # old logs pruned to keep within keep_mb / min_free_mb
        self._notices: list[tuple[str, str]] = []
        self._paused_since: float | None = None
        self._pause_reason = ""
        self._unrecorded_at_pause = 0
        self._next_check = self._next_retry = 0.0
        self._last_name = ("", 0)
        self._started = False                # the folder and the first log come with the first bytes

    @property
    def path(self) -> Path | None:
        """The log being written (None while paused)."""
        return self.writer.path if self.writer is not None else None

    # -- reader thread -----------------------------------------------------------------------------
    def write(self, data: bytes, host_time: float) -> None:
        """Record ``data``; never raises (a failure pauses recording and becomes a notice)."""
        now = time.monotonic()
        if not self._started:
            self._start()
        if self.writer is None:
            if now < self._next_retry or not self._resume(now):
                self.unrecorded += len(data)
                return
        try:
            self.writer.write(data, host_time)
        except OSError as e:
            self.unrecorded += len(data)
            self._pause(f"writing {self.writer.path} failed ({e.strerror or e})")
            return
        self.records += 1
        self.bytes += len(data)
        if self.rotate_bytes and self.writer.size >= self.rotate_bytes:
            self._close_writer()
            self._prune()
            if not self._resume(now):
                self._pause(self._low_space_reason())    # a failed new log has paused already
                return
        if now >= self._next_check:
            self._next_check = now + CHECK_S
            if not self._room():
                self._prune()
                if not self._room():
                    self._close_writer()
                    self._pause(self._low_space_reason())

    def take_notices(self) -> list[tuple[str, str]]:
        """(event, message) of each pause and resume since the last call."""
        out, self._notices = self._notices, []
        return out

    # -- internals ---------------------------------------------------------------------------------
    def _start(self) -> None:
        """The first bytes: make the folder and the first log (or pause, with a notice, if that fails)."""
        self._started = True
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            return self._pause(f"cannot create the record dir {self.folder} ({e.strerror or e})")
        if not self._room():
            return self._pause(self._low_space_reason())
        try:
            self._new_log()
        except BridgeError as e:
            self._pause(str(e))

    def _free(self) -> int | None:
        try:
            return int(self.free(self.folder))
        except OSError:
            return None                      # cannot tell: do not pause on that alone

    def _room(self) -> bool:
        free = self._free()
        return free is None or free >= self.min_free

    def _low_space_reason(self) -> str:
        free = self._free() or 0
        return (f"{free / MB:.0f} MB free on the disk of {self.folder}, less than [record] min_free_mb "
                f"{self.min_free / MB:.0f}")

    def _new_log(self) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        # several logs in one second (a small rotate_mb) are numbered, never reusing a name: names sort in
        # the order the logs were written, which pruning relies on
        i = self._last_name[1] + 1 if self._last_name[0] == stamp else 0
        while True:
            p = self.folder / (f"{self.node}-{stamp}" + (f"-{i}" if i else "") + ".edgelog")
            if not os.path.lexists(p):
                break
            i += 1
        self._last_name = (stamp, i)
        self.writer = LogWriter(p, self.header)
        self.paths.append(p)
        log.info("recording raw bytes to %s", p)

    def _close_writer(self) -> None:
        w, self.writer = self.writer, None
        if w is None:
            return
        try:
            w.close()
        except OSError as e:
            log.warning("closing sensor log %s failed (%s); it holds what was written before", w.path,
                        e.strerror or e)
        if w.records == 0:                   # nothing recorded in it: leave no empty log behind
            try:
                w.path.unlink()
                self.paths.remove(w.path)
            except (OSError, ValueError):
                pass

    def _own_logs(self) -> list[Path]:
        """This node's logs in the folder, oldest first (by the UTC time in their names)."""
        out = []
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return []
        for e in entries:
            m = self._name.fullmatch(e.name)
            if not m or not e.is_file(follow_symlinks=False):
                continue
            try:
                with open(e.path, "rb") as f:
                    if f.read(len(MAGIC)) != MAGIC:
                        continue
            except OSError:
                continue
            out.append(((m.group(1), int(m.group(2) or 0)), Path(e.path)))
        return [p for _, p in sorted(out)]

    def _prune(self) -> None:
        """Delete this node's oldest logs (never the current one) beyond ``keep_mb``, and while the disk is
        short of ``min_free_mb`` when deleting them would make up the shortfall (else they are kept: deleting
        them would not let recording go on)."""
        current = self.path
        logs = []
        for p in self._own_logs():
            if p != current:
                try:
                    logs.append((p, p.stat().st_size))
                except OSError:
                    pass
        total = sum(n for _, n in logs) + (self.writer.size if self.writer is not None else 0)
        free = self._free()
        need = self.min_free - free if free is not None and free < self.min_free else 0
        if need > sum(n for _, n in logs):
            need = 0
        for p, n in logs:
            if not ((self.keep_bytes and total > self.keep_bytes) or need > 0):
                break
            try:
                p.unlink()
            except OSError as e:
                log.warning("cannot delete old sensor log %s (%s)", p, e.strerror or e)
                continue
            total -= n
            need -= n
            self.deleted.append(p)
            log.info("deleted old sensor log %s (%.1f MB) to stay within [record] keep_mb and min_free_mb", p, n / MB)

    def _pause(self, reason: str) -> None:
        self._close_writer()
        self._next_retry = time.monotonic() + RETRY_S
        if self._paused_since is None:
            self._paused_since = time.monotonic()
            self._pause_reason = reason
            self._unrecorded_at_pause = self.unrecorded
            text = f"recording paused: {reason}; the stream goes on, bytes are not recorded until there is room"
            log.error("%s", text)
            self._notices.append(("output_down", text))

    def _resume(self, now: float) -> bool:
        """Start a new log if there is room; False (and a later retry) if not."""
        self._next_retry = now + RETRY_S
        if not self._room():
            self._prune()
            if not self._room():
                return False
        try:
            self._new_log()
        except BridgeError as e:
            if self._paused_since is None:
                self._pause(str(e))
            return False
        if self._paused_since is not None:
            lost = self.unrecorded - self._unrecorded_at_pause
            text = (f"recording resumed in {self.writer.path} after {now - self._paused_since:.0f} s; "
                    f"{lost} bytes received meanwhile were not recorded ({self._pause_reason})")
            log.warning("%s", text)
            self._notices.append(("output_up", text))
            self._paused_since = None
        return True

    def close(self) -> None:
        """Close the current log (fsync); an empty one is removed. Never raises."""
        self._close_writer()
