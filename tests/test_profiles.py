"""Profiles are checked when made: a sidecar or manifest with a profile no window can be cut with is one
line naming the file, never an endless loop (hop_s = -1) or a silent run with no windows (hop_s = 0)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge_rep.errors import EdgeRepError
from edge_rep.modelspec import ModelMeta
from edge_rep.profiles import MOD, Profile

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "edge_rep" / "models" / "default"


@pytest.mark.parametrize("change, match", [
    ({"hop_s": -1.0}, "hop_s -1.0 must be a finite number of seconds > 0"),
    ({"hop_s": 0.0}, "hop_s 0.0 must be"),
    ({"window_s": float("nan")}, "window_s nan"),
    ({"intervals": 0}, "intervals 0 must be an integer >= 1"),
    ({"intervals": 100000}, "leave an interval without samples"),
    ({"classes": ("car", "car", "truck")}, "distinct non-empty names"),
    ({"classes": ("car", "")}, "distinct non-empty names"),
    ({"classes": ("car",)}, "two or more"),
    ({"modalities": ()}, "one or more distinct names"),
])
def test_bad_profiles_are_refused(change, match):
    d = {**MOD.__dict__, **change}
    with pytest.raises(EdgeRepError, match=match):
        Profile(**d)


def test_sample_rate_and_channels_checked():
    for rate in (0.0, -8000.0, float("inf")):
        with pytest.raises(EdgeRepError, match="sample_rate"):
            Profile.from_dict({**MOD.to_dict(), "modalities": [{"name": "acoustic", "sample_rate": rate}]})
    with pytest.raises(EdgeRepError, match="not a whole number"):
        Profile.from_dict({**MOD.to_dict(), "intervals": 2.5})


@pytest.mark.parametrize("edit, match", [
    (lambda d: d["profile"].update(hop_s=-1), "hop_s -1"),
    (lambda d: d["profile"].update(hop_s=0), "hop_s 0"),
    (lambda d: d["profile"].update(classes=[]), "classes"),
])
def test_replay_with_a_broken_sidecar_is_one_line_error(tmp_path, edit, match):
    shutil.copy(MODEL.with_suffix(".onnx"), tmp_path / "m.onnx")
    d = json.loads(MODEL.with_suffix(".json").read_text())
    edit(d)
    (tmp_path / "m.json").write_text(json.dumps(d))
    with pytest.raises(EdgeRepError, match=f"m.json: profile 'mod': {match}"):
        ModelMeta.load(tmp_path / "m.json")
    r = subprocess.run([sys.executable, "-m", "edge_rep.cli", "replay", str(REPO / "tests/data/logs/clean.edgelog"),
                        "--model", str(tmp_path / "m.onnx")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and match in r.stderr and "Traceback" not in r.stderr
