"""PyTorch backend: runs a ``.safetensors`` checkpoint eagerly (development hosts; the reference the
exported graphs are checked against)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..modelspec import ModelMeta, OUTPUT_BUFFERS, OUTPUT_PROBS
from .base import Backend, input_names


def torch_runner(model: torch.nn.Module, meta: ModelMeta):
    """A numpy-in, numpy-out function around an eval-mode model (the parity reference)."""
    names = input_names(meta)
    model.eval()

    @torch.inference_mode()
    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        probs, buffers = model(*(torch.from_numpy(np.ascontiguousarray(inputs[n], np.float32)) for n in names))
        return {OUTPUT_PROBS: probs.numpy(), OUTPUT_BUFFERS: buffers.numpy()}

    return run


class TorchBackend(Backend):
    name = "torch"
    precision = "fp32"

    def __init__(self, path: str | Path, threads: int | None = 1):
        from ..checkpoint import load_model
        self.path, self.version = Path(path), torch.__version__
        if threads:
            torch.set_num_threads(int(threads))
        self.model, self.meta = load_model(self.path)
        self._run_fn = torch_runner(self.model, self.meta)

    def _run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._run_fn(inputs)
