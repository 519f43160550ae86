"""The export pipeline: checkpoint -> verified ONNX -> TensorRT engine (``edge-rep export``,
``python export/to_trt.py``). Steps: ``edge_rep/onnx_export.py`` (ONNX, parity with PyTorch) and
``edge_rep/trt_build.py`` (engine, parity with ONNX Runtime); this module checks the inputs and the
destination (``edge_rep.outpaths``) and runs them in order. Torch is imported only for a .safetensors input.

    export_model("runs/mod/model.safetensors", "models/", onnx_only=True)   # -> models/model.onnx + .json
"""

from __future__ import annotations

import filecmp
import os
from collections.abc import Callable
from pathlib import Path

from .errors import EdgeRepError
from .inpaths import input_file
from .modelspec import EXPORT_FOLDER, MODEL_FILE, is_model_sidecar, sidecar_path
from .outpaths import refuse_foreign, staged_file


def export_model(checkpoint: str | os.PathLike, out: str | os.PathLike, *, fp16: bool = False,
                 onnx_only: bool = False, workspace_mb: int = 1024, max_batch: int = 8,
                 tolerance: float | None = None, timing_cache: str | os.PathLike | None = None,
                 force: bool = False, require_engine: bool = False,
                 say: Callable[[str], None] = print) -> list[Path]:
    """Export ``checkpoint`` (.safetensors, or an exported .onnx with its sidecar: engine only) into the
    folder ``out`` as ``<name>.onnx`` + ``<name>.json`` and, unless ``onnx_only``, ``<name>.engine``.
    ``tolerance``: largest probability difference allowed (default 1e-4 ONNX vs PyTorch; 1e-3 FP32 and
    2e-2 FP16 TensorRT vs ONNX Runtime). ``require_engine``: a missing TensorRT is an error before anything
    is written (the Jetson installer: no engine, no install). Progress and parity tables go to ``say``.
    Returns the files written. EdgeRepError (exit 2) for bad arguments, a bad checkpoint, a destination
    that is not an export folder, or a missing TensorRT (after the verified ONNX is written, or at once
    with ``require_engine``)."""
    ckpt, out = Path(checkpoint), Path(out)
    if workspace_mb <= 0:
        raise EdgeRepError(f"--workspace {workspace_mb}: must be a positive number of MiB, e.g. 1024")
    if max_batch < 1:
        raise EdgeRepError(f"--batch {max_batch}: must be at least 1")
    if tolerance is not None and not tolerance > 0:
        raise EdgeRepError(f"--tolerance {tolerance}: must be positive, e.g. 1e-4")
    if ckpt.suffix not in (".safetensors", ".onnx"):
        raise EdgeRepError(f"--checkpoint {ckpt}: expected a .safetensors checkpoint or an exported .onnx file")
    input_file(ckpt, "file", option="--checkpoint")      # a FIFO or a device is refused unread
    if require_engine and onnx_only:
        raise EdgeRepError("--require-engine and --onnx-only contradict each other; pass one of them")
    if require_engine:
        from .backends import available
        if not available("tensorrt"):
            from .backends.tensorrt import JETPACK_HINT
            raise EdgeRepError(f"--require-engine: TensorRT is not installed here, so no engine can be built; "
                               f"{JETPACK_HINT}")
    onnx_path = out / (ckpt.stem + ".onnx")
    engine_path = onnx_path.with_suffix(".engine")
    check_destination(ckpt, out, onnx_path, force)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EdgeRepError(f"--out {out}: cannot create the folder ({e.strerror or e}); "
                           "choose a writable place") from None

    from .backends import available
    from .backends.parity import format_rows

    if ckpt.suffix == ".safetensors":
        if not available("torch"):
            raise EdgeRepError(f"--checkpoint {ckpt}: exporting a checkpoint needs torch, from the 'export' extra, "
                               "which is not installed; pip install 'edge-rep[export]', or export with --onnx-only "
                               "on a host with torch and pass the .onnx file here")
        from .checkpoint import load_model
        from .onnx_export import PARITY_TOL, export_onnx

        model, meta = load_model(ckpt)
        say(f"exporting {ckpt} (model {meta.model_id}) to {onnx_path}")
        meta, rows = export_onnx(model, meta, onnx_path, tol=tolerance or PARITY_TOL)
        if engine_path.exists():  # built from the previous ONNX: it no longer matches
            engine_path.unlink()
            say(f"removed {engine_path}: it was built from the previous ONNX export")
        say(f"ONNX Runtime vs PyTorch (opset {meta.extra['onnx']['opset']}, batch {meta.extra['onnx']['batch']}):")
        say(format_rows(rows))
        say(f"largest probability difference {max(r['probs_max_abs'] for r in rows):.3g} "
            f"<= {tolerance or PARITY_TOL:g}: ok")
    else:
        import onnx

        from .backends.onnxrt import OnnxRuntimeBackend
        from .modelspec import ModelMeta

        meta = ModelMeta.load(sidecar_path(ckpt))
        try:
            onnx.checker.check_model(str(ckpt), full_check=True)
        except Exception as e:  # noqa: BLE001 - onnx raises several types for bad files
            raise EdgeRepError(f"--checkpoint {ckpt}: not a valid ONNX model ({str(e).splitlines()[0]}); "
                               "re-export it") from None
        OnnxRuntimeBackend(ckpt, meta)       # checks the graph's I/O against the sidecar
        if ckpt.resolve() != onnx_path.resolve():
            import shutil
            with staged_file(onnx_path) as tmp:
                shutil.copyfile(ckpt, tmp)
            meta.save(sidecar_path(onnx_path))
        say(f"{ckpt}: valid ONNX for model {meta.model_id}")
    say(f"wrote {onnx_path} and {onnx_path.with_suffix('.json')}")
    written = [onnx_path, sidecar_path(onnx_path)]
    if onnx_only:
        return written

    from .backends.tensorrt import JETPACK_HINT
    if not available("tensorrt"):
        raise EdgeRepError(f"TensorRT is not installed, so no engine was built (the verified ONNX is in {out}); "
                           f"{JETPACK_HINT}; or pass --onnx-only")
    from .trt_build import build_engine, compare_engine

    build_engine(onnx_path, engine_path, meta, fp16=fp16, workspace_mb=workspace_mb, max_batch=max_batch,
                 timing_cache=timing_cache or out / "timing.cache")
    rows = compare_engine(engine_path, onnx_path, tol=tolerance)
    say("TensorRT vs ONNX Runtime:")
    say(format_rows(rows))
    say(f"wrote {engine_path}")
    return written + [engine_path]


def check_destination(ckpt: Path, out: Path, onnx_path: Path, force: bool) -> None:
    """``out`` is new, empty or an export folder; the files this export writes there are new, or (with
    ``force``) earlier exports of the same name. The input ONNX itself (engine-only builds) is not replaced."""
    if out.is_file():
        raise EdgeRepError(f"--out {out}: is a file, not a folder; name a folder for the exported files")
    refuse_foreign(out, EXPORT_FOLDER)
    # an engine-only build whose ONNX is already there (the same file, or a byte-identical copy) replaces nothing
    same_input = ckpt.suffix == ".onnx" and onnx_path.is_file() and filecmp.cmp(ckpt, onnx_path, shallow=False)
    products = [onnx_path.with_suffix(".engine")] + ([] if same_input else [onnx_path, sidecar_path(onnx_path)])
    existing = [p for p in products if os.path.lexists(p)]
    if not existing:
        return
    foreign = [p.name for p in existing if not (is_model_sidecar(p) if p.suffix == ".json" else MODEL_FILE.is_own(p))]
    if foreign:
        raise EdgeRepError(f"--out {out}: {', '.join(foreign)} there is not part of an edge-rep export; choose "
                           f"another folder")
    if not force:
        raise EdgeRepError(f"--out {out}: an export of '{onnx_path.stem}' is already there "
                           f"({', '.join(p.name for p in existing)}); pass --force to replace it, "
                           "or choose another folder")
