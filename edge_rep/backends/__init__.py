"""Which runtime runs a model file: TensorRT, ONNX Runtime or PyTorch (the interface is in ``base``).

    kind, path = resolve("model.onnx")            # ("tensorrt", model.engine) when the engine is beside it
    backend = load_backend("model.onnx", "auto")  # a base.Backend; backend.run(inputs) -> probs, buffers_out

``RUNTIMES`` is the one list of backend names: the config's choices, the CLI's ``--backend`` and the
error messages all derive from it. Importing this package imports no runtime and no numpy (the CLI
builds its options from it); ``load_backend`` imports only the runtime it picks, so the daemon stays
torch-free.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ..errors import EdgeRepError
from ..modelspec import ModelMeta, sidecar_path
from ..profiles import Profile

if TYPE_CHECKING:
    from .base import Backend


class Runtime(NamedTuple):
    suffix: str     # the model file it loads
    module: str     # the Python module it needs
    make: str       # how to get that file, for the error when it is missing


# Runtime kinds, best first: "auto" takes the first whose model file and Python module are there.
RUNTIMES: dict[str, Runtime] = {
    "tensorrt": Runtime(".engine", "tensorrt",
                        "build it on this device with 'edge-rep export --checkpoint CKPT --out DIR'"),
    "onnxruntime": Runtime(".onnx", "onnxruntime", "export it with 'edge-rep export --onnx-only'"),
    "torch": Runtime(".safetensors", "torch", "use the .safetensors checkpoint"),
}
KINDS: tuple[str, ...] = tuple(RUNTIMES)
CHOICES: tuple[str, ...] = ("auto", *KINDS)     # what a user may ask for (config, --backend)
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "default"
_SUFFIXES = ", ".join(r.suffix for r in RUNTIMES.values())


def available(kind: str) -> bool:
    """Whether the Python module a runtime kind needs is installed (without importing it)."""
    try:
        return importlib.util.find_spec(RUNTIMES[kind].module) is not None
    except (ValueError, ImportError):
        return False


def _candidates(model_path: Path) -> dict[str, Path]:
    """The files ``model_path`` may mean -> kind: path. A stem (``x``) means any of ``x.engine``, ``x.onnx``,
    ``x.safetensors``; a named file means that file, and a named ``x.onnx`` also the ``x.engine`` built from
    it (the TensorRT backend checks the ONNX hash the engine recorded). A checkpoint is never swapped for an
    ONNX file of the same name, which may be older."""
    by_suffix = {r.suffix: kind for kind, r in RUNTIMES.items()}
    named = by_suffix.get(model_path.suffix)
    stem = model_path.with_suffix("") if named else model_path
    kinds = [named] if named != "onnxruntime" else ["tensorrt", "onnxruntime"]
    return {kind: stem.with_suffix(r.suffix) for kind, r in RUNTIMES.items()
            if (named is None or kind in kinds) and stem.with_suffix(r.suffix).is_file()}


def resolve(model_path: str | Path | None, kind: str = "auto") -> tuple[str, Path]:
    """Which runtime and file ``load_backend`` would use, without loading anything.

    A path names a model file (loaded as named; a named ``model.onnx`` with the ``model.engine`` built from it
    beside runs on TensorRT under "auto") or a stem (``model``: any of its files). "auto" takes the first of
    ``KINDS`` whose file is there and whose module is installed."""
    if kind not in CHOICES:
        raise EdgeRepError(f"unknown backend '{kind}'; choose {', '.join(CHOICES)}")
    path = Path(model_path) if model_path is not None else DEFAULT_MODEL
    if path.is_dir():
        raise EdgeRepError(f"{path}: is a folder; name the model file ({_SUFFIXES})")
    found = _candidates(path)
    if not found:
        raise EdgeRepError(f"{path}: no model file ({_SUFFIXES}) there; "
                           "check the path, or train and export a model (edge-rep export)")
    if kind != "auto":
        if kind not in found:
            have = ", ".join(str(p) for p in found.values())
            raise EdgeRepError(f"{path}: no {RUNTIMES[kind].suffix} file for backend '{kind}' (have {have}); "
                               f"{RUNTIMES[kind].make}")
        if not available(kind):
            raise EdgeRepError(f"backend '{kind}' needs the Python module '{RUNTIMES[kind].module}', which is not "
                               "installed; install it or choose another backend")
        return kind, found[kind]
    for k in KINDS:
        if k in found and available(k):
            return k, found[k]
    raise EdgeRepError(f"{path}: found {', '.join(str(p) for p in found.values())} but none of their runtimes "
                       "is installed; install onnxruntime (pip install onnxruntime)")


def load_backend(model_path: str | Path | None, kind: str = "auto", profile: Profile | None = None,
                 threads: int = 1) -> Backend:
    """Load a model for inference. ``model_path`` None means the bundled default model.

    ``kind``: "auto" (the first of ``KINDS`` whose file and module are there) or one of ``KINDS``.
    ``profile``: when given, a model made for another profile or class list is refused. ``threads``:
    CPU threads per inference (1 keeps the daemon from fighting the serial reader for cores)."""
    kind, path = resolve(model_path, kind)
    meta = ModelMeta.load(sidecar_path(path))
    meta.check_fits(profile, what=str(path))
    if kind == "tensorrt":
        from .tensorrt import TensorRTBackend
        return TensorRTBackend(path, meta)
    if kind == "onnxruntime":
        from .onnxrt import OnnxRuntimeBackend
        return OnnxRuntimeBackend(path, meta, threads=threads)
    from .torch_backend import TorchBackend
    return TorchBackend(path, threads=threads)
