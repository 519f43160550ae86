"""Sensor logs into the model's world: a ``Recording`` (samples and labels), then the dataset format,
WAV or miniSEED (``edge-rep convert-log``).

    log = read_log("run.edgelog")              # firmware_bridge.sensorlog: the raw bytes
    rec = to_recording(log)                    # decoded samples on the log's timeline, NaN where lost
    to_dataset(rec, "data/run.npz")            # or to_wav / to_mseed: each returns the files it wrote

An existing output path is replaced only when it is a file of the same kind and ``force`` is given
(``edge_rep.outpaths``); each file lands atomically.

Labels sit beside a log in ``<log>.labels.json`` (``[[start, end, label], ...]``, seconds from the
log's start time; firmware_bridge/LOGFORMAT.md). This is conversion; "export" is the model's
ONNX/TensorRT export (edge_rep/export.py, edge-rep export).
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import numpy as np

from firmware_bridge.codec import BoardReboot
from firmware_bridge.protocol import Data, Hello, Message
from firmware_bridge.sensorlog import SensorLog, decoder_for

from .errors import EdgeRepError
from .calibration import WAV_SIDECAR_FORMAT, stationxml_beside, to_stationxml_unit, wav_sidecar, wav_sidecar_path
from .outpaths import OutputKind, claim, is_miniseed, is_wav, json_file_has, staged_file
from .recording import Channels, LabelInterval, Recording


def labels_path(log_path: str | os.PathLike) -> Path:
    return Path(str(log_path) + ".labels.json")


def write_labels(log_path: str | os.PathLike, labels: list[LabelInterval]) -> Path:
    """Labels beside a log: seconds from the log's start time (host clock), in time order; the file is
    replaced atomically (a reader sees the old labels or the new ones). Returns its path."""
    out = labels_path(log_path)
    with staged_file(out) as tmp:
        tmp.write_text(json.dumps({"labels": [[iv.start, iv.end, iv.label]
                                              for iv in sorted(labels, key=lambda iv: iv.start)]}, indent=1) + "\n")
    return out


def read_labels(log_path: str | os.PathLike) -> list[LabelInterval]:
    """The labels beside a log, or [] if it has none."""
    p = labels_path(log_path)
    if not p.exists():
        return []
    try:
        return [LabelInterval(float(a), float(b), str(lab)) for a, b, lab in json.loads(p.read_text())["labels"]]
    except (ValueError, KeyError, TypeError) as e:
        raise EdgeRepError(f"labels {p}: not a list of [start, end, label] ({e}); fix or delete it") from None


def boot_anchors(log_path: str | os.PathLike) -> tuple[dict[int, float], float]:
    """Where each boot of the board lies on a log's timeline, as ``to_recording`` places it: boot (the
    daemon's count of ``BoardReboot``s, from 0) -> seconds from ``header.start_time`` of its board time 0
    (min over its frames of receive time - frame timestamp); and the log's span (its last record's
    receive time, seconds from ``start_time``). Reads the log one record at a time."""
    from firmware_bridge.sensorlog import LogReader

    anchors: dict[int, float] = {}
    boot, last = 0, 0.0
    with LogReader(log_path) as reader:
        start = reader.header.start_time
        dec = decoder_for(reader.header, f"log {log_path}")
        for t, chunk in reader:
            last = max(last, t - start)
            for m in dec.decode(chunk):
                if isinstance(m, BoardReboot):
                    boot += 1
                elif isinstance(m, Message) and hasattr(m, "timestamp_us"):
                    a = t - start - m.timestamp_us / 1e6
                    anchors[boot] = min(anchors.get(boot, a), a)
    return anchors, last


# A label may end this far after the log's last record (the last read's bytes hold up to this much audio).
LABEL_END_SLACK_S = 1.0


def check_class(label: str, classes: tuple[str, ...] | list[str], where: str = "label") -> None:
    """EdgeRepError unless ``label`` is one of ``classes`` (the model's or the dataset's)."""
    if label not in classes:
        raise EdgeRepError(f"{where}: '{label}' is not one of the model's classes ({', '.join(classes)}); use one "
                           f"of them")


def check_labels(labels: list[LabelInterval], classes: tuple[str, ...] | list[str], duration_s: float | None = None,
                 where: str = "labels") -> None:
    """The one check of a labels list (``record --label``, ``edge-rep label``, replay truth): every label is
    in ``classes``, every interval is ``0 <= start < end`` (seconds from the log's start), ends within
    ``duration_s`` (+ ``LABEL_END_SLACK_S``) when given, and no two intervals overlap (a window would have
    two truths). EdgeRepError naming ``where``, the interval and the fix."""
    for iv in labels:
        span = f"{iv.start:g}..{iv.end:g} s"
        check_class(iv.label, classes, f"{where}: label of {span}")
        if not (math.isfinite(iv.start) and math.isfinite(iv.end) and 0 <= iv.start < iv.end):
            raise EdgeRepError(f"{where}: interval {span} ({iv.label}) is not 0 <= start < end; fix its times "
                               f"(seconds from the log's start)")
        if duration_s is not None and iv.end > duration_s + LABEL_END_SLACK_S:
            raise EdgeRepError(f"{where}: interval {span} ({iv.label}) ends after the log ({duration_s:.1f} s); "
                               f"fix its end")
    ordered = sorted(labels, key=lambda iv: iv.start)
    for a, b in zip(ordered, ordered[1:]):
        if b.start < a.end:
            raise EdgeRepError(f"{where}: intervals {a.start:g}..{a.end:g} s ({a.label}) and {b.start:g}..{b.end:g} s "
                               f"({b.label}) overlap; a window has one truth: trim one of them")


def set_stretch(labels: list[LabelInterval], start: float, end: float, label: str) -> list[LabelInterval]:
    """``labels`` with [start, end) set to ``label``: what it covers of other intervals is cut away (an
    interval around it is split in two), then neighbours of the same label are merged. In time order."""
    out = []
    for iv in labels:
        if iv.end > start and iv.start < end:          # overlaps the new stretch: keep the parts outside
            if iv.start < start:
                out.append(LabelInterval(iv.start, start, iv.label))
            if iv.end > end:
                out.append(LabelInterval(end, iv.end, iv.label))
        else:
            out.append(iv)
    out.append(LabelInterval(float(start), float(end), label))
    merged: list[LabelInterval] = []
    for iv in sorted(out, key=lambda iv: iv.start):
        if merged and merged[-1].label == iv.label and merged[-1].end >= iv.start:
            merged[-1] = LabelInterval(merged[-1].start, max(merged[-1].end, iv.end), iv.label)
        else:
            merged.append(iv)
    return merged


def log_duration(log: SensorLog) -> float:
    """Seconds from the log's start time to its last record (0 for a log without records)."""
    return max((t for t, _ in log.records), default=log.header.start_time) - log.header.start_time


# Samples may lie at most this far past the log's last host receive time: more is a sample index
# no board could have reached in the time the log covers (a corrupt index; it would ask for gigabytes).
SPAN_SLACK_S = 3600.0


def to_recording(log: SensorLog, decoder=None) -> Recording:
    """Decoded samples in physical units on the log's timeline (seconds from ``header.start_time``).

    A board's sample i is at board time i / rate; each boot (the decoder's ``BoardReboot``: PROTOCOL.md
    section 7, the rule the daemon follows) is placed on the host clock by its earliest frame: board time
    0 = min(host receive time - board timestamp). Lost samples are NaN, so gaps stay gaps across drops and
    resets.
    EdgeRepError for a channel whose rate is not a positive number, or samples placed more than
    ``SPAN_SLACK_S`` after the log's last record (a sample index jump).
    """
    hello: Hello | None = None
    anchor = None                       # host time of board time 0 for the current boot
    pieces: list[tuple[int, float, np.ndarray]] = []   # (channel, first sample time, raw samples) per block
    boots: list[list] = []              # per boot: [anchor candidates, piece indices]
    descriptors = {}
    skipped = 0
    dec = decoder or decoder_for(log.header, f"log {log.path}")
    items = ((t, m) for t, chunk in log.records for m in dec.decode(chunk))
    for t, m in items:
        if isinstance(m, BoardReboot):
            boots.append([[], []])
            continue
        if not isinstance(m, Message):
            continue                    # failed or lost frames: their samples are gaps
        if isinstance(m, Hello):
            if hello is None:
                boots.append([[], []])
            hello = m
            for c in m.channels:
                if not (math.isfinite(c.sample_rate) and c.sample_rate > 0):
                    raise EdgeRepError(f"log {log.path}: channel {c.channel_id} ({c.modality}) has a sample rate of "
                                       f"{c.sample_rate:g} Hz in its HELLO, so its samples have no times; fix the "
                                       f"board's firmware (PROTOCOL.md: HELLO)")
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
            for b in m.blocks:
                c = hello.channel(b.channel_id)
                if c is None:
                    continue
                pieces.append((b.channel_id, b.first_index / c.sample_rate, c.to_physical(b.samples)))
                boots[-1][1].append(len(pieces) - 1)
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
    last = max(t for t, _ in log.records) - start
    for cid, t0, s in placed:
        if t0 + len(s) / descriptors[cid].sample_rate > last + SPAN_SLACK_S:
            raise EdgeRepError(f"log {log.path}: channel {cid} has samples at {t0:.0f} s on the log's timeline, "
                               f"but the log ends at {last:.0f} s (a jump in the board's sample index); such a log "
                               f"cannot be placed on one timeline: check the board's firmware (PROTOCOL.md: "
                               f"first_index)")
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


WAV = OutputKind("WAV file", folder=False, owned=is_wav)
MSEED = OutputKind("miniSEED file", folder=False, owned=is_miniseed)
# The sidecars that say what a WAV / miniSEED file holds: part of the output, replaced only with force
WAV_SIDECAR = OutputKind("WAV sidecar (.wav.json)", folder=False,
                         owned=lambda p: json_file_has(p, "format", WAV_SIDECAR_FORMAT))
STATIONXML = OutputKind("StationXML file", folder=False, owned=lambda p: is_own_stationxml(p))
STATIONXML_SOURCE = "edge-rep"


def is_own_stationxml(path: Path) -> bool:
    """A StationXML file edge-rep wrote (its <Source> says so)."""
    with open(path, "rb") as f:
        head = f.read(4096)
    return b"<FDSNStationXML" in head and f"<Source>{STATIONXML_SOURCE}</Source>".encode() in head


def to_dataset(rec: Recording, out: str | os.PathLike, force: bool = False) -> list[Path]:
    """One .npz recording in the dataset format (edge_rep.dataset), NaN where samples were lost."""
    from .dataset import RECORDING, write_recording
    out = claim(out, RECORDING, force)
    with staged_file(out) as tmp:
        write_recording(tmp, rec)
    return [out]


def to_wav(rec: Recording, out: str | os.PathLike, force: bool = False) -> list[Path]:
    """A float32 WAV per modality in physical units, with its sidecar ``<wav>.json`` (modality, units,
    ``full_scale`` null: the samples are the physical values), so ``edge-rep convert wav`` reads it back
    without options. Lost samples become 0 (WAV cannot hold gaps)."""
    from scipy.io import wavfile
    out = Path(out)
    paths = {name: out if len(rec.modalities) == 1 else out.with_name(f"{out.stem}-{name}{out.suffix or '.wav'}")
             for name in rec.modalities}
    for name, ch in rec.modalities.items():    # every check before the first file is written
        claim(paths[name], WAV, force)
        claim(wav_sidecar_path(paths[name]), WAV_SIDECAR, force)
        if abs(round(ch.sample_rate) - ch.sample_rate) > 1e-6 * ch.sample_rate:
            raise EdgeRepError(f"{name}: {ch.sample_rate:g} Hz is not a whole number of Hz, which WAV needs; "
                               f"convert to dataset or mseed instead")
    written = []
    for name, ch in rec.modalities.items():
        side = wav_sidecar_path(paths[name])
        with staged_file(paths[name]) as tmp, staged_file(side) as tmp_side:   # the pair lands together
            wavfile.write(tmp, int(round(ch.sample_rate)), np.nan_to_num(ch.data, nan=0.0).T.astype(np.float32))
            tmp_side.write_text(json.dumps(wav_sidecar(name, ch.units)) + "\n")
        written += [paths[name], side]
    return written


def _seed_channel(modality: str, rate: float) -> str:
    """SEED channel code: band from the rate, D(pressure)F for microphones, HZ for vertical geophones."""
    band = "G" if rate >= 1000 else "D" if rate >= 250 else "E" if rate >= 80 else "S"
    return band + ("DF" if modality == "acoustic" else "HZ")


def _inventory(rec: Recording, network: str, station: str):
    """A StationXML inventory for the traces ``to_mseed`` writes: per channel an InstrumentSensitivity of
    1.0 from the channel's physical unit (M/S, PA) to COUNTS and one flat stage, so removing the sensitivity
    (or the response) of these float32 samples is the identity. The position is unknown: 0, 0."""
    from obspy import UTCDateTime
    from obspy.core.inventory import Channel, InstrumentSensitivity, Inventory, Network, Response, Site, Station
    from obspy.core.inventory.response import PolesZerosResponseStage

    channels = []
    for name, ch in rec.modalities.items():
        unit = to_stationxml_unit(ch.units or "counts")
        for row in range(ch.n_channels):
            stage = PolesZerosResponseStage(stage_sequence_number=1, stage_gain=1.0, stage_gain_frequency=1.0,
                                            input_units=unit, output_units="COUNTS",
                                            pz_transfer_function_type="LAPLACE (RADIANS/SECOND)",
                                            normalization_frequency=1.0, zeros=[], poles=[], normalization_factor=1.0)
            resp = Response(instrument_sensitivity=InstrumentSensitivity(
                value=1.0, frequency=1.0, input_units=unit, output_units="COUNTS",
                output_units_description="float32 samples equal to the physical value"), response_stages=[stage])
            channels.append(Channel(_seed_channel(name, ch.sample_rate), f"{row:02d}", 0.0, 0.0, 0.0, 0.0,
                                    sample_rate=ch.sample_rate, start_date=UTCDateTime(ch.start_time),
                                    end_date=UTCDateTime(ch.end_time), response=resp,
                                    description=f"{name} ({ch.units or 'no stated unit'})"))
    sta = Station(station, 0.0, 0.0, 0.0, site=Site(name=f"edge-rep recording {rec.id}"), channels=channels,
                  start_date=UTCDateTime(rec.start_time))
    return Inventory(networks=[Network(network, stations=[sta])], source=STATIONXML_SOURCE, sender=STATIONXML_SOURCE)


def to_mseed(rec: Recording, out: str | os.PathLike, network: str = "XX", force: bool = False) -> list[Path]:
    """miniSEED (float32, physical units), one trace per channel and run of samples without gaps, and beside
    it a StationXML (``stationxml_beside``: OUT.xml) saying so, so ``edge-rep convert mseed`` reads it back
    without options."""
    try:
        from obspy import Stream, Trace, UTCDateTime
    except ImportError:
        raise EdgeRepError("miniSEED output needs obspy; pip install 'edge-rep[seismic]'") from None
    xml = stationxml_beside(out)
    if Path(out) == xml:
        raise EdgeRepError(f"--out {out}: its StationXML goes beside it as {xml.name}; give the miniSEED file "
                           f"another suffix, e.g. .mseed")
    out = claim(out, MSEED, force)
    claim(xml, STATIONXML, force)
    st = Stream()
    station = ""
    for name, ch in rec.modalities.items():
        station = re.sub(r"[^A-Za-z0-9]", "", str(ch.sensor.get("board", "") or rec.id)).upper()[:5] or "EDGE"
        for row, x in enumerate(ch.data):
            finite = np.isfinite(x)
            edges = np.flatnonzero(np.diff(np.r_[0, finite.astype(np.int8), 0]))
            for i0, i1 in zip(edges[::2], edges[1::2]):
                tr = Trace(np.ascontiguousarray(x[i0:i1], dtype=np.float32))
                tr.stats.network, tr.stats.station, tr.stats.location = network, station, f"{row:02d}"
                tr.stats.channel = _seed_channel(name, ch.sample_rate)
                tr.stats.sampling_rate = ch.sample_rate
                tr.stats.starttime = UTCDateTime(ch.start_time + i0 / ch.sample_rate)
                st.append(tr)
    if not st:
        raise EdgeRepError(f"recording '{rec.id}': no samples to write")
    inv = _inventory(rec, network, station)
    with staged_file(out) as tmp, staged_file(xml) as tmp_xml:      # the pair lands together
        st.write(str(tmp), format="MSEED", encoding="FLOAT32")
        inv.write(str(tmp_xml), format="STATIONXML", validate=True)
    return [out, xml]
