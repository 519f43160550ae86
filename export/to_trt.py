#!/usr/bin/env python3
"""Export a checkpoint to ONNX, verify it against PyTorch, and build a TensorRT engine on this device.

    python export/to_trt.py                     # the bundled model -> build/export/ (ONNX; engine on a Jetson)
    python export/to_trt.py --checkpoint CKPT --out DIR [--fp16] [--onnx-only] [--require-engine] [--force]

The same command as ``edge-rep export`` (edge_rep/commands/export.py); see docs/export.md. Run with a
Python that lacks edge-rep's modules or torch (e.g. the system's ``python3``) while the checkout has a
``.venv`` (``make test`` makes one), it says to run it with ``.venv/bin/python`` instead.
"""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEEDED = ("numpy", "serial", "torch")     # edge-rep's base install, and the exporter's torch


def _missing() -> list[str]:
    return [m for m in NEEDED if importlib.util.find_spec(m) is None]


if __name__ == "__main__":
    venv = ROOT / ".venv"
    missing = _missing()
    if missing and (venv / "bin" / "python").is_file() and Path(sys.prefix).resolve() != venv.resolve():
        print(f"edge-rep: error: this Python ({sys.executable}) lacks {', '.join(missing)}; run it with the "
              f"checkout's venv: {venv / 'bin' / 'python'} {' '.join(sys.argv)}", file=sys.stderr)
        sys.exit(2)
    if set(missing) - {"torch"}:              # no venv to point at: torch alone may not be needed (reuse)
        print(f"edge-rep: error: this Python ({sys.executable}) lacks {', '.join(missing)}; create the venv "
              f"with 'make test' in {ROOT} and run it with .venv/bin/python", file=sys.stderr)
        sys.exit(2)
    sys.path.insert(0, str(ROOT))   # run from a checkout without installing
    from edge_rep.cli import main

    sys.exit(main(["export", *sys.argv[1:]]))
