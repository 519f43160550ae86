"""Generic WAV files (scipy.io.wavfile): one recording per file, one modality (acoustic by default).

A WAV holds digital full scale: integer samples are scaled to [-1, 1) and float samples are taken as they
are, both in units "FS" (1.0 at digital full scale). ``--full-scale VALUE`` (the physical value, e.g. Pa,
at digital full scale) turns them into the profile's unit; ``--units FS`` keeps them in FS on purpose.

A sidecar beside the file, ``FILE.wav.json`` (what ``edge-rep convert-log --to wav`` writes)::

    {"format": "edge-rep-wav", "modality": "acoustic", "units": "Pa", "full_scale": null}

says which modality the file holds and its unit: ``full_scale`` null means the samples are in ``units``
as they are (a float32 WAV); a number means ``units`` at digital full scale. It is read unless the command
line calibrates the file itself (``--full-scale``, ``--units``): the command line wins.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np

from ..calibration import FULL_SCALE, WAV_SIDECAR_FORMAT, Calibration, to_units, wav_sidecar_path
from ..errors import EdgeRepError
from ..profiles import Profile
from ..recording import Channels, Recording
from . import find_files, label_from_path, rec_id, resample, resolve_label, whole_label

SIDECAR_MAX = 1 << 16


def read_sidecar(path: Path) -> dict | None:
    """The sidecar beside WAV file ``path`` (checked), or None if it has none."""
    p = wav_sidecar_path(path)
    if not p.exists():
        return None
    fix = "fix or delete it, or calibrate the file with --full-scale or --units"
    try:
        if p.stat().st_size > SIDECAR_MAX:
            raise ValueError(f"larger than {SIDECAR_MAX} bytes")
        d = json.loads(p.read_text())
        if not isinstance(d, dict) or d.get("format") != WAV_SIDECAR_FORMAT:
            raise ValueError(f"format is not '{WAV_SIDECAR_FORMAT}'")
        if not isinstance(d.get("modality"), str) or not isinstance(d.get("units"), str):
            raise ValueError("needs 'modality' and 'units' strings")
        fs = d.get("full_scale")
        if fs is not None and (isinstance(fs, bool) or not isinstance(fs, (int, float)) or not math.isfinite(fs)
                               or fs <= 0):
            raise ValueError(f"full_scale {fs!r} must be null or a finite number > 0")
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise EdgeRepError(f"{p}: not a readable edge-rep WAV sidecar ({e}); {fix}") from None
    return d


def read_wav(path: Path) -> tuple[float, np.ndarray, str, bool]:
    """(rate, (channels, samples) float32 in FS, "FS", whether the file holds integers) of one WAV file."""
    from scipy.io import wavfile

    try:
        rate, data = wavfile.read(path)
    except FileNotFoundError:
        raise EdgeRepError(f"{path}: file not found; check the path") from None
    except (ValueError, EOFError, OSError, struct.error) as e:
        raise EdgeRepError(f"{path}: not a readable WAV file ({e}); check or re-export it") from None
    if data.size == 0:
        raise EdgeRepError(f"{path}: WAV file holds no samples")
    integer = np.issubdtype(data.dtype, np.integer)
    if integer:
        info = np.iinfo(data.dtype)
        data = (data.astype(np.float64) - (info.max + info.min + 1) / 2) / ((info.max - info.min + 1) / 2)
    data = np.asarray(data, dtype=np.float32)
    return float(rate), (data[None, :] if data.ndim == 1 else data.T), FULL_SCALE, integer


def load(src: Path, profile: Profile, label: str | None = None, modality: str | None = None,
         channel: int | None = None, calibration: Calibration | None = None) -> list[Recording]:
    """``modality`` None: the sidecar's, else acoustic."""
    cal = calibration or Calibration()
    out = []
    for path in find_files(src, ("*.wav", "*.WAV"), "WAV"):
        rate, data, units, integer = read_wav(path)
        mod = modality or "acoustic"
        meta = None if cal.explicit(mod) else read_sidecar(path)
        if meta is not None:
            side = wav_sidecar_path(path)
            if modality is not None and meta["modality"] != modality:
                raise EdgeRepError(f"{path}: its sidecar {side} says it holds {meta['modality']}, not {modality}; "
                                   f"drop --modality")
            mod = meta["modality"]
            if mod not in profile.modality_names:
                raise EdgeRepError(f"{side}: says the file holds {mod!r}, which profile '{profile.name}' has not "
                                   f"({', '.join(profile.modality_names)}); fix the sidecar or pass --modality")
            if meta["full_scale"] is None and integer:
                raise EdgeRepError(f"{side}: says the samples are in {meta['units']} as they are, but {path.name} "
                                   f"holds integers; give full_scale, or calibrate with --full-scale")
            if meta["full_scale"] is not None:
                data = data * np.float32(meta["full_scale"])
            units = meta["units"]
        spec = profile.modality(mod)
        if channel is not None:
            if not 0 <= channel < data.shape[0]:
                raise EdgeRepError(f"{path}: has {data.shape[0]} channel(s), no channel {channel}")
            data = data[channel:channel + 1]
        if data.shape[0] != spec.channels:
            raise EdgeRepError(f"{path}: has {data.shape[0]} channels, profile '{profile.name}' expects "
                               f"{spec.channels} {mod} channel(s); pick one with --channel")
        data = resample(data, rate, spec.sample_rate, str(path))
        ch = to_units(Channels(data, spec.sample_rate, 0.0, units, {"file": path.name, "original_rate": rate}),
                      mod, profile, cal, str(path), fmt="wav")
        lab = label or label_from_path(path.relative_to(src) if src.is_dir() else Path(path.name), profile)
        lab = resolve_label(lab, profile, str(path)) if lab else None
        out.append(Recording(id=rec_id(path, src), modalities={mod: ch}, labels=whole_label(ch.duration, lab),
                             metadata={"source": "wav", "file": str(path)}))
    return out
