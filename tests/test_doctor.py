"""``edge-rep doctor``: each check on a healthy and a broken case made in tmp_path, the exit code and the
output format. Nothing here reads the real serial devices, udev link, service or journal: the port is a
pty or a file in tmp_path, systemctl/journalctl are stand-in scripts on PATH."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from edge_rep import doctor
from edge_rep.backends import DEFAULT_MODEL, available
from edge_rep.cli import main
from edge_rep.config import load_config
from edge_rep.doctor import Context
from edge_rep.modelspec import OUTPUT_PROBS, ModelMeta


@pytest.fixture(autouse=True)
def no_system_paths(tmp_path, monkeypatch):
    """Keep every test off /etc/edge-rep, /dev/edge-rep and the host's systemctl/journalctl."""
    monkeypatch.setattr(doctor, "SERVICE_CONFIG", tmp_path / "no-such.toml")
    monkeypatch.setattr(doctor, "UDEV_LINK", tmp_path / "dev-edge-rep")
    monkeypatch.setattr(doctor, "SERVICE_USER", "no-such-user-edge-rep-test")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def model_copy(tmp_path, name="m", sidecar: dict | None = None):
    """The bundled model's .onnx and .json as tmp_path/name.*; returns the stem."""
    shutil.copyfile(DEFAULT_MODEL.with_suffix(".onnx"), tmp_path / f"{name}.onnx")
    meta = sidecar or json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    (tmp_path / f"{name}.json").write_text(json.dumps(meta))
    return tmp_path / name


def write_config(tmp_path, text: str = "", port: str | None = None):
    port = port or str(tmp_path / "no-port")
    cfg = tmp_path / "edge-rep.toml"
    cfg.write_text(f'[serial]\nport = "{port}"\n{text}')
    return cfg


def ctx_for(tmp_path, model=None, config_text="", port=None) -> Context:
    return Context.from_options(write_config(tmp_path, config_text, port), model)


# --- model, engine, parity, latency ---------------------------------------------------------------

def test_model_ok_loads_onnxruntime(tmp_path):
    ctx = ctx_for(tmp_path, model_copy(tmp_path).with_suffix(".onnx"))
    status, text, fix = doctor.check_model(ctx)
    assert status == "ok" and "runs on onnxruntime" in text and fix == ""
    assert "onnxruntime" in ctx.backends and ctx.meta.classes


def test_missing_model_fails(tmp_path):
    ctx = ctx_for(tmp_path, tmp_path / "nothing.onnx")
    status, text, fix = doctor.check_model(ctx)
    assert status == "fail" and "no model sidecar" in text and "--model" in fix
    assert doctor.check_engine(ctx)[0] == "skip" and doctor.check_latency(ctx)[0] == "skip"


def test_corrupt_sidecar_fails(tmp_path):
    stem = model_copy(tmp_path)
    (tmp_path / "m.json").write_text('{"profile": ')
    status, text, _ = doctor.check_model(ctx_for(tmp_path, stem))
    assert status == "fail" and "unreadable model sidecar" in text


def test_replaced_onnx_fails_its_hash(tmp_path):
    stem = model_copy(tmp_path)
    data = bytearray((tmp_path / "m.onnx").read_bytes())
    data[-10] ^= 0xFF
    (tmp_path / "m.onnx").write_bytes(bytes(data))
    status, text, fix = doctor.check_model(ctx_for(tmp_path, stem))
    assert status == "fail" and "does not match the ONNX hash" in text and "re-export" in fix


def test_runtime_without_tensorrt_is_a_warning(tmp_path):
    if available("tensorrt"):
        pytest.skip("TensorRT is installed here: the check reports versions instead")
    status, text, fix = doctor.check_runtime(ctx_for(tmp_path))
    assert status == "warn" and "TensorRT not installed" in text and "python3-libnvinfer" in fix


def _with_engine(tmp_path, blob: bytes, record_blob: bytes | None = None) -> Context:
    """A model whose sidecar records a TensorRT build of ``record_blob`` (default ``blob``) beside it."""
    meta = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    mm = ModelMeta.from_dict(meta)
    meta["extra"]["tensorrt"] = {"version": "10.3.0", "gpu": "Orin", "precision": "fp16",
                                 "sha256": mm.bound_hash(record_blob if record_blob is not None else blob),
                                 "onnx_sha256": meta["extra"]["onnx"]["sha256"]}
    stem = model_copy(tmp_path, sidecar=meta)
    (tmp_path / "m.engine").write_bytes(blob)
    ctx = ctx_for(tmp_path, stem)
    doctor.check_model(ctx)
    return ctx


def test_engine_missing_is_a_warning_with_the_build_command(tmp_path):
    ctx = ctx_for(tmp_path, model_copy(tmp_path))
    doctor.check_model(ctx)
    status, text, fix = doctor.check_engine(ctx)
    assert status == "warn" and "no TensorRT engine" in text and "edge-rep export" in fix


@pytest.mark.skipif(available("tensorrt"), reason="with TensorRT installed the engine would be loaded for real")
def test_engine_record_checked_without_tensorrt(tmp_path):
    status, text, _ = doctor.check_engine(_with_engine(tmp_path, b"engine bytes"))
    assert status == "warn" and "TensorRT 10.3.0, fp16, GPU Orin; hash ok" in text


def test_engine_hash_mismatch_fails(tmp_path):
    status, text, fix = doctor.check_engine(_with_engine(tmp_path, b"engine bytes", record_blob=b"other"))
    assert status == "fail" and "does not match the hash" in text and "edge-rep export" in fix


def test_engine_without_build_record_fails(tmp_path):
    stem = model_copy(tmp_path)
    (tmp_path / "m.engine").write_bytes(b"x")
    ctx = ctx_for(tmp_path, stem)
    doctor.check_model(ctx)
    assert doctor.check_engine(ctx)[0] == "fail"


class Perturbed:
    """Stands in for a TensorRT engine: ONNX Runtime's outputs, with probabilities moved by ``delta``."""

    name, precision = "tensorrt", "fp32"

    def __init__(self, inner, delta: float):
        self.inner, self.delta = inner, delta

    def run(self, x):
        out = dict(self.inner.run(x))
        out[OUTPUT_PROBS] = out[OUTPUT_PROBS] + np.float32(self.delta)
        return out


def test_parity_skipped_without_an_engine(tmp_path):
    ctx = ctx_for(tmp_path, model_copy(tmp_path))
    doctor.check_model(ctx)
    status, text, _ = doctor.check_parity(ctx)
    assert status == "skip" and "no TensorRT engine" in text


def test_parity_against_the_engine_passes_and_fails(tmp_path):
    ctx = ctx_for(tmp_path, model_copy(tmp_path))
    doctor.check_model(ctx)
    ort = ctx.backends["onnxruntime"]
    ctx.backends["tensorrt"] = Perturbed(ort, 1e-5)
    status, text, _ = doctor.check_parity(ctx)
    assert status == "ok" and re.search(r"over \d+ scenarios: max \|dprobs\| 1e-05", text)
    ctx.backends["tensorrt"] = Perturbed(ort, 0.05)
    status, text, fix = doctor.check_parity(ctx)
    assert status == "fail" and "differ from the reference" in text and "rebuild the engine" in fix


def test_latency_per_backend_and_a_slow_one(tmp_path, monkeypatch):
    ctx = ctx_for(tmp_path, model_copy(tmp_path))
    doctor.check_model(ctx)
    status, text, _ = doctor.check_latency(ctx)
    assert status == "ok" and re.match(r"onnxruntime \d+\.\d\d ms per window \(median of 7, batch 1\)$", text)
    monkeypatch.setattr(doctor, "median_ms", lambda run, x: 900.0)    # slower than half the 1 s hop
    status, text, fix = doctor.check_latency(ctx)
    assert status == "warn" and "above half the 1 s hop" in text and "power mode" in fix


def test_median_ms_times_the_calls():
    calls = []
    assert doctor.median_ms(calls.append, {}, runs=5) >= 0 and len(calls) == 6    # one warm-up


# --- serial port and udev link --------------------------------------------------------------------

@pytest.fixture
def pty_port():
    master, slave = os.openpty()
    yield os.ttyname(slave), slave
    os.close(master)
    os.close(slave)


def test_port_a_pty_is_ok(tmp_path, pty_port):
    status, text, fix = doctor.check_port(ctx_for(tmp_path, port=pty_port[0]))
    assert status == "ok" and "character device" in text and "not held by another process" in text


def test_port_group_of_the_service_user(tmp_path, pty_port, monkeypatch):
    import pwd
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' here to stand in for the service's user")
    monkeypatch.setattr(doctor, "SERVICE_USER", "nobody")           # not in group tty, which owns a pty
    status, text, fix = doctor.check_port(ctx_for(tmp_path, port=pty_port[0]))
    assert status == "fail" and "the service's user nobody is not in group" in text
    assert fix.startswith("sudo usermod -aG ") and "nobody" in fix


def test_port_held_by_another_process_warns(tmp_path, pty_port):
    holder = subprocess.Popen(["/bin/sleep", "30"], stdin=pty_port[1])
    try:
        status, text, fix = doctor.check_port(ctx_for(tmp_path, port=pty_port[0]))
    finally:
        holder.kill()
        holder.wait()
    assert status == "warn" and f"held by process {holder.pid}" in text and "fuser -v" in fix


def test_port_regular_file_fails_and_missing_warns(tmp_path):
    f = tmp_path / "ttyFAKE"
    f.write_text("")
    status, text, fix = doctor.check_port(ctx_for(tmp_path, port=str(f)))
    assert status == "fail" and "not a character device (a file)" in text and "[serial] port" in fix
    status, text, _ = doctor.check_port(ctx_for(tmp_path, port=str(tmp_path / "gone")))
    assert status == "warn" and "does not exist" in text


def test_udev_link(tmp_path, pty_port):
    link = tmp_path / "dev-edge-rep"
    ctx = ctx_for(tmp_path, port=str(link))
    assert ctx.udev_link == link
    status, _, fix = doctor.check_udev_link(ctx)
    assert status == "warn" and "install.sh --serial" in fix
    link.symlink_to(pty_port[0])
    assert doctor.check_udev_link(ctx) == ("ok", f"{link} -> {pty_port[0]}", "")
    assert doctor.check_port(ctx)[0] == "ok"                    # the port check follows the link
    link.unlink()
    link.symlink_to(tmp_path / "ttyUSB9")
    assert doctor.check_udev_link(ctx)[0] == "fail"
    assert doctor.check_udev_link(ctx_for(tmp_path, port="/dev/ttyTHS1-not-checked"))[0] == "fail"  # link exists
    link.unlink()
    assert doctor.check_udev_link(ctx_for(tmp_path, port=pty_port[0]))[0] == "skip"


# --- service and disk -----------------------------------------------------------------------------

def fake_tool(tmp_path, name: str, output: str, rc: int = 0):
    bin_dir = tmp_path / "empty-bin"
    script = bin_dir / name
    script.write_text(f"#!/bin/sh\n/bin/cat <<'EOF'\n{output}\nEOF\nexit {rc}\n")
    script.chmod(0o755)


def test_service_skipped_without_systemctl(tmp_path):
    assert doctor.check_service(ctx_for(tmp_path)) == ("skip", "no systemctl on this host", "")


def test_service_active_failed_and_no_systemd(tmp_path):
    ctx = ctx_for(tmp_path)
    fake_tool(tmp_path, "systemctl", "active")
    assert doctor.check_service(ctx)[0] == "ok"
    fake_tool(tmp_path, "systemctl", "failed", rc=3)
    fake_tool(tmp_path, "journalctl", "-- Logs begin --\nNov 29 edge-rep[12]: edge-rep: error: model.path: x")
    status, text, fix = doctor.check_service(ctx)
    assert status == "fail" and "last log lines: Nov 29 edge-rep[12]: edge-rep: error: model.path: x" in text
    assert "Logs begin" not in text and "restart" in fix
    fake_tool(tmp_path, "systemctl", "Failed to connect to bus: Host is down", rc=1)
    assert doctor.check_service(ctx)[0] == "skip"


def test_disk_space_against_min_free(tmp_path):
    out = tmp_path / "logs" / "windows.jsonl"          # a folder the daemon creates later
    cfg = f'[output]\njsonl = "{out}"\n[record]\ndir = "{tmp_path / "rec"}"\nmin_free_mb = 1\n'
    status, text, _ = doctor.check_disk(ctx_for(tmp_path, config_text=cfg))
    assert status == "ok" and "output.jsonl" in text and "record.dir" in text
    status, text, fix = doctor.check_disk(ctx_for(tmp_path, config_text=cfg.replace("= 1\n", "= 100000000\n")))
    assert status == "warn" and "low for output.jsonl, record.dir" in text and "keep_mb" in fix
    assert doctor.check_disk(ctx_for(tmp_path))[0] == "skip"        # stdout, no sensor logs


# --- the command ----------------------------------------------------------------------------------

LINE = re.compile(r"^(ok|warn|fail|skip)\s+(\w+)\s+\S")


def test_command_output_and_exit_codes(tmp_path, capsys, pty_port):
    cfg = write_config(tmp_path, port=pty_port[0])
    assert main(["doctor", "--config", str(cfg), "--model", str(model_copy(tmp_path))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.match(r"edge-rep \d+\.\d+\.\d+, Python \d+\.\d+\.\d+, \S+; config .*edge-rep.toml; model ", lines[0])
    assert [LINE.match(ln).group(2) for ln in lines[1:-1]] == [name for name, _ in doctor.CHECKS]
    assert re.fullmatch(r"\d+ ok, \d+ warn, 0 fail, \d+ skip", lines[-1])
    assert main(["doctor", "--config", str(cfg), "--model", str(tmp_path / "nope.onnx")]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^fail  model +.*no model sidecar.*  -> give the model", out, re.M)


def test_command_json(tmp_path, capsys):
    assert main(["doctor", "--config", str(write_config(tmp_path)), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["header"]["edge_rep"] and report["model"] == str(DEFAULT_MODEL)
    assert {r["status"] for r in report["checks"]} <= set(doctor.STATUSES) and not report["failed"]


def test_config_model_path_is_used_and_bad_config_is_exit_2(tmp_path, capsys):
    stem = model_copy(tmp_path, "site")
    ctx = ctx_for(tmp_path, config_text=f'[model]\npath = "{stem}.onnx"\n')
    assert ctx.model == stem and load_config(None).model.path == ""
    bad = tmp_path / "bad.toml"
    bad.write_text("[serial]\nbaud = -1\n")
    assert main(["doctor", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("edge-rep: error: ") and len(err.strip().splitlines()) == 1


def test_a_crashing_check_is_a_fail_not_a_traceback(tmp_path, monkeypatch):
    def boom(ctx):
        raise RuntimeError("bad")
    monkeypatch.setattr(doctor, "CHECKS", [("boom", boom)])
    report = doctor.run_checks(ctx_for(tmp_path))
    assert report["failed"] and report["checks"][0]["text"] == "check crashed: RuntimeError: bad"


def test_l4t_release_in_the_header(tmp_path, monkeypatch):
    rel = tmp_path / "nv_tegra_release"
    rel.write_text("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64\n")
    monkeypatch.setattr(doctor, "L4T_RELEASE", rel)
    assert doctor.header()["l4t"] == "R36 (release), REVISION: 4.3"
    report = doctor.run_checks(ctx_for(tmp_path, tmp_path / "none"))
    assert ", L4T R36 (release), REVISION: 4.3; config " in doctor.format_report(report).splitlines()[0]
    monkeypatch.setattr(doctor, "L4T_RELEASE", tmp_path / "absent")
    assert doctor.header()["l4t"] == ""


def test_cuda_versions_from_cuda_python():
    class FakeCudart:
        class cudaError_t:
            cudaSuccess = 0

        def cudaRuntimeGetVersion(self):
            return 0, 12060

        def cudaDriverGetVersion(self):
            return 0, 12080

    assert doctor.cuda_versions(FakeCudart()) == ["CUDA runtime 12.6", "driver 12.8"]


def test_runs_without_torch(tmp_path):
    """The device's venv has no torch: doctor still runs the model on ONNX Runtime and says torch is absent."""
    code = ("import sys; sys.modules['torch'] = None; from edge_rep.cli import main; "
            f"sys.exit(main(['doctor', '--config', {str(write_config(tmp_path))!r}]))")
    env = {**os.environ, "PATH": str(tmp_path / "empty-bin")}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert re.search(r"^ok +model .*runs on onnxruntime; not: tensorrt \(no \.engine\), torch \(not installed\)",
                     p.stdout, re.M)
    assert "torch" not in re.search(r"^\w+ +latency (.*)$", p.stdout, re.M).group(1)


def fake_tensorrt(monkeypatch, version: str):
    """A stand-in ``tensorrt`` module (only its version): how the checks are driven past 'not installed'."""
    import importlib.machinery
    import types
    trt = types.ModuleType("tensorrt")
    trt.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None)
    trt.__version__ = version
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    assert available("tensorrt")


@pytest.mark.skipif(available("tensorrt"), reason="a real TensorRT is installed here")
def test_engine_matched_against_this_devices_tensorrt(tmp_path, monkeypatch):
    ctx = _with_engine(tmp_path, b"engine bytes")
    monkeypatch.setattr("edge_rep.backends.tensorrt.gpu_name", lambda cudart=None: "Orin")
    fake_tensorrt(monkeypatch, "10.3.0")
    status, text, _ = doctor.check_engine(ctx)
    assert status == "ok" and "hash, ONNX, TensorRT version and GPU match" in text
    monkeypatch.setattr("edge_rep.backends.tensorrt.gpu_name", lambda cudart=None: "NVIDIA Thor")
    status, text, _ = doctor.check_engine(ctx)
    assert status == "fail" and "this GPU is 'NVIDIA Thor'" in text
    fake_tensorrt(monkeypatch, "10.7.0")
    status, text, fix = doctor.check_engine(ctx)
    assert status == "fail" and "this device has TensorRT 10.7.0" in text and "edge-rep export" in fix


@pytest.mark.skipif(available("tensorrt"), reason="a real TensorRT is installed here")
def test_runtime_reports_the_tensorrt_version(tmp_path, monkeypatch):
    fake_tensorrt(monkeypatch, "10.3.0")
    status, text, fix = doctor.check_runtime(ctx_for(tmp_path))
    if importlib.util.find_spec("cuda") is None:
        assert status == "warn" and text.startswith("TensorRT 10.3.0; cuda-python not installed")
        assert "edge-rep[jetson]" in fix
    else:
        assert status == "ok" and text.startswith("TensorRT 10.3.0, cuda-python ")
