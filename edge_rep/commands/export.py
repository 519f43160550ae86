"""``edge-rep export``: checkpoint -> verified ONNX -> TensorRT engine (also ``python export/to_trt.py``)."""

from . import add_force, number, path_arg

NAME = "export"
HELP = "export a checkpoint to ONNX, check it against PyTorch, and build a TensorRT engine on this device"
EXAMPLE = "edge-rep export --checkpoint runs/train/model.safetensors --out build/export"
ORDER = 60


def add_arguments(p) -> None:
    p.add_argument("--checkpoint", type=path_arg, metavar="CKPT", default=None,
                   help="model to export: a .safetensors checkpoint (needs torch, unless a verified ONNX of it is "
                        "beside it or in DIR), or an exported .onnx with its .json sidecar to build only the engine "
                        "(on a Jetson without torch); default: the bundled model")
    p.add_argument("--out", type=path_arg, metavar="DIR", default=None,
                   help="output folder: <name>.onnx, <name>.json (sidecar), <name>.engine, timing.cache "
                        "(default build/export)")
    add_force(p, "export of the same model name (its .onnx, .json and .engine)")
    p.add_argument("--fp16", action="store_true", help="build an FP16 engine when the GPU has fast FP16")
    p.add_argument("--onnx-only", action="store_true", help="stop after the verified ONNX file (no TensorRT)")
    p.add_argument("--require-engine", action="store_true",
                   help="fail (exit 2) before writing anything when TensorRT is missing here (the Jetson installer)")
    p.add_argument("--workspace", type=number(int, ge=16, le=1 << 20), default=1024, metavar="MB",
                   help="TensorRT builder workspace limit in MiB (default 1024)")
    p.add_argument("--batch", type=number(int, ge=1, le=4096), default=8, metavar="N",
                   help="largest batch of windows the engine's optimisation profile covers (default 8)")
    p.add_argument("--tolerance", type=number(float, gt=0, le=1), default=None, metavar="TOL",
                   help="largest allowed probability difference: ONNX Runtime vs PyTorch (default 1e-4); "
                        "TensorRT vs ONNX Runtime (default 1e-3 FP32, 2e-2 FP16)")
    p.add_argument("--timing-cache", default=None, type=path_arg, metavar="FILE",
                   help="TensorRT timing cache, reused and updated (default DIR/timing.cache)")


def run(args) -> int:
    from ..export import DEFAULT_CHECKPOINT, DEFAULT_OUT, export_model

    export_model(args.checkpoint or DEFAULT_CHECKPOINT, args.out or DEFAULT_OUT,
                 fp16=args.fp16, onnx_only=args.onnx_only, workspace_mb=args.workspace,
                 max_batch=args.batch, tolerance=args.tolerance, timing_cache=args.timing_cache, force=args.force,
                 require_engine=args.require_engine)
    return 0
