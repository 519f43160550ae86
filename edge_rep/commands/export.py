"""``edge-rep export``: checkpoint -> verified ONNX -> TensorRT engine (also ``python export/to_trt.py``)."""

from . import add_force

NAME = "export"
HELP = "export a checkpoint to ONNX, check it against PyTorch, and build a TensorRT engine on this device"
EXAMPLE = "edge-rep export --checkpoint runs/mod/model.safetensors --out models/ --fp16"
ORDER = 60


def add_arguments(p) -> None:
    p.add_argument("--checkpoint", required=True, metavar="CKPT",
                   help="model to export: a .safetensors checkpoint (needs torch), or an exported .onnx with its "
                        ".json sidecar to build only the engine (on a Jetson without torch)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder: <name>.onnx, <name>.json (sidecar), <name>.engine, timing.cache")
    add_force(p, "export of the same model name (its .onnx, .json and .engine)")
    p.add_argument("--fp16", action="store_true", help="build an FP16 engine when the GPU has fast FP16")
    p.add_argument("--onnx-only", action="store_true", help="stop after the verified ONNX file (no TensorRT)")
    p.add_argument("--workspace", type=int, default=1024, metavar="MB",
                   help="TensorRT builder workspace limit in MiB (default 1024)")
    p.add_argument("--batch", type=int, default=8, metavar="N",
                   help="largest batch of windows the engine's optimisation profile covers (default 8)")
    p.add_argument("--tolerance", type=float, default=None, metavar="TOL",
                   help="largest allowed probability difference: ONNX Runtime vs PyTorch (default 1e-4); "
                        "TensorRT vs ONNX Runtime (default 1e-3 FP32, 2e-2 FP16)")
    p.add_argument("--timing-cache", default=None, metavar="FILE",
                   help="TensorRT timing cache, reused and updated (default DIR/timing.cache)")


def run(args) -> int:
    from pathlib import Path

    from ..errors import EdgeRepError

    ckpt, out = Path(args.checkpoint), Path(args.out)
    if args.workspace <= 0:
        raise EdgeRepError(f"--workspace {args.workspace}: must be a positive number of MiB, e.g. 1024")
    if args.batch < 1:
        raise EdgeRepError(f"--batch {args.batch}: must be at least 1")
    if args.tolerance is not None and not args.tolerance > 0:
        raise EdgeRepError(f"--tolerance {args.tolerance}: must be positive, e.g. 1e-4")
    if ckpt.suffix not in (".safetensors", ".onnx"):
        raise EdgeRepError(f"--checkpoint {ckpt}: expected a .safetensors checkpoint or an exported .onnx file")
    if not ckpt.is_file():
        raise EdgeRepError(f"--checkpoint {ckpt}: file not found; check the path")
    onnx_path = out / (ckpt.stem + ".onnx")
    engine_path = onnx_path.with_suffix(".engine")
    _check_destination(ckpt, out, onnx_path, args.force)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EdgeRepError(f"--out {out}: cannot create the folder ({e.strerror or e}); choose a writable place") from None

    from ..backends.parity import format_rows
    from ..backends.base import available

    if ckpt.suffix == ".safetensors":
        if not available("torch"):
            raise EdgeRepError(f"--checkpoint {ckpt}: exporting a checkpoint needs torch, which is not installed; "
                               "export with --onnx-only on a host with torch and pass the .onnx file here")
        from ..checkpoint import load_model
        from ..onnx_export import PARITY_TOL, export_onnx

        model, meta = load_model(ckpt)
        print(f"exporting {ckpt} (model {meta.model_id}) to {onnx_path}")
        meta, rows = export_onnx(model, meta, onnx_path, tol=args.tolerance or PARITY_TOL)
        if engine_path.exists():  # built from the previous ONNX: it no longer matches
            engine_path.unlink()
            print(f"removed {engine_path}: it was built from the previous ONNX export")
        print(f"ONNX Runtime vs PyTorch (opset {meta.extra['onnx']['opset']}, batch {meta.extra['onnx']['batch']}):")
        print(format_rows(rows))
        print(f"largest probability difference {max(r['probs_max_abs'] for r in rows):.3g} "
              f"<= {args.tolerance or PARITY_TOL:g}: ok")
    else:
        from ..backends.onnxrt import OnnxRuntimeBackend
        from ..modelspec import ModelMeta, sidecar_path
        import onnx

        meta = ModelMeta.load(sidecar_path(ckpt))
        try:
            onnx.checker.check_model(str(ckpt), full_check=True)
        except Exception as e:  # noqa: BLE001 - onnx raises several types for bad files
            raise EdgeRepError(f"--checkpoint {ckpt}: not a valid ONNX model ({str(e).splitlines()[0]}); "
                               "re-export it") from None
        OnnxRuntimeBackend(ckpt, meta)       # checks the graph's I/O against the sidecar
        if ckpt.resolve() != onnx_path.resolve():
            import shutil
            shutil.copyfile(ckpt, onnx_path)
            meta.save(sidecar_path(onnx_path))
        print(f"{ckpt}: valid ONNX for model {meta.model_id}")
    print(f"wrote {onnx_path} and {onnx_path.with_suffix('.json')}")
    if args.onnx_only:
        return 0

    from ..backends.tensorrt import JETPACK_HINT
    if not available("tensorrt"):
        raise EdgeRepError(f"TensorRT is not installed, so no engine was built (the verified ONNX is in {out}); "
                           f"{JETPACK_HINT}; or pass --onnx-only")
    from ..trt_build import build_engine, compare_engine

    build_engine(onnx_path, engine_path, meta, fp16=args.fp16, workspace_mb=args.workspace, max_batch=args.batch,
                 timing_cache=args.timing_cache or out / "timing.cache")
    rows = compare_engine(engine_path, onnx_path, tol=args.tolerance)
    print("TensorRT vs ONNX Runtime:")
    print(format_rows(rows))
    print(f"wrote {engine_path}")
    return 0


def _check_destination(ckpt, out, onnx_path, force: bool) -> None:
    """``out`` is new, empty or an export folder; the files this export writes there are new, or (with
    ``force``) earlier exports of the same name. The input ONNX itself (engine-only builds) is not replaced."""
    import filecmp
    import os

    from ..errors import EdgeRepError
    from ..modelspec import EXPORT_FOLDER, MODEL_FILE, is_model_sidecar, sidecar_path
    from ..outpaths import refuse_foreign

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
                           f"({', '.join(p.name for p in existing)}); pass --force to replace it, or choose another folder")
