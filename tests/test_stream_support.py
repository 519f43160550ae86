"""Shared by the stream tests (no tests here): the ONNX model they run the daemon on.

The bundled default model's ``edge_rep/models/default.onnx``; if only its checkpoint is there, it is
exported once (ONNX, checked against PyTorch) into the temp folder, keyed by its model id.
``EDGE_REP_TEST_MODEL`` names another model file to run the tests on.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from edge_rep.backends import DEFAULT_MODEL
from edge_rep.modelspec import ModelMeta


def onnx_model_path() -> str:
    if os.environ.get("EDGE_REP_TEST_MODEL"):
        return os.environ["EDGE_REP_TEST_MODEL"]
    bundled = DEFAULT_MODEL.with_suffix(".onnx")
    if bundled.is_file():
        return str(bundled)
    meta = ModelMeta.load(DEFAULT_MODEL.with_suffix(".json"))
    folder = Path(tempfile.gettempdir()) / f"edge-rep-test-model-{meta.model_id}"
    if not (folder / "default.onnx").is_file():
        from edge_rep.checkpoint import load_model
        from edge_rep.onnx_export import export_onnx
        work = Path(tempfile.mkdtemp(prefix="edge-rep-test-export-"))
        model, meta = load_model(None)
        export_onnx(model, meta, work / "default.onnx", log=lambda s: None)
        shutil.rmtree(folder, ignore_errors=True)
        work.rename(folder)                # complete or absent, never half-written
    return str(folder / "default.onnx")
