"""Evaluation: metrics, and that a tiny table run writes its tables, PNGs and JSON."""

import json

import numpy as np
import pytest

from edge_rep.cli import main
from edge_rep.dataset import window_arrays, write_dataset
from edge_rep.evaluate import evaluate
from edge_rep.metrics import confusion, macro_f1
from edge_rep.model import ModelConfig
from edge_rep.train import TrainConfig
from tiny_data import TINY, tiny_recordings


def test_metrics():
    y, pred = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])
    assert macro_f1(y, pred, 3) == pytest.approx((2 / 3 + 0.8) / 2)   # class 2 absent: not averaged
    np.testing.assert_array_equal(confusion(y, pred, 2), [[1, 1], [0, 2]])
    assert macro_f1(y, y, 2) == 1.0


def test_tiny_table_writes_outputs(tmp_path):
    cfg = ModelConfig(width=16, n_layer=4, n_head=2, buffer_tokens=2, rep_layer=2, dropout=0.0)
    tc = TrainConfig(stage1_epochs=1, stage2_epochs=1, batch_size=32, warmup_steps=1)
    res = evaluate(window_arrays(tiny_recordings(9, 3.0), TINY), window_arrays(tiny_recordings(6, 3.0, seed=1), TINY),
                   TINY, tmp_path, cfg, tc, etas=(0.5, 0.7), types=("acoustic", "both"), methods=("rep", "zerofill"),
                   progress=False)
    rows = res["rows"]
    assert len(rows) == 2 * 2 * 2
    assert {r["method"] for r in rows} == {"zerofill", "rep"}
    for r in rows:
        assert 0.0 <= r["accuracy"] <= 1.0 and 0.0 <= r["macro_f1"] <= 1.0
    rep = [r for r in rows if r["method"] == "rep"]
    assert all(0 < r["trainable_params"] < res["backbone_parameters"] for r in rep)
    assert all(r["trainable_params"] == 0 for r in rows if r["method"] == "zerofill")
    assert {a["variant"] for a in res["ablation"]} >= {"REP (full)", "no bypass", "private only", "shared only",
                                                       "no orthogonality loss", "random init", "replay layer k=1"}
    assert res["replay"] and all(r["windows"] > 0 for r in res["replay"])
    assert all(0.0 <= r["acc_zerofill"] <= 1.0 for r in res["replay"])   # the other methods, same windows
    for name in ("table.md", "table.csv", "ablation.md", "ablation.csv", "replay.md", "replay.csv", "results.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    for png in ("accuracy_vs_eta.png", "confusion_rep.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"
    assert "| eta | missing | method |" in (tmp_path / "table.md").read_text()
    assert json.loads((tmp_path / "results.json").read_text())["test_windows"] > 0


def test_cli_bad_input(tmp_path):
    data = write_dataset(tmp_path / "d",
                         [(r, "train" if i < 6 else "test") for i, r in enumerate(tiny_recordings(9, 3.0))], TINY)
    assert main(["evaluate", "--data", str(data), "--out", str(tmp_path / "e"), "--methods", "magic"]) == 2
    assert main(["evaluate", "--data", str(data), "--out", str(tmp_path / "e"), "--eta", "170"]) == 2
    assert main(["evaluate", "--data", str(data), "--out", str(tmp_path / "e"), "--missing", "video",
                 "--methods", "zerofill", "--stage1-epochs", "1"]) == 2
    assert main(["evaluate", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "e")]) == 2


def test_train_then_score_a_finished_model(tmp_path, capsys):
    """`train` prints and stores validation figures and the training data's level range; `evaluate --model`
    scores the finished model on the split asked, without training, and writes metrics.json + PNGs."""
    from dataclasses import replace

    from edge_rep.modelspec import ModelMeta
    from edge_rep.profiles import ModalitySpec
    recs = tiny_recordings(15, 3.0)
    data = write_dataset(tmp_path / "d", [(r, ("train", "val", "test")[i % 3]) for i, r in enumerate(recs)], TINY)
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "run"), "--stage1-epochs", "2",
                 "--stage2-epochs", "1", "--width", "16", "--layers", "2", "--rep-layer", "1", "--buffer-tokens", "2",
                 "--batch-size", "16", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "validation, stage 1 (backbone): complete " in out and "validation, stage 2 (rep): complete " in out
    model = tmp_path / "run" / "model.safetensors"
    x = ModelMeta.load(model.with_suffix(".json")).extra
    assert set(x["validation"]["stage2"]) == {"complete", "acoustic_missing", "seismic_missing"}
    lr = x["level_range"]["acoustic"]
    assert lr["unit"] == "Pa" and lr["all_db"][0] <= lr["all_db"][1] and lr["windows"] > 0
    assert main(["evaluate", "--model", str(model), "--data", str(data), "--split", "val",
                 "--out", str(tmp_path / "score"), "--quiet"]) == 0
    m = json.loads((tmp_path / "score" / "metrics.json").read_text())
    assert set(m["scenarios"]) == {"complete", "acoustic_missing", "seismic_missing"}
    for name, s in m["scenarios"].items():
        assert 0 <= s["accuracy"] <= 1 and s["windows"] > 0 and set(s["per_class"]) == set(TINY.classes)
        assert (tmp_path / "score" / f"confusion_{name}.png").read_bytes()[:4] == b"\x89PNG"
    # calibration: temperatures fitted on validation, in the weights and the sidecar; ECE and the
    # uncertain flag's figures per scenario, and a reliability diagram
    cal, unc = x["calibration"], x["uncertain"]
    assert set(cal["temperature"]) == set(m["scenarios"]) and all(0.05 <= t <= 20 for t in cal["temperature"].values())
    from edge_rep.checkpoint import load_model
    net, _ = load_model(model)
    assert net.temperature.tolist() == pytest.approx([cal["temperature"][n] for n in net.scenario_names], abs=1e-6)
    for name, s in m["scenarios"].items():
        assert 0 <= s["ece"] <= 1 and sum(s["reliability"]["windows"]) == s["windows"]
        assert s["uncertain"]["threshold"] == unc["threshold"][name] and 0 <= s["uncertain"]["target_flagged"] <= 0.25
    assert (tmp_path / "score" / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    # the detections' minimum confidence per scenario: a higher quantile of the same target windows
    gate = x["detections"]["min_confidence"]
    assert set(gate) == set(m["scenarios"]) and all(gate[n] >= unc["threshold"][n] for n in gate)
    assert x["detections"]["target_rate"] == pytest.approx(0.2)
    assert "| ECE |" in (tmp_path / "score" / "metrics.md").read_text()
    # the validation accuracy train stored is the one evaluate --model measures on the same split
    assert abs(m["scenarios"]["complete"]["accuracy"] - x["validation"]["stage2"]["complete"]["accuracy"]) < 0.02
    assert m["levels"]["acoustic"]["below"] == 0 and m["levels"]["acoustic"]["above"] == 0
    # data in counts is refused by a model trained in Pa: one line naming the fix
    counts = replace(TINY, modalities=(ModalitySpec("acoustic", 800.0, 1, "counts"), TINY.modalities[1]))
    for r in recs:
        r.modalities["acoustic"].units = "counts"
    data2 = write_dataset(tmp_path / "d2", [(r, "test") for r in recs], counts)
    capsys.readouterr()
    assert main(["evaluate", "--model", str(model), "--data", str(data2), "--out", str(tmp_path / "s2")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "acoustic is in counts, but" in err and "--sensitivity" in err
    assert not (tmp_path / "s2").exists()


def test_nontarget_figures_count_background_windows_only():
    """A pass-by window that a non-target event overlaps is a target window: calling it background is no
    success, so it is not in the non-target figures (only in the targets flagged)."""
    from types import SimpleNamespace

    from edge_rep.evaluate_model import _uncertain
    meta = SimpleNamespace(extra={"uncertain": {"threshold": {"complete": 0.5}}}, classes=("background", "car"))
    probs = np.array([[0.9, 0.1],      # background, aircraft overhead: called background -> caught
                      [0.3, 0.7],      # background, aircraft: called car at 0.7 -> missed
                      [0.2, 0.8],      # a car pass-by under the aircraft: right, and not a non-target window
                      [0.55, 0.45],    # background, thunder (held out): called background -> caught
                      [0.1, 0.9]])     # a quiet car window
    y = np.array([0, 0, 1, 0, 1])
    kinds = np.array(["aircraft", "aircraft", "aircraft", "thunder", ""], dtype=object)
    u = _uncertain(meta, "complete", probs, y, kinds, None)
    assert u["nontarget_fitted_kinds"] == {"windows": 2, "flagged_or_background": 0.5, "kinds": ["aircraft"]}
    assert u["nontarget_held_out_kinds"] == {"windows": 1, "flagged_or_background": 1.0, "kinds": ["thunder"]}
    assert u["target_windows"] == 2 and u["target_flagged"] == 0.0
