"""Generic WAV files (scipy.io.wavfile): one recording per file, one modality (acoustic by default).

Integer samples are scaled to [-1, 1) full scale (units "FS"); float WAVs are kept as they are.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ..errors import EdgeRepError
from ..profiles import Profile
from ..recording import Channels, Recording
from . import find_files, label_from_path, rec_id, resample, resolve_label, whole_label


def read_wav(path: Path) -> tuple[float, np.ndarray, str]:
    """(rate, (channels, samples) float32, units) of one WAV file."""
    from scipy.io import wavfile

    try:
        rate, data = wavfile.read(path)
    except FileNotFoundError:
        raise EdgeRepError(f"{path}: file not found; check the path") from None
    except (ValueError, EOFError, OSError, struct.error) as e:
        raise EdgeRepError(f"{path}: not a readable WAV file ({e}); check or re-export it") from None
    if data.size == 0:
        raise EdgeRepError(f"{path}: WAV file holds no samples")
    units = "FS"
    if np.issubdtype(data.dtype, np.integer):
        info = np.iinfo(data.dtype)
        data = (data.astype(np.float64) - (info.max + info.min + 1) / 2) / ((info.max - info.min + 1) / 2)
    else:
        units = ""
    data = np.asarray(data, dtype=np.float32)
    return float(rate), (data[None, :] if data.ndim == 1 else data.T), units


def load(src: Path, profile: Profile, label: str | None = None, modality: str = "acoustic",
         channel: int | None = None) -> list[Recording]:
    spec = profile.modality(modality)
    out = []
    for path in find_files(src, ("*.wav", "*.WAV"), "WAV"):
        rate, data, units = read_wav(path)
        if channel is not None:
            if not 0 <= channel < data.shape[0]:
                raise EdgeRepError(f"{path}: has {data.shape[0]} channel(s), no channel {channel}")
            data = data[channel:channel + 1]
        if data.shape[0] != spec.channels:
            raise EdgeRepError(f"{path}: has {data.shape[0]} channels, profile '{profile.name}' expects "
                               f"{spec.channels} {modality} channel(s); pick one with --channel")
        data = resample(data, rate, spec.sample_rate, str(path))
        lab = label or label_from_path(path.relative_to(src) if src.is_dir() else Path(path.name), profile)
        lab = resolve_label(lab, profile, str(path)) if lab else None
        ch = Channels(data, spec.sample_rate, 0.0, units, {"file": path.name, "original_rate": rate})
        out.append(Recording(id=rec_id(path, src), modalities={modality: ch}, labels=whole_label(ch.duration, lab),
                             metadata={"source": "wav", "file": str(path)}))
    return out
