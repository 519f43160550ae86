"""Sensor logs: the raw bytes of a serial link with their host receive times (format in LOGFORMAT.md).

    with LogWriter("run.edgelog", LogHeader(port="/dev/ttyUSB0", baudrate=921600)) as w:
        w.write(chunk)                       # host time now; or w.write(chunk, host_time=t)
    log = read_log("run.edgelog")            # SensorLog: header, records [(host_time, bytes)], tail_bytes
    rec = to_recording(log)                  # decoded samples on the log's timeline, NaN where lost

Replaying ``log.records`` through ``codec.Decoder`` reproduces exactly what the host saw. A log is
append-only; after a power cut it reads up to its last complete record (``tail_bytes`` says how much
was torn off). Labels may sit beside the log in ``<log>.labels.json``.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
from crc32c import crc32c

from edge_rep import __version__
from edge_rep.errors import EdgeRepError
from edge_rep.recording import Channels, LabelInterval, Recording

from .codec import Decoder
from .protocol import Data, Hello, Message

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
        header.tool = header.tool or f"edge-rep {__version__}"
        self.header = header
        try:
            self._f = open(self.path, "xb", buffering=0)
        except FileExistsError:
            raise EdgeRepError(f"log {self.path}: already exists; choose another name (logs are never "
                               f"overwritten)") from None
        except OSError as e:
            raise EdgeRepError(f"log {self.path}: cannot create it ({e.strerror}); check the folder") from None
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
    """Read a sensor log up to its last complete record; EdgeRepError if it is not a readable log."""
    path = Path(path)
    try:
        buf = path.read_bytes()
    except FileNotFoundError:
        raise EdgeRepError(f"log {path}: not found; check the path") from None
    except OSError as e:
        raise EdgeRepError(f"log {path}: cannot read it ({e.strerror})") from None
    if len(buf) < _PRE.size or buf[:8] != MAGIC:
        raise EdgeRepError(f"log {path}: not an edge-rep sensor log (bad magic or empty); record one with "
                           f"'edge-rep record'")
    _, version, n = _PRE.unpack_from(buf)
    if version != FORMAT_VERSION:
        raise EdgeRepError(f"log {path}: format version {version}, this edge-rep reads {FORMAT_VERSION}; upgrade")
    end = _PRE.size + n
    if len(buf) < end + 4:
        raise EdgeRepError(f"log {path}: header truncated (the recording was cut before it began); it holds no data")
    meta = buf[_PRE.size:end]
    try:
        if crc32c(meta) != struct.unpack_from("<I", buf, end)[0]:
            raise ValueError("header CRC mismatch")
        d = json.loads(meta)
        header = LogHeader(**d)
    except (ValueError, TypeError) as e:
        raise EdgeRepError(f"log {path}: corrupt header ({e}); the file is damaged") from None
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


def labels_path(log_path: str | os.PathLike) -> Path:
    return Path(str(log_path) + ".labels.json")


def write_labels(log_path: str | os.PathLike, labels: list[LabelInterval]) -> None:
    """Labels beside a log: seconds from the log's start time (host clock)."""
    labels_path(log_path).write_text(json.dumps({"labels": [[iv.start, iv.end, iv.label] for iv in labels]}, indent=1)
                                     + "\n")


def read_labels(log_path: str | os.PathLike) -> list[LabelInterval]:
    """The labels beside a log, or [] if it has none."""
    p = labels_path(log_path)
    if not p.exists():
        return []
    try:
        return [LabelInterval(float(a), float(b), str(lab)) for a, b, lab in json.loads(p.read_text())["labels"]]
    except (ValueError, KeyError, TypeError) as e:
        raise EdgeRepError(f"labels {p}: not a list of [start, end, label] ({e}); fix or delete it") from None


def csv_header(channels, separator: str = "auto") -> dict:
    """``LogHeader.extra`` entry for a CSV link: the channel map needed to decode the log later.
    ``channels``: objects with name, modality, sample_rate, scale, units (e.g. edge_rep.config's [csv])."""
    keys = ("name", "modality", "sample_rate", "scale", "units")
    return {"csv": {"separator": separator, "channels": [{k: getattr(c, k) for k in keys} for c in channels]}}


def decoder_for(log: SensorLog):
    """The decoder the log's link needs: ``codec.Decoder`` for binary frames, ``CsvDecoder`` for CSV lines."""
    if log.header.input == "csv":
        from types import SimpleNamespace

        from .csv_input import CsvDecoder
        csv = log.header.extra.get("csv")
        if not csv:
            raise EdgeRepError(f"log {log.path}: CSV input without its channel map in the header; record it with "
                               f"'edge-rep record --format csv --config edge-rep.toml'")
        return CsvDecoder([SimpleNamespace(**c) for c in csv["channels"]], csv.get("separator", "auto"))
    return Decoder()


def messages(log: SensorLog, decoder=None) -> Iterator[tuple[float, Message]]:
    """(host time, message) for every frame in the log, decoded exactly as the host did live."""
    dec = decoder or decoder_for(log)
    for t, chunk in log.records:
        for m in dec.feed(chunk):
            yield t, m


def to_recording(log: SensorLog, decoder=None) -> Recording:
    """Decoded samples in physical units on the log's timeline (seconds from ``header.start_time``).

    A board's sample i is at board time i / rate; each boot (a HELLO with sequence 0, or the sample
    indices going back) is placed on the host clock by its earliest frame: board time 0 = min(host
    receive time - board timestamp). Lost samples are NaN, so gaps stay gaps across drops and resets.
    """
    hello: Hello | None = None
    anchor = None                       # host time of board time 0 for the current boot
    pieces: list[tuple[int, float, np.ndarray]] = []   # (channel, first sample time, raw samples) per block
    boots: list[list] = []              # per boot: [anchor candidates, piece indices]
    descriptors = {}
    skipped = 0
    last_index: dict[int, int] = {}
    for t, m in messages(log, decoder):
        if isinstance(m, Hello):
            if hello is None or m.seq == 0:
                boots.append([[], []])
                last_index = {}
            hello = m
            for c in m.channels:
                old = descriptors.get(c.channel_id)
                if old is not None and (old.modality, old.sample_rate) != (c.modality, c.sample_rate):
                    raise EdgeRepError(f"log {log.path}: channel {c.channel_id} changes from {old.modality} at "
                                       f"{old.sample_rate:g} Hz to {c.modality} at {c.sample_rate:g} Hz mid-log; "
                                       f"split the log")
                descriptors[c.channel_id] = c
        if hello is None:
            skipped += 1                # data before any HELLO: rates and scales unknown
            continue
        if isinstance(m, Data):
            if any(b.first_index < last_index.get(b.channel_id, -1) for b in m.blocks):
                boots.append([[], []])  # indices went back: the board rebooted and its HELLO was lost
                last_index = {}
            for b in m.blocks:
                c = hello.channel(b.channel_id)
                if c is None:
                    continue
                pieces.append((b.channel_id, b.first_index / c.sample_rate, c.to_physical(b.samples)))
                boots[-1][1].append(len(pieces) - 1)
                last_index[b.channel_id] = b.first_index + len(b.samples)
        boots[-1][0].append(t - m.timestamp_us / 1e6)
    if not pieces:
        raise EdgeRepError(f"log {log.path}: no samples after a HELLO ({len(log.records)} records); nothing to convert")
    start = log.header.start_time
    placed = []
    for cands, idx in boots:
        if not idx:
            continue
        anchor = min(cands) - start
        placed += [(pieces[i][0], anchor + pieces[i][1], pieces[i][2]) for i in idx]
    by_mod: dict[str, list[int]] = {}
    for cid, c in sorted(descriptors.items()):
        by_mod.setdefault(c.modality, []).append(cid)
    # every modality spans the whole log: one that dropped for good is NaN to the end, not shorter
    end = max(t0 + len(s) / descriptors[cid].sample_rate for cid, t0, s in placed)
    mods = {}
    for name, cids in by_mod.items():
        rates = {descriptors[c].sample_rate for c in cids}
        if len(rates) > 1:
            raise EdgeRepError(f"log {log.path}: {name} channels have different rates {sorted(rates)}; "
                               f"convert them separately")
        rate = rates.pop()
        data = np.full((len(cids), int(np.ceil(end * rate - 1e-6))), np.nan, dtype=np.float32)
        for cid, t0, s in placed:
            if cid in cids:
                i0 = int(round(t0 * rate))
                lo = max(i0, 0)
                hi = min(i0 + len(s), data.shape[1])
                if hi > lo:
                    data[cids.index(cid), lo:hi] = s[lo - i0:hi - i0]
        d0 = descriptors[cids[0]]
        mods[name] = Channels(data, rate, start, d0.units, {"name": d0.sensor, "board": hello.board_name,
                                                            "channel_ids": cids})
    return Recording(id=log.path.stem, modalities=mods, labels=read_labels(log.path), start_time=start,
                     metadata={"source": "sensor-log", "log": str(log.path), "port": log.header.port,
                               "board_uid": hello.board_uid, "firmware": hello.firmware,
                               "frames_before_hello": skipped})
