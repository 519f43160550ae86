"""Training: missing protocol, neighbours for replay, frozen backbone, resume, CLI and a 2-process DDP run."""

import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_rep.checkpoint import load_model
from edge_rep.cli import main
from edge_rep.dataset import window_arrays, write_dataset
from edge_rep.errors import EdgeRepError
from edge_rep.model import ModelConfig
from edge_rep.model import EdgeREP
from edge_rep.features import earlier_window, gain_augment, simulate_missing
from edge_rep.train import TrainConfig, train_adapter, train_backbone
from tiny_data import TINY, tiny_recordings

CFG = ModelConfig(width=16, n_layer=2, n_head=2, buffer_tokens=2, rep_layer=1, dropout=0.0)
TC = TrainConfig(stage1_epochs=2, stage2_epochs=1, batch_size=16, warmup_steps=2)
ROOT = Path(__file__).resolve().parents[1]


def tiny_dataset(path: Path) -> Path:
    recs = tiny_recordings()
    return write_dataset(path, [(r, "train" if i < 9 else "test") for i, r in enumerate(recs)], TINY)


@pytest.fixture(scope="module")
def arrays():
    return window_arrays(tiny_recordings(), TINY)


@pytest.fixture(scope="module")
def stage1(arrays):
    return train_backbone(CFG, TINY, arrays, TC, progress=False)


def test_simulate_missing_protocol():
    rng = np.random.default_rng(0)
    mods = ("acoustic", "seismic")
    p = simulate_missing(20000, 0.7, "acoustic", mods, rng)
    assert abs((p[:, 0] == 0).mean() - 0.7) < 0.02 and (p[:, 1] == 1).all()
    p = simulate_missing(20000, 0.7, "both", mods, rng)
    missing = (p == 0)
    assert abs(missing.any(1).mean() - 0.7) < 0.02
    assert not (missing.sum(1) > 1).any()                       # never both at once
    assert abs(missing[:, 0].mean() - 0.35) < 0.02 and abs(missing[:, 1].mean() - 0.35) < 0.02
    assert (simulate_missing(100, 0.0, "both", mods, rng) == 1).all()
    with pytest.raises(EdgeRepError, match="missing type"):
        simulate_missing(10, 0.5, "video", mods, rng)
    with pytest.raises(EdgeRepError, match="missing rate"):
        simulate_missing(10, 70, "both", mods, rng)


def test_earlier_window():
    rec = np.array([1, 0, 0, 1, 0])
    start = np.array([1.0, 2.0, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(earlier_window(rec, start, 1), [3, 4, -1, -1, 2])
    np.testing.assert_array_equal(earlier_window(rec, start, 2), [-1, 2, -1, -1, -1])


@pytest.mark.parametrize("reference", ["absolute", "floor"])
def test_gain_augment_matches_a_sensor_gain(arrays, reference):
    torch.manual_seed(0)
    model = EdgeREP(replace(CFG, level_reference=reference), TINY)
    model.frontend.calibrate(arrays.x, np.asarray(arrays.present, bool))
    x = [torch.from_numpy(np.asarray(arrays.x[m][:4], np.float32)) for m in TINY.modality_names]
    above = torch.tensor([[3.0, 20.0], [0.0, 0.0], [41.0, -2.0], [0.0, 7.5]])   # a gain moves level and floor alike
    feats = model.frontend(*x, above_floor=above)
    present = torch.tensor([[1.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    aug = gain_augment(model, feats, present, 6.0, np.random.default_rng(3))
    draws = np.random.default_rng(3)
    for m in range(2):
        g_db = draws.uniform(-6.0, 6.0, 4)
        scaled = x[m] * torch.from_numpy(10 ** (g_db / 20)).float()[:, None, None]
        want = model.frontend.one(m, scaled, above[:, m])
        for i in range(4):
            if present[i, m]:     # the same features as the window recorded with that gain
                torch.testing.assert_close(aug[m][i], want[i], atol=2e-3, rtol=1e-3)
            else:                 # a missing modality is left alone
                torch.testing.assert_close(aug[m][i], feats[m][i])
        if reference == "absolute":
            assert not torch.allclose(aug[m], feats[m])
        else:                     # nothing in a floor-referenced model's features depends on the gain
            torch.testing.assert_close(aug[m], feats[m])


def test_stage1_learns(stage1):
    _, _, summary = stage1
    assert summary["epoch"] == TC.stage1_epochs and summary["train_acc"] > 0.5


def test_stage2_freezes_backbone(stage1):
    backbone, prep, _ = stage1
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    model, summary = train_adapter(backbone, prep, "rep", replace(TC, replay_prob=0.5), progress=False)
    after = model.state_dict()
    backbone_names = set(model.backbone_parameter_names()) - {"head.weight", "head.bias"}
    for n in backbone_names:
        torch.testing.assert_close(after[n], before[n], msg=f"{n} changed in stage 2")
    init = train_adapter(backbone, prep, "rep", replace(TC, stage2_epochs=0), progress=False)[0].state_dict()
    assert not torch.allclose(after["private"], init["private"])     # REP buffers trained
    assert not torch.allclose(after["bypass_a"], init["bypass_a"])
    ft, _ = train_adapter(backbone, prep, "finetune", TC, progress=False)
    assert not torch.allclose(ft.state_dict()["blocks.0.attn.qkv.weight"], before["blocks.0.attn.qkv.weight"])


def test_resume_continues(tmp_path, arrays):
    train_backbone(CFG, TINY, arrays, replace(TC, stage1_epochs=1), out=tmp_path, progress=False)
    assert (tmp_path / "stage1.train.safetensors").is_file() and (tmp_path / "stage1.train.json").is_file()
    _, _, summary = train_backbone(CFG, TINY, arrays, TC, out=tmp_path, resume=True, progress=False)
    assert summary["epoch"] == 2


def test_cli_train_and_errors(tmp_path, capsys):
    data = tiny_dataset(tmp_path / "data")
    rc = main(["train", "--data", str(data), "--out", str(tmp_path / "run"), "--stage1-epochs", "1",
               "--stage2-epochs", "1", "--width", "16", "--layers", "2", "--rep-layer", "1", "--buffer-tokens", "2",
               "--batch-size", "16", "--quiet"])
    assert rc == 0
    model, meta = load_model(tmp_path / "run" / "model.safetensors", profile=TINY)
    assert meta.extra["method"] == "rep" and meta.extra["parameters"]["trainable"] < meta.extra["parameters"]["total"]
    # the run folder is never overwritten by accident: rerun without a word, with changed settings, then --fresh
    run = ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--stage1-epochs", "1", "--stage2-epochs",
           "1", "--batch-size", "16", "--quiet"]
    small = ["--width", "16", "--layers", "2", "--rep-layer", "1", "--buffer-tokens", "2"]
    capsys.readouterr()
    before = (tmp_path / "run" / "model.safetensors").read_bytes()
    assert main(run + small) == 2
    err = capsys.readouterr().err
    assert "found a checkpoint at epoch 1 of adapt:rep: pass --resume to continue it or --fresh" in err
    assert err.count("\n") == 1 and (tmp_path / "run" / "model.safetensors").read_bytes() == before
    assert main(run + ["--resume", "--width", "32"]) == 2
    assert "other model settings (width 16 -> 32)" in capsys.readouterr().err
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == before
    assert main(run + small + ["--fresh", "--seed", "1"]) == 0
    assert (tmp_path / "run" / "model.safetensors").read_bytes() != before
    # a folder that is not a run, and a --save over a file that is not a model: refused, untouched
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("my notes")
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "mine"), "--quiet"]) == 2
    assert "is a folder, not an edge-rep training run folder" in capsys.readouterr().err
    (tmp_path / "m.safetensors").write_text("not a model")
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "r6"), "--save", str(tmp_path / "m.safetensors"),
                 "--quiet"]) == 2
    assert "--save" in capsys.readouterr().err and (tmp_path / "m.safetensors").read_text() == "not a model"
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"] and not (tmp_path / "r6").exists()
    assert main(["train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r2"), "--quiet"]) == 2
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "r3"), "--method", "magic"]) == 2
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "r4"), "--missing", "video",
                 "--stage1-epochs", "1", "--quiet"]) == 2
    capsys.readouterr()
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "r5"), "--device", "abacus", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "device 'abacus'" in err and len(err.strip().splitlines()) == 1


def test_ddp_two_processes(tmp_path):
    data = tiny_dataset(tmp_path / "data")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    with socket.socket() as s:          # a free port: other test runs may share this machine
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
           "-m", "edge_rep.cli", "train", "--data", str(data), "--out", str(tmp_path / "run"),
           "--stage1-epochs", "1", "--stage2-epochs", "1", "--width", "16", "--layers", "2", "--rep-layer", "1",
           "--buffer-tokens", "2", "--batch-size", "8", "--quiet"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    _, meta = load_model(tmp_path / "run" / "model.safetensors")
    assert meta.extra["world_size"] == 2
    assert res.stdout.count("wrote ") == 1          # only rank 0 reports
