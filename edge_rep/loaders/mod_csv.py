"""MOD / Parkland raw Raspberry Shake CSVs: per node folder, ``aud16000.csv`` (microphone, 16 kHz) and
``ehz.csv`` (geophone, 100 Hz). One recording per folder holding them.

A CSV holds one sample per line: either just the value, or ``timestamp,value`` (UNIX seconds; any
further columns are ignored: the value is the last column). An optional header line is skipped. With
timestamps, the start time comes from the first one and the rate they imply is checked against the
nominal rate. Audio is resampled 16 kHz -> the profile's rate with scipy.signal.resample_poly.

Units: both files hold counts. Give ``--sensitivity seismic=COUNTS_PER_UNIT`` (a Raspberry Shake RS4D's
geophone, EHZ: about 3.99e8 counts per m/s) and ``--sensitivity acoustic=...`` (counts per Pa), or keep
counts on purpose with ``--units counts`` (or ``--units acoustic=counts``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..calibration import COUNTS, Calibration, to_units
from ..dataset import check_spans
from ..errors import EdgeRepError
from ..profiles import Profile
from ..recording import Channels, Recording
from . import find_files, label_from_path, rec_id, resample, resolve_label, whole_label

FILES = {"aud16000.csv": ("acoustic", 16000.0, COUNTS), "ehz.csv": ("seismic", 100.0, COUNTS)}


def read_csv(path: Path, nominal_rate: float) -> tuple[np.ndarray, float | None]:
    """(values, start time or None) of one Raspberry Shake CSV; checks the rate its timestamps imply."""
    try:
        with open(path) as f:
            first = f.readline()
        header = 0 if _numeric(first.split(",")[-1]) else 1
        with warnings.catch_warnings():      # an empty file is reported below, not warned about
            warnings.simplefilter("ignore", UserWarning)
            arr = np.loadtxt(path, delimiter=",", skiprows=header, ndmin=2, dtype=np.float64)
    except FileNotFoundError:
        raise EdgeRepError(f"{path}: file not found; check the path") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise EdgeRepError(f"{path}: truncated or corrupt CSV ({str(e).splitlines()[0]}); expected numbers, "
                           f"one sample per line; re-export the file") from None
    if arr.size == 0:
        raise EdgeRepError(f"{path}: CSV holds no samples")
    values = arr[:, -1]
    if arr.shape[1] == 1:
        return values, None
    ts = arr[:, 0]
    if len(ts) > 2:
        rate = 1.0 / float(np.median(np.diff(ts)))
        if not np.isfinite(rate) or abs(rate - nominal_rate) > 0.02 * nominal_rate:
            raise EdgeRepError(f"{path}: timestamps imply {rate:.4g} Hz but this file must be {nominal_rate:g} Hz; "
                               f"check the file or its timestamps")
    return values, float(ts[0])


def _numeric(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def load(src: Path, profile: Profile, label: str | None = None,
         calibration: Calibration | None = None) -> list[Recording]:
    cal = calibration or Calibration()
    files = find_files(src, tuple(FILES), "Raspberry Shake CSV (aud16000.csv / ehz.csv)")
    folders = sorted({p.parent for p in files})
    out = []
    for folder in folders:
        mods: dict[str, Channels] = {}
        starts = []
        for fname, (modality, rate, units) in FILES.items():
            path = folder / fname
            if not path.is_file():
                continue
            if modality not in profile.modality_names:
                continue
            values, t0 = read_csv(path, rate)
            spec = profile.modality(modality)
            data = resample(values[None, :], rate, spec.sample_rate, str(path))
            mods[modality] = to_units(Channels(data, spec.sample_rate, t0 or 0.0, units,
                                               {"file": fname, "original_rate": rate, "sensor": "Raspberry Shake"}),
                                      modality, profile, cal, str(path), fmt="mod-csv")
            starts.append(t0 or 0.0)
        if not mods:
            continue
        t_start = min(starts)
        rid = rec_id(folder, src) if folder != src else folder.name
        rec = Recording(id=rid, modalities=mods, start_time=t_start,
                        metadata={"source": "mod-csv", "folder": str(folder)})
        check_spans(rec, str(folder))
        lab = label or label_from_path(folder.relative_to(src) if folder != src else Path(folder.name), profile)
        lab = resolve_label(lab, profile, str(folder)) if lab else None
        end = max(c.end_time for c in mods.values()) - t_start
        rec.labels = whole_label(end, lab)
        out.append(rec)
    return out
