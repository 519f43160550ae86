from pathlib import Path

import numpy as np
import pytest

from edge_rep.calibration import Calibration
from edge_rep.errors import EdgeRepError
from edge_rep.loaders import acids, assign_splits, loader, mod_csv, mod_pt, mseed, wav
from edge_rep.profiles import ACIDS, MOD

from fixtures_data import write_acids_run, write_mod_csv_node, write_mod_pt, write_wav

# data kept in counts (or digital full scale) on purpose: convert's --units counts / --units FS
COUNTS = Calibration(units={None: "counts"})
FS = Calibration(units={None: "FS"})
# a Raspberry Shake's geophone (counts per m/s) and a made-up microphone (counts per Pa)
SHAKE = Calibration(sensitivity={"seismic": 3.99e8, "acoustic": 1000.0})


def test_mod_csv_node_folders(tmp_path):
    aud, ehz = write_mod_csv_node(tmp_path / "motorcycle" / "node1", seconds=3.0, seed=1)
    write_mod_csv_node(tmp_path / "walking" / "node2", seconds=2.0, seed=2, header=False)
    recs = {r.id: r for r in mod_csv.load(tmp_path, MOD, calibration=SHAKE)}
    assert set(recs) == {"motorcycle__node1", "walking__node2"}
    r = recs["motorcycle__node1"]
    assert r.labels[0].label == "motorcycle" and recs["walking__node2"].labels[0].label == "pedestrian"
    ac, se = r.modalities["acoustic"], r.modalities["seismic"]
    assert ac.sample_rate == 8000.0 and ac.n_samples == 24000 and se.n_samples == 300
    assert r.start_time == pytest.approx(1.6e9)
    assert (ac.units, se.units) == ("Pa", "m/s") and se.sensor["calibration"]["sensitivity"] == 3.99e8
    np.testing.assert_allclose(se.data[0], ehz / 3.99e8, rtol=1e-6)      # counts / (counts per m/s)
    # the 440 Hz tone survives the 16 -> 8 kHz resampling
    f = np.fft.rfftfreq(ac.n_samples, 1 / 8000)
    assert f[np.argmax(np.abs(np.fft.rfft(ac.data[0])))] == pytest.approx(440, abs=1)
    r.validate(MOD)
    with pytest.raises(EdgeRepError, match=r"aud16000.csv: acoustic samples are in counts with no calibration.*"
                                           r"--sensitivity acoustic=COUNTS_PER_UNIT.*--units acoustic=counts"):
        mod_csv.load(tmp_path, MOD)
    kept = mod_csv.load(tmp_path, MOD, calibration=COUNTS)[0]
    assert {m: c.units for m, c in kept.modalities.items()} == {"acoustic": "counts", "seismic": "counts"}
    with pytest.raises(EdgeRepError, match="acoustic is in counts but profile 'mod' holds Pa \\(a dataset never mixes"):
        kept.validate(MOD)
    kept.validate(COUNTS.profile(MOD, ("acoustic", "seismic")))


def test_mod_csv_label_override_and_bad_files(tmp_path):
    write_mod_csv_node(tmp_path / "n1", seconds=1.0)
    assert mod_csv.load(tmp_path / "n1", MOD, label="truck", calibration=COUNTS)[0].labels[0].label == "truck"
    with pytest.raises(EdgeRepError, match="spaceship.*not in the class list"):
        mod_csv.load(tmp_path / "n1", MOD, label="spaceship", calibration=COUNTS)
    ehz = tmp_path / "n1" / "ehz.csv"
    ehz.write_text(ehz.read_text() + "1600000005.0\n")             # truncated last row
    with pytest.raises(EdgeRepError, match="ehz.csv: truncated or corrupt CSV"):
        mod_csv.load(tmp_path / "n1", MOD, calibration=COUNTS)
    write_mod_csv_node(tmp_path / "n2", seconds=1.0, seis_rate=50.0)   # geophone at the wrong rate
    with pytest.raises(EdgeRepError, match="ehz.csv: timestamps imply 50 Hz"):
        mod_csv.load(tmp_path / "n2", MOD, calibration=COUNTS)
    with pytest.raises(EdgeRepError, match="not found"):
        mod_csv.load(tmp_path / "nowhere", MOD)


def test_mod_csv_channels_of_different_lengths(tmp_path):
    write_mod_csv_node(tmp_path / "n1", seconds=4.0)
    lines = (tmp_path / "n1" / "ehz.csv").read_text().splitlines()
    (tmp_path / "n1" / "ehz.csv").write_text("\n".join(lines[:150]) + "\n")   # 1.5 s of 4 s
    with pytest.raises(EdgeRepError, match="n1: channels of different lengths"):
        mod_csv.load(tmp_path, MOD, calibration=COUNTS)


class Evil:
    """An arbitrary object: loading it would mean unpickling code paths, which weights_only refuses."""


@pytest.mark.parametrize("fft", [False, True])
def test_mod_pt_time_and_fft_layouts(tmp_path, fft):
    truth = write_mod_pt(tmp_path / "run7_0.pt", label=6, fft=fft)
    write_mod_pt(tmp_path / "run7_1.pt", label="truck", fft=fft, seed=1)
    recs = {r.id: r for r in mod_pt.load(tmp_path, MOD, calibration=SHAKE)}
    r = recs["run7_0"]
    assert r.labels[0].label == "pedestrian" and recs["run7_1"].labels[0].label == "truck"
    np.testing.assert_allclose(r.modalities["acoustic"].data[0], truth["audio"] / 1000.0, atol=1e-7)
    np.testing.assert_allclose(r.modalities["seismic"].data[0], truth["seismic"] / 3.99e8, atol=1e-12)
    assert {mod_pt.group_of(x) for x in recs.values()} == {"run7"}
    r.validate(MOD)
    with pytest.raises(EdgeRepError, match="run7_0.pt: acoustic samples are in counts with no calibration"):
        mod_pt.load(tmp_path, MOD)


def test_mod_pt_rejects_pickled_objects_and_wrong_rate(tmp_path):
    import torch

    torch.save({"label": 0, "data": {"shake": {"audio": Evil()}}}, tmp_path / "evil.pt")
    with pytest.raises(EdgeRepError, match="evil.pt: .*objects other than tensors"):
        mod_pt.load(tmp_path / "evil.pt", MOD)
    write_mod_pt(tmp_path / "x" / "short_0.pt", audio_n=800)   # 4 kHz audio
    with pytest.raises(EdgeRepError, match="short_0.pt: audio holds 8000 samples.*4000 Hz"):
        mod_pt.load(tmp_path / "x", MOD, calibration=COUNTS)
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "cut.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(EdgeRepError, match="cut.pt: not a readable tensor file"):
        mod_pt.load(tmp_path / "y", MOD)


def test_acids_mat(tmp_path):
    write_acids_run(tmp_path, "tracked_run1", n_ac=4096)
    write_acids_run(tmp_path, "run2", n_ac=2048, seed=1)
    unlabelled = {r.id: r.labels for r in acids.load(tmp_path, ACIDS, calibration=COUNTS)}
    assert unlabelled["run2"] == [] and unlabelled["tracked_run1"][0].label == "tracked"   # from the run name
    recs = {r.id: r for r in acids.load(tmp_path, ACIDS, label="car", calibration=SHAKE)}
    assert set(recs) == {"tracked_run1", "run2"}
    r = recs["tracked_run1"]
    assert r.modalities["acoustic"].data.shape == (1, 4096) and r.modalities["seismic"].sample_rate == 1024.0
    r.validate(ACIDS)
    with pytest.raises(EdgeRepError, match=r"Acoustics/run2.mat: acoustic samples are in counts with no calibration"):
        acids.load(tmp_path, ACIDS)


def test_acids_bad_files(tmp_path):
    write_acids_run(tmp_path, "r1", n_ac=4096, n_se=2048)
    with pytest.raises(EdgeRepError, match="r1.*channels of different lengths"):
        acids.load(tmp_path, ACIDS, label="car", calibration=COUNTS)
    p = tmp_path / "Seismic" / "r1.mat"
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(EdgeRepError, match="r1.mat: truncated or corrupt"):
        acids.load(tmp_path, ACIDS, label="car", calibration=COUNTS)
    with pytest.raises(EdgeRepError, match="no Acoustics"):
        acids.load(tmp_path / "Acoustics", ACIDS)


def test_wav_resampled_and_scaled(tmp_path):
    write_wav(tmp_path / "car" / "a.wav", rate=16000, seconds=2.5)
    recs = wav.load(tmp_path, MOD, calibration=Calibration(full_scale=20.0))    # 20 Pa at full scale
    assert len(recs) == 1 and recs[0].id == "car__a" and recs[0].labels[0].label == "car"
    ac = recs[0].modalities["acoustic"]
    assert ac.sample_rate == 8000.0 and ac.n_samples == 20000 and "seismic" not in recs[0].modalities
    assert ac.units == "Pa" and np.abs(ac.data).max() == pytest.approx(10.0, abs=0.4)   # half of full scale
    kept = wav.load(tmp_path, MOD, calibration=FS)[0].modalities["acoustic"]
    assert kept.units == "FS" and np.abs(kept.data).max() == pytest.approx(0.5, abs=0.02)
    with pytest.raises(EdgeRepError, match=r"a.wav: acoustic samples are in digital full scale \(FS\) with no "
                                           r"calibration.*--full-scale VALUE.*--units FS"):
        wav.load(tmp_path, MOD)
    write_wav(tmp_path / "st.wav", channels=2)
    with pytest.raises(EdgeRepError, match="st.wav: has 2 channels.*--channel"):
        wav.load(tmp_path / "st.wav", MOD, calibration=FS)
    assert wav.load(tmp_path / "st.wav", MOD, channel=1, calibration=FS)[0].modalities["acoustic"].n_channels == 1
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00")
    with pytest.raises(EdgeRepError, match="bad.wav: not a readable WAV"):
        wav.load(tmp_path / "bad.wav", MOD)
    write_wav(tmp_path / "odd.wav", rate=7919, seconds=0.5)
    with pytest.raises(EdgeRepError, match="odd.wav: cannot resample 7919 Hz"):
        wav.load(tmp_path / "odd.wav", MOD, calibration=FS)


OBSPY_DATA = None
try:
    import obspy
    OBSPY_DATA = Path(obspy.__file__).parent / "io" / "mseed" / "tests" / "data"
except ImportError:   # obspy is a dev dependency; this makes the need explicit
    pass


def test_mseed_real_recording(tmp_path):
    assert OBSPY_DATA is not None, "obspy (dev dependency) is needed for the miniSEED test"
    src = OBSPY_DATA / "BW.BGLD.__.EHE.D.2008.001.first_10_records"   # real 200 Hz station data, 20.6 s
    st = obspy.read(str(src))
    recs = mseed.load(src, MOD, label="background", calibration=COUNTS)
    r = recs[0]
    se = r.modalities["seismic"]
    assert se.sample_rate == 100.0 and se.n_samples == st[0].stats.npts // 2
    assert r.start_time == pytest.approx(st[0].stats.starttime.timestamp)
    assert se.sensor["id"] == "BW.BGLD..EHE"
    # the resampled trace keeps the original's low-frequency content
    orig = st[0].data.astype(float)
    assert np.corrcoef(se.data[0, 100:-100], orig[::2][100:-100])[0, 1] > 0.9
    r.validate(COUNTS.profile(MOD, ("seismic",)))
    assert len(list(r.windows(MOD))) == 19
    with pytest.raises(EdgeRepError, match=r"first_10_records: seismic samples are in counts with no calibration.*"
                                           r"--sensitivity COUNTS_PER_UNIT.*--inventory STATIONXML.*--units counts"):
        mseed.load(src, MOD)


def test_mseed_gaps_stay_gaps(tmp_path):
    r = mseed.load(OBSPY_DATA / "gaps.mseed", MOD, label="background", calibration=COUNTS)[0]
    x = r.modalities["seismic"].data[0]
    assert np.isnan(x).any() and np.isfinite(x).mean() > 0.8
    assert r.modalities["seismic"].duration == pytest.approx(272.0, abs=1.0)


def test_mseed_bad_file(tmp_path):
    from edge_rep.calibration import Calibration
    (tmp_path / "junk.mseed").write_bytes(b"\x00" * 100)
    with pytest.raises(EdgeRepError, match="junk.mseed: not a readable miniSEED"):
        mseed.load(tmp_path / "junk.mseed", MOD, calibration=Calibration(sensitivity={None: 4e8}))
    # with no calibration at all, that is said first, before ObsPy is even imported
    with pytest.raises(EdgeRepError, match="junk.mseed: seismic samples are in counts with no calibration"):
        mseed.load(tmp_path / "junk.mseed", MOD)


def test_mseed_without_obspy_says_what_to_install(monkeypatch, tmp_path):
    import builtins
    real_import = builtins.__import__

    def no_obspy(name, *a, **k):
        if name == "obspy" or name.startswith("obspy."):
            raise ImportError("no obspy")
        return real_import(name, *a, **k)
    from edge_rep.calibration import Calibration
    (tmp_path / "a.mseed").write_bytes(b"\x00" * 100)
    monkeypatch.setattr(builtins, "__import__", no_obspy)
    with pytest.raises(EdgeRepError, match=r"pip install edge-rep\[seismic\]"):
        mseed.load(tmp_path, MOD, calibration=Calibration(sensitivity={None: 4e8}))


def test_splits_are_by_recording_group_and_stable():
    from edge_rep.recording import Channels, LabelInterval, Recording

    def rec(i, lab):
        return Recording(f"run{i // 4}_{i % 4}", {"seismic": Channels(np.zeros(200), 100.0)},
                         labels=[LabelInterval(0, 2, lab)])
    recs = [rec(i, "car" if i < 40 else "truck") for i in range(80)]
    pairs = assign_splits(recs, seed=0, group=mod_pt.group_of)
    by_group: dict[str, set] = {}
    for r, s in pairs:
        by_group.setdefault(mod_pt.group_of(r), set()).add(s)
    assert all(len(s) == 1 for s in by_group.values())   # a run never straddles splits
    assert {s for _, s in pairs} == {"train", "val", "test"}
    assert pairs == assign_splits(recs, seed=0, group=mod_pt.group_of)


def test_unknown_format():
    with pytest.raises(EdgeRepError, match="unknown input format 'xls'"):
        loader("xls")


CASES = Path(__file__).parent / "data" / "cases"      # inputs that once failed (see data/cases/README.md)


def test_mseed_one_channel_in_int_and_float_records_is_one_recording(tmp_path):
    """STEIM2 int32 records, then FLOAT32 records, contiguous: ObsPy refuses to merge mixed dtypes."""
    src = CASES / "car_mixed.mseed"
    parts = obspy.read(str(src))
    assert sorted(str(tr.data.dtype) for tr in parts) == ["float32", "int32"]     # the case is what it says
    data, rate, t0, stats, units = mseed.read_trace(src)
    assert rate == 200.0 and data.shape == (4000,) and np.isfinite(data).all() and units == "counts"
    assert stats["id"] == "XX.NODE..EHZ"
    first, second = sorted(parts, key=lambda tr: tr.stats.starttime)
    np.testing.assert_array_equal(data, np.r_[first.data.astype(np.float64), second.data.astype(np.float64)])
    (r,) = mseed.load(src, MOD, label="car", calibration=COUNTS)
    assert r.modalities["seismic"].duration == pytest.approx(20.0) and r.labels[0].label == "car"


def test_cli_converts_the_mixed_encoding_file(tmp_path, capsys):
    from edge_rep.cli import main
    from edge_rep.dataset import load_dataset
    out = tmp_path / "d"
    assert main(["convert", "mseed", str(CASES / "car_mixed.mseed"), "--out", str(out), "--label", "car",
                 "--units", "counts"]) == 0
    (rec,) = load_dataset(tmp_path / "d").recordings()
    assert rec.modalities["seismic"].n_samples == 2000        # 20 s at the mod profile's 100 Hz


def test_acids_mat_v73_real_files_read_with_h5py(tmp_path):
    """MATLAB save(..., '-v7.3') files: HDF5 behind the 512-byte MAT header; SciPy cannot read them."""
    import h5py
    src = CASES / "acids_v73"
    for folder in ("Acoustics", "Seismic"):
        path = src / folder / "car_run1.mat"
        assert acids.is_mat73(path)
        with h5py.File(path, "r") as f:
            expect = f["Output_data"][()]                      # (1, 20480): MATLAB's 20480 x 1, dims reversed
        x = acids.read_mat(path)
        assert x.shape == (1, 20480) and x.dtype == np.float32
        np.testing.assert_array_equal(x, expect.astype(np.float32))
    (rec,) = acids.load(src, ACIDS, calibration=COUNTS)
    assert rec.id == "car_run1" and rec.labels[0].label == "car"
    assert {m: c.n_samples for m, c in rec.modalities.items()} == {"acoustic": 20480, "seismic": 20480}


def test_acids_mat_v73_matrix_is_column_major(tmp_path):
    """A MATLAB samples x channels matrix is stored in HDF5 as channels x samples; channels stay channels."""
    import h5py
    n = 3000
    ramp = np.arange(n, dtype=np.float64)
    matlab = np.stack([ramp, -ramp, ramp * 2], axis=1)          # what MATLAB holds: n x 3
    path = tmp_path / "m.mat"
    with h5py.File(path, "w", userblock_size=512) as f:
        ds = f.create_dataset("Output_data", data=matlab.T)     # what MATLAB writes: dims reversed
        ds.attrs["MATLAB_class"] = np.bytes_("double")
    with open(path, "r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .".ljust(116))
    x = acids.read_mat(path)
    assert x.shape == (3, n)
    np.testing.assert_array_equal(x, matlab.T.astype(np.float32))
    # the same matrix saved as v7 reads the same
    from scipy.io import savemat
    savemat(tmp_path / "v7.mat", {"Output_data": matlab})
    np.testing.assert_array_equal(acids.read_mat(tmp_path / "v7.mat"), x)


def test_acids_mat_v73_bad_variable_and_damage(tmp_path):
    import h5py
    path = tmp_path / "empty.mat"
    with h5py.File(path, "w", userblock_size=512) as f:
        ds = f.create_dataset("Output_data", data=np.array([0, 0], np.uint64))
        ds.attrs["MATLAB_class"], ds.attrs["MATLAB_empty"] = np.bytes_("double"), np.uint8(1)
        f.create_dataset("other", data=np.zeros(3))
    with open(path, "r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file".ljust(116))
    with pytest.raises(EdgeRepError, match="empty.mat: 'Output_data' is empty or not a numeric array"):
        acids.read_mat(path)
    torn = tmp_path / "torn.mat"
    torn.write_bytes((CASES / "acids_v73" / "Seismic" / "car_run1.mat").read_bytes()[:4000])
    with pytest.raises(EdgeRepError, match="torn.mat: truncated or corrupt MATLAB v7.3 file"):
        acids.read_mat(torn)


def test_acids_mat_v73_without_h5py_says_install_or_resave(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_h5py(name, *a, **k):
        if name == "h5py" or name.startswith("h5py."):
            raise ImportError("no h5py")
        return real_import(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_h5py)
    with pytest.raises(EdgeRepError) as e:
        acids.read_mat(CASES / "acids_v73" / "Acoustics" / "car_run1.mat")
    msg = str(e.value)
    assert "MATLAB v7.3" in msg and "pip install 'edge-rep[matlab]'" in msg and "-v7" in msg
    assert "corrupt" not in msg and "re-copy" not in msg
