"""One small interface for every runtime: load a model file, run a batch of windows.

A backend takes and returns the tensors of the I/O contract in ``edge_rep.modelspec`` (numpy float32,
names per the sidecar's profile). This module is the interface only; which runtime runs a model file
is chosen by ``edge_rep.backends.load_backend``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from ..errors import EdgeRepError
from ..modelspec import (INPUT_ABOVE_FLOOR, INPUT_BUFFERS, INPUT_PRESENT, INPUT_REPLAY, OUTPUT_BUFFERS,
                         OUTPUT_PROBS, ModelMeta)


class Backend(ABC):
    """A loaded model. ``run`` takes a batch of windows and returns ``probs`` and ``buffers_out``."""

    name: str = ""        # the runtime kind, a key of edge_rep.backends.KINDS
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
    """Graph input order: one window per modality (profile order), then present, replay, buffers_in, and
    above_floor_db for a floor-referenced model."""
    return [*meta.modalities, INPUT_PRESENT, INPUT_REPLAY, INPUT_BUFFERS,
            *([INPUT_ABOVE_FLOOR] if meta.floor_referenced else [])]


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


def check_hash(path: Path, want: str | None, what: str, meta: ModelMeta) -> bytes:
    """Read ``path``; refuse it when its hash (bound to the sidecar's profile and classes,
    ``ModelMeta.bound_hash``) is not the one its sidecar recorded: a replaced or torn file, or an edited
    sidecar."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise EdgeRepError(f"{path}: cannot read it ({e.strerror or e}); check the path and permissions") from None
    if want and meta.bound_hash(data) != want:
        raise EdgeRepError(f"{path}: content does not match the {what} recorded in its sidecar (a replaced or "
                           "corrupt file, or an edited profile or class list); copy the file and its .json "
                           "together, or re-export")
    return data
