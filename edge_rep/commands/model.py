"""``edge-rep model info [MODEL]``: what a model is (classes, profile, training, validation, backends)."""

from . import path_arg

NAME = "model"
HELP = "show what a model is: id, classes, profile, training data, validation figures, usable backends"
EXAMPLE = "edge-rep model info build/export/model.onnx --json"
ORDER = 65


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    info = sub.add_parser("info", help="summarise a model's sidecar (default: the bundled model)",
                          description="Summarise a model from its .json sidecar; reads no weights, needs no torch.")
    info.add_argument("model", nargs="?", default=None, type=path_arg, metavar="MODEL",
                      help="a .safetensors, .onnx or .engine file, its .json sidecar, a stem, or default (the "
                           "bundled model)")
    info.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def run(args) -> int:
    import json

    from ..modelinfo import format_info, model_info

    info = model_info(args.model)
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0
