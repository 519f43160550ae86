"""``edge-rep model info``: the bundled model's summary, a sidecar's validation and level records, which
backends have a file and a runtime, and bad paths as one-line errors."""

from __future__ import annotations

import json
import shutil

from edge_rep.backends import DEFAULT_MODEL
from edge_rep.cli import main
from edge_rep.modelinfo import model_info

BUNDLED = DEFAULT_MODEL.with_suffix(".json")


def test_bundled_model_by_default(capsys):
    assert main(["model", "info"]) == 0
    out = capsys.readouterr().out
    assert main(["model", "info", "default"]) == 0 and capsys.readouterr().out == out      # named as elsewhere
    meta = json.loads(BUNDLED.read_text())
    assert f"model {meta['model_id']}" in out
    assert "classes: " + ", ".join(meta["profile"]["classes"]) in out
    assert "acoustic: 8000 Hz, 1 channel(s), Pa" in out and "seismic: 100 Hz, 1 channel(s), m/s" in out
    assert "window 2 s, hop 1 s" in out and f"data {meta['extra']['dataset']}" in out
    assert "onnxruntime: usable" in out
    t = meta["extra"]["calibration"]["temperature"]["complete"]
    assert "calibration (val split): " in out and f"complete T {t:g}" in out and "uncertain below" in out
    x = meta["extra"]
    if x.get("add_train"):
        assert "+ the train splits of " + ", ".join(x["add_train"]) in out
    if x.get("detections"):
        g = x["detections"]["min_confidence"]["complete"]
        assert "detections reported from a mean confidence of: " in out and f"complete {g:g}" in out


def test_validation_level_range_and_backends_from_the_sidecar(tmp_path, capsys):
    meta = json.loads(BUNDLED.read_text())
    meta["extra"]["validation"] = {"windows": 792, "stage2": {"complete": {"accuracy": 0.82, "macro_f1": 0.8,
                                                                          "windows": 792}}}
    meta["extra"]["level_range"] = {"acoustic": {"unit": "Pa", "percentiles": [1, 99], "all_db": [-40.5, 12.0],
                                                 "windows": 900}}
    (tmp_path / "m.json").write_text(json.dumps(meta))
    shutil.copyfile(DEFAULT_MODEL.with_suffix(".onnx"), tmp_path / "m.onnx")
    info = model_info(tmp_path / "m.onnx")
    assert info["validation"]["stage2"]["complete"]["accuracy"] == 0.82
    assert info["backends"]["onnxruntime"]["usable"] and not info["backends"]["torch"]["file_exists"]
    assert not info["backends"]["tensorrt"]["usable"]
    assert main(["model", "info", str(tmp_path / "m")]) == 0            # a stem works too
    out = capsys.readouterr().out
    assert "stage2: complete 0.82 / 0.8" in out
    assert "acoustic: -40.5 to 12 dB re 1 Pa (900 windows; flagged outside -50.5 .. 22 dB)" in out
    assert "torch: no file" in out
    assert main(["model", "info", str(tmp_path / "m.json"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["model_id"] == meta["model_id"] and d["level_range"]["acoustic"]["all_db"] == [-40.5, 12.0]
    assert d["profile"]["modalities"][1] == {"name": "seismic", "sample_rate_hz": 100.0, "channels": 1,
                                             "units": "m/s"}


def test_bad_paths_are_one_line_errors(tmp_path, capsys):
    for target, words in ((tmp_path / "none.onnx", "no model sidecar"), (tmp_path, "is a folder")):
        assert main(["model", "info", str(target)]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1 and "Traceback" not in err
    (tmp_path / "x.json").write_text('{"not": "a sidecar"}')
    assert main(["model", "info", str(tmp_path / "x.json")]) == 2
    assert "sidecar" in capsys.readouterr().err
