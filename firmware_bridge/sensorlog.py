"""Sensor logs: the raw bytes of a serial link with their host receive times (format in LOGFORMAT.md).

    with LogWriter("run.edgelog", LogHeader(port="/dev/ttyUSB0", baudrate=921600)) as w:
        w.write(chunk)                       # host time now; or w.write(chunk, host_time=t)
    log = read_log("run.edgelog")            # SensorLog: header, records [(host_time, bytes)], tail_bytes
    for host_time, msg in messages(log):     # decoded exactly as the host decoded them live
        ...

Feeding ``log.records`` to ``decoder_for(log.header)`` reproduces exactly what the host saw. A log is
append-only; after a power cut it reads up to its last complete record (``tail_bytes`` says how much
was torn off). Labels may sit beside the log in ``<log>.labels.json``; ``edge_rep.log_conversion``
reads them and turns a log into a recording (samples in physical units on the log's timeline).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

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
FSYNC_EVERY_S = 1.0                    # at most this much is lost to a power cut


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


@dataclass
class SensorLog:
    path: Path
    header: LogHeader
    records: list[tuple[float, bytes]]   # (host time, UNIX seconds; bytes as received)
    tail_bytes: int = 0                  # bytes after the last complete record (a torn write)

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
        self.bytes = 0

    def write(self, data: bytes, host_time: float | None = None) -> None:
        if not data:
            return
        ns = time.time_ns() if host_time is None else int(round(host_time * 1e9))
        head = _REC.pack(ns, len(data))
        self._f.write(head + data + struct.pack("<I", crc32c(data, crc32c(head))))
        self.records += 1
        self.bytes += len(data)
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


def read_log(path: str | os.PathLike) -> SensorLog:
    """Read a sensor log up to its last complete record; BridgeError if it is not a readable log."""
    path = Path(path)
    try:
        buf = path.read_bytes()
    except FileNotFoundError:
        raise BridgeError(f"log {path}: not found; check the path") from None
    except OSError as e:
        raise BridgeError(f"log {path}: cannot read it ({e.strerror})") from None
    if len(buf) < _PRE.size or buf[:8] != MAGIC:
        raise BridgeError(f"log {path}: not an edge-rep sensor log (bad magic or empty); record one with "
                          f"'edge-rep record'")
    _, version, n = _PRE.unpack_from(buf)
    if version != FORMAT_VERSION:
        raise BridgeError(f"log {path}: format version {version}, this edge-rep reads {FORMAT_VERSION}; upgrade")
    end = _PRE.size + n
    if len(buf) < end + 4:
        raise BridgeError(f"log {path}: header truncated (the recording was cut before it began); it holds no data")
    meta = buf[_PRE.size:end]
    try:
        if crc32c(meta) != struct.unpack_from("<I", buf, end)[0]:
            raise ValueError("header CRC mismatch")
        d = json.loads(meta)
        header = LogHeader(**d)
    except (ValueError, TypeError) as e:
        raise BridgeError(f"log {path}: corrupt header ({e}); the file is damaged") from None
    records, off = [], end + 4
    while off + _REC.size <= len(buf):
        ns, n = _REC.unpack_from(buf, off)
        stop = off + _REC.size + n + 4
        if n > MAX_RECORD or stop > len(buf):
            break
        payload = buf[off + _REC.size:stop - 4]
        if crc32c(payload, crc32c(buf[off:off + _REC.size])) != struct.unpack_from("<I", buf, stop - 4)[0]:
            break
        records.append((ns / 1e9, payload))
        off = stop
    return SensorLog(path, header, records, tail_bytes=len(buf) - off)


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
