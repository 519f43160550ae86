"""Levels: the training range a sidecar records, and the episodes a wrong sensor scale produces."""

import numpy as np

from edge_rep.levels import (LevelMonitor, NoiseFloor, above_floor_db, accepted_band, causal_floor_db, level_range,
                             window_level_db, window_levels)
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
    out = [mon.update(window_levels({"seismic": w}, {"seismic": True})) for w in seq]
    flags = [f for f, _ in out]
    assert flags[0] == {} and all(f == {"seismic": "high"} for f in flags[1:5]) and flags[5] == {}
    events = [(i, n["event"]) for i, (_, ns) in enumerate(out) for n in ns]
    assert events == [(3, "level_out_of_range"), (7, "level_in_range")]          # after 3 windows, each way
    n = out[3][1][0]
    assert n["modality"] == "seismic" and 20 < n["relative_db"] < 35 and "wrong scale" in n["message"]   # above the top
    # a dropped channel is not judged; a model without a recorded range never flags
    assert mon.update(window_levels({"seismic": loud()}, {"seismic": False})) == ({}, [])
    assert LevelMonitor({}).update(window_levels({"seismic": loud()}, {"seismic": True})) == ({}, [])


# ---- the site's noise floor (the floor-referenced level feature) -----------------------------------

def test_noise_floor_window_by_window_equals_the_batch_floor_and_is_causal():
    rng = np.random.default_rng(1)
    n = 300
    start = np.arange(n) * 1.0
    lev = rng.normal(-60, 5, n)
    lev[40:50] += 40                                  # a pass-by
    lev[[7, 120]] = np.nan                            # windows without a level are left out
    batch = causal_floor_db(lev, np.zeros(n, int), start)
    live = NoiseFloor()
    np.testing.assert_allclose([live.update(t, v) for t, v in zip(start, lev)], batch)
    assert batch[0] == lev[0]                         # the first window is its own floor
    for i in (5, 45, 200):                            # the 10th percentile of the last 60 s, nothing later
        past = lev[max(0, i - 60):i + 1]
        assert batch[i] == np.percentile(past[np.isfinite(past)], 10)
    later = lev.copy()
    later[201:] += 50
    assert causal_floor_db(later, np.zeros(n, int), start)[200] == batch[200]
    # a pass-by does not lift its own reference: the floor 5 s into it is still the quiet floor
    assert abs(batch[45] - batch[39]) < 3


def test_above_floor_is_gain_invariant_per_recording_and_zero_where_missing():
    rng = np.random.default_rng(2)
    n = 120
    rec = np.repeat([0, 1], n // 2)
    start = np.tile(np.arange(n // 2) * 1.0, 2)
    levels = rng.normal(-50, 6, (n, 2))
    present = np.ones((n, 2), bool)
    present[10:20, 1] = False
    a = above_floor_db(levels, present, rec, start)
    b = above_floor_db(levels + np.array([30.0, -30.0]), present, rec, start)     # both sensors' gains off
    np.testing.assert_allclose(a, b, atol=1e-4)
    assert (a[10:20, 1] == 0).all() and a[0, 0] == 0 and a[n // 2, 0] == 0       # each recording starts at 0
    assert a.dtype == np.float32 and (a >= 0).mean() > 0.8                        # mostly above a 10th percentile


def test_noise_floor_forgets_a_clock_that_went_back():
    f = NoiseFloor(floor_s=10.0)
    for t in range(20):
        f.update(float(t), -80.0)
    assert f.update(20.0, -20.0) == -80.0
    assert f.update(1.0, -20.0) == -20.0              # a reboot nobody announced: start over


def test_window_level_db_in_chunks_is_the_same_as_at_once():
    """Chunks bound the float64 copies a training set's levels need; they change no number."""
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(70, 2, 50)) * np.logspace(-6, 1, 70)[:, None, None]).astype(np.float32)
    x[3] = 2.0                     # constant: -inf
    x[4] = np.nan                  # nothing left: NaN
    x[5, 0, :7] = np.nan           # some samples lost
    np.testing.assert_array_equal(window_level_db(x, chunk=8), window_level_db(x, chunk=1000))
