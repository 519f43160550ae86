"""Sensor logs: the raw bytes of a serial link with their host receive times (format in LOGFORMAT.md).

    with LogWriter("run.edgelog", LogHeader(port="/dev/ttyUSB0", baudrate=921600)) as w:
        w.write(chunk)                       # host time now; or w.write(chunk, host_time=t)
    log = read_log("run.edgelog")            # SensorLog: header, records [(host_time, bytes)], tail_bytes
    for host_time, msg in messages(log):     # decoded exactly as the host decoded them live
        ...
    with LogReader("big.edgelog") as r:      # the same records one by one, in bounded memory
        for host_time, data in r: ...

Feeding ``log.records`` to ``decoder_for(log.header)`` reproduces exactly what the host saw. A log is
append-only; after a power cut it reads up to its last complete record (``tail_bytes`` says how much
was torn off). A damaged record (a flipped bit) costs only itself: the reader scans forward for the
next record whose header and CRC check, with bounded work per byte, and reports what it skipped
(``damage``, ``skipped_bytes``). Labels may sit beside the log in ``<log>.labels.json``;
``edge_rep.log_conversion`` reads them and turns a log into a recording (samples in physical units on
the log's timeline).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import numpy as np
from crc32c import crc32c

from .codec import Decoder
from .csv_input import CsvDecoder
from .errors import BridgeError
from .protocol import Message

MAGIC = b"EDGELOG\x00"
FORMAT_VERSION = 1
_PRE = struct.Struct("<8sHI")          # magic, format version, header JSON length
_REC = struct.Struct("<qI")            # host time in ns since the UNIX epoch, payload length
MAX_RECORD = 1 << 24                   # a longer length field can only be a torn or corrupt record
MAX_HEADER = 1 << 24                   # likewise for the header JSON
FSYNC_EVERY_S = 1.0                    # at most this much is lost to a power cut
# Scanning past damage: candidate records are filtered by their 12 header bytes (a plausible length and
# time, and the same for the record after them), then CRC-checked. The CRC work is bounded: at most
# RESYNC_BASE bytes plus RESYNC_PER_BYTE bytes per byte scanned, whatever the damaged bytes hold.
RESYNC_BASE = MAX_RECORD + _REC.size + 4
RESYNC_PER_BYTE = 64
RESYNC_WINDOW = 1 << 16                # bytes scanned per step
CHAIN_NS = 366 * 86400 * 10**9         # two records in a row are received less than a year apart


@dataclass
class LogHeader:
    port: str = ""
    baudrate: int = 0
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    start_time: float = 0.0            # UNIX seconds; set when the writer opens if left 0
    input: str = "binary"              # "binary" (PROTOCOL.md frames) or "csv"
    host: str = ""
    tool: str = ""
    extra: dict = field(default_factory=dict)   # e.g. the CSV channel map, a scenario

    @classmethod
    def from_json(cls, d: dict) -> LogHeader:
        """The header from its JSON object; fields this version does not know are ignored (LOGFORMAT.md)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class SensorLog:
    path: Path
    header: LogHeader
    records: list[tuple[float, bytes]]   # (host time, UNIX seconds; bytes as received)
    tail_bytes: int = 0                  # bytes after the last complete record (a torn write)
    damage: list[tuple[int, int]] = field(default_factory=list)   # (file offset, bytes) skipped mid-log

    @property
    def skipped_bytes(self) -> int:
        """Bytes of damaged records skipped between good ones."""
        return sum(n for _, n in self.damage)

    @property
    def data(self) -> bytes:
        return b"".join(b for _, b in self.records)


class LogWriter:
    """Append-only writer. Each record goes to the OS at once and is fsync'ed at least every second."""

    def __init__(self, path: str | os.PathLike, header: LogHeader):
        self.path = Path(path)
        header.start_time = header.start_time or time.time()
        header.host = header.host or socket.gethostname()
        self.header = header
        try:
            self._f = open(self.path, "xb", buffering=0)
        except FileExistsError:
            raise BridgeError(f"log {self.path}: already exists; choose another name (logs are never "
                              f"overwritten)") from None
        except OSError as e:
            raise BridgeError(f"log {self.path}: cannot create it ({e.strerror}); check the folder") from None
        meta = json.dumps(asdict(header)).encode()
        self._f.write(_PRE.pack(MAGIC, FORMAT_VERSION, len(meta)) + meta + struct.pack("<I", crc32c(meta)))
        os.fsync(self._f.fileno())
        self._synced = time.monotonic()
        self.records = 0
        self.bytes = 0                     # payload bytes recorded
        self.last_time: float | None = None   # host time of the last record (UNIX seconds), None before one
        self.size = _PRE.size + len(meta) + 4   # the file's size

    def write(self, data: bytes, host_time: float | None = None) -> None:
        if not data:
            return
        ns = time.time_ns() if host_time is None else int(round(host_time * 1e9))
        head = _REC.pack(ns, len(data))
        buf = memoryview(head + data + struct.pack("<I", crc32c(data, crc32c(head))))
        done = 0
        while done < len(buf):               # an unbuffered write may take part (a disk filling up)
            done += self._f.write(buf[done:])
        self.records += 1
        self.bytes += len(data)
        self.last_time = ns / 1e9
        self.size += _REC.size + len(data) + 4
        if time.monotonic() - self._synced >= FSYNC_EVERY_S:
            os.fsync(self._f.fileno())
            self._synced = time.monotonic()

    def close(self) -> None:
        if not self._f.closed:
            os.fsync(self._f.fileno())
            self._f.close()

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LogReader:
    """A sensor log read one record at a time, in bounded memory (log playback of a log of any size).

    Opening reads and checks the preamble and header (``BridgeError`` if it is not a readable log);
    iterating yields ``(host time, bytes)`` per record. After the iteration ``tail_bytes`` holds the
    bytes after the last complete record (a torn write) and ``damage`` the ``(offset, length)`` of each
    stretch skipped between good records (a damaged record; the scan for the next good one does
    bounded work per byte)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self._f = open(self.path, "rb", buffering=1 << 20)
        except FileNotFoundError:
            raise BridgeError(f"log {self.path}: not found; check the path") from None
        except IsADirectoryError:
            raise BridgeError(f"log {self.path}: is a folder, not a sensor log; give the .edgelog file") from None
        except OSError as e:
            raise BridgeError(f"log {self.path}: cannot read it ({e.strerror})") from None
        try:
            self.size = os.fstat(self._f.fileno()).st_size
            self.header, self.data_start = self._read_header()
        except BaseException:
            self._f.close()
            raise
        self.tail_bytes = 0
        self.damage: list[tuple[int, int]] = []

    def _read_header(self) -> tuple[LogHeader, int]:
        path = self.path
        pre = self._f.read(_PRE.size)
        if len(pre) < _PRE.size or pre[:8] != MAGIC:
            raise BridgeError(f"log {path}: not an edge-rep sensor log (bad magic or empty); record one with "
                              f"'edge-rep record'")
        _, version, n = _PRE.unpack(pre)
        if version != FORMAT_VERSION:
            raise BridgeError(f"log {path}: format version {version}, this edge-rep reads {FORMAT_VERSION}; upgrade")
        end = _PRE.size + n
        if n > MAX_HEADER or self.size < end + 4:
            raise BridgeError(f"log {path}: header truncated (the recording was cut before it began); it holds "
                              f"no data")
        meta = self._f.read(n)
        crc = self._f.read(4)
        try:
            if crc32c(meta) != struct.unpack("<I", crc)[0]:
                raise ValueError("header CRC mismatch")
            d = json.loads(meta)
            if not isinstance(d, dict):
                raise ValueError("the header is not a JSON object")
            header = LogHeader.from_json(d)
        except (ValueError, TypeError) as e:
            raise BridgeError(f"log {path}: corrupt header ({e}); the file is damaged") from None
        return header, end + 4

    @property
    def skipped_bytes(self) -> int:
        return sum(n for _, n in self.damage)

    def _record_at(self, off: int, min_len: int = 0) -> tuple[int, bytes, int] | None:
        """(time in ns, payload, next offset) of an intact record at ``off``, else None."""
        if self._f.tell() != off:
            self._f.seek(off)
        head = self._f.read(_REC.size)
        if len(head) < _REC.size:
            return None
        ns, n = _REC.unpack(head)
        if n < min_len or n > MAX_RECORD or off + _REC.size + n + 4 > self.size:
            return None
        body = self._f.read(n + 4)
        if len(body) < n + 4 or crc32c(body[:n], crc32c(head)) != struct.unpack_from("<I", body, n)[0]:
            return None
        return ns, body[:n], off + _REC.size + n + 4

    def _plausible_next(self, off: int, ns: int) -> bool:
        """The end of the file, or a record header that could follow one received at ``ns``."""
        if off == self.size:
            return True
        self._f.seek(off)
        head = self._f.read(_REC.size)
        if len(head) < _REC.size:
            return False
        ns2, n2 = _REC.unpack(head)
        return 1 <= n2 <= MAX_RECORD and off + _REC.size + n2 + 4 <= self.size and abs(ns2 - ns) <= CHAIN_NS

    def _resync(self, start: int) -> int | None:
        """Offset of the next intact record at or after ``start`` (None: none before the end)."""
        budget = RESYNC_BASE
        pos = start
        while pos + _REC.size <= self.size:
            self._f.seek(pos)
            win = self._f.read(RESYNC_WINDOW + _REC.size - 1)
            m = len(win) - _REC.size + 1
            if m <= 0:
                break
            budget += RESYNC_PER_BYTE * m
            ns = np.ndarray((m,), dtype="<i8", buffer=win, offset=0, strides=(1,))
            n = np.ndarray((m,), dtype="<u4", buffer=win, offset=8, strides=(1,)).astype(np.int64)
            ends = pos + np.arange(m, dtype=np.int64) + _REC.size + n + 4
            for k in np.flatnonzero((n >= 1) & (n <= MAX_RECORD) & (ns >= 0) & (ends <= self.size)):
                cost = int(n[k]) + _REC.size + 4
                if cost > budget or not self._plausible_next(int(ends[k]), int(ns[k])):
                    continue
                budget -= cost
                if self._record_at(pos + int(k), min_len=1) is not None:
                    return pos + int(k)
            pos += m
        return None

    def __iter__(self) -> Iterator[tuple[float, bytes]]:
        off = self.data_start
        while off < self.size:
            rec = self._record_at(off)
            if rec is not None:
                ns, payload, off = rec
                yield ns / 1e9, payload
                continue
            nxt = self._resync(off + 1)
            if nxt is None:
                self.tail_bytes = self.size - off
                return
            self.damage.append((off, nxt - off))
            off = nxt

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> LogReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_log(path: str | os.PathLike) -> SensorLog:
    """Read a whole sensor log into memory (``LogReader`` streams it); BridgeError if it is not a readable
    log. Damaged records are skipped (``SensorLog.damage``), a torn end is reported (``tail_bytes``)."""
    with LogReader(path) as r:
        records = list(r)
        return SensorLog(r.path, r.header, records, tail_bytes=r.tail_bytes, damage=r.damage)


def csv_header(channels, separator: str = "auto") -> dict:
    """``LogHeader.extra`` entry for a CSV link: the channel map needed to decode the log later.
    ``channels``: objects with name, modality, sample_rate, scale, units (e.g. edge_rep.config's [csv])."""
    keys = ("name", "modality", "sample_rate", "scale", "units")
    return {"csv": {"separator": separator, "channels": [{k: getattr(c, k) for k in keys} for c in channels]}}


def decoder_for(header: LogHeader, where: str = "link"):
    """The decoder a link's bytes need, from the link's description: ``codec.Decoder`` for binary frames
    (``input`` "binary"), ``CsvDecoder`` for CSV lines (``input`` "csv", the channel map of ``csv_header``
    in ``extra``). Live streaming and log playback both build their decoder here, so they decode alike.
    ``where`` names the link in errors (e.g. "log run.edgelog"); BridgeError if a CSV map is missing."""
    if header.input == "csv":
        csv = header.extra.get("csv")
        if not csv:
            raise BridgeError(f"{where}: CSV input without its channel map in the header; record it with "
                              f"'edge-rep record --format csv --config edge-rep.toml'")
        return CsvDecoder([SimpleNamespace(**c) for c in csv["channels"]], csv.get("separator", "auto"))
    return Decoder()


def messages(log: SensorLog, decoder=None) -> Iterator[tuple[float, Message]]:
    """(host time, message) for every frame in the log, decoded exactly as the host did live."""
    dec = decoder or decoder_for(log.header, f"log {log.path}")
    for t, chunk in log.records:
        for m in dec.feed(chunk):
            yield t, m
