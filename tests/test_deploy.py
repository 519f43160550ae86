"""The Jetson deployment kit: install.sh (dry-run into a temporary root), the systemd unit, the udev
rule, the container recipe. Needs shellcheck and systemd-analyze (tests/system_deps.sh installs them)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from edge_rep.config import load_config

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
INSTALL = DEPLOY / "jetson" / "install.sh"
UNIT = DEPLOY / "systemd" / "edge-rep.service"
RULE = DEPLOY / "udev" / "99-edge-rep.rules"
CONFIG = DEPLOY / "config" / "edge-rep.toml"
L4T_R36 = "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 2025\n"

EXPECTED_FILES = {
    "etc/nv_tegra_release",                      # put there by the test
    "etc/edge-rep/edge-rep.toml",
    "etc/systemd/system/edge-rep.service",
    "etc/udev/rules.d/99-edge-rep.rules",
    "var/lib/edge-rep/model/model.onnx",
    "var/lib/edge-rep/model/model.json",
}


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed; run 'bash tests/system_deps.sh' (or 'make system-deps')")
    return path


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def model(tmp_path) -> Path:
    d = tmp_path / "model"
    d.mkdir()
    (d / "tiny.onnx").write_bytes(b"onnx bytes v1")
    (d / "tiny.json").write_text('{"format": 1}\n')
    return d / "tiny.onnx"


@pytest.fixture
def root(tmp_path) -> Path:
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "etc" / "nv_tegra_release").write_text(L4T_R36)
    return r


def install(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True, timeout=60)


def dry(root: Path, *args: str) -> subprocess.CompletedProcess:
    r = install("--dry-run", "--root", str(root), *args)
    assert r.returncode == 0, r.stderr
    return r


# --- scripts --------------------------------------------------------------------------------------

def test_every_deploy_script_passes_shellcheck():
    sc = need("shellcheck")
    scripts = sorted(DEPLOY.rglob("*.sh"))
    assert {p.name for p in scripts} >= {"install.sh", "entrypoint.sh"}
    r = subprocess.run([sc, "--severity=style", *map(str, scripts)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    for p in scripts:
        assert os.access(p, os.X_OK), f"{p} is not executable"


# --- install.sh -----------------------------------------------------------------------------------

def test_dry_run_installs_exactly_the_expected_files(root, model):
    r = dry(root, "--model", str(model))
    assert files_under(root) == EXPECTED_FILES
    assert (root / "etc/systemd/system/edge-rep.service").read_bytes() == UNIT.read_bytes()
    assert (root / "etc/udev/rules.d/99-edge-rep.rules").read_bytes() == RULE.read_bytes()
    assert (root / "etc/edge-rep/edge-rep.toml").read_bytes() == CONFIG.read_bytes()
    assert (root / "var/lib/edge-rep/model/model.onnx").read_bytes() == model.read_bytes()
    assert "L4T R36.4.3 found" in r.stdout
    # the system-changing steps are printed, not run
    for step in ("useradd --system", "--groups dialout,video", "venv --system-site-packages /opt/edge-rep/venv",
                 "export/to_trt.py --checkpoint /var/lib/edge-rep/model/model.onnx --out /var/lib/edge-rep/model",
                 "--fp16", "udevadm control --reload-rules", "systemctl daemon-reload",
                 "systemctl enable edge-rep.service"):
        assert step in r.stdout, step
    assert all(line.startswith(("install.sh:", "[dry-run]")) for line in r.stdout.splitlines())


def pip_install(stdout: str) -> list[str]:
    """The arguments of the dry run's one ``pip install`` of edge-rep."""
    lines = [shlex.split(line.removeprefix("[dry-run] ")) for line in stdout.splitlines()
             if "pip install" in line and "--upgrade pip" not in line]
    assert len(lines) == 1, lines
    return lines[0]


def test_edge_rep_installs_with_its_device_extras_and_no_torch(root, model):
    args = pip_install(dry(root, "--model", str(model)).stdout)
    assert f"{REPO}[mqtt,jetson]" in args                       # dependencies resolved by pip, no --no-deps
    assert "cuda-python>=12,<13" in args                         # JetPack 6: CUDA 12
    assert "--no-deps" not in args and not any("torch" in a for a in args)
    wheel = root.parent / "edge_rep-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel")
    assert f"{wheel}[mqtt,jetson]" in pip_install(dry(root, "--model", str(model), "--wheel", str(wheel)).stdout)


def test_the_installed_config_points_where_the_files_went(root, model):
    dry(root, "--model", str(model))
    cfg = load_config(root / "etc/edge-rep/edge-rep.toml")
    assert (root / cfg.model.path.lstrip("/")).is_file()
    assert cfg.serial.port == "/dev/edge-rep" and 'SYMLINK+="edge-rep"' in RULE.read_text()


def test_dry_run_is_idempotent(root, model):
    dry(root, "--model", str(model))
    before = {f: (root / f).stat().st_mtime_ns for f in files_under(root)}
    r = dry(root, "--model", str(model))
    assert {f: (root / f).stat().st_mtime_ns for f in files_under(root)} == before
    assert "installed" not in r.stdout


def test_an_edited_config_is_kept(root, model):
    dry(root, "--model", str(model))
    cfg = root / "etc/edge-rep/edge-rep.toml"
    edited = CONFIG.read_text().replace('port = "/dev/edge-rep"', 'port = "/dev/ttyACM0"')
    cfg.write_text(edited)
    r = dry(root, "--model", str(model))
    assert cfg.read_text() == edited
    assert (root / "etc/edge-rep/edge-rep.toml.new").read_bytes() == CONFIG.read_bytes()
    assert "kept your edited" in r.stdout
    cfg.write_bytes(CONFIG.read_bytes())       # back to the shipped one: the .new goes away
    dry(root, "--model", str(model))
    assert files_under(root) == EXPECTED_FILES


def test_serial_pins_the_udev_rule(root, model):
    dry(root, "--model", str(model), "--serial", "A50285BI")
    text = (root / "etc/udev/rules.d/99-edge-rep.rules").read_text()
    rules = [line for line in text.splitlines() if "SYMLINK" in line]
    assert rules and all('ATTRS{serial}=="A50285BI"' in line for line in rules)
    r = install("--dry-run", "--root", str(root), "--model", str(model), "--serial", "x\";RUN+=\"/bin/sh")
    assert r.returncode == 2 and "--serial" in r.stderr


def test_engine_is_rebuilt_only_when_the_model_changes(root, model):
    dry(root, "--model", str(model))
    engine = root / "var/lib/edge-rep/model/model.engine"
    engine.write_bytes(b"engine")                                # as if the build had run
    r = dry(root, "--model", str(model))
    assert "not rebuilding" in r.stdout and "to_trt.py" not in r.stdout and engine.exists()
    model.write_bytes(b"onnx bytes v2")
    r = dry(root, "--model", str(model), "--fp32", "--workspace", "512")
    assert not engine.exists()                                   # the stale engine is gone
    build = next(line for line in r.stdout.splitlines() if "to_trt.py" in line)
    assert "--workspace 512" in build and "--fp16" not in build
    assert (root / "var/lib/edge-rep/model/model.onnx").read_bytes() == b"onnx bytes v2"
    r = dry(root, "--model", str(model), "--no-engine")
    assert "to_trt.py" not in r.stdout and "ONNX Runtime" in r.stdout


def test_uninstall_keeps_config_and_data(root, model):
    dry(root, "--model", str(model))
    r = dry(root, "--uninstall")
    left = files_under(root)
    assert "etc/systemd/system/edge-rep.service" not in left and "etc/udev/rules.d/99-edge-rep.rules" not in left
    assert {"etc/edge-rep/edge-rep.toml", "var/lib/edge-rep/model/model.onnx"} <= left
    assert "systemctl disable --now edge-rep.service" in r.stdout and "kept:" in r.stdout
    dry(root, "--uninstall")                                     # twice is fine


@pytest.mark.parametrize("release, message", [
    ("# R32 (release), REVISION: 7.4, GCID: 1, BOARD: t210ref, EABI: aarch64, DATE: x\n", "L4T R32.7.4"),
    ("# R35 (release), REVISION: 6.0, GCID: 1, BOARD: generic, EABI: aarch64, DATE: x\n", "too old"),
])
def test_old_jetpack_is_refused(root, model, release, message):
    (root / "etc/nv_tegra_release").write_text(release)
    r = install("--dry-run", "--root", str(root), "--model", str(model))
    assert r.returncode == 2 and message in r.stderr and "JetPack" in r.stderr
    assert files_under(root) == {"etc/nv_tegra_release"}        # nothing installed


def test_jetpack7_gets_cuda13_python(root, model):
    (root / "etc/nv_tegra_release").write_text(
        "# R38 (release), REVISION: 2.0, GCID: 1, BOARD: generic, EABI: aarch64, DATE: x\n")
    assert "cuda-python>=13,<14" in pip_install(dry(root, "--model", str(model)).stdout)


@pytest.mark.parametrize("args, message", [
    (["--bogus"], "unknown option '--bogus'"),
    (["--dry-run"], "--dry-run needs --root"),
    (["--root", "/tmp/x"], "--root is for testing"),
    (["--dry-run", "--root", "{root}", "--model", "/nonexistent/m.onnx"], "model file not found"),
    (["--dry-run", "--root", "{root}", "--model", "{model_json}"], "not an .onnx file"),
    (["--dry-run", "--root", "{root}", "--model", "{model}", "--workspace", "lots"], "--workspace 'lots'"),
    (["--dry-run", "--root", "{root}", "--model", "{model}", "--wheel", "/nonexistent/e.whl"], "wheel not found"),
])
def test_bad_arguments_exit_2_with_one_line(root, model, args, message):
    subst = {"{root}": str(root), "{model}": str(model), "{model_json}": str(model.with_suffix(".json"))}
    r = install(*[subst.get(a, a) for a in args])
    assert r.returncode == 2, r.stdout
    assert message in r.stderr and r.stderr.count("\n") == 1


def test_missing_sidecar_is_refused(root, model):
    model.with_suffix(".json").unlink()
    r = install("--dry-run", "--root", str(root), "--model", str(model))
    assert r.returncode == 2 and "sidecar is missing" in r.stderr


def test_non_jetson_host_only_warns_in_dry_run(root, model):
    (root / "etc/nv_tegra_release").unlink()
    r = dry(root, "--model", str(model))
    assert "not a Jetson" in r.stdout and (root / "etc/systemd/system/edge-rep.service").is_file()


# --- systemd unit ---------------------------------------------------------------------------------

def unit_settings(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";")):
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def test_unit_verifies_as_installed(root, model, tmp_path):
    sa = need("systemd-analyze")
    dry(root, "--model", str(model))
    fake = tmp_path / "bin" / "edge-rep"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    unit = tmp_path / "units" / "edge-rep.service"
    unit.parent.mkdir()
    installed = (root / "etc/systemd/system/edge-rep.service").read_text()
    assert "ExecStart=/opt/edge-rep/venv/bin/edge-rep " in installed
    unit.write_text(installed.replace("/opt/edge-rep/venv/bin/edge-rep", str(fake)))
    r = subprocess.run([sa, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    mine = [line for line in (r.stdout + r.stderr).splitlines() if "edge-rep" in line]
    assert r.returncode == 0 and not mine, "\n".join(mine)
    # verify catches a missing binary, so the check above is a real one
    unit.write_text(installed.replace("/opt/edge-rep/venv/bin/edge-rep", str(tmp_path / "missing")))
    assert subprocess.run([sa, "verify", str(unit)], capture_output=True, text=True, timeout=60).returncode != 0


def test_unit_hardening_exposure_is_low(tmp_path):
    sa = need("systemd-analyze")
    unit = tmp_path / "edge-rep.service"
    shutil.copy(UNIT, unit)
    r = subprocess.run([sa, "security", "--offline=yes", str(unit)], capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for edge-rep.service: ([0-9.]+)", r.stdout + r.stderr)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 2.5


def test_unit_contract():
    s = unit_settings(UNIT.read_text())
    assert s["Type"] == ["notify"] and int(s["WatchdogSec"][0]) > 0 and s["Restart"] == ["on-failure"]
    assert s["ExecStart"][0].split()[1:] == ["stream", "--config", "/etc/edge-rep/edge-rep.toml"]
    assert s["User"] == ["edge-rep"] and "dialout" in s["SupplementaryGroups"][0].split()
    assert s["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                       ("ProtectHome", "yes"), ("ProtectKernelTunables", "yes"), ("ProtectKernelModules", "yes"),
                       ("StateDirectory", "edge-rep"), ("LogsDirectory", "edge-rep"), ("DevicePolicy", "closed")):
        assert s[key] == [value], key
    allowed = " ".join(s["DeviceAllow"])
    assert "char-ttyUSB" in allowed and "char-ttyACM" in allowed and "nvmap" in allowed and "char-nvidia*" in allowed
    # what the daemon writes lies inside the unit's writable directories
    cfg = load_config(CONFIG)
    assert cfg.output.jsonl.startswith("/var/log/" + s["LogsDirectory"][0] + "/")
    assert cfg.model.path.startswith("/var/lib/" + s["StateDirectory"][0] + "/")


# --- udev rule ------------------------------------------------------------------------------------

RULE_TOKEN = re.compile(r'^([A-Z_]+)(\{[^}]+\})?\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"$')


def test_udev_rule_syntax_and_contract():
    rules = [line for line in RULE.read_text().splitlines() if line.strip() and not line.startswith("#")]
    ids, latency = set(), False
    for line in rules:
        tokens = [t.strip() for t in line.split(",")]
        parsed = [RULE_TOKEN.match(t) for t in tokens]
        assert all(parsed), f"unparsable udev rule: {line}"
        keys = {(m.group(1) + (m.group(2) or ""), m.group(3)): m.group(4) for m in parsed}
        if ("SYMLINK", "+=") in keys:
            assert keys[("SYMLINK", "+=")] == "edge-rep"
            assert keys[("GROUP", "=")] == "dialout" and keys[("TAG", "+=")] == "systemd"
            assert keys[("ENV{SYSTEMD_WANTS}", "+=")] == UNIT.name
            assert keys[("ENV{ID_MM_DEVICE_IGNORE}", "=")] == "1"
            assert ("ATTRS{serial}", "==") in keys
            ids.add(f"{keys[('ATTRS{idVendor}', '==')]}:{keys[('ATTRS{idProduct}', '==')]}")
        if keys.get(("ATTR{latency_timer}", "=")) == "1":
            latency = keys[("DRIVER", "==")] == "ftdi_sio"
    assert {"0403:6001", "10c4:ea60", "2e8a:000a"} <= ids
    assert latency


# --- container ------------------------------------------------------------------------------------

def test_container_recipe():
    text = (DEPLOY / "container" / "Dockerfile").read_text()
    base = re.search(r"^ARG BASE=(\S+)", text, re.M).group(1)
    assert base.startswith(("nvcr.io/nvidia/l4t-jetpack:r36", "dustynv/l4t-"))
    assert "--system-site-packages" in text and "import tensorrt" in text
    assert '".[mqtt,jetson]"' in text and "cuda-python>=${CUDA_MAJOR}" in text and "--no-deps" not in text
    for src in re.findall(r"^COPY (\S+) ", text, re.M):
        assert (REPO / src).exists(), f"COPY {src}: not in the repository"
    entry = re.search(r'^ENTRYPOINT \["([^"]+)"\]', text, re.M).group(1)
    local = REPO / entry.removeprefix("/opt/edge-rep/src/")
    assert local.is_file() and os.access(local, os.X_OK)
    assert 'CMD ["stream", "--config", "/etc/edge-rep/edge-rep.toml"]' in text
    assert "--runtime nvidia" in text and "--device /dev/edge-rep" in text
    assert (DEPLOY / "container" / "Dockerfile.dockerignore").read_text().count(".venv") == 1


def test_deploy_docs_cover_operations():
    text = (REPO / "docs" / "deploy.md").read_text()
    for topic in ("install.sh", "nvpmodel", "jetson_clocks", "tegrastats", "jtop", "journalctl", "dialout",
                  "latency_timer", "ModemManager", "/dev/serial/by-id", "--runtime nvidia", "to_trt.py"):
        assert topic in text, topic
