"""PyTorch -> ONNX: the portable artifact every runtime starts from.

The graph takes the I/O contract of ``edge_rep.modelspec`` (raw windows per modality, float presence
and replay masks, cached buffers in; probabilities and buffers out), with the front-end inside, opset 18,
through the dynamo exporter. The batch dimension is dynamic (exported from an example batch of 2, since
a dimension whose example size is 1 cannot be made dynamic); if the exporter cannot make it dynamic the
graph falls back to a fixed batch of 1 and the backends feed it window by window. Which one a file has
is recorded in its sidecar (``extra.onnx.batch``).
"""

from __future__ import annotations

import copy
import logging
import warnings
from pathlib import Path

import torch

from .backends.base import OUTPUT_NAMES, input_names
from .backends.onnxrt import OnnxRuntimeBackend
from .backends.parity import compare
from .backends.torch_backend import torch_runner
from .errors import EdgeRepError
from .modelspec import ModelMeta, sidecar_path

OPSET = 18
PARITY_TOL = 1e-4          # largest allowed |p_onnx - p_torch| (FP32)
EXAMPLE_BATCH = 2          # >= 2, or the exporter specialises the batch dimension to 1
MAX_BATCH = 1024           # upper bound the exporter may assume for the dynamic batch


def _export(model: torch.nn.Module, meta: ModelMeta, path: Path, dynamic: bool) -> None:
    names = input_names(meta)
    ex = model.example_inputs(EXAMPLE_BATCH if dynamic else 1)
    kwargs = {}
    if dynamic:
        batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
        kwargs["dynamic_shapes"] = (tuple({0: batch} for _ in names),)   # forward(*inputs): one varargs tuple
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        prog = torch.onnx.export(model, ex, input_names=names, output_names=OUTPUT_NAMES, opset_version=OPSET,
                                 dynamo=True, verbose=False, **kwargs)
        prog.save(str(path))


def scales(model: torch.nn.Module) -> dict[str, float]:
    """Typical input amplitude per modality (the front-end's calibrated RMS), for realistic test inputs."""
    fe = model.frontend
    return {p.name: float(getattr(fe, f"scale{i}", torch.ones(1)).mean()) for i, p in enumerate(fe.plans)}


def export_onnx(model: torch.nn.Module, meta: ModelMeta, path: str | Path, tol: float = PARITY_TOL,
                seed: int = 0, log=print) -> tuple[ModelMeta, list[dict]]:
    """Write ``path`` (.onnx) and its sidecar, check the graph and compare ONNX Runtime with PyTorch
    over every scenario; returns (sidecar written, parity rows). Raises EdgeRepError above ``tol``."""
    import onnx

    path = Path(path)
    model = model.eval()
    tmp = path.with_name(path.stem + ".tmp.onnx")   # nothing half-written under the real name
    try:
        try:
            _export(model, meta, tmp, dynamic=True)
            batch = "dynamic"
        except Exception as e:  # noqa: BLE001 - any exporter failure: retry the simpler fixed-batch graph
            log(f"dynamic-batch export failed ({type(e).__name__}); exporting with a fixed batch of 1")
            try:
                _export(model, meta, tmp, dynamic=False)
            except Exception as e2:  # noqa: BLE001 - the exporter's errors are many and long
                first = (str(e2).strip().splitlines() or [""])[0][:200]
                raise EdgeRepError(f"{path}: torch.onnx could not export the model ({type(e2).__name__}: {first}); "
                                   "report it with the model config") from None
            batch = 1
        onnx.checker.check_model(str(tmp), full_check=True)
        graph = onnx.load(str(tmp), load_external_data=False)
        for t in [*graph.graph.input, *graph.graph.output]:
            if t.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
                raise EdgeRepError(f"{path}: graph {t.name!r} is not float32; the model must take float masks")
        out = copy.deepcopy(meta)
        out.extra.pop("tensorrt", None)          # an engine of an older export no longer matches
        out.versions.update({"onnx": onnx.__version__, "opset": OPSET, "torch": torch.__version__})
        out.extra["onnx"] = {"opset": OPSET, "batch": batch, "sha256": out.bound_hash(tmp.read_bytes()),
                             "input_scales": scales(model)}
        ort_backend = OnnxRuntimeBackend(tmp, out, threads=1)
        rows = compare(out, torch_runner(model, meta), ort_backend.run, tol=tol, seed=seed,
                       scales=out.extra["onnx"]["input_scales"], what=f"{path} (ONNX Runtime vs PyTorch)")
        out.extra["onnx"]["parity_probs_max_abs"] = max(r["probs_max_abs"] for r in rows)
        tmp.replace(path)
        out.save(sidecar_path(path))
        return out, rows
    finally:
        tmp.unlink(missing_ok=True)

