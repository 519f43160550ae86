"""Levels: the training range a sidecar records, and the episodes a wrong sensor scale produces."""

import numpy as np

from edge_rep.levels import LevelMonitor, accepted_band, level_range, window_level_db
from tiny_data import TINY


def test_window_level_is_rms_in_db_without_the_dc_offset_and_ignores_lost_samples():
    x = np.tile(np.where(np.arange(100) % 2, 1.0, -1.0), (3, 1, 1)) + 5.0   # +-1 about a DC offset of 5
    x[1] = (x[1] - 5.0) * 10.0 + 5.0
    x[2, 0, :50] = np.nan                     # lost samples are left out, not taken as zeros
    np.testing.assert_allclose(window_level_db(x), [0.0, 20.0, 0.0], atol=1e-9)
    assert window_level_db(np.full((1, 1, 10), 3.0))[0] == -np.inf          # a constant is no signal
    assert window_level_db(np.zeros((0, 1, 10))).shape == (0,)               # no windows of a modality


def test_level_range_keeps_background_and_targets_apart():
    rng = np.random.default_rng(0)
    n = 200
    y = np.where(np.arange(n) % 2 == 0, 0, 1)                     # class 0 is "a" (no background in TINY)
    x = {"acoustic": rng.standard_normal((n, 1, 800)) * np.where(y == 0, 0.01, 1.0)[:, None, None],
         "seismic": rng.standard_normal((n, 1, 100)) * 1e-6}
    present = np.ones((n, 2), bool)
    present[:10, 1] = False
    rec = level_range(x, present, y, TINY)
    assert rec["acoustic"]["unit"] == "Pa" and rec["seismic"]["windows"] == n - 10
    lo, hi = rec["acoustic"]["all_db"]
    assert -45 < lo < -35 and -5 < hi < 5                           # 0.01 Pa and 1 Pa rms windows
    assert rec["acoustic"]["background_db"] is None                 # TINY has no background class
    assert accepted_band(rec["acoustic"], margin_db=10) == (lo - 10, hi + 10)


def test_a_61_db_scale_error_is_one_episode_with_its_cause():
    rec = {"seismic": {"unit": "m/s", "all_db": [-130.0, -100.0], "background_db": [-130.0, -120.0],
                       "targets_db": [-115.0, -100.0]}}
    mon = LevelMonitor(rec)
    rng = np.random.default_rng(1)
    quiet = lambda: rng.standard_normal((1, 200)) * 10 ** (-125 / 20)          # noqa: E731
    loud = lambda: quiet() * 10 ** (61 / 20)                                     # noqa: E731
    seq = [quiet(), loud(), loud(), loud(), loud(), quiet(), quiet(), quiet(), quiet()]
    out = [mon.update({"seismic": w}, {"seismic": True}) for w in seq]
    flags = [f for f, _ in out]
    assert flags[0] == {} and all(f == {"seismic": "high"} for f in flags[1:5]) and flags[5] == {}
    events = [(i, n["event"]) for i, (_, ns) in enumerate(out) for n in ns]
    assert events == [(3, "level_out_of_range"), (7, "level_in_range")]          # after 3 windows, each way
    n = out[3][1][0]
    assert n["modality"] == "seismic" and 20 < n["relative_db"] < 35 and "wrong scale" in n["message"]   # above the top
    # a dropped channel is not judged; a model without a recorded range never flags
    assert mon.update({"seismic": loud()}, {"seismic": False}) == ({}, [])
    assert LevelMonitor({}).update({"seismic": loud()}, {"seismic": True}) == ({}, [])
