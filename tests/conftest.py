"""Fixtures shared by the tests. Helpers that are plain functions live in non-test modules beside this one
(``tiny_data.py``: a tiny profile and recordings; ``fixtures_data.py``: small files in the public formats).

``stream_model``: the ONNX model the stream tests run the daemon on: the bundled default model's
``edge_rep/models/default.onnx``; if only its checkpoint is there, it is exported once (ONNX, checked
against PyTorch) into the temp folder, keyed by its model id. ``EDGE_REP_TEST_MODEL`` names another model
file to run the tests on. ``backend``: that model loaded on ONNX Runtime.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from edge_rep.backends import DEFAULT_MODEL, load_backend
from edge_rep.modelspec import ModelMeta


def _stream_model() -> str:
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


@pytest.fixture(scope="session")
def stream_model() -> str:
    """Path of the ONNX model the stream tests run on."""
    return _stream_model()


@pytest.fixture(scope="session")
def backend(stream_model):
    """``stream_model`` on ONNX Runtime, shared by the tests (a backend holds no per-run state)."""
    return load_backend(stream_model, "onnxruntime")
