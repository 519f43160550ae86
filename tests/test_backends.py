"""Runtime backends: loading, sidecar checks, input checks, batching, backend choice, torch-free import
path, the TensorRT backend's TensorRT-10 call sequence (against a recording stand-in), and PyTorch.

The ONNX graphs here are written by hand with onnx.helper (a small known function of the inputs), so
these tests check the backends, not the exporter, and run in a second or two.
"""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import edge_rep.backends as backends
from edge_rep.backends import load_backend, resolve
from edge_rep.backends.base import blank_inputs, check_inputs
from edge_rep.errors import EdgeRepError
from edge_rep.modelspec import ModelMeta, sidecar_path
from edge_rep.profiles import MOD, ModalitySpec, Profile

TINY = Profile("tiny", (ModalitySpec("acoustic", 80.0, 1, "Pa"), ModalitySpec("seismic", 40.0, 1, "m/s")),
               window_s=1.0, hop_s=0.5, intervals=4)
L, D, K = 2, 3, len(TINY.classes)
REPO = Path(__file__).resolve().parent.parent


def tiny_meta(profile: Profile = TINY) -> ModelMeta:
    return ModelMeta(profile=profile, buffer_tokens=L, width=D, model_id="handmade")


def weights() -> np.ndarray:
    return np.linspace(-1.0, 1.0, 6 * K, dtype=np.float32).reshape(6, K)


def reference(x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What the handmade graph computes, in numpy."""
    feats = np.concatenate([x["acoustic"].mean(axis=(1, 2))[:, None], x["seismic"].mean(axis=(1, 2))[:, None],
                            x["present"], x["replay"]], axis=1)
    logits = feats @ weights()
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    buffers = x["buffers_in"] * x["replay"][:, :, None, None] + x["present"][:, :, None, None]
    return {"probs": e / e.sum(axis=1, keepdims=True), "buffers_out": buffers}


def write_graph(path: Path, meta: ModelMeta, batch: int | str = "batch") -> Path:
    """An ONNX file obeying the I/O contract of ``meta``, computing ``reference``; plus its sidecar."""
    shapes = {**meta.input_shapes(1), **meta.output_shapes(1)}
    vi = {n: helper.make_tensor_value_info(n, TensorProto.FLOAT, [batch, *s[1:]]) for n, s in shapes.items()}
    nodes = [
        helper.make_node("ReduceMean", ["acoustic", "axes12"], ["ma"], keepdims=0),
        helper.make_node("ReduceMean", ["seismic", "axes12"], ["ms"], keepdims=0),
        helper.make_node("Unsqueeze", ["ma", "axes1"], ["ma1"]),
        helper.make_node("Unsqueeze", ["ms", "axes1"], ["ms1"]),
        helper.make_node("Concat", ["ma1", "ms1", "present", "replay"], ["feats"], axis=1),
        helper.make_node("MatMul", ["feats", "W"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
        helper.make_node("Unsqueeze", ["replay", "axes23"], ["r4"]),
        helper.make_node("Unsqueeze", ["present", "axes23"], ["p4"]),
        helper.make_node("Mul", ["buffers_in", "r4"], ["kept"]),
        helper.make_node("Add", ["kept", "p4"], ["buffers_out"]),
    ]
    inits = [helper.make_tensor("W", TensorProto.FLOAT, [6, K], weights().ravel().tolist()),
             helper.make_tensor("axes12", TensorProto.INT64, [2], [1, 2]),
             helper.make_tensor("axes1", TensorProto.INT64, [1], [1]),
             helper.make_tensor("axes23", TensorProto.INT64, [2], [2, 3])]
    ins = [vi[n] for n in meta.input_shapes(1)]
    outs = [vi[n] for n in meta.output_shapes(1)]
    model = helper.make_model(helper.make_graph(nodes, "handmade", ins, outs, inits),
                              opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    meta.extra["onnx"] = {"sha256": meta.bound_hash(path.read_bytes()), "batch": batch}
    meta.save(sidecar_path(path))
    return path


def random_inputs(meta: ModelMeta, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = {k: rng.normal(size=s).astype(np.float32) for k, s in meta.input_shapes(batch).items()}
    x["present"] = (rng.random((batch, 2)) < 0.5).astype(np.float32)
    x["replay"] = 1 - x["present"]
    return x


@pytest.fixture()
def onnx_model(tmp_path) -> Path:
    return write_graph(tmp_path / "m.onnx", tiny_meta())


# ---- ONNX Runtime -------------------------------------------------------------------------------------

def test_onnxruntime_runs_a_batch_and_matches_the_graph(onnx_model):
    b = load_backend(onnx_model)
    assert (b.name, b.precision, b.max_batch) == ("onnxruntime", "fp32", None)
    assert b.version and b.meta.model_id == "handmade" and "handmade" in b.describe()
    x = random_inputs(b.meta, 5)
    out, ref = b.run(x), reference(x)
    assert set(out) == {"probs", "buffers_out"}
    np.testing.assert_allclose(out["probs"], ref["probs"], atol=1e-6)
    np.testing.assert_allclose(out["buffers_out"], ref["buffers_out"], atol=1e-6)


def test_fixed_batch_graph_is_fed_window_by_window(tmp_path):
    b = load_backend(write_graph(tmp_path / "fixed.onnx", tiny_meta(), batch=1))
    assert b.max_batch == 1
    x = random_inputs(b.meta, 3, seed=1)
    np.testing.assert_allclose(b.run(x)["probs"], reference(x)["probs"], atol=1e-6)


def test_inputs_are_checked_against_the_sidecar(onnx_model):
    b = load_backend(onnx_model)
    x = blank_inputs(b.meta, 2)
    assert x["present"].min() == 1.0 and x["replay"].max() == 0.0
    with pytest.raises(EdgeRepError, match="missing"):
        b.run({k: v for k, v in x.items() if k != "replay"})
    with pytest.raises(EdgeRepError, match="'seismic' has shape"):
        b.run({**x, "seismic": np.zeros((2, 1, 41), np.float32)})
    with pytest.raises(EdgeRepError, match="batch 3"):
        b.run({**x, "present": np.ones((3, 2), np.float32)})
    # float64 and non-contiguous arrays are accepted and converted
    y = check_inputs(b.meta, {**x, "acoustic": np.zeros((2, 1, 160))[:, :, ::2]})
    assert y["acoustic"].dtype == np.float32 and y["acoustic"].flags.c_contiguous


def test_sidecar_that_does_not_match_the_graph_is_refused(tmp_path):
    path = write_graph(tmp_path / "m.onnx", tiny_meta())
    other = Profile("tiny", (ModalitySpec("acoustic", 80.0, 1, "Pa"), ModalitySpec("seismic", 50.0, 1, "m/s")),
                    window_s=1.0, hop_s=0.5, intervals=4)
    meta = tiny_meta(other)
    meta.extra = ModelMeta.load(sidecar_path(path)).extra
    meta.save(sidecar_path(path))
    with pytest.raises(EdgeRepError, match="an edited profile or class list"):      # the hash covers the profile
        load_backend(path)
    meta.extra["onnx"]["sha256"] = meta.bound_hash(path.read_bytes())                 # a consistent wrong sidecar
    meta.save(sidecar_path(path))
    with pytest.raises(EdgeRepError, match="'seismic' has shape"):
        load_backend(path)


def test_profile_and_class_mismatch_with_the_callers_config(onnx_model):
    assert load_backend(onnx_model, profile=TINY).meta.profile == TINY
    with pytest.raises(EdgeRepError, match="profile"):
        load_backend(onnx_model, profile=MOD)
    renamed = Profile(TINY.name, TINY.modalities, TINY.window_s, TINY.hop_s, TINY.intervals,
                      classes=("background", "car"))
    with pytest.raises(EdgeRepError, match="classes"):
        load_backend(onnx_model, profile=renamed)


def test_missing_or_corrupt_files(tmp_path, onnx_model):
    sidecar_path(onnx_model).unlink()
    with pytest.raises(EdgeRepError, match="sidecar not found"):
        load_backend(onnx_model)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(onnx_model.read_bytes()[:200])          # torn, but its sidecar says so (a torn export)
    meta = tiny_meta()
    meta.extra["onnx"] = {"sha256": meta.bound_hash(bad.read_bytes())}
    meta.save(sidecar_path(bad))
    with pytest.raises(EdgeRepError, match="ONNX Runtime cannot load it"):
        load_backend(bad)
    sidecar_path(bad).write_text("{not json")
    with pytest.raises(EdgeRepError, match="unreadable model sidecar"):
        load_backend(bad)
    with pytest.raises(EdgeRepError, match="no model file"):
        load_backend(tmp_path / "nothing.onnx")
    swapped = write_graph(tmp_path / "swapped.onnx", tiny_meta())
    meta = ModelMeta.load(sidecar_path(swapped))
    meta.extra["onnx"] = {"sha256": "0" * 64}      # the sidecar of another export
    meta.save(sidecar_path(swapped))
    with pytest.raises(EdgeRepError, match="does not match the ONNX hash"):
        load_backend(swapped)
    tiny_meta().save(sidecar_path(swapped))          # a checkpoint's sidecar, without the export record
    with pytest.raises(EdgeRepError, match="no ONNX export record.*edge-rep export"):
        load_backend(swapped)
    with pytest.raises(EdgeRepError, match="is a folder"):
        load_backend(tmp_path)


# ---- choosing a backend -------------------------------------------------------------------------------

def test_resolve_picks_by_files_and_installed_modules(tmp_path, onnx_model, monkeypatch):
    stem = onnx_model.with_suffix("")
    assert resolve(stem) == ("onnxruntime", onnx_model)
    onnx_model.with_suffix(".engine").write_bytes(b"engine")
    onnx_model.with_suffix(".safetensors").write_bytes(b"weights")
    have = {"tensorrt": False, "onnxruntime": True, "torch": True}
    monkeypatch.setattr(backends, "available", lambda kind: have[kind])
    assert resolve(onnx_model) == ("onnxruntime", onnx_model)            # no tensorrt module: ONNX Runtime
    assert resolve(stem, "torch") == ("torch", onnx_model.with_suffix(".safetensors"))
    have["tensorrt"] = True
    assert resolve(onnx_model) == ("tensorrt", onnx_model.with_suffix(".engine"))   # the engine built from it
    assert resolve(onnx_model, "onnxruntime") == ("onnxruntime", onnx_model)   # overridable
    # a named checkpoint is loaded as named, never swapped for the ONNX file beside it
    ckpt = onnx_model.with_suffix(".safetensors")
    assert resolve(ckpt) == ("torch", ckpt)
    with pytest.raises(EdgeRepError, match=r"m\.safetensors: no \.onnx file for backend 'onnxruntime' "
                                           r"\(have .*m\.safetensors\)"):
        resolve(ckpt, "onnxruntime")
    with pytest.raises(EdgeRepError, match="no .safetensors file for backend 'torch'"):
        resolve(onnx_model, "torch")
    have["onnxruntime"] = have["tensorrt"] = False
    assert resolve(stem)[0] == "torch"
    with pytest.raises(EdgeRepError, match="not installed"):
        resolve(onnx_model, "tensorrt")
    with pytest.raises(EdgeRepError, match="unknown backend 'cuda'"):
        resolve(onnx_model, "cuda")
    onnx_model.with_suffix(".engine").unlink()
    have["tensorrt"] = True
    with pytest.raises(EdgeRepError, match="no .engine file for backend 'tensorrt'.*edge-rep export"):
        resolve(onnx_model, "tensorrt")


def test_backend_names_come_from_one_list():
    from dataclasses import fields

    from edge_rep.cli import build_parser
    from edge_rep.config import ModelSection

    assert backends.CHOICES == ("auto", *backends.RUNTIMES) == ("auto", "tensorrt", "onnxruntime", "torch")
    backend = next(f for f in fields(ModelSection) if f.name == "backend")
    assert backend.metadata["choices"] == backends.CHOICES
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices
    for command in ("stream", "replay", "demo"):
        option = next(a for a in sub[command]._actions if a.dest == "backend")
        assert tuple(option.choices) == backends.CHOICES, command


def test_choosing_a_backend_imports_no_runtime_and_no_numpy():
    code = ("import sys, edge_rep.backends, edge_rep.config, edge_rep.cli; edge_rep.cli.build_parser(); "
            "print(sorted(m for m in ('numpy', 'onnxruntime', 'torch', 'tensorrt') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_none_means_the_bundled_default_model():
    if not backends._candidates(backends.DEFAULT_MODEL):
        with pytest.raises(EdgeRepError, match="default"):
            resolve(None)
    else:
        kind, path = resolve(None)
        assert path.stem == "default" and path.parent.name == "models"


def test_onnx_and_tensorrt_backends_never_import_torch(onnx_model):
    code = f"""
import sys
import numpy as np
from edge_rep.backends import load_backend
from edge_rep.backends.base import blank_inputs
import edge_rep.backends.tensorrt, edge_rep.backends.parity, edge_rep.trt_build
b = load_backend({str(onnx_model)!r}, kind="onnxruntime")
out = b.run(blank_inputs(b.meta, 2))
assert out["probs"].shape == (2, {K}), out["probs"].shape
print("torch" in sys.modules)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


# ---- TensorRT: the TensorRT 10 call sequence, against a recording stand-in ---------------------------

class FakeCudart:
    """cuda-python's runtime API over host memory: pointers are keys into a dict of bytearrays."""

    class cudaError_t:
        cudaSuccess = 0

    class cudaMemcpyKind:
        cudaMemcpyHostToDevice = "h2d"
        cudaMemcpyDeviceToHost = "d2h"

    class _Props:
        name = b"Fake GPU\x00"

    def __init__(self):
        self.mem: dict[int, bytearray] = {}
        self.freed: list[int] = []
        self.synced = 0

    def cudaGetDeviceProperties(self, dev):
        return 0, self._Props()

    def cudaMalloc(self, nbytes):
        ptr = 4096 * (len(self.mem) + 1)
        self.mem[ptr] = bytearray(nbytes)
        return 0, ptr

    def cudaFree(self, ptr):
        self.freed.append(ptr)
        return (0,)

    def cudaStreamCreate(self):
        return 0, 77

    def cudaStreamDestroy(self, s):
        return (0,)

    def cudaStreamSynchronize(self, s):
        self.synced += 1
        return (0,)

    def cudaMemcpyAsync(self, dst, src, nbytes, kind, stream):
        import ctypes
        assert stream == 77
        if kind == "h2d":
            self.mem[dst][:nbytes] = ctypes.string_at(src, nbytes)
        else:
            ctypes.memmove(dst, bytes(self.mem[src][:nbytes]), nbytes)
        return (0,)


def fake_trt(meta: ModelMeta, cudart: FakeCudart, version: str = "10.3.0", max_batch: int = 4):
    """A tensorrt module whose engine computes ``reference`` on the fake device memory."""
    trt = types.SimpleNamespace(__version__=version, calls=[])
    trt.TensorIOMode = types.SimpleNamespace(INPUT="in", OUTPUT="out")
    trt.nptype = lambda dt: np.float32
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level: None})
    ins, outs = meta.input_shapes(1), meta.output_shapes(1)

    class Context:
        def __init__(self):
            self.shapes, self.addr = {}, {}

        def set_input_shape(self, name, shape):
            trt.calls.append(("set_input_shape", name, tuple(shape)))
            self.shapes[name] = tuple(shape)
            return True

        def set_tensor_address(self, name, ptr):
            self.addr[name] = ptr

        def get_tensor_shape(self, name):
            return (self.shapes["present"][0], *outs[name][1:])

        def execute_async_v3(self, stream):
            trt.calls.append(("execute_async_v3", stream))
            b = self.shapes["present"][0]
            x = {n: np.frombuffer(bytes(cudart.mem[self.addr[n]]), np.float32)[:int(np.prod(self.shapes[n]))]
                 .reshape(self.shapes[n]) for n in ins}
            for n, v in reference(x).items():
                data = v.astype(np.float32).tobytes()
                assert v.shape[0] == b
                cudart.mem[self.addr[n]][:len(data)] = data
            return True

    class Engine:
        num_io_tensors = len(ins) + len(outs)
        names = [*ins, *outs]

        def get_tensor_name(self, i):
            return self.names[i]

        def get_tensor_mode(self, name):
            return "in" if name in ins else "out"

        def get_tensor_shape(self, name):
            return (-1, *{**ins, **outs}[name][1:])

        def get_tensor_dtype(self, name):
            return "float32"

        def get_tensor_profile_shape(self, name, profile):
            s = ins[name]
            return (1, *s[1:]), (max_batch, *s[1:]), (max_batch, *s[1:])

        def create_execution_context(self):
            return Context()

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, blob):
            trt.calls.append(("deserialize_cuda_engine", bytes(blob)))
            return Engine() if blob == b"ENGINE" else None

    trt.Runtime = Runtime
    return trt


def write_engine(tmp_path: Path, version: str = "10.3.0", gpu: str = "Fake GPU") -> Path:
    path = tmp_path / "m.engine"
    path.write_bytes(b"ENGINE")
    meta = tiny_meta()
    meta.extra["tensorrt"] = {"version": version, "gpu": gpu, "precision": "fp16"}
    meta.save(sidecar_path(path))
    return path


def test_tensorrt_backend_runs_with_the_tensorrt10_api(tmp_path):
    from edge_rep.backends.tensorrt import TensorRTBackend
    path, cudart = write_engine(tmp_path), FakeCudart()
    meta = ModelMeta.load(sidecar_path(path))
    trt = fake_trt(meta, cudart, max_batch=4)
    b = TensorRTBackend(path, meta, trt=trt, cudart=cudart)
    assert (b.name, b.version, b.precision, b.max_batch) == ("tensorrt", "10.3.0", "fp16", 4)
    x = random_inputs(meta, 6, seed=3)          # more than the profile's max batch: split 4 + 2
    out, ref = b.run(x), reference(x)
    np.testing.assert_allclose(out["probs"], ref["probs"], atol=1e-6)
    np.testing.assert_allclose(out["buffers_out"], ref["buffers_out"], atol=1e-6)
    shapes = [c for c in trt.calls if c[0] == "set_input_shape" and c[1] == "present"]
    assert [s[2] for s in shapes] == [(4, 2), (2, 2)]
    assert [c for c in trt.calls if c[0] == "execute_async_v3"] == [("execute_async_v3", 77)] * 2
    assert cudart.synced == 2
    b.close()
    assert len(cudart.freed) == len(meta.input_shapes()) + len(meta.output_shapes())


def test_tensorrt_backend_refuses_foreign_engines(tmp_path):
    from edge_rep.backends.tensorrt import TensorRTBackend
    cudart = FakeCudart()
    meta = tiny_meta()
    trt = fake_trt(meta, cudart, version="10.13.0")
    path = write_engine(tmp_path, version="10.3.0")
    with pytest.raises(EdgeRepError, match="built with TensorRT 10.3.0 but this device has 10.13.0"):
        TensorRTBackend(path, ModelMeta.load(sidecar_path(path)), trt=trt, cudart=cudart)
    path = write_engine(tmp_path, version="10.13.0", gpu="Orin")
    with pytest.raises(EdgeRepError, match="built on GPU 'Orin'"):
        TensorRTBackend(path, ModelMeta.load(sidecar_path(path)), trt=trt, cudart=cudart)
    path = write_engine(tmp_path, version="10.13.0")
    path.write_bytes(b"garbage")
    with pytest.raises(EdgeRepError, match="cannot deserialize"):
        TensorRTBackend(path, ModelMeta.load(sidecar_path(path)), trt=trt, cudart=cudart)
    meta = ModelMeta.load(sidecar_path(path))
    meta.extra["tensorrt"]["sha256"] = "0" * 64
    meta.save(sidecar_path(path))
    with pytest.raises(EdgeRepError, match="does not match the engine hash"):
        TensorRTBackend(path, meta, trt=trt, cudart=cudart)
    meta.extra["tensorrt"].pop("sha256")
    meta.extra["tensorrt"]["onnx_sha256"] = "1" * 64
    meta.extra["onnx"] = {"sha256": "2" * 64}
    with pytest.raises(EdgeRepError, match="built from another ONNX export"):
        TensorRTBackend(path, meta, trt=trt, cudart=cudart)
    tiny_meta().save(sidecar_path(path))   # an ONNX-only sidecar: no build record
    with pytest.raises(EdgeRepError, match="no TensorRT build record"):
        TensorRTBackend(path, ModelMeta.load(sidecar_path(path)), trt=trt, cudart=cudart)


def test_tensorrt_missing_says_how_to_get_it(tmp_path):
    if backends.available("tensorrt"):
        pytest.skip("tensorrt is installed here; this checks the message shown where it is absent")
    from edge_rep.backends.tensorrt import import_tensorrt
    with pytest.raises(EdgeRepError, match="python3-libnvinfer.*system-site-packages"):
        import_tensorrt()


@pytest.mark.skipif(not backends.available("tensorrt"), reason="needs TensorRT (a Jetson or a CUDA GPU host)")
def test_real_tensorrt_engine_matches_onnxruntime(tmp_path):
    from edge_rep.trt_build import build_engine, compare_engine
    path = write_graph(tmp_path / "m.onnx", tiny_meta())
    build_engine(path, path.with_suffix(".engine"), tiny_meta(), max_batch=4, timing_cache=tmp_path / "t.cache")
    rows = compare_engine(path.with_suffix(".engine"), path)
    assert max(r["probs_max_abs"] for r in rows) <= 1e-3
    assert load_backend(path).name == "tensorrt"


# ---- PyTorch ------------------------------------------------------------------------------------------

def test_torch_backend_loads_a_checkpoint(tmp_path):
    torch = pytest.importorskip("torch")
    from edge_rep.checkpoint import save_model
    from edge_rep.model import EdgeREP, ModelConfig
    torch.manual_seed(0)
    model = EdgeREP(ModelConfig(width=8, n_layer=2, n_head=2, buffer_tokens=2, rep_layer=1, bypass_hidden=4,
                                dropout=0.0), TINY)
    meta = save_model(model, tmp_path / "m.safetensors")
    b = load_backend(tmp_path / "m.safetensors")          # only a checkpoint there: auto -> torch
    assert (b.name, b.precision, b.meta.model_id) == ("torch", "fp32", meta.model_id)
    x = random_inputs(b.meta, 3)
    out = b.run(x)
    assert out["probs"].shape == (3, K) and out["buffers_out"].shape == (3, 2, 2, 8)
    np.testing.assert_allclose(out["probs"].sum(axis=1), 1.0, atol=1e-5)
    sidecar = json.loads(sidecar_path(tmp_path / "m.safetensors").read_text())
    assert sidecar["model_id"] == meta.model_id


# ---- parity checks ------------------------------------------------------------------------------------

def test_parity_covers_every_scenario_and_fails_above_tolerance(onnx_model):
    from edge_rep.backends.parity import compare, format_rows
    b = load_backend(onnx_model)
    rows = compare(b.meta, reference, b.run)
    assert [r["scenario"] for r in rows] == ["complete", "acoustic_missing", "acoustic_missing+replay",
                                            "seismic_missing", "seismic_missing+replay", "random"]
    assert max(r["probs_max_abs"] for r in rows) < 1e-6 and "seismic_missing+replay" in format_rows(rows)

    def nudged(what: str, by: float):
        def run(x):
            out = dict(b.run(x))
            out[what] = out[what] + by
            return out
        return run

    compare(b.meta, reference, nudged("probs", 5e-5))                  # within 1e-4
    with pytest.raises(EdgeRepError, match="probabilities differ .* > tolerance 0.0001"):
        compare(b.meta, reference, nudged("probs", 3e-4))
    with pytest.raises(EdgeRepError, match="cached buffers differ"):
        compare(b.meta, reference, nudged("buffers_out", 0.01))
