"""One small interface for every runtime: load a model file, run a batch of windows.

A backend takes and returns the tensors of the I/O contract in ``edge_rep.modelspec`` (numpy float32,
names per the sidecar's profile). ``load_backend`` picks the runtime; it imports torch only when the
PyTorch backend is asked for (or is the only file there), so the daemon stays torch-free.
"""

from __future__ import annotations

import hashlib
import importlib.util
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from ..errors import EdgeRepError
from ..modelspec import INPUT_BUFFERS, INPUT_PRESENT, INPUT_REPLAY, OUTPUT_BUFFERS, OUTPUT_PROBS, ModelMeta, sidecar_path
from ..profiles import Profile

# Runtime kinds, and the file suffix each one loads. "auto" tries them in this order.
KINDS: dict[str, str] = {"tensorrt": ".engine", "onnxruntime": ".onnx", "torch": ".safetensors"}
# Python module each kind needs.
_MODULES = {"tensorrt": "tensorrt", "onnxruntime": "onnxruntime", "torch": "torch"}
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "default"


class Backend(ABC):
    """A loaded model. ``run`` takes a batch of windows and returns ``probs`` and ``buffers_out``."""

    name: str = ""        # "tensorrt", "onnxruntime" or "torch"
    version: str = ""     # the runtime's version
    precision: str = ""   # "fp32" or "fp16"
    meta: ModelMeta
    path: Path
    max_batch: int | None = None   # largest batch one call of the runtime takes; None: any

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Classify a batch of windows. Inputs are checked against the sidecar first; a batch larger
        than the runtime takes is split (a fixed-batch graph or an engine's profile limit)."""
        x = check_inputs(self.meta, inputs, what=str(self.path))
        batch = next(iter(x.values())).shape[0]
        step = self.max_batch or batch
        if batch <= step:
            return self._run(x)
        parts = [self._run({k: v[i:i + step] for k, v in x.items()}) for i in range(0, batch, step)]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    @abstractmethod
    def _run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch of at most ``max_batch`` checked windows."""

    def describe(self) -> str:
        """One line for logs: runtime, version, precision, model id and file."""
        return f"{self.name} {self.version} {self.precision} model {self.meta.model_id} ({self.path})"


def input_names(meta: ModelMeta) -> list[str]:
    """Graph input order: one window per modality (profile order), then present, replay, buffers_in."""
    return [*meta.modalities, INPUT_PRESENT, INPUT_REPLAY, INPUT_BUFFERS]


OUTPUT_NAMES = [OUTPUT_PROBS, OUTPUT_BUFFERS]


def check_inputs(meta: ModelMeta, inputs: dict[str, np.ndarray], what: str = "model") -> dict[str, np.ndarray]:
    """Inputs as contiguous float32 arrays of the sidecar's shapes (any batch), or an EdgeRepError."""
    want = meta.input_shapes(batch=1)
    missing = [k for k in want if k not in inputs]
    extra = [k for k in inputs if k not in want]
    if missing or extra:
        raise EdgeRepError(f"{what}: inputs {sorted(inputs)} do not match the model's {list(want)} "
                           f"(missing {missing}, unknown {extra}); feed every input of the I/O contract")
    out, batch = {}, None
    for name, shape in want.items():
        a = np.ascontiguousarray(inputs[name], dtype=np.float32)
        if a.ndim != len(shape) or a.shape[1:] != shape[1:] or a.shape[0] < 1:
            raise EdgeRepError(f"{what}: input '{name}' has shape {list(a.shape)}, expected "
                               f"[batch, {', '.join(map(str, shape[1:]))}]; cut windows with the model's profile")
        if batch is not None and a.shape[0] != batch:
            raise EdgeRepError(f"{what}: input '{name}' has batch {a.shape[0]} but others have {batch}; "
                               "give every input the same number of windows")
        batch = a.shape[0]
        out[name] = a
    return out


def blank_inputs(meta: ModelMeta, batch: int = 1) -> dict[str, np.ndarray]:
    """Zero windows with every modality present and nothing replayed: a starting point to fill in."""
    x = {k: np.zeros(s, np.float32) for k, s in meta.input_shapes(batch).items()}
    x[INPUT_PRESENT][:] = 1.0
    x[INPUT_REPLAY][:] = 0.0
    return x


def check_hash(path: Path, want: str | None, what: str) -> bytes:
    """Read ``path``; refuse it when its SHA-256 is not the one its sidecar recorded (replaced or torn file)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise EdgeRepError(f"{path}: cannot read it ({e.strerror or e}); check the path and permissions") from None
    if want and hashlib.sha256(data).hexdigest() != want:
        raise EdgeRepError(f"{path}: content does not match the {what} recorded in its sidecar (replaced or "
                           "corrupt file); copy the file and its .json together, or re-export")
    return data


def available(kind: str) -> bool:
    """Whether the Python module a runtime kind needs is installed (without importing it)."""
    try:
        return importlib.util.find_spec(_MODULES[kind]) is not None
    except (ValueError, ImportError):
        return False


def _candidates(model_path: Path) -> dict[str, Path]:
    """The sibling files of one model: ``x.engine``, ``x.onnx``, ``x.safetensors`` -> kind: path."""
    stem = model_path.with_suffix("") if model_path.suffix in KINDS.values() else model_path
    return {kind: stem.with_suffix(suffix) for kind, suffix in KINDS.items()
            if stem.with_suffix(suffix).is_file()}


def resolve(model_path: str | Path | None, kind: str = "auto") -> tuple[str, Path]:
    """Which runtime and file ``load_backend`` would use, without loading anything.

    A path names a model file or its stem; its siblings with the other suffixes count too, so
    ``model.onnx`` with ``model.engine`` beside it runs on TensorRT under "auto". "auto" takes the
    first of TensorRT, ONNX Runtime, PyTorch whose file is there and whose module is installed."""
    if kind != "auto" and kind not in KINDS:
        raise EdgeRepError(f"unknown backend '{kind}'; choose auto, {', '.join(KINDS)}")
    path = Path(model_path) if model_path is not None else DEFAULT_MODEL
    if path.is_dir():
        raise EdgeRepError(f"{path}: is a folder; name the model file (.engine, .onnx or .safetensors)")
    found = _candidates(path)
    if not found:
        raise EdgeRepError(f"{path}: no model file (.engine, .onnx or .safetensors) there; "
                           "check the path, or train and export a model (edge-rep export)")
    if kind != "auto":
        if kind not in found:
            have = ", ".join(str(p) for p in found.values())
            hint = ("build it on this device with 'edge-rep export --checkpoint CKPT --out DIR'"
                    if kind == "tensorrt" else "export it with 'edge-rep export --onnx-only'"
                    if kind == "onnxruntime" else "use the .safetensors checkpoint")
            raise EdgeRepError(f"{path}: no {KINDS[kind]} file for backend '{kind}' (have {have}); {hint}")
        if not available(kind):
            raise EdgeRepError(f"backend '{kind}' needs the Python module '{_MODULES[kind]}', which is not "
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

    ``kind``: "auto" (TensorRT when an engine and the tensorrt module are there, else ONNX Runtime,
    else PyTorch), "tensorrt", "onnxruntime" or "torch". ``profile``: when given, a model made for
    another profile or class list is refused. ``threads``: CPU threads per inference (1 keeps the
    daemon from fighting the serial reader for cores)."""
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
