"""The export pipeline: checkpoint -> verified ONNX -> TensorRT engine (``edge-rep export``,
``python export/to_trt.py``). Steps: ``edge_rep/onnx_export.py`` (ONNX, parity with PyTorch) and
``edge_rep/trt_build.py`` (engine, parity with ONNX Runtime); this module checks the inputs and the
destination (``edge_rep.outpaths``) and runs them in order. Torch is imported only for a .safetensors input.

    export_model("runs/mod/model.safetensors", "models/", onnx_only=True)   # -> models/model.onnx + .json
"""

from __future__ import annotations

import filecmp
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .errors import EdgeRepError
from .inpaths import input_file
from .modelspec import EXPORT_FOLDER, MODEL_FILE, is_model_sidecar, sidecar_path
from .modelspec import ModelMeta
from .outpaths import refuse_foreign, staged_file

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "models" / "default.safetensors"   # the bundled model
DEFAULT_OUT = Path("build") / "export"          # relative to the working folder; git-ignored in a checkout
CHECKOUT = Path(__file__).resolve().parent.parent  # where a source checkout keeps its .venv (make test)


def export_model(checkpoint: str | os.PathLike, out: str | os.PathLike, *, fp16: bool = False,
                 onnx_only: bool = False, workspace_mb: int = 1024, max_batch: int = 8,
                 tolerance: float | None = None, timing_cache: str | os.PathLike | None = None,
                 force: bool = False, require_engine: bool = False,
                 say: Callable[[str], None] = print) -> list[Path]:
    """Export ``checkpoint`` (.safetensors, or an exported .onnx with its sidecar: engine only) into the
    folder ``out`` as ``<name>.onnx`` + ``<name>.json`` and, unless ``onnx_only``, ``<name>.engine``.
    ``tolerance``: largest probability difference allowed (default 1e-4 ONNX vs PyTorch; 1e-3 FP32 and
    2e-2 FP16 TensorRT vs ONNX Runtime). Where TensorRT is missing the verified ONNX is the result and one
    line says how to build the engine on the Jetson; ``require_engine`` makes that an error before anything
    is written (the Jetson installer: no engine, no install). A verified ONNX of the same model (same
    ``model_id``, a parity record, its recorded hash) already in ``out`` or beside a .safetensors
    ``checkpoint`` is reused (checked with ONNX Runtime when installed), not exported again. Progress and
    parity tables go to ``say``. Returns the files written or reused. EdgeRepError (exit 2) for bad arguments, a bad
    checkpoint, a destination that is not an export folder, or a missing TensorRT with ``require_engine``."""
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
    from .backends import available
    will_build = not onnx_only and available("tensorrt")
    reuse = reusable_onnx(ckpt, onnx_path) if ckpt.suffix == ".safetensors" else None
    check_destination(ckpt, out, onnx_path, force, reuse=reuse is not None and reuse[1] == onnx_path,
                      will_build=will_build)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EdgeRepError(f"--out {out}: cannot create the folder ({e.strerror or e}); "
                           "choose a writable place") from None

    from .backends.parity import format_rows

    if reuse is not None:
        meta, source = reuse
        if available("onnxruntime"):
            from .backends.onnxrt import OnnxRuntimeBackend
            OnnxRuntimeBackend(source, meta)       # loads, and checks the graph's I/O against the sidecar
        if source.resolve() != onnx_path.resolve():
            _copy_export(source, onnx_path, meta)
            _drop_stale_engine(engine_path, say)
        say(f"{onnx_path}: reusing the verified ONNX of model {meta.model_id} from {source} (largest "
            f"probability difference vs PyTorch {meta.extra['onnx']['parity_probs_max_abs']:.3g}), not "
            "exporting it again")
    elif ckpt.suffix == ".safetensors":
        if not available("torch"):
            raise EdgeRepError(f"--checkpoint {ckpt}: exporting a checkpoint needs torch, which this Python "
                               f"({sys.executable}) lacks; {_torch_hint()}")
        from .checkpoint import load_model
        from .onnx_export import PARITY_TOL, export_onnx

        model, meta = load_model(ckpt)
        say(f"exporting {ckpt} (model {meta.model_id}) to {onnx_path}")
        meta, rows = export_onnx(model, meta, onnx_path, tol=tolerance or PARITY_TOL)
        _drop_stale_engine(engine_path, say)
        say(f"ONNX Runtime vs PyTorch (opset {meta.extra['onnx']['opset']}, batch {meta.extra['onnx']['batch']}):")
        say(format_rows(rows))
        say(f"largest probability difference {max(r['probs_max_abs'] for r in rows):.3g} "
            f"<= {tolerance or PARITY_TOL:g}: ok")
    else:
        import onnx

        from .backends.onnxrt import OnnxRuntimeBackend

        meta = ModelMeta.load(sidecar_path(ckpt))
        try:
            onnx.checker.check_model(str(ckpt), full_check=True)
        except Exception as e:  # noqa: BLE001 - onnx raises several types for bad files
            raise EdgeRepError(f"--checkpoint {ckpt}: not a valid ONNX model ({str(e).splitlines()[0]}); "
                               "re-export it") from None
        OnnxRuntimeBackend(ckpt, meta)       # checks the graph's I/O against the sidecar
        if ckpt.resolve() != onnx_path.resolve():
            _copy_export(ckpt, onnx_path, meta)
        say(f"{ckpt}: valid ONNX for model {meta.model_id}")
    if reuse is None:
        say(f"wrote {onnx_path} and {onnx_path.with_suffix('.json')}")
    written = [onnx_path, sidecar_path(onnx_path)]
    if onnx_only:
        return written

    if not will_build:
        say(f"no engine built here (TensorRT is not installed): the engine is built on the Jetson that runs it; "
            f"copy {onnx_path.name} and {sidecar_path(onnx_path).name} there and run 'edge-rep export --checkpoint "
            f"{onnx_path.name} --out DIR' (deploy/jetson/install.sh does this; docs/export.md)")
        return written
    from .trt_build import build_engine, compare_engine

    build_engine(onnx_path, engine_path, meta, fp16=fp16, workspace_mb=workspace_mb, max_batch=max_batch,
                 timing_cache=timing_cache or out / "timing.cache")
    rows = compare_engine(engine_path, onnx_path, tol=tolerance)
    say("TensorRT vs ONNX Runtime:")
    say(format_rows(rows))
    say(f"wrote {engine_path}")
    return written + [engine_path]


def _drop_stale_engine(engine_path: Path, say: Callable[[str], None]) -> None:
    """An engine beside an ONNX file just written was built from the previous graph: remove it. It is an
    earlier export's own file (``check_destination`` let the ONNX be replaced only with --force)."""
    if engine_path.exists():
        engine_path.unlink()
        say(f"removed {engine_path}: it was built from the previous ONNX export")


def check_destination(ckpt: Path, out: Path, onnx_path: Path, force: bool, reuse: bool = False,
                      will_build: bool = True) -> None:
    """``out`` is new, empty or an export folder; the files this export writes there are new, or (with
    ``force``) earlier exports of the same name. The input ONNX itself (engine-only builds) and a reused
    verified ONNX of the same model (``reuse``) are not replaced; nor is an engine that is not rebuilt
    (``will_build`` False) beside a reused ONNX."""
    if out.is_file():
        raise EdgeRepError(f"--out {out}: is a file, not a folder; name a folder for the exported files")
    refuse_foreign(out, EXPORT_FOLDER)
    # an engine-only build whose ONNX is already there (the same file, or a byte-identical copy) replaces nothing
    same_input = reuse or (ckpt.suffix == ".onnx" and onnx_path.is_file()
                           and filecmp.cmp(ckpt, onnx_path, shallow=False))
    engine = [] if same_input and not will_build else [onnx_path.with_suffix(".engine")]
    products = engine + ([] if same_input else [onnx_path, sidecar_path(onnx_path)])
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


def verified_onnx(onnx_path: Path, model_id: str) -> ModelMeta | None:
    """The sidecar of ``onnx_path`` when it is a verified export of model ``model_id``: same ``model_id``,
    a parity record (``extra.onnx.parity_probs_max_abs``) and the file's bytes matching the recorded hash;
    else None (never raises)."""
    try:
        if not onnx_path.is_file() or onnx_path.is_symlink():
            return None
        meta = ModelMeta.load(sidecar_path(onnx_path))
        record = meta.extra.get("onnx")
        if meta.model_id != model_id or not isinstance(record, dict) or "parity_probs_max_abs" not in record:
            return None
        return meta if record.get("sha256") == meta.bound_hash(onnx_path.read_bytes()) else None
    except (EdgeRepError, OSError):
        return None


def reusable_onnx(ckpt: Path, onnx_path: Path) -> tuple[ModelMeta, Path] | None:
    """A verified ONNX of ``ckpt``'s model to use instead of exporting again: ``onnx_path`` itself, else
    the .onnx beside the checkpoint (the bundled model ships one). (sidecar, file) or None."""
    try:
        model_id = ModelMeta.load(sidecar_path(ckpt)).model_id
    except EdgeRepError:
        return None                   # load_model reports the checkpoint's problem in its own words
    for candidate in (onnx_path, ckpt.with_suffix(".onnx")):
        meta = verified_onnx(candidate, model_id)
        if meta is not None:
            return meta, candidate
    return None


def _copy_export(src: Path, onnx_path: Path, meta: ModelMeta) -> None:
    import shutil
    with staged_file(onnx_path) as tmp:
        shutil.copyfile(src, tmp)
    meta.save(sidecar_path(onnx_path))


def _torch_hint() -> str:
    """What to do without torch: the checkout's .venv when there is one (and it is not this Python)."""
    for root in dict.fromkeys((CHECKOUT, Path.cwd())):
        venv_python = root / ".venv" / "bin" / "python"
        if venv_python.is_file() and Path(sys.prefix).resolve() != venv_python.parent.parent.resolve():
            return f"run it with {venv_python} (the checkout's venv, from 'make test')"
    return ("pip install 'edge-rep[export]', or export with --onnx-only on a host with torch and pass the .onnx "
            "file here")
