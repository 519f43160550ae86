"""ACIDS MATLAB files: ``SRC/Acoustics/<run>.mat`` and ``SRC/Seismic/<run>.mat`` with the variable
``Output_data`` (samples, or samples x channels). Both are sampled at 1025.6 Hz nominal, which ACIDS's
own code (and the ``acids`` profile) treats as 1024 Hz. One recording per run present in either folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..dataset import check_spans
from ..errors import EdgeRepError
from ..profiles import Profile
from ..recording import Channels, Recording
from . import label_from_path, resolve_label, whole_label

FOLDERS = {"Acoustics": "acoustic", "Seismic": "seismic"}
VARIABLE = "Output_data"


def read_mat(path: Path) -> np.ndarray:
    """``Output_data`` of one .mat file as (channels, samples) float32."""
    from scipy.io import loadmat

    try:
        m = loadmat(path, variable_names=[VARIABLE])
    except FileNotFoundError:
        raise EdgeRepError(f"{path}: file not found; check the path") from None
    except (ValueError, TypeError, OSError, EOFError, NotImplementedError) as e:
        raise EdgeRepError(f"{path}: truncated or corrupt .mat file ({type(e).__name__}: {e}); re-copy it") from None
    if VARIABLE not in m:
        raise EdgeRepError(f"{path}: has no variable '{VARIABLE}'; is this an ACIDS file?")
    x = np.asarray(m[VARIABLE])
    if not np.issubdtype(x.dtype, np.number) or x.size == 0 or x.ndim > 2:
        raise EdgeRepError(f"{path}: '{VARIABLE}' must be a numeric vector or samples x channels matrix, "
                           f"got {x.dtype} {x.shape}")
    x = x.reshape(-1, 1) if x.ndim == 1 or 1 in x.shape else x
    if x.shape[0] < x.shape[1]:
        x = x.T                                            # samples along the long axis
    return x.T.astype(np.float32)


def load(src: Path, profile: Profile, label: str | None = None) -> list[Recording]:
    if not src.is_dir():
        raise EdgeRepError(f"{src}: not a folder; point at the folder holding Acoustics/ and Seismic/")
    runs: dict[str, dict[str, Path]] = {}
    for folder, modality in FOLDERS.items():
        for p in sorted((src / folder).glob("*.mat")):
            runs.setdefault(p.stem, {})[modality] = p
    if not runs:
        raise EdgeRepError(f"{src}: no Acoustics/*.mat or Seismic/*.mat files; check the folder")
    out = []
    for run, files in sorted(runs.items()):
        mods = {}
        for modality, path in files.items():
            if modality not in profile.modality_names:
                continue
            spec = profile.modality(modality)
            mods[modality] = Channels(read_mat(path), spec.sample_rate, 0.0, "counts",
                                      {"file": str(path.relative_to(src)), "nominal_rate": 1025.6})
        rec = Recording(id=run, modalities=mods, metadata={"source": "acids", "run": run})
        lens = {m: c.n_samples for m, c in mods.items()}
        if len(set(lens.values())) > 1 and max(lens.values()) - min(lens.values()) > 0.01 * max(lens.values()):
            raise EdgeRepError(f"{src}: run '{run}': channels of different lengths "
                               f"({', '.join(f'{m} {n} samples' for m, n in lens.items())}); check both files")
        check_spans(rec, f"{src}: run '{run}'")
        lab = label or label_from_path(Path(run), profile)
        rec.labels = whole_label(rec.duration, resolve_label(lab, profile, f"{src}: run '{run}'") if lab else None)
        out.append(rec)
    return out
