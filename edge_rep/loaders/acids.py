"""ACIDS MATLAB files: ``SRC/Acoustics/<run>.mat`` and ``SRC/Seismic/<run>.mat`` with the variable
``Output_data`` (samples, or samples x channels), saved as MATLAB v7 or older (SciPy reads them) or v7.3
(HDF5: needs h5py, the ``matlab`` extra). Both are sampled at 1025.6 Hz nominal, which ACIDS's
own code (and the ``acids`` profile) treats as 1024 Hz. One recording per run present in either folder.

Units: ACIDS publishes no calibration, so its samples are taken as counts: give each modality's
``--sensitivity MODALITY=COUNTS_PER_UNIT`` or keep counts on purpose with ``--units counts``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..calibration import COUNTS, Calibration, to_units
from ..dataset import check_spans
from ..errors import EdgeRepError
from ..profiles import Profile
from ..recording import Channels, Recording
from . import label_from_path, resolve_label, whole_label

FOLDERS = {"Acoustics": "acoustic", "Seismic": "seismic"}
VARIABLE = "Output_data"


# MATLAB v7.3 files are HDF5 files behind a 512-byte MAT header (the HDF5 "user block")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
MAT73_INSTALL = ("install the matlab extra (pip install 'edge-rep[matlab]', which adds h5py), or re-save it in "
                 "MATLAB as v7: save(file, 'Output_data', '-v7')")


def is_mat73(path: Path) -> bool:
    """A MATLAB v7.3 (HDF5) .mat file."""
    with open(path, "rb") as f:
        return f.read(512)[:10] == b"MATLAB 7.3" or f.read(8) == HDF5_MAGIC


def _read_mat73(path: Path) -> np.ndarray:
    """``Output_data`` of a v7.3 file, in MATLAB's own shape. HDF5 stores MATLAB's column-major arrays with
    their dimensions reversed, so a MATLAB samples x channels matrix reads as channels x samples: transpose."""
    try:
        import h5py
    except ImportError:
        raise EdgeRepError(f"{path}: a MATLAB v7.3 (HDF5) file, which needs h5py; {MAT73_INSTALL}") from None
    try:
        with h5py.File(path, "r") as f:
            if VARIABLE not in f:
                raise EdgeRepError(f"{path}: has no variable '{VARIABLE}'; is this an ACIDS file?")
            ds = f[VARIABLE]
            if not isinstance(ds, h5py.Dataset) or ds.attrs.get("MATLAB_empty", 0):   # a struct, or []
                raise EdgeRepError(f"{path}: '{VARIABLE}' is empty or not a numeric array; is this an ACIDS file?")
            return np.asarray(ds[()]).T
    except (OSError, ValueError, KeyError) as e:     # h5py reports a damaged file as OSError
        raise EdgeRepError(f"{path}: truncated or corrupt MATLAB v7.3 file ({type(e).__name__}: {e}); "
                           f"re-copy it") from None


def read_mat(path: Path) -> np.ndarray:
    """``Output_data`` of one .mat file (v4 to v7 through SciPy, v7.3 through h5py) as (channels, samples)
    float32."""
    from scipy.io import loadmat

    try:
        if is_mat73(path):
            x = _read_mat73(path)
        else:
            m = loadmat(path, variable_names=[VARIABLE])
            if VARIABLE not in m:
                raise EdgeRepError(f"{path}: has no variable '{VARIABLE}'; is this an ACIDS file?")
            x = np.asarray(m[VARIABLE])
    except FileNotFoundError:
        raise EdgeRepError(f"{path}: file not found; check the path") from None
    except (ValueError, TypeError, OSError, EOFError, NotImplementedError) as e:
        raise EdgeRepError(f"{path}: truncated or corrupt .mat file ({type(e).__name__}: {e}); re-copy it") from None
    if not np.issubdtype(x.dtype, np.number) or x.size == 0 or x.ndim > 2:
        raise EdgeRepError(f"{path}: '{VARIABLE}' must be a numeric vector or samples x channels matrix, "
                           f"got {x.dtype} {x.shape}")
    x = x.reshape(-1, 1) if x.ndim == 1 or 1 in x.shape else x
    if x.shape[0] < x.shape[1]:
        x = x.T                                            # samples along the long axis
    return x.T.astype(np.float32)


def load(src: Path, profile: Profile, label: str | None = None,
         calibration: Calibration | None = None) -> list[Recording]:
    cal = calibration or Calibration()
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
            mods[modality] = to_units(Channels(read_mat(path), spec.sample_rate, 0.0, COUNTS,
                                               {"file": str(path.relative_to(src)), "nominal_rate": 1025.6}),
                                      modality, profile, cal, str(path), fmt="acids")
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
