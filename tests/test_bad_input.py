"""Bad input on the command line: every case exits 2 with one line ``edge-rep: error: ...``.

The sweep is benchmarks/bench_bad_input.py's (the benchmark times it; these tests never assert a time).
Each case runs ``edge-rep`` as a subprocess, so a case that would block (a FIFO) or read without end (a
device node) fails by a time-out instead of hanging the suite. Everything they need is made in tmp_path:
FIFOs with os.mkfifo, device nodes with os.mknod, read-only folders for a root without CAP_DAC_OVERRIDE.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from edge_rep.cli import main
from edge_rep.commands import config_number, number, path_arg
from edge_rep.config import SerialSection
from edge_rep.dataset import load_dataset, member_path
from edge_rep.errors import EdgeRepError
from edge_rep.inpaths import input_file, input_folder, read_input
from edge_rep.simulator import Fault, Scenario
from firmware_bridge.port import PortError, PortErrorKind, check_port_path
from firmware_bridge.pty import PtyLink

from fixtures_data import write_wav

ROOT = Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location("bench_bad_input", ROOT / "benchmarks" / "bench_bad_input.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


BENCH = _bench()
with tempfile.TemporaryDirectory() as _tmp:                # the names, for the test ids
    CASE_NAMES = [c.name for c in BENCH.build_cases(Path(_tmp))]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad-input")
    cases = {c.name: c for c in BENCH.build_cases(tmp)}
    yield tmp, cases
    os.chmod(tmp / "readonly", 0o755)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_bad_input_is_one_line_exit_2(sweep, name):
    tmp, cases = sweep
    case = cases[name]
    if case.skip:
        pytest.skip(case.skip)
    r = BENCH.run_case(case, tmp)
    assert r.returncode == 2, f"{name}: exit {r.returncode}\nstdout: {r.stdout[-500:]}\nstderr: {r.stderr[-2000:]}"
    assert r.stderr.startswith("edge-rep: error: ") and r.stderr.count("\n") == 1, r.stderr[-2000:]
    assert case.expect in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not r.stdout


def test_sweep_leaves_users_files_alone(sweep):
    tmp, cases = sweep
    for name in ("synth --out an existing file", "stream --port a regular file"):
        if not cases[name].skip:
            BENCH.run_case(cases[name], tmp)
    assert (tmp / "results.txt").read_text() == "a user's results\n"
    assert (tmp / "port.txt").read_text() == "not a tty\n"
    assert not list((tmp / "readonly").iterdir())


# --- the argparse types ------------------------------------------------------------------------------

def test_number_bounds_and_messages():
    batch = number(int, ge=1, le=65536)
    assert batch("1") == 1 and batch("65536") == 65536
    for bad, msg in (("0", "0 is out of range; use a whole number from 1 to 65536"),
                     ("65537", "out of range"), ("-4", "out of range"), ("1.5", "'1.5' is not a whole number"),
                     ("", "is not a whole number")):
        with pytest.raises(argparse.ArgumentTypeError, match=msg):
            batch(bad)
    speed = number(float, gt=0, le=1000)
    assert speed("0.5") == 0.5 and speed("1e3") == 1000.0
    for bad, msg in (("0", "use a number above 0 and at most 1000"), ("nan", "not a finite number"),
                     ("inf", "not a finite number"), ("-1e-9", "out of range"), ("x", "'x' is not a number")):
        with pytest.raises(argparse.ArgumentTypeError, match=msg):
            speed(bad)


def test_config_number_takes_the_schema_bounds():
    baud = config_number(SerialSection, "baud")
    assert baud("921600") == 921600
    with pytest.raises(argparse.ArgumentTypeError, match="from 50 to 20000000"):
        baud("9223372036854775807")


def test_path_arg_limits():
    assert path_arg("a/b.toml") == "a/b.toml"
    with pytest.raises(argparse.ArgumentTypeError, match="empty"):
        path_arg("")
    with pytest.raises(argparse.ArgumentTypeError, match="longer than the system allows"):
        path_arg("/x" * 2500)
    with pytest.raises(argparse.ArgumentTypeError, match="longer than a file name can be"):
        path_arg("dir/" + "n" * 256)
    assert path_arg("dir/" + "n" * 255)


@pytest.mark.parametrize("argv, fragment", [
    (["train", "--data", "d"], "the following arguments are required: --out; see 'edge-rep train --help'"),
    (["synth", "--out", "d", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["convert", "nosuchformat", "src", "--out", "d"], "format: invalid choice: 'nosuchformat'"),
    (["nosuchcommand"], "invalid choice: 'nosuchcommand'"),
    (["train", "--data", "d", "--out", "o", "--batch-size", "0"], "--batch-size: 0 is out of range"),
])
def test_argument_errors_are_one_line(capsys, argv, fragment):
    assert main(argv) == 2
    cap = capsys.readouterr()
    assert cap.err.startswith("edge-rep: error: ") and cap.err.count("\n") == 1 and fragment in cap.err
    assert "usage:" not in cap.err and not cap.out


def test_help_still_exits_0(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0 and "--batch-size" in capsys.readouterr().out


# --- inputs checked before they are opened --------------------------------------------------------------

def test_input_checks_refuse_special_files_unopened(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    (tmp_path / "big.toml").write_bytes(b"#" * 2000)
    (tmp_path / "ok.toml").write_text("[node]\n")
    with pytest.raises(EdgeRepError, match=r"--config .*fifo: is a named pipe \(FIFO\), not a config file"):
        read_input(tmp_path / "fifo", "config file", option="--config")      # stat only: never blocks
    with pytest.raises(EdgeRepError, match="is a directory, not a sensor log"):
        input_file(tmp_path / "dir", "sensor log")
    with pytest.raises(EdgeRepError, match="2,000 bytes is more than a config file can be"):
        read_input(tmp_path / "big.toml", "config file", max_bytes=1000)
    with pytest.raises(EdgeRepError, match="config file not found; create it"):
        read_input(tmp_path / "none.toml", "config file", missing="create it")
    with pytest.raises(EdgeRepError, match="a part of the path is a file"):
        input_file(tmp_path / "ok.toml" / "x", "file")
    with pytest.raises(EdgeRepError, match="is a file, not a dataset folder"):
        input_folder(tmp_path / "ok.toml", "dataset folder")
    assert read_input(tmp_path / "ok.toml", "config file") == b"[node]\n"
    (tmp_path / "link.toml").symlink_to(tmp_path / "ok.toml")
    assert input_file(tmp_path / "link.toml", "config file") == tmp_path / "link.toml"


def test_device_node_is_refused_unread(tmp_path):
    node = tmp_path / "zero"
    try:
        os.mknod(node, 0o600 | stat.S_IFCHR, os.makedev(1, 5))     # what /dev/zero is, made in tmp_path
    except PermissionError:
        pytest.skip("making a device node needs root")
    with pytest.raises(EdgeRepError, match="is a character device, not a config file"):
        read_input(node, "config file")


# --- dataset manifests stay inside their folder ------------------------------------------------------------

def _dataset_with(tmp_path: Path, file: str) -> Path:
    root = tmp_path / "ds"
    (root / "recordings").mkdir(parents=True, exist_ok=True)
    from edge_rep.dataset import FORMAT, FORMAT_VERSION
    from edge_rep.profiles import MOD
    (root / "manifest.json").write_text(json.dumps({
        "format": FORMAT, "version": FORMAT_VERSION, "profile": MOD.to_dict(), "classes": list(MOD.classes),
        "recordings": [{"id": "r1", "file": file, "split": "train", "sha256": "0" * 64}]}))
    return root


@pytest.mark.parametrize("file", ["../outside.npz", "recordings/../../outside.npz", "/etc/hostname", "", "a\0b"])
def test_manifest_file_outside_the_folder_is_refused(tmp_path, file):
    root = _dataset_with(tmp_path, file)
    with pytest.raises(EdgeRepError) as e:
        load_dataset(root)
    msg = str(e.value)
    assert msg.startswith(str(root / "manifest.json")) and "recording 'r1'" in msg and "\n" not in msg
    assert "outside the dataset folder" in msg or "not a relative file name" in msg


def test_manifest_symlinks_may_point_inside_but_not_out(tmp_path):
    (tmp_path / "outside.npz").write_bytes(b"x")
    root = _dataset_with(tmp_path, "recordings/r1.npz")
    (root / "recordings" / "r1.npz").symlink_to(tmp_path / "outside.npz")
    with pytest.raises(EdgeRepError, match="recording 'r1': file 'recordings/r1.npz' is outside the dataset folder"):
        load_dataset(root)
    (root / "recordings" / "r1.npz").unlink()
    (root / "data.npz").write_bytes(b"x")
    (root / "recordings" / "r1.npz").symlink_to(root / "data.npz")          # inside: fine
    assert member_path(root, {"id": "r1", "file": "recordings/r1.npz"}) == root / "recordings" / "r1.npz"
    assert member_path(root, {"id": "r1", "file": "recordings/../data.npz"}) == root / "recordings/../data.npz"
    load_dataset(root)
    (root / "recordings" / "loop.npz").symlink_to(root / "recordings" / "loop.npz")
    with pytest.raises(EdgeRepError, match="outside the dataset folder"):
        member_path(root, {"id": "r2", "file": "recordings/loop.npz"})


# --- serial ports ----------------------------------------------------------------------------------------

def test_port_that_exists_but_is_no_device_fails_at_once(tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    os.mkfifo(tmp_path / "fifo")
    for name, kind in (("dir", "a directory"), ("file", "a regular file"), ("fifo", "a named pipe (FIFO)")):
        with pytest.raises(PortError, match=rf"port .*{name}: is {re.escape(kind)}, not a serial device") as e:
            check_port_path(str(tmp_path / name))
        assert e.value.kind is PortErrorKind.NOT_A_TTY         # the daemon fails at once on this kind
    check_port_path(str(tmp_path / "not-yet"))          # may still appear: the service waits for it
    link = PtyLink(tmp_path / "board")
    try:
        check_port_path(link.path)
        check_port_path(str(tmp_path / "board"))        # a symlink to a pty, as simulate --link makes
    finally:
        link.close()


def test_missing_port_is_waited_for_and_announced(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text("[serial]\nopen_timeout_s = 0.5\n")
    r = subprocess.run([sys.executable, "-c", "import sys; from edge_rep.cli import main; sys.exit(main())",
                        "stream", "--port", str(tmp_path / "tty-not-yet"), "--config", str(conf)],
                       capture_output=True, text=True, timeout=60)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and lines[-1].startswith("edge-rep: error: port") and "not found" in lines[-1]
    assert any("waiting" in line and "tty-not-yet" in line for line in lines[:-1])   # said while waiting


# --- simulator fault levels ---------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, msg", [
    ("corrupt@1-2=5", "level 5 is out of range; it is a probability per byte, 0 to 1"),
    ("lose=1.5", "a probability per byte"),
    ("saturate=0.5", "it is a gain, 1 to 1e"),
    ("noise=1000", "an RMS in full scales, 0 to 100"),
])
def test_fault_levels_out_of_range(spec, msg):
    with pytest.raises(EdgeRepError, match=msg):
        Scenario.parse([spec])


def test_fault_levels_in_range():
    assert Scenario.parse(["corrupt@1-2=1", "lose=0", "saturate=1", "noise=0"]).faults[0].level == 1.0
    with pytest.raises(EdgeRepError, match="out of range"):
        Fault("corrupt", level=float("nan"))


# --- warnings: the command goes on, the user is told ----------------------------------------------------

def test_convert_into_a_train_only_dataset_warns(tmp_path, capsys):
    write_wav(tmp_path / "one" / "car" / "a.wav")
    assert main(["convert", "wav", str(tmp_path / "one" / "car" / "a.wav"), "--out", str(tmp_path / "d1"),
                 "--full-scale", "20"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("edge-rep: warning: ")
    assert "every recording is in the train split" in err
    for i in range(4):
        write_wav(tmp_path / "four" / "car" / f"{i}.wav")
    assert main(["convert", "wav", str(tmp_path / "four"), "--out", str(tmp_path / "d4"), "--full-scale", "20"]) == 0
    assert capsys.readouterr().err == ""


def test_convert_log_to_dataset_without_labels_warns(tmp_path, capsys):
    src = ROOT / "tests" / "data" / "logs" / "clean.edgelog"
    log = tmp_path / "clean.edgelog"
    shutil.copyfile(src, log)                                   # without its labels file
    assert main(["convert-log", str(log), "--to", "dataset", "--out", str(tmp_path / "c.npz")]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("edge-rep: warning: ") and "has no labels" in err
    assert "clean.edgelog.labels.json" in err
    shutil.copyfile(src.with_name(src.name + ".labels.json"), tmp_path / "clean.edgelog.labels.json")
    assert main(["convert-log", str(log), "--to", "dataset", "--out", str(tmp_path / "d.npz")]) == 0
    assert capsys.readouterr().err == ""
    assert main(["convert-log", str(log), "--to", "wav", "--out", str(tmp_path / "c.wav")]) == 0
    assert "warning" not in capsys.readouterr().err
