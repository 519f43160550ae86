"""miniSEED (and anything else ObsPy reads) via ObsPy, the optional ``seismic`` extra.

One recording per file. Traces of one channel are merged (as float64, whatever each record's encoding);
gaps stay gaps (NaN). Where a file holds
several channels, the vertical one (code ending in Z) is taken unless ``channel`` names another.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import EdgeRepError
from ..profiles import Profile
from ..recording import Channels, Recording
from . import find_files, label_from_path, rec_id, resample, resolve_label, whole_label


def _obspy():
    try:
        import obspy
    except ImportError:
        raise EdgeRepError("miniSEED needs ObsPy, which is not installed; run: pip install edge-rep[seismic]") from None
    return obspy


def read_trace(path: Path, channel: str | None = None) -> tuple[np.ndarray, float, float, dict]:
    """(samples with NaN gaps, rate, start time (UNIX s), stats) of one channel of a miniSEED file."""
    obspy = _obspy()
    try:
        st = obspy.read(str(path))
    except FileNotFoundError:
        raise EdgeRepError(f"{path}: file not found; check the path") from None
    except Exception as e:  # noqa: BLE001 - ObsPy raises many kinds for a bad file
        raise EdgeRepError(f"{path}: not a readable miniSEED file ({type(e).__name__}: {e}); check it") from None
    codes = sorted({tr.stats.channel for tr in st})
    if not codes:
        raise EdgeRepError(f"{path}: holds no traces")
    if channel is None:
        pick = [c for c in codes if c.endswith("Z")] or codes
        if len(pick) > 1:
            raise EdgeRepError(f"{path}: holds channels {', '.join(codes)}; choose one with --channel")
        channel = pick[0]
    st = st.select(channel=channel)
    if len(st) == 0:
        raise EdgeRepError(f"{path}: has no channel '{channel}'; it has {', '.join(codes)}")
    rates = {tr.stats.sampling_rate for tr in st}
    if len(rates) > 1:
        raise EdgeRepError(f"{path}: channel {channel} changes sampling rate ({sorted(rates)}); split the file")
    for tr in st:       # a channel may switch encodings between records (STEIM2 ints, then FLOAT32):
        tr.data = tr.data.astype(np.float64)    # ObsPy merges only traces of one dtype
    st.merge(method=1, fill_value=None)     # gaps become masked samples
    tr = st[0]
    data = np.ma.filled(np.ma.masked_array(tr.data).astype(np.float64), np.nan)
    return data, float(tr.stats.sampling_rate), float(tr.stats.starttime.timestamp), {
        "id": tr.id, "network": tr.stats.network, "station": tr.stats.station, "channel": tr.stats.channel}


def load(src: Path, profile: Profile, label: str | None = None, modality: str = "seismic",
         channel: str | None = None) -> list[Recording]:
    _obspy()
    spec = profile.modality(modality)
    out = []
    for path in find_files(src, ("*.mseed", "*.miniseed", "*.ms", "*.MSEED"), "miniSEED"):
        data, rate, t0, stats = read_trace(path, channel)
        x = resample(data[None, :], rate, spec.sample_rate, str(path))
        ch = Channels(x, spec.sample_rate, t0, "counts", dict(stats, original_rate=rate))
        lab = label or label_from_path(path.relative_to(src) if src.is_dir() else Path(path.name), profile)
        lab = resolve_label(lab, profile, str(path)) if lab else None
        out.append(Recording(id=rec_id(path, src), modalities={modality: ch}, start_time=t0,
                             labels=whole_label(ch.duration, lab), metadata={"source": "mseed", "file": str(path)}))
    return out
