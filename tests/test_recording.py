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
    r.modalities["seismic"] = Channels(np.zeros(500), 200.0, units="m/s")
    with pytest.raises(EdgeRepError, match="200 Hz"):
        r.validate(MOD)
    r = _rec()
    r.modalities["seismic"].units = "counts"          # a dataset never mixes units: counts under m/s is refused
    with pytest.raises(EdgeRepError, match="r1': seismic is in counts but profile 'mod' holds m/s"):
        r.validate(MOD)
    r = _rec()
    r.labels.append(LabelInterval(0, 1, "spaceship"))
    with pytest.raises(EdgeRepError, match="spaceship"):
        r.validate(MOD)


def test_sample_dataclasses_compare_arrays_by_value():
    from edge_rep.dataset import window_arrays
    from firmware_bridge.protocol import FMT_INT16, Data, SampleBlock

    a, b = _rec(gap=(2.0, 3.0)), _rec(gap=(2.0, 3.0))        # equal content, other array objects, NaN gaps
    assert a == b and a.modalities["seismic"] == b.modalities["seismic"]
    b.modalities["acoustic"].data[0, 123] += 1.0
    assert a != b and a.modalities["acoustic"] != b.modalities["acoustic"]
    assert Channels(np.zeros(4), 100.0) != Channels(np.zeros(5), 100.0)          # shapes differ
    assert Channels(np.zeros(4), 100.0) != Channels(np.zeros(4), 200.0)          # rates differ
    assert _rec() != _rec(gap=(2.0, 3.0))
    c = _rec(gap=(2.0, 3.0))
    c.metadata["gains"] = np.ones(3)
    assert c != _rec(gap=(2.0, 3.0)) and c == Recording(**{**c.__dict__, "metadata": {"gains": np.ones(3)}})
    wa, wb = list(_rec().windows(MOD)), list(_rec().windows(MOD))
    assert wa == wb and wa[0] != wa[1]
    assert window_arrays([_rec()], MOD) == window_arrays([_rec()], MOD)
    assert window_arrays([_rec()], MOD) != window_arrays([_rec(gap=(2.0, 3.0))], MOD)
    blocks = [SampleBlock(0, 0, FMT_INT16, np.arange(5)), SampleBlock(0, 0, FMT_INT16, np.arange(5))]
    assert blocks[0] == blocks[1] and blocks[0] != SampleBlock(0, 0, FMT_INT16, np.arange(1, 6))
    assert Data(seq=1, blocks=[blocks[0]]) == Data(seq=1, blocks=[blocks[1]])
    assert Data(seq=1, blocks=[blocks[0]]) != Data(seq=1, blocks=[SampleBlock(0, 0, FMT_INT16, np.arange(4))])
    from edge_rep.stream.classifier import CachedBuffers
    assert CachedBuffers(np.ones((2, 3)), 0, 1.0) == CachedBuffers(np.ones((2, 3)), 0, 1.0)
    assert CachedBuffers(np.ones((2, 3)), 0, 1.0) != CachedBuffers(np.zeros((2, 3)), 0, 1.0)
