#!/usr/bin/env python3
"""Export a checkpoint to ONNX, verify it against PyTorch, and build a TensorRT engine on this device.

    python export/to_trt.py --checkpoint CKPT --out DIR [--fp16] [--onnx-only] [--workspace MB] [--batch N]

The same command as ``edge-rep export`` (edge_rep/commands/export.py); see docs/export.md.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run from a checkout without installing

from edge_rep.cli import main

if __name__ == "__main__":
    sys.exit(main(["export", *sys.argv[1:]]))
