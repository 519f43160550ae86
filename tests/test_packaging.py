"""Packaging matches the imports: ``pip install edge-rep`` (no extras) runs the device's commands with
the bundled ONNX model and no torch, and a command that needs an extra names it.

The clean-venv tests install the project from a copy of its source into a new venv under tmp_path
(no system site packages; dependencies from the package index, as a user's ``pip install`` gets them),
once per run of this module.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge_rep.backends import DEFAULT_MODEL
from edge_rep.cli import EXTRA_MODULES, main, missing_extra
from edge_rep.config import tomllib

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
LOG = REPO / "tests" / "data" / "logs" / "acoustic_drop.edgelog"


def dist_name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()


# --- the extras table ---------------------------------------------------------------------------------

def test_extra_modules_match_pyproject():
    extras = {name: {dist_name(r) for r in reqs} for name, reqs in PYPROJECT["optional-dependencies"].items()}
    base = {dist_name(r) for r in PYPROJECT["dependencies"]}
    assert set(extras) == {"train", "export", "seismic", "matlab", "mqtt", "jetson", "dev"}
    assert {"torch", "onnx", "safetensors", "tqdm", "matplotlib"}.isdisjoint(base)
    listed = {dist for dist, _ in EXTRA_MODULES.values()}
    for extra, dists in extras.items():
        if extra != "dev":
            assert dists <= listed, f"extra '{extra}': {dists - listed} missing from cli.EXTRA_MODULES"
    for module, (dist, in_extras) in EXTRA_MODULES.items():
        assert dist not in base, module
        assert set(in_extras) == {e for e, dists in extras.items() if dist in dists and e != "dev"}, module
    # dev: the test tools and every extra the suite exercises
    assert re.fullmatch(r"edge-rep\[train,export,seismic,matlab,mqtt\]", PYPROJECT["optional-dependencies"]["dev"][0])


def test_missing_extra_names_the_extra_of_the_command():
    def err(command, module):
        e = ModuleNotFoundError(f"No module named '{module}'", name=module)
        return missing_extra(command, e)

    assert str(err("train", "torch")) == ("edge-rep train needs torch, from the 'train' extra, which is not "
                                          "installed; pip install 'edge-rep[train]'")
    assert "'export' extra" in str(err("export", "torch"))          # the command's own extra when it has one
    assert "'train' extra" in str(err("evaluate", "torch.nn"))      # else the first that installs it
    assert "pip install 'edge-rep[mqtt]'" in str(err("stream", "paho.mqtt.client"))
    assert "'seismic' extra" in str(err("convert", "obspy"))
    assert err("train", "yaml") is None                             # not an extra's module: a bug


def test_cli_reports_a_missing_extra_in_one_line(monkeypatch, capsys):
    import edge_rep.commands.train as train_cmd

    def run(args):
        import edge_rep_no_such_module  # noqa: F401 - stands in for a module that is not installed
        raise AssertionError("unreachable")

    def run_torch(args):
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    argv = ["train", "--data", "d", "--out", "o"]
    monkeypatch.setattr(train_cmd, "run", run_torch)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == ("edge-rep: error: edge-rep train needs torch, from the 'train' extra, which is not installed; "
                   "pip install 'edge-rep[train]'\n")
    monkeypatch.setattr(train_cmd, "run", run)
    assert main(argv) == 1                                          # any other missing module: an internal error
    assert "internal error: ModuleNotFoundError" in capsys.readouterr().err


# --- a clean venv with the base install ---------------------------------------------------------------

def _clean_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PYTHONNOUSERSITE="1", PIP_CACHE_DIR=str(tmp / "pip-cache"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """(bin folder, environment) of a new venv holding ``pip install <copy of this repo>``, no extras."""
    tmp = tmp_path_factory.mktemp("base-install")
    src = tmp / "src"
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info")
    for name in ("edge_rep", "firmware_bridge"):
        shutil.copytree(REPO / name, src / name, ignore=junk)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    env = _clean_env(tmp)
    subprocess.run([sys.executable, "-m", "venv", str(tmp / "venv")], check=True, env=env, timeout=120)
    bin_ = tmp / "venv" / "bin"
    r = subprocess.run([str(bin_ / "python"), "-m", "pip", "install", "-q", str(src)],
                       capture_output=True, text=True, env=env, cwd=tmp, timeout=600)
    assert r.returncode == 0, f"pip install of the base package failed:\n{r.stderr[-3000:]}"
    return bin_, env


def _run(bin_: Path, env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(bin_ / "edge-rep"), *args], capture_output=True, text=True, env=env,
                          cwd=bin_.parent.parent, timeout=timeout)


def test_base_install_has_no_extra(base_venv):
    bin_, env = base_venv
    code = ("import importlib.util, edge_rep; "
            f"print(edge_rep.__file__); print(sorted(m for m in {sorted(EXTRA_MODULES)!r} "
            "if importlib.util.find_spec(m)))")
    r = subprocess.run([str(bin_ / "python"), "-c", code], capture_output=True, text=True, env=env,
                       cwd=bin_.parent.parent, timeout=60)
    assert r.returncode == 0, r.stderr
    where, extras = r.stdout.splitlines()
    assert Path(where).is_relative_to(bin_.parent)                  # the installed copy, not this checkout
    assert extras == "[]"                                           # no torch, onnx, safetensors, tqdm, ...


def test_base_install_holds_the_web_page(base_venv):
    """The live web view's page is package data: in the installed copy (a wheel, not this checkout)."""
    bin_, env = base_venv
    code = ("from importlib import resources; from edge_rep.stream.webview import PAGE_FILES, page_file; "
            "print(resources.files('edge_rep.stream')); "
            "print(sorted(n for n in PAGE_FILES if len(page_file(n)) > 100))")
    r = subprocess.run([str(bin_ / "python"), "-c", code], capture_output=True, text=True, env=env,
                       cwd=bin_.parent.parent, timeout=60)
    assert r.returncode == 0, r.stderr
    where, files = r.stdout.splitlines()
    assert Path(where).is_relative_to(bin_.parent) and files == "['app.js', 'index.html', 'style.css']"


def test_base_install_replays_a_log_with_the_bundled_model(base_venv):
    bin_, env = base_venv
    r = _run(bin_, env, "replay", str(LOG), "--speed", "max")
    assert r.returncode == 0, r.stderr
    got = [json.loads(line) for line in r.stdout.splitlines()]
    assert "onnxruntime" in r.stderr and "Traceback" not in r.stderr
    # the same windows as this checkout's full install gives
    ref = subprocess.run([sys.executable, "-m", "edge_rep.cli", "replay", str(LOG), "--speed", "max"],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert ref.returncode == 0, ref.stderr
    want = [json.loads(line) for line in ref.stdout.splitlines()]

    def windows(recs):
        return [(w["window"], w["label"], w["scenario"], w["replay"]) for w in recs if w["type"] == "window"]

    assert len(windows(got)) == 19 and windows(got) == windows(want)
    assert any(w[3] == ["acoustic"] for w in windows(got))         # REP buffer replay through the drop


def test_base_install_streams_from_the_simulator(base_venv, tmp_path):
    bin_, env = base_venv
    link, out = tmp_path / "board", tmp_path / "windows.jsonl"
    sim_err, stream_err = tmp_path / "simulate.err", tmp_path / "stream.err"
    with open(sim_err, "w") as f:
        sim = subprocess.Popen([str(bin_ / "edge-rep"), "simulate", "--link", str(link), "--duration", "20",
                                "--speed", "2", "--fault", "drop:acoustic@3-6"],
                               stdout=subprocess.DEVNULL, stderr=f, env=env)
    stream = None
    try:
        deadline = time.time() + 30
        while not link.exists() and sim.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert link.exists(), f"the simulator made no pty link: {sim_err.read_text()}"
        with open(stream_err, "w") as f:
            stream = subprocess.Popen([str(bin_ / "edge-rep"), "stream", "--port", str(link), "--out", str(out),
                                       "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=f, env=env)
        deadline = time.time() + 60
        while time.time() < deadline and stream.poll() is None and (
                not out.exists() or out.read_text().count('"type":"window"') < 4):
            time.sleep(0.1)
        stream.send_signal(signal.SIGTERM)
        stream.wait(timeout=20)
    finally:
        for proc in (stream, sim):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    err = stream_err.read_text()
    assert stream.returncode == 0, err
    assert "Traceback" not in err + sim_err.read_text()
    windows = [r for r in map(json.loads, out.read_text().splitlines()) if r["type"] == "window"]
    assert len(windows) >= 4
    model_id = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())["model_id"]
    assert all(w["model"] == model_id and w["label"] for w in windows)


def test_base_install_train_names_the_train_extra(base_venv, tmp_path):
    bin_, env = base_venv
    r = _run(bin_, env, "train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "pip install 'edge-rep[train]'" in r.stderr
    assert r.stderr.startswith("edge-rep: error: edge-rep train needs torch")
