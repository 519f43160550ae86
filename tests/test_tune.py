"""benchmarks/tune_rep.py: the validation sweep runs on saved features, with other backbone seeds too."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_rep.checkpoint import save_model
from edge_rep.dataset import load_dataset, window_arrays, write_dataset
from edge_rep.errors import EdgeRepError
from edge_rep.model import ModelConfig
from edge_rep.distributed import resolve_device
from edge_rep.train import TrainConfig, train_backbone
from tiny_data import TINY, tiny_recordings

ROOT = Path(__file__).resolve().parent.parent


def _tune():
    spec = importlib.util.spec_from_file_location("tune_rep", ROOT / "benchmarks" / "tune_rep.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_sweep_on_saved_features(tmp_path):
    recs = tiny_recordings(12, 3.0)
    data = write_dataset(tmp_path / "d", [(r, "train" if i < 8 else "val") for i, r in enumerate(recs)], TINY)
    cfg = ModelConfig(width=16, n_layer=2, n_head=2, buffer_tokens=2, rep_layer=1, dropout=0.0)
    tc = TrainConfig(stage1_epochs=2, batch_size=32, warmup_steps=1, device="cpu")
    backbone, _, _ = train_backbone(cfg, TINY, window_arrays(load_dataset(data).recordings("train"), TINY), tc,
                                    progress=False)
    save_model(backbone, tmp_path / "bb.safetensors")
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps([{"name": "mask", "method": "mask"},
                                {"name": "REP", "train": {"stage2_epochs": 1, "batch_size": 32}}]))
    tune = _tune()
    feats = tmp_path / "f.npz"
    common = ["--backbone", str(tmp_path / "bb.safetensors"), "--grid", str(grid), "--seeds", "0",
              "--types", "both", "--device", "cpu"]
    assert tune.main(["--data", str(data), "--save-features", str(feats), "--out", str(tmp_path / "a"), *common]) == 0
    rows = [json.loads(line) for line in (tmp_path / "a" / "rows.jsonl").read_text().splitlines()]
    assert [(r["name"], r["missing"]) for r in rows] == [("mask", "both"), ("REP", "both")]
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in rows)
    assert rows[0]["trainable"] == 0 and rows[1]["trainable"] > 0
    assert "| mask |" in (tmp_path / "a" / "summary.md").read_text()
    # the saved features give the same scores, and a retrained stage 1 runs the grid again
    assert tune.main(["--features", str(feats), "--out", str(tmp_path / "b"), "--backbone-seeds", "0", "1",
                      "--stage1-epochs", "1", *common]) == 0
    again = [json.loads(line) for line in (tmp_path / "b" / "rows.jsonl").read_text().splitlines()]
    by = {(r["name"], r["backbone_seed"]): r["accuracy"] for r in again}
    assert by[("mask", 0)] == rows[0]["accuracy"] and by[("REP", 0)] == rows[1]["accuracy"]
    assert ("mask [backbone 1]", 1) in by and (tmp_path / "b" / "backbone-seed1.safetensors").is_file()
    z = np.load(feats)
    assert {"train.feat0", "val.feat1", "val.y"} <= set(z.files)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(EdgeRepError, match="use auto, cpu"):
        resolve_device("abacus")
    if not torch.cuda.is_available():
        with pytest.raises(EdgeRepError, match="--device cpu"):
            resolve_device("cuda")


def test_bad_input_is_one_line(tmp_path, capsys):
    tune = _tune()
    grid = tmp_path / "g.json"
    args = ["--features", str(tmp_path / "none.npz"), "--backbone", str(tmp_path / "none.safetensors"),
            "--grid", str(grid), "--out", str(tmp_path / "out")]
    for text, want in (('[{"name": "x", "model": {"bogus": 1}}]', "unknown model.bogus"),
                       ('[{"name": "x", "method": "magic"}]', "method magic"),
                       ("{not json", "not JSON"),
                       ('[{"name": "x"}]', "none.safetensors")):
        grid.write_text(text)
        assert tune.cli(args) == 2
        err = capsys.readouterr().err
        assert want in err and len(err.strip().splitlines()) == 1, err


def test_final_report_scores_each_split_and_pairs_with_rep(tmp_path):
    recs = tiny_recordings(15, 3.0)
    splits = ["train"] * 9 + ["val"] * 3 + ["test"] * 3
    data = write_dataset(tmp_path / "d", list(zip(recs, splits)), TINY)
    cfg = ModelConfig(width=16, n_layer=2, n_head=2, buffer_tokens=2, rep_layer=1, dropout=0.0)
    tc = TrainConfig(stage1_epochs=1, batch_size=32, warmup_steps=1, device="cpu")
    backbone, _, _ = train_backbone(cfg, TINY, window_arrays(load_dataset(data).recordings("train"), TINY), tc,
                                    progress=False)
    save_model(backbone, tmp_path / "bb.safetensors")
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps([{"name": "REP", "train": {"stage2_epochs": 1, "batch_size": 32}},
                                {"name": "MAP", "method": "map", "train": {"stage2_epochs": 1, "batch_size": 32}}]))
    tune = _tune()
    # a backbone retrained on complete windows only (--stage1), scored on validation and test
    assert tune.main(["--data", str(data), "--save-features", str(tmp_path / "f.npz"), "--out", str(tmp_path / "r"),
                      "--backbone", str(tmp_path / "bb.safetensors"), "--grid", str(grid), "--seeds", "0", "1",
                      "--types", "seismic", "--device", "cpu", "--splits", "val", "test", "--stage1",
                      '{"modality_dropout": 0, "stage1_epochs": 1}']) == 0
    rows = [json.loads(line) for line in (tmp_path / "r" / "rows.jsonl").read_text().splitlines()]
    assert sorted({(r["name"], r["split"]) for r in rows}) == [("MAP", "test"), ("MAP", "val"), ("REP", "test"),
                                                               ("REP", "val")]
    assert len(rows) == 8 and (tmp_path / "r" / "backbone-seed0.safetensors").is_file()
    summary = (tmp_path / "r" / "summary.md").read_text()
    assert "### test split: REP minus each variant, paired over seeds (points)" in summary
    rep = {(r["split"], r["seed"]): r["accuracy"] for r in rows if r["name"] == "REP"}
    mp = {(r["split"], r["seed"]): r["accuracy"] for r in rows if r["name"] == "MAP"}
    diff = np.mean([100 * (rep["test", s] - mp["test", s]) for s in (0, 1)])
    assert f"{diff:+.2f}" in summary.split("### test split: REP minus")[1]
    # a features file without the test split is refused for a test report: one line, exit 2
    z = tmp_path / "f2.npz"
    np.savez(z, **{k: v for k, v in np.load(tmp_path / "f.npz").items() if not k.startswith("test.")})
    assert tune.cli(["--features", str(z), "--out", str(tmp_path / "r2"), "--backbone",
                     str(tmp_path / "bb.safetensors"), "--grid", str(grid), "--splits", "test", "--device", "cpu"]) == 2
