import numpy as np
import pytest

from edge_rep.errors import EdgeRepError
from edge_rep.profiles import MOD
from edge_rep.recording import Channels, LabelInterval, Recording


def _rec(seconds=5.0, gap=None):
    a = np.random.default_rng(0).normal(size=int(8000 * seconds)).astype(np.float32)
    s = np.ones(int(100 * seconds), dtype=np.float32)
    if gap:
        s[int(gap[0] * 100):int(gap[1] * 100)] = np.nan
    return Recording("r1", {"acoustic": Channels(a, 8000.0, 10.0, "Pa"), "seismic": Channels(s, 100.0, 10.0, "m/s")},
                     labels=[LabelInterval(0.0, 2.5, "car"), LabelInterval(2.5, 5.0, "truck")], start_time=10.0)


def test_windows_count_shapes_labels():
    ws = list(_rec().windows(MOD))
    assert [w.start for w in ws] == [0.0, 1.0, 2.0, 3.0]
    assert ws[0].data["acoustic"].shape == (1, 16000) and ws[0].data["seismic"].shape == (1, 200)
    assert [w.label for w in ws] == ["car", "car", "truck", "truck"]


def test_gap_marks_modality_absent_and_keeps_time():
    ws = list(_rec(gap=(2.0, 3.0)).windows(MOD))
    assert [w.present["seismic"] for w in ws] == [True, False, False, True]
    assert all(w.present["acoustic"] for w in ws)
    assert np.all(ws[1].data["seismic"][0, 100:] == 0.0) and np.all(ws[1].data["seismic"][0, :100] == 1.0)


def test_validate_rejects_wrong_rate_and_unknown_label():
    r = _rec()
    r.validate(MOD)
    r.modalities["seismic"] = Channels(np.zeros(500), 200.0)
    with pytest.raises(EdgeRepError, match="200 Hz"):
        r.validate(MOD)
    r = _rec()
    r.labels.append(LabelInterval(0, 1, "spaceship"))
    with pytest.raises(EdgeRepError, match="spaceship"):
        r.validate(MOD)
