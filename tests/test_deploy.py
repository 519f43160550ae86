"""The Jetson deployment kit: install.sh (dry-run into a temporary root, never the real one), the systemd
unit, the udev rule, the pinned dependencies, the container recipe. Needs shellcheck and systemd-analyze
(tests/system_deps.sh installs them)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from packaging.requirements import Requirement

from edge_rep.cli import main
from edge_rep.config import load_config

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
INSTALL = DEPLOY / "jetson" / "install.sh"
UNIT = DEPLOY / "systemd" / "edge-rep.service"
RULE = DEPLOY / "udev" / "99-edge-rep.rules"
CONFIG = DEPLOY / "config" / "edge-rep.toml"
L4T_R36 = "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 2025\n"
SERIAL = "A50285BI"                              # the board's adapter in these tests
INSTALLED_RULE = "etc/udev/rules.d/99-edge-rep.rules"
MODEL_DIR = "opt/edge-rep/model"

EXPECTED_FILES = {
    "etc/nv_tegra_release",                      # put there by the test
    "etc/edge-rep/edge-rep.toml",
    "etc/systemd/system/edge-rep.service",
    INSTALLED_RULE,
    f"{MODEL_DIR}/model.onnx",
    f"{MODEL_DIR}/model.json",
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


def install(*args: str, umask: int = 0o022) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", f"umask {umask:03o}; exec bash \"$0\" \"$@\"", str(INSTALL), *args],
                          capture_output=True, text=True, timeout=60)


def dry(root: Path, *args: str, umask: int = 0o022) -> subprocess.CompletedProcess:
    """A dry run into ``root``; pins the udev rule to SERIAL unless ``args`` choose otherwise."""
    if not {"--serial", "--no-udev", "--uninstall"} & set(args):
        args = (*args, "--serial", SERIAL)
    r = install("--dry-run", "--root", str(root), *args, umask=umask)
    assert r.returncode == 0, r.stderr
    return r


def dry_lines(stdout: str) -> list[list[str]]:
    """The commands a dry run printed, as argument lists."""
    return [shlex.split(line.removeprefix("[dry-run] ")) for line in stdout.splitlines()
            if line.startswith("[dry-run] ") and "import tensorrt" not in line]


def pinned_rule(serial: str = SERIAL) -> str:
    return RULE.read_text().replace("@SERIAL@", serial)


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
    assert (root / INSTALLED_RULE).read_text() == pinned_rule()
    assert (root / "etc/edge-rep/edge-rep.toml").read_bytes() == CONFIG.read_bytes()
    assert (root / MODEL_DIR / "model.onnx").read_bytes() == model.read_bytes()
    assert "L4T R36.4.3 found" in r.stdout
    # the system-changing steps are printed, not run
    for step in ("useradd --system", "--groups dialout,video", "venv --system-site-packages /opt/edge-rep/venv",
                 "export --checkpoint /opt/edge-rep/model/model.onnx --out /var/cache/edge-rep-build/export",
                 "--fp16", "udevadm control --reload-rules", "systemctl daemon-reload",
                 "systemctl enable edge-rep.service"):
        assert step in r.stdout, step
    assert all(line.startswith(("install.sh:", "[dry-run]")) for line in r.stdout.splitlines())


def pip_installs(stdout: str) -> list[list[str]]:
    """The arguments of the dry run's ``pip install`` commands: pip and setuptools, then edge-rep."""
    lines = [a for a in dry_lines(stdout) if a[1:4] == ["-m", "pip", "install"]]
    assert len(lines) == 2, lines
    return lines


def pip_install(stdout: str) -> list[str]:
    """The arguments of the dry run's one ``pip install`` of edge-rep."""
    return pip_installs(stdout)[1]


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
    assert cfg.model.path == "/" + MODEL_DIR + "/model.onnx"
    assert cfg.serial.port == "/dev/edge-rep" and 'SYMLINK+="edge-rep"' in RULE.read_text()


# --- the model: root's, read-only for the service; the engine built without root ----------------------

def test_model_is_root_owned_and_not_writable_by_the_service(root, model):
    r = dry(root, "--model", str(model), umask=0o077)          # sudo with a strict umask: still readable
    folder = root / MODEL_DIR
    for p in (root / "opt/edge-rep", folder, folder / "model.onnx", folder / "model.json"):
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == (0o755 if p.is_dir() else 0o644), (p, oct(mode))
        if os.getuid() == 0:                                      # what install.sh runs as
            assert p.stat().st_uid == 0 and p.stat().st_gid == 0, p
    # the venv and pip (not run in a dry run) create files under the caller's umask: the script sets 022 first
    body = INSTALL.read_text().split("set -euo pipefail\n", 1)[1]
    assert body.startswith("umask 022")
    # nothing hands the service user the model (the old install chowned its state folder, model included)
    assert not any(a[0] == "chown" for a in dry_lines(r.stdout))
    # the unit: the model lies outside every folder the service may write, in a read-only tree
    s = unit_settings(UNIT.read_text())
    writable = ["/var/lib/" + s["StateDirectory"][0], "/var/log/" + s["LogsDirectory"][0],
                "/var/cache/" + s["CacheDirectory"][0], *" ".join(s.get("ReadWritePaths", [])).split()]
    model_path = load_config(CONFIG).model.path
    assert not any(model_path.startswith(w.rstrip("/") + "/") for w in writable), writable
    assert s["ProtectSystem"] == ["strict"] and model_path.startswith("/opt/")


def test_engine_is_built_by_the_build_user_and_installed_by_root(root, model):
    r = dry(root, "--model", str(model))
    cmds = dry_lines(r.stdout)
    users = {a[-1]: a[a.index("--groups") + 1] for a in cmds if a[0] == "useradd"}
    assert users == {"edge-rep": "dialout,video", "edge-rep-build": "video"}   # the builder: GPU, no serial port
    build = next(i for i, a in enumerate(cmds) if "export" in a)
    # only runuser runs the build, as edge-rep-build, with the venv's edge-rep; a missing TensorRT fails it
    assert cmds[build][:4] == ["runuser", "-u", "edge-rep-build", "--"]
    args = cmds[build][cmds[build].index("/opt/edge-rep/venv/bin/edge-rep"):]
    assert args[1:] == ["export", "--checkpoint", "/opt/edge-rep/model/model.onnx", "--out",
                        "/var/cache/edge-rep-build/export", "--force", "--require-engine", "--workspace", "1024",
                        "--fp16"]
    assert "HOME=/var/cache/edge-rep-build" in cmds[build]
    assert cmds[build - 1] == ["install", "-d", "-m", "0700", "-o", "edge-rep-build", "-g", "edge-rep-build",
                               "/var/cache/edge-rep-build"]
    # then root copies the engine and its sidecar into the model folder, root-owned, read-only
    assert cmds[build + 1:build + 3] == [
        ["install", "-m", "0644", "-o", "root", "-g", "root", f"/var/cache/edge-rep-build/export/model.{ext}",
         f"/{MODEL_DIR}/model.{ext}"] for ext in ("engine", "json")]
    assert not any("to_trt.py" in " ".join(a) or a[0].endswith("edge-rep") for a in cmds)   # never as root


def test_require_engine_fails_before_writing_without_tensorrt(tmp_path, capsys):
    from edge_rep.backends import DEFAULT_MODEL, available
    if available("tensorrt"):
        pytest.skip("checks the error shown where TensorRT is absent; TensorRT is installed here")
    onnx = DEFAULT_MODEL.with_suffix(".onnx")
    out = tmp_path / "build"
    assert main(["export", "--checkpoint", str(onnx), "--out", str(out), "--require-engine"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("edge-rep: error: --require-engine: TensorRT is not installed")
    assert "python3-libnvinfer" in err and not out.exists()          # nothing written
    assert main(["export", "--checkpoint", str(onnx), "--out", str(out), "--require-engine", "--onnx-only"]) == 2
    assert "contradict" in capsys.readouterr().err and not out.exists()


def test_an_earlier_layout_is_pointed_out_not_removed(root, model):
    old = root / "var/lib/edge-rep/model"
    old.mkdir(parents=True)
    (old / "model.onnx").write_bytes(b"old model")
    cfg = root / "etc/edge-rep/edge-rep.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(CONFIG.read_text().replace("/opt/edge-rep/model/model.onnx", "/var/lib/edge-rep/model/model.onnx"))
    r = dry(root, "--model", str(model))
    assert (old / "model.onnx").read_bytes() == b"old model"       # never destroyed
    assert "/var/lib/edge-rep/model" in r.stdout and "no longer used" in r.stdout
    assert 'still sets model.path under /var/lib/edge-rep/model: set it to "/opt/edge-rep/model/model.onnx"' \
        in r.stdout
    cfg.write_bytes(CONFIG.read_bytes())
    assert "still sets model.path" not in dry(root, "--model", str(model)).stdout


# --- pinned dependencies --------------------------------------------------------------------------------

def constraint_pins(path: Path) -> dict[str, str]:
    """name -> version of a constraints file's ``name==version`` lines, following ``-c`` includes."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-c "):
            pins.update(constraint_pins(path.parent / line[3:].strip()))
        elif line:
            assert re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", line), f"{path.name}: not an exact pin: {line}"
            name, version = line.split("==")
            assert canonical(name) not in pins, f"{path.name}: {name} pinned twice"
            pins[canonical(name)] = version
    return pins


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.mark.parametrize("release, cuda", [(L4T_R36, 12), (
    "# R38 (release), REVISION: 2.0, GCID: 1, BOARD: generic, EABI: aarch64, DATE: x\n", 13)])
def test_every_pip_install_is_pinned_and_wheels_only(root, model, release, cuda):
    (root / "etc/nv_tegra_release").write_text(release)
    constraints = DEPLOY / "jetson" / f"constraints-cuda{cuda}.txt"
    for args in pip_installs(dry(root, "--model", str(model)).stdout):
        assert args[args.index("-c") + 1] == str(constraints) and "--only-binary=:all:" in args
    first, edge = pip_installs(dry(root, "--model", str(model)).stdout)
    assert first[-2:] == ["pip", "setuptools"] and "--no-build-isolation" in edge    # builds with the pinned setuptools
    pins = constraint_pins(constraints)
    assert {"pip", "setuptools", "cuda-python"} <= set(pins)
    assert Requirement(f"cuda-python>={cuda},<{cuda + 1}").specifier.contains(pins["cuda-python"])
    # every requirement of what is installed has a pin inside its range (pip's dependencies of those are
    # checked against PyPI by deploy/jetson/check_pins.py)
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["mqtt"]
            + project["optional-dependencies"]["jetson"]]
    for req in reqs:
        assert canonical(req.name) in pins, f"{req.name} is installed on the device but not pinned"
        assert req.specifier.contains(pins[canonical(req.name)]), f"{req.name}=={pins[canonical(req.name)]} not {req}"
    # the container installs the same pins
    docker = (DEPLOY / "container" / "Dockerfile").read_text()
    assert docker.count("-c deploy/jetson/constraints-cuda${CUDA_MAJOR}.txt") == 2 and "--only-binary=:all:" in docker


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


def rule_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_serial_pins_every_udev_rule_line(root, model):
    dry(root, "--model", str(model), "--serial", "A50285BI")
    lines = rule_lines((root / INSTALLED_RULE).read_text())
    assert len(lines) == len(rule_lines(RULE.read_text())) >= 5      # the symlink rules and the latency rule
    assert all('ATTRS{serial}=="A50285BI"' in line for line in lines)
    assert "*" not in "".join(lines) and "@SERIAL@" not in "".join(lines)
    r = install("--dry-run", "--root", str(root), "--model", str(model), "--serial", "x\";RUN+=\"/bin/sh")
    assert r.returncode == 2 and "--serial" in r.stderr
    assert 'ATTRS{serial}=="A50285BI"' in (root / INSTALLED_RULE).read_text()    # refused: nothing changed


def test_the_rule_template_claims_no_adapter():
    # as shipped (copied by hand), every line names a serial number no adapter has
    for line in rule_lines(RULE.read_text()):
        assert 'ATTRS{serial}=="@SERIAL@"' in line, line


def test_first_install_needs_a_serial_choice_and_reruns_keep_it(root, model):
    r = install("--dry-run", "--root", str(root), "--model", str(model))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "--serial SERIAL" in r.stderr and "--serial auto" in r.stderr and "--no-udev" in r.stderr
    assert files_under(root) == {"etc/nv_tegra_release"}                   # refused before installing anything
    dry(root, "--model", str(model), "--serial", "A50285BI")
    r = dry(root, "--model", str(model), "--no-engine", "--serial", "keep")    # a new serial number
    assert (root / INSTALLED_RULE).read_text() == pinned_rule("keep")
    r = install("--dry-run", "--root", str(root), "--model", str(model), "--no-engine")      # no choice: kept
    assert r.returncode == 0 and "keeping the udev rule's serial number keep" in r.stdout
    assert (root / INSTALLED_RULE).read_text() == pinned_rule("keep")
    # a rule of an older install that matched any adapter is no choice
    (root / INSTALLED_RULE).write_text(RULE.read_text().replace("@SERIAL@", "*"))
    assert install("--dry-run", "--root", str(root), "--model", str(model)).returncode == 2


def test_no_udev_installs_no_rule_and_removes_ours(root, model):
    dry(root, "--model", str(model))
    assert (root / INSTALLED_RULE).is_file()
    r = dry(root, "--model", str(model), "--no-udev")
    assert not (root / INSTALLED_RULE).exists() and "removed /etc/udev/rules.d/99-edge-rep.rules" in r.stdout
    assert files_under(root) == EXPECTED_FILES - {INSTALLED_RULE}
    r = install("--dry-run", "--root", str(root), "--model", str(model), "--no-udev", "--serial", "A1")
    assert r.returncode == 2 and "contradict" in r.stderr


def usb_tty(root: Path, tty: str, vid: str, pid: str, serial: str | None, bus: str) -> None:
    """A USB serial port in ``root``/sys as the kernel lays it out: /sys/class/tty/<tty> links to the tty
    under its USB interface (ttyACM) or under a usb-serial port device (ttyUSB); the USB device above
    holds idVendor, idProduct and serial."""
    dev = root / "sys/devices/platform/3610000.usb/usb1" / bus
    dev.mkdir(parents=True)
    (dev / "idVendor").write_text(vid + "\n")
    (dev / "idProduct").write_text(pid + "\n")
    if serial is not None:
        (dev / "serial").write_text(serial + "\n")
    interface = dev / f"{bus}:1.0"
    port = interface / tty if tty.startswith("ttyUSB") else interface
    node = port / "tty" / tty
    node.mkdir(parents=True)
    (node / "device").symlink_to(os.path.relpath(port, node))
    (node / "dev").write_text("188:0\n")
    links = root / "sys/class/tty"
    links.mkdir(parents=True, exist_ok=True)
    (links / tty).symlink_to(os.path.relpath(node, links))


def test_serial_auto_takes_the_one_attached_adapter(root, model):
    usb_tty(root, "ttyACM0", "2e8a", "000a", "E6614103E7452D2F", "1-2")     # an RP2040 board
    usb_tty(root, "ttyUSB0", "1a86", "7523", None, "1-3")                   # a CH340 the rule does not know
    r = dry(root, "--model", str(model), "--serial", "auto")
    assert "the board's adapter: ttyACM0, USB 2e8a:000a, serial number E6614103E7452D2F" in r.stdout
    assert (root / INSTALLED_RULE).read_text() == pinned_rule("E6614103E7452D2F")


def test_serial_auto_refuses_to_guess(root, model):
    def auto() -> subprocess.CompletedProcess:
        return install("--dry-run", "--root", str(root), "--model", str(model), "--serial", "auto")

    r = auto()
    assert r.returncode == 2 and "no supported USB serial adapter is attached" in r.stderr
    usb_tty(root, "ttyUSB0", "0403", "6001", "A50285BI", "1-1")
    usb_tty(root, "ttyUSB1", "10c4", "ea60", "0001", "1-2")
    r = auto()
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "2 adapters are attached" in r.stderr
    assert "ttyUSB0 (0403:6001 A50285BI)" in r.stderr and "ttyUSB1 (10c4:ea60 0001)" in r.stderr
    assert not (root / INSTALLED_RULE).exists() and files_under(root / "etc") == {"nv_tegra_release"}
    shutil.rmtree(root / "sys")
    usb_tty(root, "ttyUSB0", "0403", "6015", None, "1-1")                   # an FT231X without a serial number
    r = auto()
    assert r.returncode == 2 and "has no serial number" in r.stderr and "--no-udev" in r.stderr


def test_engine_is_rebuilt_only_when_the_model_changes(root, model):
    dry(root, "--model", str(model))
    engine = root / MODEL_DIR / "model.engine"
    engine.write_bytes(b"engine")                                # as if the build had run
    r = dry(root, "--model", str(model))
    assert "not rebuilding" in r.stdout and " export --checkpoint" not in r.stdout and engine.exists()
    model.write_bytes(b"onnx bytes v2")
    r = dry(root, "--model", str(model), "--fp32", "--workspace", "512")
    assert not engine.exists()                                   # the stale engine is gone
    build = next(line for line in r.stdout.splitlines() if " export --checkpoint" in line)
    assert "--workspace 512" in build and "--fp16" not in build
    assert (root / MODEL_DIR / "model.onnx").read_bytes() == b"onnx bytes v2"
    r = dry(root, "--model", str(model), "--no-engine")
    assert " export --checkpoint" not in r.stdout and "ONNX Runtime" in r.stdout


def test_uninstall_keeps_config_and_data(root, model):
    dry(root, "--model", str(model))
    r = dry(root, "--uninstall")
    left = files_under(root)
    assert "etc/systemd/system/edge-rep.service" not in left and "etc/udev/rules.d/99-edge-rep.rules" not in left
    assert {"etc/edge-rep/edge-rep.toml", f"{MODEL_DIR}/model.onnx", f"{MODEL_DIR}/model.json"} <= left
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
    (["--dry-run", "--root", "{root}", "--model", "{model}", "--workspace", "8"], "from 16 to 1048576"),
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
    assert "nvmap" in allowed and "char-nvidia*" in allowed
    # what the daemon writes lies inside the unit's writable directories (the model does not: see above)
    cfg = load_config(CONFIG)
    assert cfg.output.jsonl.startswith("/var/log/" + s["LogsDirectory"][0] + "/")


# The serial device classes the daemon may open, and the module that registers each class's device number
# (None: the Jetson's UART driver, loaded at boot from the device tree).
SERIAL_CLASSES = {"ttyTHS": None, "ttyUSB": "usbserial", "ttyACM": "cdc_acm"}


def test_unit_allows_every_serial_class_and_loads_its_driver_first():
    s = unit_settings(UNIT.read_text())
    allowed = {a.split()[0]: a.split()[1] for a in s["DeviceAllow"]}
    serial = {name.removeprefix("char-") for name in allowed if name.startswith("char-tty")}
    assert serial == set(SERIAL_CLASSES), serial                  # the Jetson's UART first; no console classes
    assert all(allowed[f"char-{c}"] == "rw" for c in serial)
    # DeviceAllow=char-X is resolved from /proc/devices when the unit starts: its driver must be loaded by then
    wants, after = " ".join(s["Wants"]).split(), " ".join(s["After"]).split()
    for module in filter(None, SERIAL_CLASSES.values()):
        assert f"modprobe@{module}.service" in wants and f"modprobe@{module}.service" in after, module


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
            assert keys[("ATTRS{serial}", "==")] == "@SERIAL@"        # install.sh puts the board's there
            ids.add(f"{keys[('ATTRS{idVendor}', '==')]}:{keys[('ATTRS{idProduct}', '==')]}")
        if keys.get(("ATTR{latency_timer}", "=")) == "1":
            latency = keys[("DRIVER", "==")] == "ftdi_sio" and keys[("ATTRS{serial}", "==")] == "@SERIAL@"
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
                  "latency_timer", "ModemManager", "/dev/serial/by-id", "--runtime nvidia", "to_trt.py",
                  # the read-only model, the unprivileged engine build, the pins, the pinned rule, the UART
                  "/opt/edge-rep/model", "edge-rep-build", "--require-engine", "constraints-cuda12.txt",
                  "check_pins.py", "--serial auto", "--no-udev", "ttyTHS", "modprobe@", "Operation not permitted"):
        assert topic in text, topic
