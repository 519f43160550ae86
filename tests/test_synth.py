from collections import Counter

import numpy as np
import pytest

from edge_rep import synth
from edge_rep import synth_dsp as dsp
from edge_rep.errors import EdgeRepError
from edge_rep.profiles import ACIDS, CLASSES, MOD
from edge_rep.synth import Event, Site
from edge_rep.synth_dsp import band_rms, spl_db
from edge_rep.synth_families import FOREIGN_FAMILIES, IN_FAMILIES
from edge_rep.synth_nontarget import HELD_OUT_KINDS, TRAIN_KINDS, NonTarget


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
    quiet = Site(wind_speed=0.5, nontarget_per_min=0.0)
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
    quiet = Site(wind_speed=0.1, nontarget_per_min=0.0, ambient_pa=1e-5, mains_pa=0.0)
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
    quiet = Site(wind_speed=0.5, nontarget_per_min=0.0)
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
    windy = Site(wind_speed=25.0, gustiness=0.5, mic_clip=1.0, nontarget_per_min=0.0)
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


def test_make_benchmark_splits_by_recording_site_and_family(tmp_path):
    from edge_rep.dataset import load_dataset, window_arrays

    out = synth.make_benchmark(tmp_path / "bm", MOD, seed=1, n_recordings=36, duration_s=5.0, progress=False)
    ds = load_dataset(out)
    assert ds.splits() == {"train": 24, "val": 6, "test": 6, "foreign": 6}   # foreign: as many as test
    recs = {s: ds.recordings(s) for s in ("train", "val", "test", "foreign")}
    ids = {s: {r.id for r in rr} for s, rr in recs.items()}
    sites = {s: {r.metadata["site"]["name"] for r in rr} for s, rr in recs.items()}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test"), ("train", "foreign")):
        assert not (ids[a] & ids[b]) and not (sites[a] & sites[b])
    for s in ("train", "val", "test", "foreign"):   # every class in every split
        assert {r.metadata["focus"] for r in recs[s]} == set(CLASSES)
    in_names, foreign_names = {f.name for f in IN_FAMILIES}, {f.name for f in FOREIGN_FAMILIES}
    # foreign families never reach train/val/test; every in-family family is trained on
    assert {r.metadata["family"] for s in ("train", "val", "test") for r in recs[s]} <= in_names
    assert {r.metadata["family"] for r in recs["train"]} == in_names
    assert {r.metadata["family"] for r in recs["foreign"]} == foreign_names
    # held-out non-target kinds never in train/val
    for s in ("train", "val"):
        assert not {k for r in recs[s] for _, _, k in r.metadata["nontarget"]} & set(HELD_OUT_KINDS)
    wa = window_arrays(recs["train"], MOD)
    assert len(wa) == 24 * 4 and set(np.unique(wa.y)) <= set(range(len(CLASSES)))
    assert len(set(np.unique(wa.y))) >= 4


def test_benchmark_plan_is_frozen_and_balanced():
    plan = synth.benchmark_plan(300, seed=0)
    assert len(plan) == 348 and plan == synth.benchmark_plan(300, seed=0)
    by_split = {s: [p for p in plan if p[1] == s] for s in ("train", "val", "test", "foreign")}
    assert {s: len(v) for s, v in by_split.items()} == {"train": 204, "val": 48, "test": 48, "foreign": 48}
    for s in ("train", "val", "test"):            # each in-family family in each split, evenly
        counts = Counter(fam for _, _, fam in by_split[s])
        assert set(counts) == {f.name for f in IN_FAMILIES} and max(counts.values()) - min(counts.values()) <= 1
    assert Counter(fam for _, _, fam in by_split["foreign"]) == {f.name: 24 for f in FOREIGN_FAMILIES}
    assert Counter(c for c, _, _ in by_split["foreign"]) == {c: 8 for c in CLASSES}


def _draw(family, n=40):
    return [Site.random(np.random.default_rng([i, 3]), family=family) for i in range(n)]


def _span(sites, attr):
    vals = [getattr(s, attr) for s in sites]
    return min(vals), max(vals)


def test_families_differ_as_documented():
    """docs/synthetic.md "Foreign families": each foreign family lies outside the in-family ranges."""
    inside = [s for f in IN_FAMILIES for s in _draw(f)]
    rock, peat = _draw("upland-rock"), _draw("peat-bog")
    lo, hi = _span(inside, "rayleigh_speed")
    assert _span(rock, "rayleigh_speed")[0] > 1.3 * hi and _span(peat, "rayleigh_speed")[1] < 0.95 * lo
    assert _span(rock, "geophone_damping")[1] < 0.3 < 0.5 < _span(inside, "geophone_damping")[0]
    assert _span(rock, "seismic_gain")[0] > _span(inside, "seismic_gain")[1]       # open-circuit sensitivity
    assert _span(rock, "temperature_c")[1] < _span(inside, "temperature_c")[0]     # cold air: ISO 9613 absorption
    assert _span(peat, "wind_factor")[0] >= 2.0 and _span(inside, "wind_factor") == (1.0, 1.0)
    # in-family sites differ among themselves too: ground, geophone, microphone, climate
    assert len({s.family for s in inside}) == len(IN_FAMILIES)
    assert {s.geophone_hz < 7 for s in inside} == {True, False}              # 4.5 Hz and 10 Hz geophones
    assert {s.mic_lowcut_hz > 40 for s in inside} == {True, False}           # MEMS and electret microphones
    # the foreign fleet: engines, tracks and gait the in-family fleets never have
    rng = np.random.default_rng(0)
    fleets = {"in": ("mixed", "light"), "foreign": ("foreign",)}
    ev = {k: {lab: [synth.random_event(lab, 0.0, rng, fl) for fl in v for _ in range(60)]
              for lab in synth.SOURCE_CLASSES} for k, v in fleets.items()}
    assert max(e.rpm for e in ev["foreign"]["motorcycle"]) < min(e.rpm for e in ev["in"]["motorcycle"])
    for lab in ("car", "truck"):
        assert not {e.cylinders for e in ev["foreign"][lab]} & {e.cylinders for e in ev["in"][lab]}
    assert min(e.track_pitch for e in ev["foreign"]["tracked"]) > max(e.track_pitch for e in ev["in"]["tracked"])
    assert min(e.cadence for e in ev["foreign"]["pedestrian"]) > max(e.cadence for e in ev["in"]["pedestrian"])


def test_site_draws_stay_in_their_catalogue_ranges():
    from edge_rep.synth_families import CLIMATES, FAMILIES, GEOPHONES, GROUNDS, MICROPHONES, RAYLEIGH_OVER_VS

    for name, fam in FAMILIES.items():
        g, geo, mic, clim = GROUNDS[fam.ground], GEOPHONES[fam.geophone], MICROPHONES[fam.microphone], \
            CLIMATES[fam.climate]
        for s in _draw(name, 15):
            assert s.family == name and s.fleet == fam.fleet
            assert g.vs[0] * RAYLEIGH_OVER_VS[0] <= s.rayleigh_speed <= g.vs[1] * RAYLEIGH_OVER_VS[1]
            assert geo.natural_hz[0] <= s.geophone_hz <= geo.natural_hz[1]
            assert geo.damping[0] <= s.geophone_damping <= geo.damping[1]
            assert mic.lowcut_hz[0] <= s.mic_lowcut_hz <= mic.lowcut_hz[1]
            assert mic.clip_pa[0] <= s.mic_clip <= mic.clip_pa[1]
            assert clim.temperature_c[0] <= s.temperature_c <= clim.temperature_c[1]
            assert clim.cultural[0] <= s.cultural <= clim.cultural[1]
            assert 1e-7 < s.air_to_ground < 1.5e-4     # 1e-6..4e-5 on soils (Sabatier et al. 1986), peat up to 1.4e-4
    with pytest.raises(EdgeRepError, match="unknown synthetic family 'moon'"):
        Site.random(np.random.default_rng(0), family="moon")


def test_same_seed_same_benchmark_recording_with_nontarget_events():
    a = synth.benchmark_recording(MOD, 8.0, 11, "truck", "peat-bog")
    b = synth.benchmark_recording(MOD, 8.0, 11, "truck", "peat-bog")
    for m in ("acoustic", "seismic"):
        assert np.array_equal(a.modalities[m].data, b.modalities[m].data)
    assert a.metadata["nontarget"] == b.metadata["nontarget"] and a.metadata["family"] == "peat-bog"


def _quiet_site(**kw):
    return Site(wind_speed=0.3, nontarget_per_min=0.0, ambient_pa=1e-4, cultural=1e-9, microseismic=1e-9, **kw)


def _one(kind, start, duration, level, **params):
    return NonTarget(kind, start, duration, level, params, seed=7)


def test_nontarget_events_are_background_and_listed():
    nts = [_one("earthquake_local", 5.0, 4.0 + 5.0 * np.log(10), 1e-4, s_minus_p=4.0, corner_hz=10.0, coda_s=5.0),
           _one("thunder", 45.0, 12.0, 5.0, peak_hz=60.0, rumble_s=12.0)]
    r = synth.continuous(MOD, 60.0, seed=1, events=[], site=_quiet_site(), nontarget=nts)
    assert [iv.label for iv in r.labels] == ["background"]
    listed = r.metadata["nontarget"]
    assert [k for _, _, k in listed] == ["earthquake_local", "thunder"]
    assert listed[0][0] == 5.0 and listed[0][1] == pytest.approx(5.0 + 4.0 + 5.0 * np.log(10), abs=1e-3)
    se = r.modalities["seismic"].data[0].astype(float)
    # earthquake: P at 5 s, S (stronger) at 9 s; energy mostly 1-20 Hz on the geophone
    quiet_part, p_part, s_part = se[100:400], se[520:880], se[920:1300]
    assert np.std(p_part) > 10 * np.std(quiet_part) and np.std(s_part) > 1.5 * np.std(p_part)
    assert _band_power(se[500:2000], 100, 1, 20) > 4 * _band_power(se[500:2000], 100, 20, 50)
    # thunder: a low rumble in the air, felt through air-to-ground coupling
    ac = r.modalities["acoustic"].data[0].astype(float)
    seg = ac[45 * 8000:55 * 8000]
    assert spl_db(seg, 8000) > spl_db(ac[35 * 8000:43 * 8000], 8000) + 25
    assert _band_power(seg, 8000, 10, 300) > 5 * _band_power(seg, 8000, 300, 4000)
    assert np.std(se[4500:5500]) > 10 * np.std(se[3500:4300])
    # a kind restriction is honoured; kinds outside the list are refused
    site = Site(nontarget_per_min=30.0)
    drawn = synth.random_nontargets(site, 600.0, np.random.default_rng(0), TRAIN_KINDS)
    assert drawn and not {nt.kind for nt in drawn} & set(HELD_OUT_KINDS)
    assert {nt.kind for nt in synth.random_nontargets(site, 600.0, np.random.default_rng(0))} >= set(HELD_OUT_KINDS)
    with pytest.raises(EdgeRepError, match="volcano"):
        synth.continuous(MOD, 2.0, seed=0, nontarget_kinds=("volcano",))


def test_helicopter_blade_passage_shows_on_the_geophone():
    nt = _one("helicopter", 0.0, 30.0, 0.5, bpf=15.0, tail_hz=80.0, altitude=150.0, speed=30.0, slap=0.5)
    r = synth.continuous(MOD, 30.0, seed=2, events=[], site=_quiet_site(), nontarget=[nt])
    se = r.modalities["seismic"].data[0].astype(float)
    mid = int((nt.start + nt.duration / 2) * 100)
    seg = se[mid - 300:mid + 300]
    f = np.fft.rfftfreq(seg.size, 0.01)
    p = np.abs(np.fft.rfft(seg * np.hanning(seg.size)))
    assert 13.5 < f[np.argmax(p * (f > 5))] < 16.5


# Documented absolute levels (docs/synthetic.md "Absolute levels"); the references are Peterson's (1993)
# NLNM/NHNM over 1-45 Hz (6.6e-10 and 1.6e-6 m/s rms, benchmarks/bench_synth_levels.py) and the RS4D record's
# quiet 1.3e-7 m/s rms.
NLNM_RMS, NHNM_RMS = 6.6e-10, 1.6e-6


def test_background_levels_lie_between_the_noise_models():
    seis, dba = [], []
    for i, fam in enumerate(IN_FAMILIES * 3):
        site = Site.random(np.random.default_rng([i, 9]), family=fam)
        site.nontarget_per_min = 0.0
        r = synth.continuous(MOD, 12.0, seed=i, events=[], site=site)
        seis.append(band_rms(r.modalities["seismic"].data[0], 100.0, 1.0, 45.0))
        dba.append(spl_db(r.modalities["acoustic"].data[0], 8000.0, a_weighted=True))
    assert NLNM_RMS < min(seis) and max(seis) < NHNM_RMS
    assert 3e-8 < np.median(seis) < 5e-7            # the RS4D record's quiet 1.3e-7 m/s sits inside
    assert 28 < min(dba) and np.median(dba) < 55 and 30 < np.median(dba)


@pytest.mark.parametrize("label, distance, dba, ground", [
    ("car", 10.0, (50.0, 72.0), (4e-7, 2e-5)),            # ISO 11819-1 SPB; Tholen 1974: trucks ~10x cars
    ("truck", 15.24, (62.0, 86.0), (3e-6, 1.5e-4)),       # FTA "bus or truck, typical" 63 VdB = 3.6e-5 m/s
])
def test_pass_by_levels_within_documented_ranges(label, distance, dba, ground):
    for i in range(4):
        rng = np.random.default_rng([i, 4])
        site = Site.random(rng, family=IN_FAMILIES[i])
        site.nontarget_per_min, site.wind_speed, site.geophone_hz = 0.0, 0.3, 0.01    # a flat velocity sensor
        ev = synth.random_event(label, 10.0, rng, site.fleet)
        ev.cpa_distance = distance
        r = synth.continuous(MOD, 20.0, seed=i, events=[ev], site=site)
        ac = r.modalities["acoustic"].data[0, 9 * 8000:11 * 8000]
        assert dba[0] < spl_db(ac, 8000.0, a_weighted=True) < dba[1]
        se = r.modalities["seismic"].data[0].astype(float)
        assert ground[0] < np.std(se[900:1100]) < ground[1]


def test_geophone_and_microphone_responses():
    x = np.random.default_rng(0).standard_normal(100 * 60)
    y = dsp.geophone_response(x, 100.0, 10.0, 0.7)
    assert band_rms(y, 100, 2, 3) < 0.1 * band_rms(x, 100, 2, 3)          # -12 dB/octave below 10 Hz
    assert band_rms(y, 100, 25, 40) == pytest.approx(band_rms(x, 100, 25, 40), rel=0.1)
    peaky = dsp.geophone_response(x, 100.0, 10.0, 0.25)                     # open circuit: +6 dB at 10 Hz
    assert band_rms(peaky, 100, 9, 11) > 1.6 * band_rms(x, 100, 9, 11)
    # ISO 9613-1 at 20 degC, 70 % RH (its Table: 5.0 dB/km at 1 kHz, 22.9 at 4 kHz)
    assert dsp.air_absorption_db_per_m(1000.0) * 1000 == pytest.approx(5.0, abs=0.1)
    assert dsp.air_absorption_db_per_m(3981.0) * 1000 == pytest.approx(22.9, abs=0.3)
    assert dsp.a_weighting_db(100.0) == pytest.approx(-19.1, abs=0.1)


def test_cli_help_names_the_default_benchmark_size(capsys):
    from edge_rep.cli import main
    with pytest.raises(SystemExit):
        main(["synth", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"benchmark's {synth.BENCHMARK_RECORDINGS})" in text
    assert f"benchmark's {synth.BENCHMARK_DURATION_S:g})" in text
