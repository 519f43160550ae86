"""ONNX Runtime backend: runs the exported ``.onnx`` file. Never imports torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import EdgeRepError
from ..modelspec import OUTPUT_BUFFERS, OUTPUT_PROBS, ModelMeta
from .base import Backend, check_hash

# Execution providers used when present, best first. The TensorRT EP is left out on purpose: it builds
# an engine at every session start; on a Jetson the native TensorRT backend loads a prebuilt one.
PREFERRED_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")


def graph_io(inputs_or_outputs) -> dict[str, tuple]:
    """{name: shape} of ONNX Runtime node args; a dynamic dimension is its symbol (a str)."""
    return {a.name: tuple(d if isinstance(d, int) else str(d) for d in a.shape) for a in inputs_or_outputs}


def check_graph(meta: ModelMeta, inputs: dict[str, tuple], outputs: dict[str, tuple], what: str) -> int | None:
    """Check an exported graph's I/O against its sidecar; returns its fixed batch (None if dynamic)."""
    want = {**meta.input_shapes(1), **meta.output_shapes(1)}
    have = {**inputs, **outputs}
    if set(inputs) != set(meta.input_shapes(1)) or set(outputs) != set(meta.output_shapes(1)):
        raise EdgeRepError(f"{what}: graph I/O {sorted(have)} does not match its sidecar's {sorted(want)}; "
                           "re-export the model and keep the .json that came with it")
    batches = set()
    for name, shape in want.items():
        got = have[name]
        if len(got) != len(shape) or tuple(got[1:]) != tuple(shape[1:]):
            raise EdgeRepError(f"{what}: '{name}' has shape {list(got)} in the graph but {['batch', *shape[1:]]} "
                               "in its sidecar (another profile or model size?); re-export the model")
        batches.add(got[0])
    fixed = {b for b in batches if isinstance(b, int)}
    if fixed - {1} or (fixed and len(batches) > 1):
        raise EdgeRepError(f"{what}: batch dimensions {sorted(map(str, batches))} are neither all dynamic nor "
                           "all 1; re-export the model with edge-rep export")
    return 1 if fixed else None


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    precision = "fp32"

    def __init__(self, path: str | Path, meta: ModelMeta, threads: int = 1, providers: list[str] | None = None):
        import onnxruntime as ort
        self.path, self.meta, self.version = Path(path), meta, ort.__version__
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3    # warnings about unused initialisers etc. are not the user's problem
        if providers is None:
            have = ort.get_available_providers()
            providers = [p for p in PREFERRED_PROVIDERS if p in have]
        record = meta.extra.get("onnx")
        if not isinstance(record, dict) or not record.get("sha256"):   # e.g. a retrained checkpoint's sidecar
            raise EdgeRepError(f"{self.path}: its sidecar has no ONNX export record (it describes a checkpoint, "
                               "maybe a newer one); export again with 'edge-rep export --checkpoint CKPT.safetensors "
                               "--out DIR --onnx-only'")
        data = check_hash(self.path, record["sha256"], "ONNX hash", meta)
        try:
            self.session = ort.InferenceSession(data, sess_options=opts, providers=providers)
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own types for corrupt files
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise EdgeRepError(f"{self.path}: ONNX Runtime cannot load it ({msg}); re-export the model") from None
        self.providers = self.session.get_providers()
        ins, outs = graph_io(self.session.get_inputs()), graph_io(self.session.get_outputs())
        self.max_batch = check_graph(meta, ins, outs, str(self.path))
        self._outputs = [OUTPUT_PROBS, OUTPUT_BUFFERS]

    def _run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        probs, buffers = self.session.run(self._outputs, inputs)
        return {OUTPUT_PROBS: probs, OUTPUT_BUFFERS: buffers}

    def describe(self) -> str:
        return super().describe() + f" on {self.providers[0]}"
