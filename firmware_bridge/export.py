"""Recordings out of sensor logs into other formats: the dataset format, WAV and miniSEED.

Each function takes a ``Recording`` (e.g. ``sensorlog.to_recording(read_log(path))``) and an output
path, and returns the files it wrote. An existing output path is replaced only when it is a file of the
same kind and ``force`` is given (``edge_rep.outpaths``); each file lands atomically.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from edge_rep.errors import EdgeRepError
from edge_rep.outpaths import OutputKind, claim, is_miniseed, is_wav, staged_file
from edge_rep.recording import Recording

WAV = OutputKind("WAV file", folder=False, owned=is_wav)
MSEED = OutputKind("miniSEED file", folder=False, owned=is_miniseed)


def to_dataset(rec: Recording, out: str | os.PathLike, force: bool = False) -> list[Path]:
    """One .npz recording in the dataset format (edge_rep.dataset), NaN where samples were lost."""
    from edge_rep.dataset import RECORDING, write_recording
    out = claim(out, RECORDING, force)
    with staged_file(out) as tmp:
        write_recording(tmp, rec)
    return [out]


def to_wav(rec: Recording, out: str | os.PathLike, force: bool = False) -> list[Path]:
    """A float32 WAV per modality in physical units; lost samples become 0 (WAV cannot hold gaps)."""
    from scipy.io import wavfile
    out = Path(out)
    paths = {name: out if len(rec.modalities) == 1 else out.with_name(f"{out.stem}-{name}{out.suffix or '.wav'}")
             for name in rec.modalities}
    for name, ch in rec.modalities.items():    # every check before the first file is written
        claim(paths[name], WAV, force)
        if abs(round(ch.sample_rate) - ch.sample_rate) > 1e-6 * ch.sample_rate:
            raise EdgeRepError(f"{name}: {ch.sample_rate:g} Hz is not a whole number of Hz, which WAV needs; "
                               f"convert to dataset or mseed instead")
    for name, ch in rec.modalities.items():
        with staged_file(paths[name]) as tmp:
            wavfile.write(tmp, int(round(ch.sample_rate)), np.nan_to_num(ch.data, nan=0.0).T.astype(np.float32))
    return list(paths.values())


def _seed_channel(modality: str, rate: float) -> str:
    """SEED channel code: band from the rate, D(pressure)F for microphones, HZ for vertical geophones."""
    band = "G" if rate >= 1000 else "D" if rate >= 250 else "E" if rate >= 80 else "S"
    return band + ("DF" if modality == "acoustic" else "HZ")


def to_mseed(rec: Recording, out: str | os.PathLike, network: str = "XX", force: bool = False) -> list[Path]:
    """miniSEED (float32), one trace per channel and run of samples without gaps."""
    try:
        from obspy import Stream, Trace, UTCDateTime
    except ImportError:
        raise EdgeRepError("miniSEED output needs obspy; pip install 'edge-rep[seismic]'") from None
    out = claim(out, MSEED, force)
    st = Stream()
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
    with staged_file(out) as tmp:
        st.write(str(tmp), format="MSEED", encoding="FLOAT32")
    return [out]
