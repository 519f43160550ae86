"""FOCAL's preprocessed MOD samples: one ``.pt`` file per 2 s sample holding
``{"label": ..., "flag": ..., "data": {location: {"audio": T, "seismic": T}}}``.

Files are read with ``torch.load(path, weights_only=True)``: tensors and plain containers only, never
arbitrary pickled objects. A tensor is (1, intervals, samples per interval) in the time domain, or
(2, intervals, bins) holding the real and imaginary parts of each interval's FFT (inverted here).
``label`` is a class index into ``MOD_CLASSES`` or a name (or a dict with "vehicle_type"/"label").

Each sample becomes one 2 s recording. These samples are windows of longer runs: splitting them
file by file leaks runs across splits. ``load`` therefore groups files by their name with the trailing
sample number removed (``<run>_<n>.pt``), and ``convert`` splits by those groups.

Units: FOCAL's samples carry no calibration, so they are taken as counts: give each modality's
``--sensitivity MODALITY=COUNTS_PER_UNIT`` or keep counts on purpose with ``--units counts``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..calibration import COUNTS, Calibration, to_units
from ..errors import EdgeRepError
from ..profiles import Profile
from ..recording import Channels, Recording
from . import find_files, rec_id, resolve_label, whole_label

# MOD's class order in FOCAL (index -> name); names map onto edge-rep classes via LABEL_ALIASES.
MOD_CLASSES = ("polaris", "warthog", "truck", "motorcycle", "tesla", "mustang", "walking")
MODALITY_KEYS = {"audio": "acoustic", "acoustic": "acoustic", "seismic": "seismic"}


def _to_numpy(x, path: Path) -> np.ndarray:
    import torch

    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception:  # noqa: BLE001
        raise EdgeRepError(f"{path}: expected a tensor, found {type(x).__name__}") from None


def _label(raw, path: Path, profile: Profile) -> str:
    if isinstance(raw, dict):
        for key in ("vehicle_type", "label", "class"):
            if key in raw:
                return _label(raw[key], path, profile)
        raise EdgeRepError(f"{path}: label dict has none of vehicle_type/label/class; pass --label")
    if isinstance(raw, str):
        return resolve_label(raw, profile, str(path))
    arr = _to_numpy(raw, path).reshape(-1)
    if arr.size == 0:
        raise EdgeRepError(f"{path}: empty label; pass --label")
    idx = int(arr.argmax()) if arr.size > 1 else int(arr[0])       # one-hot or index
    if not 0 <= idx < len(MOD_CLASSES):
        raise EdgeRepError(f"{path}: label index {idx} is outside MOD's {len(MOD_CLASSES)} classes; pass --label")
    return resolve_label(MOD_CLASSES[idx], profile, str(path))


def _time_domain(t: np.ndarray, path: Path, key: str) -> np.ndarray:
    """(1 or 2, intervals, n) -> (samples,) time-domain signal."""
    if t.ndim != 3 or t.shape[0] not in (1, 2):
        raise EdgeRepError(f"{path}: {key} has shape {tuple(t.shape)}; expected (1, intervals, samples) or "
                           f"(2, intervals, fft bins)")
    if t.shape[0] == 1:
        return t[0].reshape(-1).astype(np.float32)
    return np.fft.ifft(t[0] + 1j * t[1], axis=-1).real.reshape(-1).astype(np.float32)


def group_of(rec: Recording) -> str:
    """The run a sample came from: its id with a trailing sample number removed."""
    return re.sub(r"[_-]?\d+$", "", rec.id) or rec.id


def load(src: Path, profile: Profile, label: str | None = None,
         calibration: Calibration | None = None) -> list[Recording]:
    import pickle

    import torch

    cal = calibration or Calibration()
    out = []
    for path in find_files(src, ("*.pt",), "FOCAL .pt"):
        try:
            d = torch.load(path, weights_only=True, map_location="cpu")
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, AttributeError) as e:
            raise EdgeRepError(f"{path}: not a readable tensor file or it holds objects other than tensors "
                               f"({type(e).__name__}: {str(e).splitlines()[0][:120]}); check the file") from None
        if not isinstance(d, dict) or "data" not in d or not isinstance(d["data"], dict) or not d["data"]:
            raise EdgeRepError(f"{path}: expected a dict with 'data': {{location: {{modality: tensor}}}}")
        lab = resolve_label(label, profile, str(path)) if label else (
            _label(d["label"], path, profile) if "label" in d else None)
        for loc, mods_raw in d["data"].items():
            if not isinstance(mods_raw, dict):
                raise EdgeRepError(f"{path}: data['{loc}'] is not a dict of modality tensors")
            mods = {}
            for key, t in mods_raw.items():
                name = MODALITY_KEYS.get(str(key).lower())
                if name is None or name not in profile.modality_names:
                    continue
                x = _time_domain(_to_numpy(t, path), path, key)
                spec = profile.modality(name)
                n = profile.window_samples(name)
                if x.size != n:
                    raise EdgeRepError(f"{path}: {key} holds {x.size} samples per {profile.window_s:g} s sample, "
                                       f"i.e. {x.size / profile.window_s:g} Hz, but profile '{profile.name}' "
                                       f"expects {spec.sample_rate:g} Hz ({n} samples); use the matching profile")
                mods[name] = to_units(Channels(x[None, :], spec.sample_rate, 0.0, COUNTS, {"location": str(loc)}),
                                      name, profile, cal, str(path), fmt="mod-pt")
            if not mods:
                raise EdgeRepError(f"{path}: data['{loc}'] has none of the modalities audio/seismic")
            rid = rec_id(path, src) + (f"__{loc}" if len(d["data"]) > 1 else "")
            out.append(Recording(id=rid, modalities=mods, labels=whole_label(profile.window_s, lab),
                                 metadata={"source": "mod-pt", "file": str(path), "location": str(loc)}))
    return out
