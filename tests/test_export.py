"""The exporter: a tiny checkpoint -> ONNX (checked against PyTorch for every scenario and for replay),
its command-line errors, and the TensorRT build logic against a recording stand-in for ``tensorrt``.

One export per module (the dynamo exporter takes ~15 s even for a tiny model); everything else reuses it.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import onnx
import pytest

from edge_rep.backends import load_backend
from edge_rep.backends import available
from edge_rep.cli import main
from edge_rep.errors import EdgeRepError
from edge_rep.modelspec import ModelMeta, sidecar_path
from edge_rep.profiles import ModalitySpec, Profile

torch = pytest.importorskip("torch")

from edge_rep.checkpoint import load_model, save_model  # noqa: E402
from edge_rep.model import EdgeREP, ModelConfig  # noqa: E402

TINY = Profile("tiny", (ModalitySpec("acoustic", 800.0, 1, "Pa"), ModalitySpec("seismic", 100.0, 1, "m/s")),
               window_s=1.0, hop_s=0.5, intervals=4)
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(checkpoint, out dir, console text) of ``edge-rep export --onnx-only`` on a tiny model."""
    d = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    model = EdgeREP(ModelConfig(width=16, n_layer=2, n_head=2, buffer_tokens=2, rep_layer=1, bypass_hidden=8,
                                dropout=0.0), TINY)
    with torch.no_grad():       # non-trivial buffers and front-end statistics, as after training
        model.private.normal_(0, 0.5)
        model.shared.normal_(0, 0.5)
        model.frontend.scale0.fill_(0.05)
        model.frontend.scale1.fill_(1e-5)
    ckpt = d / "tiny.safetensors"
    save_model(model, ckpt)
    out = d / "out"
    (out).mkdir()
    ModelMeta.load(sidecar_path(ckpt)).save(out / "tiny.json")            # an older export of tiny ...
    (out / "tiny.engine").write_bytes(b"stale engine of an older export")   # ... whose engine is now stale
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["export", "--checkpoint", str(ckpt), "--out", str(out), "--onnx-only", "--force"])
    assert rc == 0
    return ckpt, out, buf.getvalue()


def test_onnx_file_follows_the_io_contract(exported):
    ckpt, out, _ = exported
    path = out / "tiny.onnx"
    onnx.checker.check_model(str(path), full_check=True)
    m = onnx.load(str(path))
    assert max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) >= 17
    meta = ModelMeta.load(sidecar_path(path))
    want_in, want_out = meta.input_shapes(1), meta.output_shapes(1)
    assert [i.name for i in m.graph.input] == list(want_in)
    assert [o.name for o in m.graph.output] == list(want_out)
    for t in [*m.graph.input, *m.graph.output]:
        assert t.type.tensor_type.elem_type == onnx.TensorProto.FLOAT, t.name   # no bool inputs
        dims = t.type.tensor_type.shape.dim
        assert dims[0].dim_param, f"{t.name}: batch should be dynamic"
        assert [d.dim_value for d in dims[1:]] == list({**want_in, **want_out}[t.name][1:])
    ops = {n.op_type for n in m.graph.node}
    assert not ops & {"NonZero", "If", "Loop"}, ops          # no data-dependent branches
    assert meta.extra["onnx"]["batch"] == "dynamic" and meta.extra["onnx"]["opset"] >= 17
    assert meta.model_id == load_model(ckpt)[1].model_id
    assert meta.frontend["modalities"], "front-end parameters belong in the sidecar"


def test_parity_is_reported_for_every_scenario(exported):
    _, out, text = exported
    for scenario in ("complete", "acoustic_missing", "seismic_missing", "acoustic_missing+replay",
                     "seismic_missing+replay", "random"):
        assert scenario in text
    assert "largest probability difference" in text and ": ok" in text
    meta = ModelMeta.load(out / "tiny.json")
    assert meta.extra["onnx"]["parity_probs_max_abs"] <= 1e-4
    assert "removed" in text and not (out / "tiny.engine").exists()


def scenario_batch(meta: ModelMeta, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = {"acoustic": rng.normal(0, 0.05, (3, 1, 800)).astype(np.float32),
         "seismic": rng.normal(0, 1e-5, (3, 1, 100)).astype(np.float32)}
    x["present"] = np.ones((3, 2), np.float32)
    x["replay"] = np.zeros((3, 2), np.float32)
    x["buffers_in"] = np.zeros((3, 2, meta.buffer_tokens, meta.width), np.float32)
    assert meta.floor_referenced          # the default model: the level above the noise floor is an input
    x["above_floor_db"] = np.array([[0.0, 2.0], [25.0, 40.0], [-5.0, 10.0]], np.float32)
    return x


def test_onnxruntime_matches_pytorch_in_every_scenario_and_replay(exported):
    ckpt, out, _ = exported
    ort_b = load_backend(out / "tiny.onnx", kind="onnxruntime")
    pt_b = load_backend(ckpt, kind="torch")
    x = scenario_batch(ort_b.meta)
    cached = ort_b.run(x)["buffers_out"]
    np.testing.assert_allclose(cached, pt_b.run(x)["buffers_out"], atol=1e-4)
    results = {}
    for m, name in enumerate(("acoustic", "seismic")):
        for replay in (0.0, 1.0):
            y = {k: v.copy() for k, v in x.items()}
            y[name][:] = 0
            y["present"][:, m] = 0
            y["above_floor_db"][:, m] = 0
            y["replay"][:, m] = replay
            y["buffers_in"] = cached
            a, b = ort_b.run(y), pt_b.run(y)
            assert np.abs(a["probs"] - b["probs"]).max() <= 1e-4
            assert np.abs(a["buffers_out"] - b["buffers_out"]).max() <= 1e-4
            results[name, replay] = a
        # replaying the cached buffer is used: it is what comes out for the missing modality
        np.testing.assert_allclose(results[name, 1.0]["buffers_out"][:, m], cached[:, m], atol=1e-5)
        assert np.abs(results[name, 1.0]["probs"] - results[name, 0.0]["probs"]).max() > 1e-6
    # batches of other sizes than the export example run too
    one = {k: v[:1] for k, v in x.items()}
    np.testing.assert_allclose(ort_b.run(one)["probs"], pt_b.run(one)["probs"], atol=1e-4)


def test_exported_model_runs_without_torch(exported):
    _, out, _ = exported
    code = f"""
import sys
from edge_rep.backends import load_backend
from edge_rep.backends.base import blank_inputs
b = load_backend({str(out / 'tiny.onnx')!r})
assert b.run(blank_inputs(b.meta, 4))["probs"].shape == (4, 6)
print(b.name, "torch" in sys.modules)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["onnxruntime", "False"]


# ---- command-line errors ------------------------------------------------------------------------------

def run_cli(args: list[str], capsys) -> tuple[int, str]:
    rc = main(["export", *args])
    err = capsys.readouterr().err
    return rc, err


@pytest.mark.parametrize("extra, match", [
    (["--workspace", "-5"], "--workspace: -5 is out of range; use a whole number from 16 to 1048576"),
    (["--batch", "0"], "--batch: 0 is out of range; use a whole number from 1 to 4096"),
    (["--tolerance", "0"], "--tolerance: 0 is out of range"),
])
def test_bad_arguments(exported, tmp_path, capsys, extra, match):
    ckpt, _, _ = exported
    rc, err = run_cli(["--checkpoint", str(ckpt), "--out", str(tmp_path), *extra], capsys)
    assert rc == 2 and match in err and err.count("\n") == 1 and "Traceback" not in err


def test_out_is_a_file_and_missing_checkpoint(exported, tmp_path, capsys):
    ckpt, _, _ = exported
    f = tmp_path / "file"
    f.write_text("x")
    rc, err = run_cli(["--checkpoint", str(ckpt), "--out", str(f)], capsys)
    assert rc == 2 and "is a file" in err
    rc, err = run_cli(["--checkpoint", str(tmp_path / "none.safetensors"), "--out", str(tmp_path / "o")], capsys)
    assert rc == 2 and "not found" in err
    rc, err = run_cli(["--checkpoint", str(f), "--out", str(tmp_path / "o")], capsys)
    assert rc == 2 and "expected a .safetensors" in err


def test_corrupt_checkpoints(exported, tmp_path, capsys):
    ckpt, _, _ = exported
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(ckpt.read_bytes()[:300])                       # truncated weights
    sidecar_path(bad).write_text(sidecar_path(ckpt).read_text())
    rc, err = run_cli(["--checkpoint", str(bad), "--out", str(tmp_path / "o")], capsys)
    assert rc == 2 and "bad.safetensors" in err and err.count("\n") == 1
    sidecar_path(bad).write_text("{ not json")
    rc, err = run_cli(["--checkpoint", str(bad), "--out", str(tmp_path / "o")], capsys)
    assert rc == 2 and "sidecar" in err
    assert not (tmp_path / "o" / "bad.onnx").exists()
    onnx_bad = tmp_path / "bad.onnx"
    onnx_bad.write_bytes(b"\x08\x07garbage")
    ModelMeta.load(sidecar_path(ckpt)).save(sidecar_path(onnx_bad))
    rc, err = run_cli(["--checkpoint", str(onnx_bad), "--out", str(tmp_path / "o")], capsys)
    assert rc == 2 and "bad.onnx" in err


@pytest.mark.skipif(available("tensorrt"), reason="checks the message shown where TensorRT is absent")
def test_without_tensorrt_the_onnx_is_kept_and_the_way_to_tensorrt_is_shown(exported, tmp_path, capsys):
    _, out, _ = exported
    dest = tmp_path / "jetson"
    rc = main(["export", "--checkpoint", str(out / "tiny.onnx"), "--out", str(dest)])   # engine-only path
    cap = capsys.readouterr()
    assert rc == 0 and cap.err == ""
    hint = [line for line in cap.out.splitlines() if "TensorRT" in line]
    assert len(hint) == 1 and "no engine built here" in hint[0] and "built on the Jetson" in hint[0]
    assert "--out DIR" in hint[0]
    assert (dest / "tiny.onnx").is_file() and (dest / "tiny.json").is_file() and not (dest / "tiny.engine").exists()
    assert main(["export", "--checkpoint", str(out / "tiny.onnx"), "--out", str(dest), "--onnx-only"]) == 0
    # --require-engine makes it an error before anything is written
    rc = main(["export", "--checkpoint", str(out / "tiny.onnx"), "--out", str(tmp_path / "r"), "--require-engine"])
    err = capsys.readouterr().err
    assert rc == 2 and "python3-libnvinfer" in err and err.count("\n") == 1 and not (tmp_path / "r").exists()


def test_a_verified_onnx_of_the_same_model_is_reused_not_exported_again(exported, capsys, monkeypatch):
    ckpt, out, _ = exported
    before = (out / "tiny.onnx").stat()
    monkeypatch.setitem(sys.modules, "torch", None)        # reuse needs no torch
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(out), "--onnx-only"]) == 0   # no --force
    assert "reusing the verified ONNX of model" in capsys.readouterr().out
    after = (out / "tiny.onnx").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_an_unverified_or_other_onnx_is_not_reused(exported, tmp_path, capsys, monkeypatch):
    from edge_rep import export as E
    ckpt, out, _ = exported
    model_id = ModelMeta.load(sidecar_path(ckpt)).model_id
    assert E.verified_onnx(out / "tiny.onnx", model_id) is not None
    assert E.verified_onnx(out / "tiny.onnx", "0" * 12) is None                      # another model
    dest = tmp_path / "o"
    dest.mkdir()
    (dest / "tiny.onnx").write_bytes((out / "tiny.onnx").read_bytes()[:-1] + b"\1")  # a torn or edited file
    (dest / "tiny.json").write_text((out / "tiny.json").read_text())
    assert E.verified_onnx(dest / "tiny.onnx", model_id) is None
    meta = ModelMeta.load(out / "tiny.json")
    del meta.extra["onnx"]["parity_probs_max_abs"]                                   # no parity record
    meta.save(dest / "tiny.json")
    (dest / "tiny.onnx").write_bytes((out / "tiny.onnx").read_bytes())
    assert E.verified_onnx(dest / "tiny.onnx", model_id) is None
    # not reusable and already there: replacing it is a replacement, so it needs --force
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(dest), "--onnx-only"]) == 2
    assert "--force" in capsys.readouterr().err


def test_without_torch_it_points_at_the_checkouts_venv(exported, tmp_path, capsys, monkeypatch):
    from edge_rep import export as E
    ckpt, _, _ = exported
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setattr(E, "CHECKOUT", tmp_path / "checkout")
    monkeypatch.chdir(tmp_path)
    venv_python = tmp_path / "checkout" / ".venv" / "bin" / "python"
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "a"), "--onnx-only"]) == 2
    err = capsys.readouterr().err
    assert "needs torch" in err and "pip install 'edge-rep[export]'" in err and err.count("\n") == 1
    venv_python.parent.mkdir(parents=True)
    venv_python.touch()
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "a"), "--onnx-only"]) == 2
    err = capsys.readouterr().err
    assert f"run it with {venv_python}" in err and err.count("\n") == 1 and not (tmp_path / "a" / "tiny.onnx").exists()


def test_to_trt_script_is_the_same_command(tmp_path):
    r = subprocess.run([sys.executable, str(REPO / "export" / "to_trt.py"), "--checkpoint",
                        str(tmp_path / "missing.safetensors"), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "missing.safetensors: file not found" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, str(REPO / "export" / "to_trt.py"), "--help"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--workspace" in r.stdout and "--onnx-only" in r.stdout


def test_to_trt_without_arguments_exports_the_bundled_model_to_build_export(tmp_path):
    script = str(REPO / "export" / "to_trt.py")
    r = subprocess.run([sys.executable, script, "--onnx-only"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    onnx_file, sidecar = tmp_path / "build" / "export" / "default.onnx", tmp_path / "build" / "export" / "default.json"
    bundled = ModelMeta.load(REPO / "edge_rep" / "models" / "default.json")
    assert ModelMeta.load(sidecar).model_id == bundled.model_id
    load_backend(onnx_file, "onnxruntime")                         # a verified, loadable export
    first = onnx_file.stat().st_mtime_ns
    r = subprocess.run([sys.executable, script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "reusing" in r.stdout, r.stderr    # again: reused, no --force needed
    assert onnx_file.stat().st_mtime_ns == first
    if not available("tensorrt"):
        assert "no engine built" in r.stdout and "on the Jetson" in r.stdout and r.stderr == ""


def test_without_arguments_on_a_jetson_the_engine_is_built_from_the_reused_onnx(tmp_path, monkeypatch, capsys):
    """Where TensorRT is installed (here: said to be, the build steps recorded) the no-argument export goes on
    from the reused bundled ONNX to the engine, and --require-engine lets it."""
    import edge_rep.backends as B
    import edge_rep.trt_build as T
    calls = []
    monkeypatch.setattr(B, "available", lambda kind: True)
    monkeypatch.setattr(T, "build_engine", lambda onnx_path, engine_path, meta, **kw: (
        calls.append((Path(onnx_path), Path(engine_path), meta.model_id)), Path(engine_path).write_bytes(b"plan")))
    monkeypatch.setattr(T, "compare_engine", lambda engine_path, onnx_path, tol=None: [])
    monkeypatch.setattr("edge_rep.backends.parity.format_rows", lambda rows: "(rows)")
    monkeypatch.chdir(tmp_path)
    assert main(["export", "--require-engine"]) == 0
    out = capsys.readouterr().out
    model_id = ModelMeta.load(REPO / "edge_rep" / "models" / "default.json").model_id
    assert calls == [(Path("build/export/default.onnx"), Path("build/export/default.engine"), model_id)]
    assert "reusing" in out and "wrote build/export/default.engine" in out and "no engine built" not in out


def test_to_trt_with_a_python_without_its_modules_points_at_the_venv(tmp_path):
    venv_python = REPO / ".venv" / "bin" / "python"
    if not venv_python.is_file():
        pytest.skip("the checkout has no .venv (make test creates it)")
    # -S: no site-packages, so no numpy, pyserial or torch, like the system's python3
    r = subprocess.run([sys.executable, "-S", str(REPO / "export" / "to_trt.py")], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and str(venv_python) in r.stderr
    assert not (tmp_path / "build").exists()


# ---- TensorRT build logic, against a recording stand-in ----------------------------------------------

def fake_trt(version: str = "10.3.0", fast_fp16: bool = True, has_fp16_flag: bool = True,
             parse_ok: bool = True, build_ok: bool = True):
    """A ``tensorrt`` module that records the builder calls; its parser reads the real ONNX file."""
    trt = types.SimpleNamespace(__version__=version, calls=[])
    rec = trt.calls.append
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level: None})
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="workspace")
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(EXPLICIT_BATCH=0)
    trt.BuilderFlag = types.SimpleNamespace(PREFER_PRECISION_CONSTRAINTS="prefer",
                                            **({"FP16": "fp16"} if has_fp16_flag else {}))
    trt.float32, trt.int64 = "float32", "int64"

    class Tensor:
        def __init__(self, name, shape, dtype="float32"):
            self.name, self.shape, self.dtype = name, shape, dtype

    class Layer:
        def __init__(self, node):
            self.name, self.precision, self.output_types = node.name, None, {}
            # like TensorRT before the build: shape/bool/index producers are not float
            fl = node.op_type not in ("Shape", "IsInf", "IsNaN", "Not", "And", "Equal", "Less", "Greater")
            self.outputs = [Tensor(o, [], "float32" if fl else "int64") for o in node.output]
            self.num_outputs = len(self.outputs)

        def get_output(self, j):
            return self.outputs[j]

        def set_output_type(self, j, dtype):
            self.output_types[j] = dtype

    class Network:
        def __init__(self):
            self.inputs, self.outputs, self.layers = [], [], []
            trt.network = self
        num_inputs = property(lambda self: len(self.inputs))
        num_outputs = property(lambda self: len(self.outputs))
        num_layers = property(lambda self: len(self.layers))

        def get_layer(self, i):
            return self.layers[i]

        def get_input(self, i):
            return self.inputs[i]

        def get_output(self, i):
            return self.outputs[i]

    def dims(vi):
        return [d.dim_value if d.HasField("dim_value") else -1 for d in vi.type.tensor_type.shape.dim]

    class OnnxParser:
        num_errors = 0 if parse_ok else 1

        def __init__(self, network, logger):
            self.network = network

        def parse_from_file(self, path):
            rec(("parse_from_file", path))
            g = onnx.load(path, load_external_data=False).graph
            self.network.inputs = [Tensor(v.name, dims(v)) for v in g.input]
            self.network.outputs = [Tensor(v.name, dims(v)) for v in g.output]
            self.network.layers = [Layer(n) for n in g.node]
            return parse_ok

        def get_error(self, i):
            return "Unsupported operator Foo"

    class Profile:
        def set_shape(self, name, lo, opt, hi):
            rec(("set_shape", name, list(lo), list(opt), list(hi)))

    class Cache:
        def __init__(self, blob):
            self.blob = blob

        def serialize(self):
            return b"CACHE:" + self.blob

    class Config:
        def set_memory_pool_limit(self, pool, size):
            rec(("set_memory_pool_limit", pool, size))

        def set_flag(self, flag):
            rec(("set_flag", flag))

        def create_timing_cache(self, blob):
            rec(("create_timing_cache", bytes(blob)))
            if blob.startswith(b"BAD"):
                raise RuntimeError("corrupt cache")
            self.cache = Cache(bytes(blob))
            return self.cache

        def set_timing_cache(self, cache, ignore_mismatch):
            rec(("set_timing_cache", cache.blob, ignore_mismatch))
            return True

        def get_timing_cache(self):
            return self.cache

        def add_optimization_profile(self, profile):
            rec(("add_optimization_profile",))

    class Builder:
        platform_has_fast_fp16 = fast_fp16

        def __init__(self, logger):
            pass

        def create_network(self, flags):
            rec(("create_network", flags))
            return Network()

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            rec(("build_serialized_network",))
            return b"SERIALIZED" if build_ok else None

    trt.Builder, trt.OnnxParser = Builder, OnnxParser
    return trt


def calls(trt, name):
    return [c for c in trt.calls if c[0] == name]


def test_engine_build_uses_explicit_batch_profile_workspace_and_cache(exported, tmp_path):
    from edge_rep.trt_build import build_engine
    _, out, _ = exported
    meta = ModelMeta.load(out / "tiny.json")
    trt, cache = fake_trt(), tmp_path / "timing.cache"
    engine = tmp_path / "tiny.engine"
    written = build_engine(out / "tiny.onnx", engine, meta, workspace_mb=256, max_batch=6, timing_cache=cache,
                           trt=trt, log=lambda s: None)
    assert calls(trt, "create_network") == [("create_network", 0)]           # TensorRT 10: explicit batch
    assert calls(trt, "set_memory_pool_limit") == [("set_memory_pool_limit", "workspace", 256 << 20)]
    assert calls(trt, "set_flag") == []                                       # FP32 unless asked
    shapes = {c[1]: c[2:] for c in calls(trt, "set_shape")}
    assert set(shapes) == set(meta.input_shapes())
    assert shapes["acoustic"] == ([1, 1, 800], [6, 1, 800], [6, 1, 800])
    assert shapes["buffers_in"] == ([1, 2, 2, 16], [6, 2, 2, 16], [6, 2, 2, 16])
    assert len(calls(trt, "add_optimization_profile")) == 1
    assert engine.read_bytes() == b"SERIALIZED" and cache.read_bytes() == b"CACHE:"
    rec = ModelMeta.load(sidecar_path(engine)).extra["tensorrt"]
    assert rec == written.extra["tensorrt"]
    assert rec["version"] == "10.3.0" and rec["precision"] == "fp32" and rec["inputs"]["present"]["max"] == [6, 2]
    assert rec["outputs"]["probs"][1:] == [6] and len(rec["onnx_sha256"]) == 64 and "gpu" in rec
    assert rec["sha256"] == written.bound_hash(b"SERIALIZED") != hashlib.sha256(b"SERIALIZED").hexdigest()
    # second build reuses the cache file's content
    trt2 = fake_trt()
    build_engine(out / "tiny.onnx", engine, meta, timing_cache=cache, trt=trt2, log=lambda s: None)
    assert calls(trt2, "create_timing_cache")[0] == ("create_timing_cache", b"CACHE:")
    assert calls(trt2, "set_timing_cache")[0][2] is False


def test_engine_build_fp16_logic_and_old_and_new_tensorrt(exported, tmp_path):
    from edge_rep.trt_build import build_engine
    _, out, _ = exported
    meta = ModelMeta.load(out / "tiny.json")
    notes = []
    trt = fake_trt()
    m = build_engine(out / "tiny.onnx", tmp_path / "a.engine", meta, fp16=True, trt=trt, log=notes.append)
    assert calls(trt, "set_flag") == [("set_flag", "fp16"), ("set_flag", "prefer")]
    assert m.extra["tensorrt"]["precision"] == "fp16"
    # the front-end's float layers are pinned to FP32 (its power spectrum overflows FP16), the rest is free
    pinned = {layer.name for layer in trt.network.layers if layer.precision == "float32"}
    frontend = {n.name for n in onnx.load(str(out / "tiny.onnx")).graph.node
                if any(p.key == "namespace" and "/frontend" in p.value for p in n.metadata_props)}
    assert pinned and pinned < frontend and "node_log" in pinned and "node_matmul" in pinned
    assert all(layer.output_types == {0: "float32"} for layer in trt.network.layers if layer.name in pinned)
    assert len(pinned) < len(trt.network.layers) / 2
    assert any("front-end layers kept in FP32" in n for n in notes)
    trt = fake_trt(fast_fp16=False)
    m = build_engine(out / "tiny.onnx", tmp_path / "b.engine", meta, fp16=True, trt=trt, log=notes.append)
    assert calls(trt, "set_flag") == [] and m.extra["tensorrt"]["precision"] == "fp32"
    assert any("no fast FP16" in n for n in notes)
    trt = fake_trt(version="11.0.0", has_fp16_flag=False)                  # FP16 flag removed in TensorRT 11
    m = build_engine(out / "tiny.onnx", tmp_path / "c.engine", meta, fp16=True, trt=trt, log=notes.append)
    assert calls(trt, "set_flag") == [] and m.extra["tensorrt"]["precision"] == "fp32"
    assert any("strongly typed" in n for n in notes)
    assert calls(trt, "create_network") == [("create_network", 0)]
    trt = fake_trt(version="8.6.1")                                         # TensorRT 8 needs the flag
    build_engine(out / "tiny.onnx", tmp_path / "d.engine", meta, trt=trt, log=notes.append)
    assert calls(trt, "create_network") == [("create_network", 1)]


def test_engine_build_failures_are_one_line_errors(exported, tmp_path):
    from edge_rep.trt_build import build_engine
    _, out, _ = exported
    meta = ModelMeta.load(out / "tiny.json")
    with pytest.raises(EdgeRepError, match="parser rejected it.*Unsupported operator Foo"):
        build_engine(out / "tiny.onnx", tmp_path / "e.engine", meta, trt=fake_trt(parse_ok=False), log=print)
    with pytest.raises(EdgeRepError, match="could not build an engine"):
        build_engine(out / "tiny.onnx", tmp_path / "e.engine", meta, trt=fake_trt(build_ok=False), log=print)
    assert not (tmp_path / "e.engine").exists()
    with pytest.raises(EdgeRepError, match="must be positive"):
        build_engine(out / "tiny.onnx", tmp_path / "e.engine", meta, workspace_mb=0, trt=fake_trt())
    cache = tmp_path / "bad.cache"
    cache.write_bytes(b"BAD")
    notes: list[str] = []
    trt = fake_trt()
    build_engine(out / "tiny.onnx", tmp_path / "e.engine", meta, timing_cache=cache, trt=trt, log=notes.append)
    assert any("starting a new one" in n for n in notes) and cache.read_bytes() == b"CACHE:"
