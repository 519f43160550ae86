"""ONNX -> TensorRT engine, on the device that will run it (TensorRT 10 Python API, no torch).

An engine only runs on the TensorRT version and GPU that built it, so the ONNX file is the portable
artifact and this step runs on the Jetson. The build follows NVIDIA's Python samples: an explicit-batch
network from the ONNX parser, one optimisation profile over the batch dimension, a workspace limit,
a timing cache file that makes rebuilds fast, FP16 when asked for and the GPU has fast FP16.

TensorRT 11 removes ``BuilderFlag.FP16``: precision then comes from the network itself (a "strongly
typed" network, ``NetworkDefinitionCreationFlag.STRONGLY_TYPED``, built from an ONNX file whose weights
and activations are already float16). This module guards the flag with ``hasattr`` and, where it is
gone, builds FP32 and says so rather than failing.

The ``trt`` module is a parameter (default: ``import tensorrt``) so the build logic is testable with a
recording stand-in on machines without a GPU.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

from .backends.tensorrt import engine_info, gpu_name, import_tensorrt
from .errors import EdgeRepError
from .modelspec import ModelMeta, sidecar_path

FP16_TOL = 2e-2     # TensorRT FP16 vs ONNX Runtime FP32, probabilities
FP32_TOL = 1e-3     # TensorRT FP32 vs ONNX Runtime: TF32 and tactic choice move results slightly


def _major(version: str) -> int:
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return 0


def frontend_nodes(onnx_path: str | Path) -> set[str]:
    """Names of the ONNX nodes that come from the model's front-end module (the exporter records each
    node's module path in its ``namespace`` metadata)."""
    import onnx
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    return {n.name for n in graph.node
            if any(p.key == "namespace" and "/frontend" in p.value for p in n.metadata_props)}


def keep_fp32(trt, network, names: set[str]) -> int:
    """Pin the float layers named in ``names`` to FP32; returns how many. The front-end's power spectrum
    of a loud window exceeds FP16's range (65504) long before the classifier cares, so it stays FP32."""
    pinned = 0
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if layer.name not in names:
            continue
        outs = [layer.get_output(j) for j in range(layer.num_outputs)]
        if not outs or any(o.dtype != trt.float32 for o in outs):
            continue                                   # shape, bool and index layers have no precision
        layer.precision = trt.float32
        for j in range(layer.num_outputs):
            layer.set_output_type(j, trt.float32)
        pinned += 1
    return pinned


def build_engine(onnx_path: str | Path, engine_path: str | Path, meta: ModelMeta, *, fp16: bool = False,
                 workspace_mb: int = 1024, max_batch: int = 8, timing_cache: str | Path | None = None,
                 trt=None, log=print) -> ModelMeta:
    """Build ``engine_path`` from ``onnx_path`` and write its sidecar (the ONNX sidecar plus a
    ``tensorrt`` record: version, GPU, precision, I/O shapes, source hash). Returns that sidecar.

    ``max_batch``: the optimisation profile covers batches 1..max_batch (opt = max_batch) when the
    ONNX batch is dynamic; a fixed-batch graph gets a profile of exactly its shape."""
    trt = trt or import_tensorrt()
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    if workspace_mb <= 0 or max_batch < 1:
        raise EdgeRepError(f"TensorRT build: workspace {workspace_mb} MB and batch {max_batch} must be positive")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    # TensorRT 10 networks are always explicit-batch (flag 0); TensorRT 8 still needed the flag.
    flags = 0 if _major(trt.__version__) >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)) or "no details"
        raise EdgeRepError(f"{onnx_path}: TensorRT's ONNX parser rejected it ({errors}); re-export the model "
                           "with this edge-rep version")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)

    precision = "fp32"
    if fp16:
        if not hasattr(trt.BuilderFlag, "FP16"):
            log(f"TensorRT {trt.__version__} has no FP16 builder flag (removed in TensorRT 11; it takes precision "
                "from a strongly typed network): building FP32")
        elif not getattr(builder, "platform_has_fast_fp16", True):
            log("this GPU has no fast FP16: building FP32")
        else:
            config.set_flag(trt.BuilderFlag.FP16)
            precision = "fp16"
            pinned = keep_fp32(trt, network, frontend_nodes(onnx_path))
            if pinned and hasattr(trt.BuilderFlag, "PREFER_PRECISION_CONSTRAINTS"):
                config.set_flag(trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
            log(f"FP16 engine; {pinned} front-end layers kept in FP32" if pinned else
                "FP16 engine; no front-end layers found to keep in FP32 (loud windows may overflow)")

    profile = builder.create_optimization_profile()
    shapes: dict[str, dict[str, list[int]]] = {}
    for i in range(network.num_inputs):
        t = network.get_input(i)
        dims = list(t.shape)
        if dims[0] == -1:
            lo, opt, hi = [1, *dims[1:]], [max_batch, *dims[1:]], [max_batch, *dims[1:]]
        else:
            lo = opt = hi = dims
        if any(d < 0 for d in dims[1:]):
            raise EdgeRepError(f"{onnx_path}: input '{t.name}' has dynamic dimensions {dims} beyond the batch; "
                               "re-export the model with edge-rep export")
        profile.set_shape(t.name, lo, opt, hi)
        shapes[t.name] = {"min": lo, "opt": opt, "max": hi}
    config.add_optimization_profile(profile)

    cache_path = Path(timing_cache) if timing_cache else None
    cache_blob = cache_path.read_bytes() if cache_path and cache_path.is_file() else b""
    try:
        cache = config.create_timing_cache(cache_blob)
        fits = cache is not None and config.set_timing_cache(cache, False)
    except Exception:  # noqa: BLE001 - TensorRT raises on a corrupt cache blob
        fits = False
    if not fits:                                  # corrupt, or from another TensorRT/GPU
        log(f"{cache_path}: timing cache does not fit this TensorRT/GPU; starting a new one")
        config.set_timing_cache(config.create_timing_cache(b""), True)

    t0 = time.time()
    top = max(s["max"][0] for s in shapes.values())
    log(f"building a TensorRT {trt.__version__} engine ({precision}, batch up to {top}, workspace {workspace_mb} MB); "
        "this takes minutes on a Jetson")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EdgeRepError(f"{onnx_path}: TensorRT could not build an engine (see its log above); try a larger "
                           "--workspace or without --fp16")
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = engine_path.with_name(engine_path.name + ".tmp")
    blob = bytes(serialized)
    tmp.write_bytes(blob)
    if cache_path:
        cache_path.write_bytes(bytes(config.get_timing_cache().serialize()))

    outputs = {network.get_output(i).name: list(network.get_output(i).shape) for i in range(network.num_outputs)}
    out = copy.deepcopy(meta)
    out.versions["tensorrt"] = trt.__version__
    out.extra["tensorrt"] = {"version": trt.__version__, "gpu": gpu_name(), "precision": precision,
                             "engine": engine_path.name, "sha256": meta.bound_hash(blob),
                             "onnx": onnx_path.name,
                             "onnx_sha256": meta.bound_hash(onnx_path.read_bytes()),
                             "inputs": shapes, "outputs": outputs, "workspace_mb": int(workspace_mb),
                             "build_s": round(time.time() - t0, 1),
                             "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    tmp.replace(engine_path)
    out.save(sidecar_path(engine_path))
    return out


def compare_engine(engine_path: str | Path, onnx_path: str | Path, tol: float | None = None,
                   seed: int = 0) -> list[dict]:
    """Run the engine and ONNX Runtime on every scenario; raises EdgeRepError above ``tol`` (default
    FP16_TOL for an FP16 engine, FP32_TOL otherwise)."""
    from .backends.onnxrt import OnnxRuntimeBackend
    from .backends.parity import compare
    from .backends.tensorrt import TensorRTBackend

    meta = ModelMeta.load(sidecar_path(engine_path))
    info = engine_info(meta, Path(engine_path))
    if tol is None:
        tol = FP16_TOL if info.get("precision") == "fp16" else FP32_TOL
    engine = TensorRTBackend(engine_path, meta)
    reference = OnnxRuntimeBackend(onnx_path, meta)
    scales = meta.extra.get("onnx", {}).get("input_scales")
    try:
        return compare(meta, reference.run, engine.run, tol=tol, seed=seed, scales=scales,
                       what=f"{engine_path} (TensorRT vs ONNX Runtime)")
    finally:
        engine.close()
