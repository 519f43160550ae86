"""Weights on disk: safetensors plus a JSON sidecar (edge_rep.modelspec.ModelMeta). Never pickles.

``model.safetensors`` holds the tensors (front-end statistics included); ``model.json`` holds the
profile, class list, model config, front-end parameters, versions and the content hash (model_id).
Training checkpoints (for resuming) are the same pair with the optimizer's tensors added under
``opt.`` keys and its scalar settings and the loop's position in the sidecar's ``extra``.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from . import __version__
from .errors import EdgeRepError
from .model import EdgeREP, ModelConfig
from .modelspec import ModelMeta, sidecar_path
from .outpaths import staged_file
from .profiles import Profile

MODELS_DIR = Path(__file__).resolve().parent / "models"


def default_model_path() -> Path:
    """The bundled default model (trained on the default synthetic benchmark; see docs/model.md)."""
    return MODELS_DIR / "default.safetensors"


def versions() -> dict:
    import numpy
    import safetensors
    return {"edge-rep": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "safetensors": safetensors.__version__, "python": platform.python_version()}


def _write(path: Path, tensors: dict[str, torch.Tensor], meta: ModelMeta) -> ModelMeta:
    with staged_file(path) as tmp:
        # one metadata key: safetensors writes the metadata map in hash order, so two keys could come out in
        # either order, and the same weights would get two model ids (the profile is in the sidecar, bound
        # into the id anyway)
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp),
                  metadata={"format": "edge-rep"})
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # safetensors writes 0600; the daemon's user must read the bundled model
        meta.model_id = meta.bound_hash(tmp.read_bytes())[:12]
        meta.save(sidecar_path(path))
    # weights land last: a crash leaves the old pair or a new sidecar, never a torn file
    return meta


def make_meta(model: EdgeREP, extra: dict | None = None) -> ModelMeta:
    return ModelMeta(profile=model.profile, buffer_tokens=model.cfg.buffer_tokens, width=model.cfg.width,
                     model_id="", config=model.cfg.to_dict(), frontend=model.frontend.describe(),
                     versions=versions(), extra=dict(extra or {}))


def save_model(model: EdgeREP, path: str | Path, extra: dict | None = None) -> ModelMeta:
    """Write ``path`` (.safetensors) and its sidecar; returns the sidecar with the new model_id."""
    return _write(Path(path), model.state_dict(), make_meta(model, extra))


def _read(path: Path) -> tuple[dict[str, torch.Tensor], ModelMeta, EdgeREP]:
    """(tensors, sidecar, an untrained model of the sidecar's config): the file's hash and every weight's
    shape (read from the safetensors header) are checked before any tensor is loaded."""
    if path.suffix != ".safetensors":
        raise EdgeRepError(f"{path}: not a .safetensors checkpoint; pass the .safetensors file")
    if not path.is_file():
        raise EdgeRepError(f"{path}: checkpoint not found; check the path or train one with 'edge-rep train'")
    meta = ModelMeta.load(sidecar_path(path))
    data = path.read_bytes()
    if meta.bound_hash(data)[:12] != meta.model_id:
        raise EdgeRepError(f"{path}: weights do not match the model_id in {sidecar_path(path).name} (a corrupt or "
                           "replaced file, or an edited profile or class list); restore the pair or retrain")
    cfg = ModelConfig.from_dict(meta.config)
    if cfg.width != meta.width or cfg.buffer_tokens != meta.buffer_tokens:
        raise EdgeRepError(f"{path}: sidecar width/buffer_tokens disagree with its model config; re-export it")
    model = EdgeREP(cfg, meta.profile)
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    try:
        with safe_open(str(path), framework="pt") as f:
            have = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys() if not k.startswith("opt.")}
        if "temperature" not in have:      # saved before calibration existed: temperature 1 (uncalibrated)
            have["temperature"] = want["temperature"]
        tensors = load_file(str(path)) if have.items() == want.items() else {}
        tensors.setdefault("temperature", model.temperature.clone())
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise EdgeRepError(f"{path}: unreadable safetensors file ({e}); restore it or retrain") from None
    missing, unexpected = set(want) - set(have), set(have) - set(want)
    bad_shape = sorted(k for k in set(want) & set(have) if want[k] != have[k])
    if missing or unexpected or bad_shape:
        what = sorted(missing)[:3] or sorted(unexpected)[:3] or [f"{k} {list(have[k])} != {list(want[k])}"
                                                                for k in bad_shape[:3]]
        raise EdgeRepError(f"{path}: weights do not fit the model its sidecar describes ({', '.join(what)}); "
                           "retrain or use matching files")
    return tensors, meta, model


def _build(tensors: dict[str, torch.Tensor], model: EdgeREP) -> EdgeREP:
    model.load_state_dict({k: v for k, v in tensors.items() if not k.startswith("opt.")})
    return model.eval()


def load_model(path: str | Path | None = None, profile: Profile | None = None,
               classes: tuple[str, ...] | None = None, data: str = "the data") -> tuple[EdgeREP, ModelMeta]:
    """Load a checkpoint (None: the bundled default) -> (eval-mode model, sidecar).

    With ``profile``/``classes`` given, refuse a checkpoint made for another profile, unit or class list
    (``ModelMeta.check_fits``; ``data`` names the dataset in its message)."""
    p = Path(path) if path is not None else default_model_path()
    tensors, meta, model = _read(p)
    meta.check_fits(profile, classes, what=str(p), data=data)
    return _build(tensors, model), meta


# ---- resumable training checkpoints --------------------------------------------------------------

def save_training_state(path: str | Path, model: EdgeREP, optimizer: torch.optim.Optimizer,
                        state: dict) -> None:
    """Model + optimizer tensors in safetensors, the optimizer's settings and ``state`` (JSON) in the sidecar."""
    tensors = dict(model.state_dict())
    opt = optimizer.state_dict()
    for idx, st in opt["state"].items():
        for k, v in st.items():
            tensors[f"opt.{idx}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
    extra = {"training": json.loads(json.dumps(state)), "param_groups": opt["param_groups"]}
    _write(Path(path), tensors, make_meta(model, extra))


def load_training_state(path: str | Path) -> tuple[EdgeREP, dict, dict]:
    """-> (model, training state, optimizer state_dict): build the optimizer on this model, then
    ``optimizer.load_state_dict(...)`` the third item."""
    p = Path(path)
    tensors, meta, model = _read(p)
    groups = meta.extra.get("param_groups")
    if not isinstance(groups, list):
        raise EdgeRepError(f"{p}: not a training checkpoint (no optimizer state); start without --resume")
    model = _build(tensors, model)
    # JSON turned tuples (e.g. Adam's betas) into lists; params stays a list
    groups = [{k: (tuple(v) if isinstance(v, list) and k != "params" else v) for k, v in g.items()} for g in groups]
    state: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, idx, name = k.split(".", 2)
            state.setdefault(int(idx), {})[name] = v
    return model, dict(meta.extra.get("training", {})), {"state": state, "param_groups": groups}
