"""Never destroy a user's data: every writer refuses an existing path that is not its own output of the same
kind (one line, exit 2, the path untouched); --force replaces only such outputs, atomically.

Device nodes, foreign folders and files are made inside tmp_path (tests run as root: never touch /dev)."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_rep.cli import main
from edge_rep.dataset import DATASET, write_dataset
from edge_rep.errors import EdgeRepError
from edge_rep.outpaths import claim, staged_file, staged_folder
from edge_rep.profiles import MOD
from edge_rep.recording import Channels, LabelInterval, Recording

REPO = Path(__file__).resolve().parents[1]
LOGS = REPO / "tests" / "data" / "logs"


def _one_line_error(capsys, argv, match):
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("edge-rep: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert match in err, err
    return err


def _snapshot(path: Path) -> dict:
    """Everything under path (names, kinds, bytes) to compare before and after."""
    if path.is_symlink():
        return {"link": os.readlink(path)}
    if path.is_char_device():
        return {"chardev": os.stat(path).st_rdev}
    if path.is_file():
        return {"file": path.read_bytes()}
    return {str(p.relative_to(path)): (p.read_bytes() if p.is_file() else "dir") for p in sorted(path.rglob("*"))}


@pytest.fixture
def foreign(tmp_path):
    """Things a user might name by mistake: a folder of their files, a file, a device node, a symlink."""
    d = tmp_path / "user"
    (d / "photos").mkdir(parents=True)
    (d / "photos" / "a.jpg").write_bytes(b"\xff\xd8 jpeg")
    (d / "notes.txt").write_text("keep me")
    f = tmp_path / "thesis.tex"
    f.write_text("\\documentclass{article}")
    dev = tmp_path / "null"
    os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))   # a /dev/null of our own, inside tmp_path
    link = tmp_path / "link"
    link.symlink_to(d)
    return {"folder": d, "file": f, "device": dev, "symlink": link}


def _rec(rid="a"):
    rng = np.random.default_rng(0)
    return Recording(rid, {"acoustic": Channels(rng.standard_normal(8000 * 5), 8000.0, units="Pa"),
                           "seismic": Channels(1e-6 * rng.standard_normal(100 * 5), 100.0, units="m/s")},
                     [LabelInterval(0.0, 5.0, "car")])


@pytest.mark.parametrize("what", ["folder", "file", "device", "symlink"])
def test_claim_refuses_what_is_not_ours_even_with_force(foreign, what):
    p = foreign[what]
    before = _snapshot(p)
    for force in (False, True):
        with pytest.raises(EdgeRepError, match="not an edge-rep dataset folder"):
            claim(p, DATASET, force=force)
    assert _snapshot(p) == before


def test_claim_free_empty_own(tmp_path):
    assert claim(tmp_path / "new", DATASET) == tmp_path / "new"
    (tmp_path / "empty").mkdir()
    assert claim(tmp_path / "empty", DATASET) == tmp_path / "empty"
    ds = write_dataset(tmp_path / "empty", [(_rec(), "train")], MOD)      # an empty folder is filled
    with pytest.raises(EdgeRepError, match="pass --force to replace it"):
        claim(ds, DATASET)
    assert claim(ds, DATASET, force=True) == ds


def test_staged_outputs_keep_the_old_one_on_failure(tmp_path):
    old = tmp_path / "f.txt"
    old.write_text("old")
    with pytest.raises(RuntimeError):
        with staged_file(old) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert old.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]
    with staged_file(old) as tmp:
        tmp.write_text("new")
    assert old.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]
    d = tmp_path / "d"
    d.mkdir()
    (d / "x").write_text("old")
    with pytest.raises(RuntimeError):
        with staged_folder(d) as tmp:
            (tmp / "x").write_text("half")
            raise RuntimeError("interrupted")
    assert (d / "x").read_text() == "old"
    with staged_folder(d) as tmp:
        (tmp / "y").write_text("new")
    assert sorted(p.name for p in d.iterdir()) == ["y"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "f.txt"]


@pytest.mark.parametrize("what", ["folder", "file", "device", "symlink"])
def test_synth_and_convert_refuse_foreign_paths(foreign, capsys, what, tmp_path):
    p = foreign[what]
    before = _snapshot(p)
    _one_line_error(capsys, ["synth", "--out", p, "--recordings", "6", "--duration", "4", "--quiet", "--force"],
                    "not an edge-rep dataset folder")
    wav = tmp_path / "wav"
    wav.mkdir()
    _one_line_error(capsys, ["convert", "wav", wav, "--out", p, "--force"], "not an edge-rep dataset folder")
    assert _snapshot(p) == before


def test_synth_replaces_its_own_dataset_only_with_force(tmp_path, capsys):
    out = tmp_path / "d"
    args = ["synth", "--out", out, "--recordings", "6", "--duration", "4", "--quiet"]
    assert main([str(a) for a in args + ["--seed", "1"]]) == 0
    first = (out / "manifest.json").read_text()
    _one_line_error(capsys, args + ["--seed", "2"], "an edge-rep dataset folder is already there; pass --force")
    assert (out / "manifest.json").read_text() == first
    assert main([str(a) for a in args + ["--seed", "2", "--force"]]) == 0
    assert (out / "manifest.json").read_text() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]        # no staging or old folders left


def test_simulate_link_and_log(foreign, tmp_path, capsys):
    f = foreign["file"]
    _one_line_error(capsys, ["simulate", "--link", f, "--duration", "1"], "is not a simulated board's pty link")
    assert f.read_text() == "\\documentclass{article}"
    _one_line_error(capsys, ["simulate", "--log", f, "--duration", "3"], "not an edge-rep sensor log")
    assert f.read_text() == "\\documentclass{article}"
    log = tmp_path / "sim.edgelog"
    assert main(["simulate", "--log", str(log), "--duration", "3", "--seed", "1"]) == 0
    first = log.read_bytes()
    _one_line_error(capsys, ["simulate", "--log", log, "--duration", "3"], "pass --force")
    assert main(["simulate", "--log", str(log), "--duration", "3", "--seed", "2", "--force"]) == 0
    assert log.read_bytes() != first and json.loads(Path(str(log) + ".labels.json").read_text())["labels"]


def test_simulate_link_replaces_a_stale_pty_link(tmp_path):
    link = tmp_path / "board"
    link.symlink_to("/dev/pts/999999")             # left by a simulator that was killed
    p = subprocess.Popen([sys.executable, "-m", "edge_rep.cli", "simulate", "--link", str(link), "--duration", "2",
                          "--speed", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert "simulated board on /dev/pts/" in out and not os.path.lexists(link)   # its own link removed at exit


def test_convert_log_outputs(foreign, tmp_path, capsys):
    src = LOGS / "clean.edgelog"
    _one_line_error(capsys, ["convert-log", src, "--to", "dataset", "--out", foreign["file"], "--force"],
                    "not an edge-rep recording file")
    assert foreign["file"].read_text() == "\\documentclass{article}"
    # two modalities: <out>-acoustic.wav and <out>-seismic.wav; one of those names holds the user's file
    mine = tmp_path / "x-seismic.wav"
    mine.write_text("not a wav")
    _one_line_error(capsys, ["convert-log", src, "--to", "wav", "--out", tmp_path / "x.wav", "--force"],
                    "x-seismic.wav: already exists and is a file, not an edge-rep WAV file")
    assert mine.read_text() == "not a wav" and not (tmp_path / "x-acoustic.wav").exists()   # nothing half-written
    mine.unlink()
    # the sidecar is part of the output: a user's x-acoustic.wav.json is refused even with --force
    notes = tmp_path / "x-acoustic.wav.json"
    notes.write_text('{"my": "notes"}')
    _one_line_error(capsys, ["convert-log", src, "--to", "wav", "--out", tmp_path / "x.wav", "--force"],
                    "x-acoustic.wav.json: already exists and is a file, not an edge-rep WAV sidecar")
    assert notes.read_text() == '{"my": "notes"}' and not list(tmp_path.glob("x-*.wav"))
    notes.unlink()
    assert main(["convert-log", str(src), "--to", "wav", "--out", str(tmp_path / "x.wav")]) == 0
    assert sorted(p.name for p in tmp_path.glob("x-*.wav*")) == ["x-acoustic.wav", "x-acoustic.wav.json",
                                                                 "x-seismic.wav", "x-seismic.wav.json"]
    _one_line_error(capsys, ["convert-log", src, "--to", "wav", "--out", tmp_path / "x.wav"], "pass --force")
    (tmp_path / "x-acoustic.wav").unlink()       # a WAV gone, its sidecar left: replaced only with --force
    _one_line_error(capsys, ["convert-log", src, "--to", "wav", "--out", tmp_path / "x.wav"],
                    "x-acoustic.wav.json: an edge-rep WAV sidecar (.wav.json) is already there; pass --force")
    assert main(["convert-log", str(src), "--to", "wav", "--out", str(tmp_path / "x.wav"), "--force"]) == 0
    # miniSEED: its StationXML beside it (x.xml) is guarded the same way
    xml = tmp_path / "m.xml"
    xml.write_text("<notes/>")
    _one_line_error(capsys, ["convert-log", src, "--to", "mseed", "--out", tmp_path / "m.mseed", "--force"],
                    "m.xml: already exists and is a file, not an edge-rep StationXML file")
    assert xml.read_text() == "<notes/>" and not (tmp_path / "m.mseed").exists()
    xml.unlink()
    assert main(["convert-log", str(src), "--to", "mseed", "--out", str(tmp_path / "m.mseed")]) == 0
    (tmp_path / "m.mseed").unlink()
    _one_line_error(capsys, ["convert-log", src, "--to", "mseed", "--out", tmp_path / "m.mseed"],
                    "m.xml: an edge-rep StationXML file is already there; pass --force")
    assert main(["convert-log", str(src), "--to", "mseed", "--out", str(tmp_path / "m.mseed"), "--force"]) == 0
    _one_line_error(capsys, ["convert-log", src, "--to", "mseed", "--out", tmp_path / "n.xml"],
                    "its StationXML goes beside it as n.xml")


def test_export_and_evaluate_refuse_foreign_folders(foreign, tmp_path, capsys):
    from edge_rep.backends import DEFAULT_MODEL
    before = _snapshot(foreign["folder"])
    _one_line_error(capsys, ["export", "--checkpoint", DEFAULT_MODEL.with_suffix(".onnx"), "--out", foreign["folder"],
                             "--onnx-only", "--force"], "not an edge-rep export folder")
    data = tmp_path / "data"
    write_dataset(data, [(_rec("a"), "train"), (_rec("b"), "test")], MOD)
    _one_line_error(capsys, ["evaluate", "--data", data, "--out", foreign["folder"], "--force"],
                    "not an edge-rep evaluation folder")
    assert _snapshot(foreign["folder"]) == before
    # an export of the same name is replaced only with --force
    out = tmp_path / "export"
    onnx = DEFAULT_MODEL.with_suffix(".onnx")
    assert main(["export", "--checkpoint", str(onnx), "--out", str(out), "--onnx-only"]) == 0
    other = tmp_path / "other"
    other.mkdir()
    (other / "default.onnx").write_bytes(onnx.read_bytes()[:-1] + b"\x00")   # another model of the same name
    (other / "default.json").write_text(DEFAULT_MODEL.with_suffix(".json").read_text())
    _one_line_error(capsys, ["export", "--checkpoint", other / "default.onnx", "--out", out, "--onnx-only"],
                    "an export of 'default' is already there (default.onnx, default.json); pass --force")


def test_stream_output_file_must_be_json_lines(foreign, capsys):
    def error(target):
        rc = main(["replay", str(LOGS / "clean.edgelog"), "--out", str(target)])
        err = capsys.readouterr().err
        assert rc == 2 and "Traceback" not in err, err
        last = err.strip().splitlines()[-1]          # after the model's INFO line
        assert last.startswith(f"edge-rep: error: output file {target}: already exists and is ")
        return last
    assert "a file, not an edge-rep JSON lines output" in error(foreign["file"])
    assert "a device or special file" in error(foreign["device"])
    assert foreign["file"].read_text() == "\\documentclass{article}"
    assert foreign["device"].is_char_device()
