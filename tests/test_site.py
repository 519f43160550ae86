"""'My own site' (issue 14 section 3): record --label, edge-rep label, dataset add, train --init-from, and the
help examples forming one chain."""

import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edge_rep.cli import build_parser, main
from edge_rep.dataset import load_dataset, write_dataset
from edge_rep.errors import EdgeRepError
from edge_rep.log_conversion import check_labels, labels_path, read_labels, set_stretch, write_labels
from edge_rep.profiles import MOD
from edge_rep.recording import Channels, LabelInterval as L, Recording

ROOT = Path(__file__).resolve().parents[1]
CLASSES = MOD.classes


def cli(*args):
    return subprocess.run([sys.executable, "-m", "edge_rep.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True)


def one_line_error(r, *needles):
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.startswith("edge-rep: error: ") and r.stderr.count("\n") == 1, r.stderr
    for n in needles:
        assert n in r.stderr, r.stderr


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- labels: the one check, stretches ---------------------------------------------------------------------

def test_check_labels_refuses_unknown_classes_bad_spans_and_overlaps():
    check_labels([L(0, 5, "car"), L(5, 9, "background")], CLASSES, duration_s=9.0)
    with pytest.raises(EdgeRepError, match="'lorry' is not one of the model's classes"):
        check_labels([L(0, 5, "lorry")], CLASSES)
    with pytest.raises(EdgeRepError, match="is not 0 <= start < end"):
        check_labels([L(4, 4, "car")], CLASSES)
    with pytest.raises(EdgeRepError, match="ends after the log"):
        check_labels([L(0, 20, "car")], CLASSES, duration_s=9.0)
    with pytest.raises(EdgeRepError, match="overlap"):
        check_labels([L(5, 9, "car"), L(0, 6, "truck")], CLASSES)


def test_set_stretch_cuts_splits_and_merges():
    labels = [L(0, 60, "car")]
    labels = set_stretch(labels, 10, 20, "background")          # split the whole-recording label in two
    assert labels == [L(0, 10, "car"), L(10, 20, "background"), L(20, 60, "car")]
    labels = set_stretch(labels, 15, 30, "car")                 # cuts the background, merges with the car after
    assert labels == [L(0, 10, "car"), L(10, 15, "background"), L(15, 60, "car")]
    check_labels(labels, CLASSES)


# -- record --label and edge-rep label --------------------------------------------------------------------

def test_record_label_writes_the_labels_file(tmp_path):
    from edge_rep.simulator import Scenario, Simulator, run_realtime
    from firmware_bridge.pty import PtyLink

    t = np.arange(16000) / 8000
    rec = Recording("tiny", {"acoustic": Channels(0.5 * np.sin(2 * np.pi * 440 * t), 8000.0, units="Pa"),
                             "seismic": Channels(1e-5 * np.sin(2 * np.pi * 7 * t[::80]), 100.0, units="m/s")})
    # a class the model does not have: one line, exit 2, no log, no labels
    bad = cli("record", "--port", "/dev/null", "--out", tmp_path / "bad.edgelog", "--label", "lorry")
    one_line_error(bad, "--label: 'lorry' is not one of the model's classes")
    assert not list(tmp_path.iterdir())
    link = PtyLink()
    out = tmp_path / "car1.edgelog"
    p = subprocess.Popen([sys.executable, "-m", "edge_rep.cli", "record", "--port", link.path, "--out", str(out),
                          "--label", "car", "--quiet"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        end = time.monotonic() + 30
        while not out.exists() and time.monotonic() < end:
            time.sleep(0.05)
        time.sleep(0.3)
        run_realtime(Simulator(rec, Scenario(), 0), link, speed=4.0, on_event=lambda s: None)
        time.sleep(0.3)
        p.send_signal(signal.SIGTERM)
        stdout, stderr = p.communicate(timeout=60)
    finally:
        p.kill()
        link.close()
    assert p.returncode == 0, stderr
    labels = read_labels(out)
    assert len(labels) == 1 and labels[0].label == "car" and labels[0].start == 0.0
    from firmware_bridge.sensorlog import read_log
    from edge_rep.log_conversion import log_duration
    assert labels[0].end == pytest.approx(log_duration(read_log(out)), abs=1e-3) and labels[0].end > 0
    assert f"wrote {labels_path(out)}" in stdout
    # relabel a stretch afterwards; a bad class or an empty stretch changes nothing
    r = cli("label", out, "0", "0.2", "background")
    assert r.returncode == 0, r.stderr
    assert [iv.label for iv in read_labels(out)] == ["background", "car"]
    r = cli("label", out, "0.5", "end", "truck")                   # to the end: nothing of the car is left after
    assert r.returncode == 0, r.stderr
    assert [(iv.start, iv.label) for iv in read_labels(out)] == [(0, "background"), (0.2, "car"), (0.5, "truck")]
    before = labels_path(out).read_bytes()
    one_line_error(cli("label", out, "0", "0.2", "lorry"), "CLASS: 'lorry'")
    one_line_error(cli("label", out, "0.3", "0.1", "car"), "the stretch is empty")
    one_line_error(cli("label", out, "0", "999", "car"), "ends after the log")
    assert labels_path(out).read_bytes() == before


# -- dataset add ------------------------------------------------------------------------------------------

def sim_log(tmp_path, name, seconds=4, profile="mod", label="car"):
    """A sensor log from the simulator (the board of the own-site walkthrough), labelled as a whole (None: no
    labels file; the simulator writes its scenario's truth beside the log)."""
    out = tmp_path / f"{name}.edgelog"
    r = cli("simulate", "--duration", seconds, "--seed", "3", "--profile", profile, "--log", out)
    assert r.returncode == 0, r.stderr
    labels_path(out).unlink(missing_ok=True)
    if label:
        r = cli("label", out, "0", "end", label)
        assert r.returncode == 0, r.stderr
    return out


def base_dataset(path: Path, profile=MOD) -> Path:
    rng = np.random.default_rng(0)
    recs = []
    for i in range(3):
        mods = {m.name: Channels(rng.standard_normal((1, int(4 * m.sample_rate))) * 1e-3, m.sample_rate,
                                 units=m.units) for m in profile.modalities}
        recs.append((Recording(f"old{i}", mods, [L(0, 4, "background")]), ("train", "val", "test")[i]))
    return write_dataset(path, recs, profile)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    d = tmp_path_factory.mktemp("logs")
    return {"car": sim_log(d, "car1"), "truck": sim_log(d, "truck1", label="truck"),
            "bare": sim_log(d, "bare1", label=None), "acids": sim_log(d, "acids1", profile="acids")}


def test_dataset_add_appends_keeps_splits_and_refuses_bad_input(tmp_path, logs):
    data = base_dataset(tmp_path / "site")
    old = load_dataset(data).entries
    old_files = snapshot(data / "recordings")
    r = cli("dataset", "add", logs["car"], logs["truck"], "--to", data)
    assert r.returncode == 0, r.stderr
    ds = load_dataset(data)
    assert ds.entries[:3] == old                                     # old recordings and their splits untouched
    new = {e["id"]: e for e in ds.entries[3:]}
    from edge_rep.dataset import hash_split
    assert set(new) == {"car1", "truck1"} and all(e["split"] == hash_split(i) for i, e in new.items())
    assert new["car1"]["labels"] == ["car"] and new["truck1"]["labels"] == ["truck"]
    recs = {r.id: r for r in ds.recordings()}                        # sha256 and profile checked on read
    assert recs["car1"].modalities["acoustic"].sample_rate == 8000.0
    assert all(snapshot(data / "recordings")[k] == v for k, v in old_files.items())
    assert not [p for p in data.iterdir() if p.name.startswith(".")]   # no staging left behind
    # --split puts every new one in that split
    r = cli("dataset", "add", sim_log(tmp_path, "quiet1", label="background"), "--to", data, "--split", "train")
    assert r.returncode == 0 and load_dataset(data).entries[-1]["split"] == "train"
    before = snapshot(data)
    # refusals: one line, exit 2, the dataset byte for byte as it was
    one_line_error(cli("dataset", "add", logs["car"], "--to", data), "already in")           # the same id twice
    one_line_error(cli("dataset", "add", logs["acids"], "--to", data), "acids1.edgelog: does not fit dataset",
                   "expects 8000 Hz")                                                          # another profile
    one_line_error(cli("dataset", "add", logs["bare"], "--to", data), "has no labels")
    lorry = sim_log(tmp_path, "lorry1", label=None)
    write_labels(lorry, [L(0, 2, "lorry")])
    one_line_error(cli("dataset", "add", lorry, "--to", data), "'lorry' is not one of the model's classes")
    # a valid log after a bad one: nothing of the valid one is written either
    one_line_error(cli("dataset", "add", sim_log(tmp_path, "fine1"), logs["acids"], "--to", data), "acids1")
    assert snapshot(data) == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    one_line_error(cli("dataset", "add", logs["car"], "--to", mine), "is not an edge-rep dataset")
    assert snapshot(mine) == {"notes.txt": b"mine"}
    # a new path becomes a new dataset (of --profile); the logs' splits by the same rule
    r = cli("dataset", "add", logs["car"], logs["truck"], "--to", tmp_path / "fresh")
    assert r.returncode == 0, r.stderr
    fresh = load_dataset(tmp_path / "fresh")
    assert fresh.profile == MOD and [e["id"] for e in fresh.entries] == ["car1", "truck1"]
    # units that differ: a dataset whose seismic is in counts refuses a log in m/s
    counts = replace(MOD, modalities=(MOD.modalities[0], replace(MOD.modalities[1], units="counts")))
    cdata = base_dataset(tmp_path / "counts", counts)
    cbefore = snapshot(cdata)
    one_line_error(cli("dataset", "add", logs["car"], "--to", cdata), "seismic is in m/s", "counts")
    assert snapshot(cdata) == cbefore


def test_dataset_add_is_atomic_when_writing_fails(tmp_path, logs, monkeypatch):
    from edge_rep import dataset as D
    from edge_rep.log_conversion import to_recording
    from firmware_bridge.sensorlog import read_log
    data = base_dataset(tmp_path / "site")
    before = snapshot(data)
    recs = [(to_recording(read_log(logs["car"])), "train"), (to_recording(read_log(logs["truck"])), "train")]
    real = D.write_recording
    calls = []

    def failing(path, rec):
        calls.append(rec.id)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(path, rec)

    monkeypatch.setattr(D, "write_recording", failing)
    with pytest.raises(EdgeRepError, match="truck1.npz: writing failed"):
        D.append_recordings(data, recs)
    assert snapshot(data) == before and not [p for p in data.rglob(".*")]


# -- train --init-from -------------------------------------------------------------------------------------

def test_train_init_from_starts_from_the_given_weights(tmp_path, capsys):
    import torch

    from edge_rep.checkpoint import load_model
    from edge_rep.dataset import window_arrays
    from edge_rep.features import prepare
    from edge_rep.model import ModelConfig
    from edge_rep.train import TrainConfig, load_init, train_backbone
    from test_train import tiny_dataset
    from tiny_data import TINY, tiny_recordings

    torch.set_num_threads(1)
    data = tiny_dataset(tmp_path / "data")
    small = ["--width", "16", "--layers", "2", "--rep-layer", "1", "--buffer-tokens", "2"]
    rc = main(["train", "--data", str(data), "--out", str(tmp_path / "base"), "--stage1-epochs", "3",
               "--stage2-epochs", "1", "--batch-size", "16", "--quiet", *small])
    assert rc == 0
    base_path = tmp_path / "base" / "model.safetensors"
    base, base_meta = load_model(base_path, profile=TINY)
    # the API: training from the given model starts at its weights (lr ~0: they stay; from scratch: they differ)
    init, record = load_init(base_path, TINY)
    assert record["model_id"] == base_meta.model_id
    arrays = window_arrays(tiny_recordings(), TINY)
    tc = TrainConfig(stage1_epochs=1, stage2_epochs=1, batch_size=16, warmup_steps=1, lr=1e-12, seed=5)
    tuned, _, _ = train_backbone(init.cfg, TINY, arrays, tc, progress=False, init=init)
    scratch, _, _ = train_backbone(ModelConfig.from_dict(base_meta.config), TINY, arrays, tc, progress=False)
    ref = base.state_dict()
    assert all(torch.allclose(v, ref[k], atol=1e-6) for k, v in tuned.state_dict().items())
    assert not all(torch.allclose(v, ref[k], atol=1e-6) for k, v in scratch.state_dict().items()
                   if v.dtype.is_floating_point)
    # and its loss at step 0 is the trained model's, lower than a new model's
    def loss0(model):
        prep = prepare(model, arrays, progress=False)
        idx = np.flatnonzero(prep.y >= 0)
        from edge_rep.features import batch_feats
        present = torch.ones(len(idx), 2)
        with torch.no_grad():
            logits, _, _ = model.forward_features(batch_feats(prep, idx, present), present, torch.zeros(len(idx), 2),
                                                  torch.zeros(len(idx), 2, 2, 16))
        return float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(prep.y[idx])))
    from edge_rep.model import EdgeREP
    fresh = EdgeREP(ModelConfig.from_dict(base_meta.config), TINY)
    fresh.frontend.calibrate(arrays.x, np.asarray(arrays.present, bool))
    assert loss0(load_init(base_path, TINY)[0]) < loss0(fresh)
    # the CLI: a normal model whose sidecar names the model it started from
    capsys.readouterr()
    rc = main(["train", "--data", str(data), "--out", str(tmp_path / "site"), "--init-from", str(base_path),
               "--stage1-epochs", "1", "--stage2-epochs", "1", "--batch-size", "16", "--quiet"])
    assert rc == 0
    assert "fine-tuned from model " + base_meta.model_id in capsys.readouterr().out
    model, meta = load_model(tmp_path / "site" / "model.safetensors", profile=TINY)
    assert meta.extra["init_from"] == {"model_id": base_meta.model_id, "path": str(base_path)}
    assert meta.config == base_meta.config and meta.extra["train_config"]["lr"] == 5e-4
    # refusals: model settings with --init-from; a model of another profile (the bundled one, for TINY data)
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "r1"), "--init-from", str(base_path),
                 "--width", "32", "--quiet"]) == 2
    assert "--init-from keeps the model's settings; drop --width" in capsys.readouterr().err
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "r2"), "--init-from", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("profile" in err or "units" in err or "classes" in err), err
    assert not (tmp_path / "r1" / "model.safetensors").exists() and not (tmp_path / "r2" / "model.safetensors").exists()


# -- the help examples form one chain -----------------------------------------------------------------------

def example(command: str) -> list[str]:
    """The first example of ``edge-rep COMMAND --help``, as argv (after 'edge-rep')."""
    import importlib
    mod = importlib.import_module(f"edge_rep.commands.{command.replace('-', '_')}")
    first = mod.EXAMPLE.split("   |   ")[0]
    argv = shlex.split(first)
    assert argv[0] == "edge-rep"
    return argv[1:]


def opt(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_help_examples_chain_synth_train_evaluate_export_stream():
    parser = build_parser()
    ex = {c: example(c) for c in ("synth", "train", "evaluate", "export", "stream", "record", "label", "dataset")}
    for argv in ex.values():
        parser.parse_args(argv)                           # every example parses
    data = opt(ex["synth"], "--out")
    assert opt(ex["train"], "--data") == data == opt(ex["evaluate"], "--data")
    model = f"{opt(ex['train'], '--out')}/model.safetensors"
    assert opt(ex["evaluate"], "--model") == model == opt(ex["export"], "--checkpoint")
    onnx = f"{opt(ex['export'], '--out')}/{Path(model).stem}.onnx"
    assert opt(ex["stream"], "--model") == onnx
    # the own-site chain: record -> label -> dataset add
    log = opt(ex["record"], "--out")
    assert ex["label"][1] == log and log in ex["dataset"]
    assert data.startswith("data/") and "/data/" in (ROOT / ".gitignore").read_text().split()


def test_own_site_walkthrough_commands_parse():
    text = (ROOT / "docs" / "own-site.md").read_text()
    lines = [ln.strip() for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S) for ln in block.splitlines()]
    cmds = [ln[ln.index("edge-rep "):] for ln in lines if ln.startswith(("edge-rep ", "timeout "))]
    assert {shlex.split(c)[1] for c in cmds} >= {"synth", "simulate", "record", "label", "dataset", "train",
                                                 "evaluate", "export", "stream"}
    parser = build_parser()
    for c in cmds:
        parser.parse_args(shlex.split(re.split(r" [>&]", c)[0])[1:])     # shell redirections and & cut off


# -- train --add-train ----------------------------------------------------------------------------------------

def test_train_add_train_joins_the_train_split_only(tmp_path, capsys):
    from edge_rep.dataset import write_dataset
    from edge_rep.modelspec import ModelMeta
    from test_train import tiny_dataset
    from tiny_data import TINY, tiny_recordings

    data = tiny_dataset(tmp_path / "data")                       # 9 train recordings, the rest test
    recs = tiny_recordings()
    extra = write_dataset(tmp_path / "extra", [(r, s) for r, s in zip(recs[:4], ("train", "val", "test", "train"))],
                          TINY)
    small = ["--width", "16", "--layers", "2", "--rep-layer", "1", "--buffer-tokens", "2", "--stage1-epochs", "1",
             "--stage2-epochs", "1", "--batch-size", "16", "--quiet"]
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "a"), *small]) == 0
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "b"), "--add-train", str(extra), *small]) == 0
    a = ModelMeta.load(tmp_path / "a" / "model.json").extra
    b = ModelMeta.load(tmp_path / "b" / "model.json").extra
    # tiny_dataset has no val split: one warning says what was not fitted
    assert "val split holds no windows" in capsys.readouterr().err
    from edge_rep.dataset import window_arrays
    assert a["train_windows"] == len(window_arrays(recs[:9], TINY))
    assert b["train_windows"] == len(window_arrays(recs[:9] + [recs[0], recs[3]], TINY))   # its train split only
    assert b["add_train"] == [str(extra)] and "add_train" not in a
    # a dataset of another profile: one line naming the option and the folder, nothing written
    from edge_rep.profiles import get_profile
    from edge_rep.synth import make_benchmark
    other = make_benchmark(tmp_path / "other", profile=get_profile("mod"), n_recordings=6, duration_s=4.0,
                           progress=False, n_foreign=0)
    capsys.readouterr()
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "c"), "--add-train", str(other), *small]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--add-train {other}" in err and "profile" in err, err
    assert not (tmp_path / "c" / "model.safetensors").exists()
    # --data itself again: refused (it would train on the same windows twice)
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "e"), "--add-train", str(data), *small]) == 2
    assert "is --data itself" in capsys.readouterr().err
    # a dataset without a train split: refused, naming what to do
    only_test = write_dataset(tmp_path / "t", [(recs[0], "test")], TINY)
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "d"), "--add-train", str(only_test),
                 *small]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "train split is empty" in err, err
