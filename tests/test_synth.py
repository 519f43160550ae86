import numpy as np
import pytest

from edge_rep import synth
from edge_rep.errors import EdgeRepError
from edge_rep.profiles import ACIDS, CLASSES, MOD
from edge_rep.synth import Event, Site


def _band_power(x, fs, lo, hi):
    f = np.fft.rfftfreq(x.size, 1 / fs)
    p = np.abs(np.fft.rfft(x)) ** 2
    return p[(f >= lo) & (f < hi)].sum()


def test_same_seed_same_arrays_and_different_seed_differs():
    a = synth.continuous(MOD, 6.0, seed=3)
    b = synth.continuous(MOD, 6.0, seed=3)
    c = synth.continuous(MOD, 6.0, seed=4)
    for m in ("acoustic", "seismic"):
        assert np.array_equal(a.modalities[m].data, b.modalities[m].data)
        assert not np.array_equal(a.modalities[m].data, c.modalities[m].data)
    assert a.modalities["acoustic"].data.shape == (1, 48000) and a.modalities["seismic"].data.shape == (1, 600)
    assert a.modalities["acoustic"].data.dtype == np.float32
    a.validate(MOD)


def test_acids_profile_rates():
    r = synth.continuous(ACIDS, 3.0, seed=1)
    assert {m: c.data.shape for m, c in r.modalities.items()} == {"acoustic": (1, 3072), "seismic": (1, 3072)}


def test_labels_cover_detection_range_only():
    quiet = Site(wind_speed=0.5, interferers_per_min=0.0)
    ev = Event("car", t_cpa=10.0, speed=10.0, cpa_distance=5.0, rpm=2000, cylinders=4, engine_level=0.4, seed=1)
    r = synth.continuous(MOD, 20.0, seed=0, events=[ev], site=quiet)
    car = [iv for iv in r.labels if iv.label == "car"]
    assert len(car) == 1
    half = np.sqrt(synth.DETECTION_RANGE_M["car"] ** 2 - 25) / 10.0
    assert car[0].start == pytest.approx(10.0 - half, abs=0.06) and car[0].end == pytest.approx(10.0 + half, abs=0.06)
    assert r.labels[0].label == "background" and r.labels[-1].label == "background"
    assert r.labels[0].start == 0.0 and r.labels[-1].end == pytest.approx(20.0)
    # the engine is louder at closest approach than far away, in both modalities
    ac, se = r.modalities["acoustic"].data[0], r.modalities["seismic"].data[0]
    assert np.std(ac[9 * 8000:11 * 8000]) > 3 * np.std(ac[0:2 * 8000])
    assert np.std(se[900:1100]) > 3 * np.std(se[0:200])


def test_engine_fundamental_and_doppler():
    quiet = Site(wind_speed=0.1, interferers_per_min=0.0, ambient_pa=1e-5, mains_pa=0.0)
    # 2400 rpm, 4 cylinders -> 80 Hz firing; at 20 m/s the approach is shifted up ~6 %, the retreat down
    ev = Event("car", t_cpa=10.0, speed=20.0, cpa_distance=20.0, rpm=2400, cylinders=4, engine_level=0.5, seed=2,
               rpm_wander=0.0)
    r = synth.continuous(MOD, 20.0, seed=0, events=[ev], site=quiet)
    ac = r.modalities["acoustic"].data[0].astype(float)

    def peak(t0):
        seg = ac[int(t0 * 8000):int((t0 + 1.0) * 8000)]
        f = np.fft.rfftfreq(seg.size, 1 / 8000)
        p = np.abs(np.fft.rfft(seg * np.hanning(seg.size)))
        band = (f > 60) & (f < 100)
        return f[band][np.argmax(p[band])]
    approaching, receding = peak(7.0), peak(12.0)
    assert 82 < approaching < 88 and 72 < receding < 78


def test_footsteps_are_seismic_and_tracked_is_strongest():
    quiet = Site(wind_speed=0.5, interferers_per_min=0.0)
    walk = Event("pedestrian", t_cpa=5.0, speed=1.4, cpa_distance=3.0, cadence=1.8, seed=5)
    r = synth.continuous(MOD, 10.0, seed=0, events=[walk], site=quiet)
    se = r.modalities["seismic"].data[0].astype(float)
    assert _band_power(se, 100, 10, 45) > 5 * _band_power(se, 100, 0.1, 1.0)   # footsteps dominate 10-45 Hz
    z = se - se.mean()
    assert (z ** 4).mean() / (z ** 2).mean() ** 2 > 5     # impulsive (Gaussian noise: 3)
    levels = {}
    for lab in ("car", "tracked"):
        ev = synth.random_event(lab, 5.0, np.random.default_rng(1))
        ev.cpa_distance = 10.0
        rr = synth.continuous(MOD, 10.0, seed=0, events=[ev], site=quiet)
        levels[lab] = np.std(rr.modalities["seismic"].data[0, 400:600])
    assert levels["tracked"] > 3 * levels["car"]


def test_wind_gusts_saturate_microphone():
    windy = Site(wind_speed=25.0, gustiness=0.5, mic_clip=1.0, interferers_per_min=0.0)
    r = synth.continuous(MOD, 5.0, seed=2, events=[], site=windy)
    ac = r.modalities["acoustic"].data[0]
    assert np.abs(ac).max() == pytest.approx(1.0 * windy.acoustic_gain, rel=1e-6)
    assert (np.abs(ac) >= 0.999).mean() > 0.01
    assert all(iv.label == "background" for iv in r.labels)


def test_random_events_do_not_overlap_and_classes_are_known():
    evs = synth.random_events(300.0, np.random.default_rng(0))
    spans = sorted(e.in_range_span() for e in evs)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    assert {e.label for e in evs} <= set(CLASSES) - {"background"}
    assert len({e.label for e in evs}) >= 4


def test_bad_arguments_raise_edge_rep_error():
    with pytest.raises(EdgeRepError, match="duration"):
        synth.continuous(MOD, -1.0, seed=0)
    with pytest.raises(EdgeRepError, match="spaceship"):
        synth.continuous(MOD, 2.0, seed=0, events=[Event("spaceship", 1.0, 1.0, 1.0)])


def test_make_benchmark_splits_by_recording(tmp_path):
    from edge_rep.dataset import load_dataset, window_arrays

    out = synth.make_benchmark(tmp_path / "bm", MOD, seed=1, n_recordings=24, duration_s=5.0, progress=False)
    ds = load_dataset(out)
    assert ds.splits() == {"train": 12, "val": 6, "test": 6}
    ids = {s: {r.id for r in ds.recordings(s)} for s in ("train", "val", "test")}
    assert not (ids["train"] & ids["test"]) and not (ids["train"] & ids["val"])
    for s in ("train", "val", "test"):   # every class in every split
        assert {r.metadata["focus"] for r in ds.recordings(s)} == set(CLASSES)
    wa = window_arrays(ds.recordings("train"), MOD)
    assert len(wa) == 12 * 4 and set(np.unique(wa.y)) <= set(range(len(CLASSES)))
    assert len(set(np.unique(wa.y))) >= 4


def test_cli_help_names_the_default_benchmark_size(capsys):
    from edge_rep.cli import main
    with pytest.raises(SystemExit):
        main(["synth", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"benchmark's {synth.BENCHMARK_RECORDINGS})" in text
    assert f"benchmark's {synth.BENCHMARK_DURATION_S:g})" in text
