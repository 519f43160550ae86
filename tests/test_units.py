"""Physical units end to end (docs/data-format.md, "Units and calibration"): every loader's samples come
out in the profile's unit or the conversion stops naming the option; edge-rep's own WAV and miniSEED
outputs say what they hold and convert back without options; datasets never mix units; a model refuses
data in another unit; and a real Raspberry Shake record (rsudp's testdata.ms, fetched at test set-up,
never committed: rsudp is GPL-3.0) converts to a plausible ground velocity with its sensitivity."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edge_rep.cli import main
from edge_rep.dataset import load_dataset, write_dataset
from edge_rep.errors import EdgeRepError
from edge_rep.profiles import ModalitySpec
from edge_rep.recording import Channels
from firmware_bridge.sensorlog import read_log

import realdata
from fixtures_data import write_mod_csv_node, write_wav
from tiny_data import TINY, tiny_recordings

obspy = pytest.importorskip("obspy", reason="obspy is a dev dependency (the seismic extra); needed for miniSEED")
from obspy import UTCDateTime  # noqa: E402
from obspy.core.inventory import Channel, InstrumentSensitivity, Inventory, Network, Response, Station  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "tests" / "data" / "logs"
CASES = ROOT / "tests" / "data" / "cases"


def one_line_error(capsys, argv, *needles) -> str:
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("edge-rep: error: ") and err.count("\n") == 1, err
    for n in needles:
        assert n in err, err
    return err


def inventory(path: Path, code="EHZ", start="2024-05-01", hours=1.0, value=4e8, units="M/S") -> Path:
    """A StationXML for XX.NODE..<code> (car_mixed.mseed's station) from ``start`` for ``hours``."""
    resp = Response(instrument_sensitivity=InstrumentSensitivity(value, 1.0, units, "COUNTS"))
    cha = Channel(code, "", 0.0, 0.0, 0.0, 0.0, sample_rate=200.0, start_date=UTCDateTime(start),
                  end_date=UTCDateTime(start) + 3600 * hours, response=resp)
    Inventory([Network("XX", [Station("NODE", 0.0, 0.0, 0.0, channels=[cha])])], source="a user").write(
        str(path), format="STATIONXML")
    return path


def seismic(ds_dir: Path) -> Channels:
    (rec,) = load_dataset(ds_dir).recordings()
    return rec.modalities["seismic"]


# --- miniSEED: --inventory, --sensitivity, the StationXML beside the file ---------------------------------

def test_mseed_inventory_sensitivity_and_stationxml_beside(tmp_path, capsys):
    src = CASES / "car_mixed.mseed"                     # int32 counts, XX.NODE..EHZ, 20 s at 200 Hz
    counts = obspy.read(str(src))
    raw = np.concatenate([tr.data.astype(np.float64) for tr in sorted(counts, key=lambda t: t.stats.starttime)])
    xml = inventory(tmp_path / "station.xml")
    assert main(["convert", "mseed", str(src), "--out", str(tmp_path / "inv"), "--inventory", str(xml)]) == 0
    assert main(["convert", "mseed", str(src), "--out", str(tmp_path / "sens"), "--sensitivity", "4e8"]) == 0
    a, b = seismic(tmp_path / "inv"), seismic(tmp_path / "sens")
    assert a.units == b.units == "m/s" and load_dataset(tmp_path / "inv").profile.modality("seismic").units == "m/s"
    assert a.sensor["inventory"] == str(xml) and b.sensor["calibration"]["sensitivity"] == 4e8
    # ObsPy divides before resampling, --sensitivity after: the same numbers (linear), counts / 4e8
    np.testing.assert_allclose(a.data, b.data, rtol=1e-5, atol=1e-12)
    from edge_rep.loaders import resample
    np.testing.assert_allclose(b.data, resample(raw[None], 200.0, 100.0, "raw") / 4e8, rtol=1e-5, atol=1e-12)
    # the StationXML beside the file (FILE.xml) is used without options; explicit options win over it
    shutil.copyfile(src, tmp_path / "node.mseed")
    shutil.copyfile(xml, tmp_path / "node.xml")
    assert main(["convert", "mseed", str(tmp_path / "node.mseed"), "--out", str(tmp_path / "beside")]) == 0
    np.testing.assert_allclose(seismic(tmp_path / "beside").data, a.data)
    assert main(["convert", "mseed", str(tmp_path / "node.mseed"), "--out", str(tmp_path / "kept"),
                 "--units", "counts"]) == 0
    kept = seismic(tmp_path / "kept")
    assert kept.units == "counts" and load_dataset(tmp_path / "kept").profile.modality("seismic").units == "counts"
    np.testing.assert_allclose(kept.data, b.data * 4e8, rtol=1e-5)
    # an acceleration sensor: its sensitivity alone gives m/s**2, not m/s; the response removal integrates
    acc = inventory(tmp_path / "acc.xml", units="M/S**2")
    one_line_error(capsys, ["convert", "mseed", src, "--out", tmp_path / "x", "--inventory", acc],
                   "acc.xml gives XX.NODE..EHZ in m/s**2, not m/s", "--remove-response")
    assert not (tmp_path / "x").exists()


def test_mseed_bad_inventories_and_counts_are_one_line(tmp_path, capsys):
    src = CASES / "car_mixed.mseed"
    out = tmp_path / "d"
    one_line_error(capsys, ["convert", "mseed", src, "--out", out], "car_mixed.mseed: seismic samples are in counts "
                   "with no calibration", "--sensitivity COUNTS_PER_UNIT", "--inventory STATIONXML", "--units counts")
    one_line_error(capsys, ["convert", "mseed", src, "--out", out, "--inventory", inventory(tmp_path / "b.xml", "BHZ")],
                   "car_mixed.mseed: ", "b.xml has no channel XX.NODE..EHZ")
    one_line_error(capsys, ["convert", "mseed", src, "--out", out, "--inventory",
                            inventory(tmp_path / "old.xml", start="2020-01-01")],
                   "old.xml has XX.NODE..EHZ but not for its time span 2024-05-01T00:00:00")
    # an epoch that ends within the recording (00:00:00 .. 00:00:10 of a 20 s file) does not cover it either
    one_line_error(capsys, ["convert", "mseed", src, "--out", out, "--inventory",
                            inventory(tmp_path / "short.xml", hours=10 / 3600)], "but not for its time span")
    (tmp_path / "junk.xml").write_text("<notes>mine</notes>")
    one_line_error(capsys, ["convert", "mseed", src, "--out", out, "--inventory", tmp_path / "junk.xml"],
                   "junk.xml: not a readable StationXML")
    shutil.copyfile(src, tmp_path / "n.mseed")
    (tmp_path / "n.xml").write_text("<notes>mine</notes>")          # beside it, but not a StationXML
    one_line_error(capsys, ["convert", "mseed", tmp_path / "n.mseed", "--out", out],
                   "n.xml: not a readable StationXML", "pass --inventory, --sensitivity or --units")
    one_line_error(capsys, ["convert", "mseed", src, "--out", out, "--inventory", tmp_path / "nope.xml"],
                   "nope.xml", "not found")
    assert not out.exists()


@pytest.mark.parametrize("argv, needle", [
    (["mseed", "SRC", "--sensitivity", "0"], "--sensitivity: 0 is out of range"),
    (["mseed", "SRC", "--sensitivity=-3.99e8"], "--sensitivity: -3.99e8 is out of range"),
    (["mseed", "SRC", "--sensitivity", "nan"], "--sensitivity: nan is not a finite number"),
    (["mseed", "SRC", "--sensitivity", "inf"], "--sensitivity: inf is not a finite number"),
    (["mseed", "SRC", "--sensitivity", "lots"], "--sensitivity: 'lots' is not a number"),
    (["mod-csv", "SRC", "--sensitivity", "wind=3"], "'wind' is not a modality"),
    (["mod-csv", "SRC", "--sensitivity", "3.99e8"], "name one: --sensitivity seismic=COUNTS_PER_UNIT"),
    (["mod-csv", "SRC", "--units", "Pa"], "name the one already in Pa"),
    (["mod-csv", "SRC", "--units", "FS"], "mod-csv samples are in counts; use --units counts"),
    (["mod-csv", "SRC", "--units", "V"], "unit 'V': use one of counts, FS, Pa, m/s"),
    (["mod-csv", "SRC", "--sensitivity", "seismic=4e8", "--units", "seismic=counts"], "give one of them"),
    (["mseed", "SRC", "--sensitivity", "4e8", "--units", "counts"], "--sensitivity and --units: give one way"),
    (["mseed", "SRC", "--sensitivity", "4e8", "--sensitivity", "5e8"], "given twice"),
    (["mseed", "SRC", "--full-scale", "20"], "--full-scale: applies to wav only"),
    (["mseed", "SRC", "--units", "Pa"], "--units Pa: seismic data cannot be in Pa"),
    (["mseed", "SRC", "--pre-filt", "1", "2", "3", "4"], "--pre-filt: applies with --remove-response only"),
    (["mseed", "SRC", "--remove-response", "--pre-filt", "4", "3", "2", "1"], "corners must rise"),
    (["wav", "SRC", "--sensitivity", "100"], "a WAV holds digital full scale, not counts; give --full-scale"),
    (["wav", "SRC", "--full-scale", "-1"], "--full-scale: -1 is out of range"),
    (["wav", "SRC", "--inventory", "x.xml"], "apply to mseed only"),
    (["acids", "SRC", "--full-scale", "2"], "--full-scale: applies to wav only"),
])
def test_calibration_options_are_checked_before_any_work(tmp_path, capsys, argv, needle):
    argv = ["convert", *[str(tmp_path / "src") if a == "SRC" else a for a in argv], "--out", str(tmp_path / "d")]
    one_line_error(capsys, argv, needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == []        # nothing read (no SRC at all), nothing written


def test_two_modality_formats_take_a_sensitivity_per_modality(tmp_path, capsys):
    aud, ehz = write_mod_csv_node(tmp_path / "csv" / "car" / "n1", seconds=3.0)
    one_line_error(capsys, ["convert", "mod-csv", tmp_path / "csv", "--out", tmp_path / "d",
                            "--sensitivity", "seismic=3.99e8"],
                   "aud16000.csv: acoustic samples are in counts with no calibration", "--sensitivity acoustic=")
    assert not (tmp_path / "d").exists()
    assert main(["convert", "mod-csv", str(tmp_path / "csv"), "--out", str(tmp_path / "d"),
                 "--sensitivity", "seismic=3.99e8", "--units", "acoustic=counts"]) == 0
    ds = load_dataset(tmp_path / "d")
    assert [(m.name, m.units) for m in ds.profile.modalities] == [("acoustic", "counts"), ("seismic", "m/s")]
    (rec,) = ds.recordings()
    np.testing.assert_allclose(rec.modalities["seismic"].data[0], ehz / 3.99e8, rtol=1e-6)
    assert "wrote" in capsys.readouterr().out


# --- edge-rep's own outputs convert back without options --------------------------------------------------

def test_convert_log_mseed_carries_a_stationxml_and_converts_back(tmp_path, capsys):
    from edge_rep.log_conversion import to_recording
    ref = to_recording(read_log(LOGS / "acoustic_drop.edgelog"))
    assert main(["convert-log", str(LOGS / "acoustic_drop.edgelog"), "--to", "mseed",
                 "--out", str(tmp_path / "m.mseed")]) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'm.mseed'}" in out and f"wrote {tmp_path / 'm.xml'}" in out
    inv = obspy.read_inventory(str(tmp_path / "m.xml"))
    for tr in obspy.read(str(tmp_path / "m.mseed")):
        sens = inv.get_response(tr.id, tr.stats.starttime).instrument_sensitivity
        assert sens.value == 1.0 and sens.input_units == {"EHZ": "M/S", "GDF": "PA"}[tr.stats.channel]
    # back without options: the seismic channel in m/s, the microphone (--modality acoustic) in Pa
    assert main(["convert", "mseed", str(tmp_path / "m.mseed"), "--out", str(tmp_path / "s")]) == 0
    s = seismic(tmp_path / "s")
    assert s.units == "m/s" and s.sensor["response"] == "sensitivity"
    np.testing.assert_allclose(s.data, ref.modalities["seismic"].data, rtol=1e-6)
    assert main(["convert", "mseed", str(tmp_path / "m.mseed"), "--modality", "acoustic", "--channel", "GDF",
                 "--out", str(tmp_path / "a")]) == 0
    (rec,) = load_dataset(tmp_path / "a").recordings()
    a = rec.modalities["acoustic"]
    assert a.units == "Pa"
    assert np.isnan(ref.modalities["acoustic"].data).mean() > 0.2          # the drop stays a gap, NaN for NaN
    np.testing.assert_allclose(a.data, ref.modalities["acoustic"].data, rtol=1e-6, equal_nan=True)
    # deconvolving its flat response with the default pre-filter (0.5, 1, 40, 45 Hz at 100 Hz) keeps the band
    assert main(["convert", "mseed", str(tmp_path / "m.mseed"), "--remove-response", "--out",
                 str(tmp_path / "r")]) == 0
    r = seismic(tmp_path / "r")
    assert r.units == "m/s" and r.sensor["response"] == "removed"
    x, y = ref.modalities["seismic"].data[0], r.data[0]
    assert np.corrcoef(x - x.mean(), y)[0, 1] > 0.9 and 0.7 < np.std(y) / np.std(x) < 1.1


def test_convert_log_wav_carries_a_sidecar_and_converts_back(tmp_path, capsys):
    from edge_rep.log_conversion import to_recording
    ref = to_recording(read_log(LOGS / "clean.edgelog"))
    assert main(["convert-log", str(LOGS / "clean.edgelog"), "--to", "wav",
                 "--out", str(tmp_path / "w" / "c.wav")]) == 0
    side = json.loads((tmp_path / "w" / "c-seismic.wav.json").read_text())
    assert side == {"format": "edge-rep-wav", "modality": "seismic", "units": "m/s", "full_scale": None}
    assert json.loads((tmp_path / "w" / "c-acoustic.wav.json").read_text())["units"] == "Pa"
    # the folder back, without options: each file in its own modality and unit
    assert main(["convert", "wav", str(tmp_path / "w"), "--out", str(tmp_path / "d")]) == 0
    ds = load_dataset(tmp_path / "d")
    recs = {r.id: r for r in ds.recordings()}
    assert set(recs["c-seismic"].modalities) == {"seismic"} and set(recs["c-acoustic"].modalities) == {"acoustic"}
    se, ac = recs["c-seismic"].modalities["seismic"], recs["c-acoustic"].modalities["acoustic"]
    assert (se.units, ac.units) == ("m/s", "Pa")
    np.testing.assert_allclose(se.data, np.nan_to_num(ref.modalities["seismic"].data), rtol=1e-6)
    np.testing.assert_allclose(ac.data, np.nan_to_num(ref.modalities["acoustic"].data), rtol=1e-6)
    # explicit options win over the sidecar; a sidecar that contradicts --modality, or is damaged, is named
    one_line_error(capsys, ["convert", "wav", tmp_path / "w" / "c-seismic.wav", "--modality", "acoustic",
                            "--out", tmp_path / "x"], "c-seismic.wav.json says it holds seismic, not acoustic")
    assert main(["convert", "wav", str(tmp_path / "w" / "c-acoustic.wav"), "--full-scale", "2",
                 "--out", str(tmp_path / "fs")]) == 0
    (rec,) = load_dataset(tmp_path / "fs").recordings()
    np.testing.assert_allclose(rec.modalities["acoustic"].data, 2 * ac.data, rtol=1e-6)
    (tmp_path / "w" / "c-acoustic.wav.json").write_text('{"format": "edge-rep-wav", "modality": "acoustic"}')
    one_line_error(capsys, ["convert", "wav", tmp_path / "w" / "c-acoustic.wav", "--out", tmp_path / "x"],
                   "c-acoustic.wav.json: not a readable edge-rep WAV sidecar", "--full-scale")
    assert not (tmp_path / "x").exists()


def test_wav_full_scale_and_integer_files(tmp_path, capsys):
    x = write_wav(tmp_path / "car" / "a.wav", rate=8000, seconds=2.0)       # int16, half of full scale
    one_line_error(capsys, ["convert", "wav", tmp_path / "car", "--out", tmp_path / "d"],
                   "a.wav: acoustic samples are in digital full scale (FS) with no calibration", "--full-scale VALUE",
                   "--units FS")
    assert main(["convert", "wav", str(tmp_path / "car"), "--full-scale", "20", "--out", str(tmp_path / "d")]) == 0
    (rec,) = load_dataset(tmp_path / "d").recordings()
    np.testing.assert_allclose(rec.modalities["acoustic"].data[0], x / 32768 * 20, rtol=1e-5)
    assert main(["convert", "wav", str(tmp_path / "car"), "--units", "FS", "--out", str(tmp_path / "fs")]) == 0
    assert load_dataset(tmp_path / "fs").profile.modality("acoustic").units == "FS"
    # a sidecar may give the full scale of an integer file
    (tmp_path / "car" / "a.wav.json").write_text(json.dumps(
        {"format": "edge-rep-wav", "modality": "acoustic", "units": "Pa", "full_scale": 5.0}))
    assert main(["convert", "wav", str(tmp_path / "car"), "--out", str(tmp_path / "side")]) == 0
    (rec,) = load_dataset(tmp_path / "side").recordings()
    np.testing.assert_allclose(rec.modalities["acoustic"].data[0], x / 32768 * 5, rtol=1e-5)
    (tmp_path / "car" / "a.wav.json").write_text(json.dumps(
        {"format": "edge-rep-wav", "modality": "acoustic", "units": "Pa", "full_scale": None}))
    one_line_error(capsys, ["convert", "wav", tmp_path / "car", "--out", tmp_path / "y"], "holds integers")


# --- datasets never mix units; models refuse data in another unit ------------------------------------------

def test_write_dataset_refuses_mixed_units(tmp_path):
    recs = tiny_recordings(n=4)
    recs[2].modalities["seismic"].units = "counts"
    with pytest.raises(EdgeRepError, match="recording 'r0-2': seismic is in counts but profile 'tiny' holds m/s"):
        write_dataset(tmp_path / "d", [(r, "train") for r in recs], TINY)
    assert sorted(p.name for p in tmp_path.iterdir()) == []        # nothing written half-way


def test_train_resume_and_backbone_refuse_data_in_another_unit(tmp_path, capsys):
    from edge_rep.checkpoint import save_model
    from edge_rep.dataset import window_arrays
    from edge_rep.model import ModelConfig
    from edge_rep.train import TrainConfig, train_backbone

    cfg = ModelConfig(width=16, n_layer=2, n_head=2, buffer_tokens=2, rep_layer=1, dropout=0.0)
    recs = tiny_recordings()
    model, _, _ = train_backbone(cfg, TINY, window_arrays(recs, TINY), TrainConfig(stage1_epochs=1, batch_size=16),
                                 out=tmp_path / "run", progress=False)
    save_model(model, tmp_path / "backbone.safetensors")
    counts = replace(TINY, modalities=(TINY.modalities[0], ModalitySpec("seismic", 100.0, 1, "counts")))
    for r in recs:
        r.modalities["seismic"].units = "counts"
    data = write_dataset(tmp_path / "counts", [(r, "train" if i < 9 else "test") for i, r in enumerate(recs)], counts)
    one_line_error(capsys, ["train", "--data", data, "--out", tmp_path / "run", "--resume", "--quiet"],
                   f"{data}: seismic is in counts, but {tmp_path / 'run' / 'stage1.train.safetensors'} takes m/s",
                   "--sensitivity")
    one_line_error(capsys, ["evaluate", "--data", data, "--out", tmp_path / "e", "--backbone",
                            tmp_path / "backbone.safetensors", "--quiet"],
                   f"{data}: seismic is in counts, but {tmp_path / 'backbone.safetensors'} takes m/s")
    assert not (tmp_path / "e").exists() and not (tmp_path / "run" / "model.safetensors").exists()


# --- a real record: Raspberry Shake RS4D (rsudp 2.2.1's test data) -------------------------------------------



@pytest.fixture(scope="session")
def rs4d_record() -> Path:
    """rsudp's testdata.ms (tests/realdata.py); skipped only if the package registry cannot be reached."""
    path, why = realdata.rs4d_record()
    if path is None:
        if "cannot be reached" in why:
            pytest.skip(why)
        pytest.fail(why)
    return path


def test_real_rs4d_record_converts_to_a_quiet_site_velocity(rs4d_record, tmp_path, capsys):
    """With its sensitivity the quiet part (0-40 s) reads about 1.3e-7 m/s RMS (mean removed per 2 s window),
    in the 1e-8 .. 1e-6 m/s of ground velocity at a quiet site; the earthquake after 45 s is far louder."""
    out = tmp_path / "rs4d"
    assert main(["convert", "mseed", str(rs4d_record), "--channel", "EHZ",
                 "--sensitivity", str(realdata.RS4D_SENSITIVITY),
                 "--label", "background", "--out", str(out)]) == 0
    ds = load_dataset(out)
    assert ds.profile.modality("seismic").units == "m/s"
    (rec,) = ds.recordings()
    se = rec.modalities["seismic"]
    assert se.units == "m/s" and se.sample_rate == 100.0 and se.duration == pytest.approx(110.0, abs=0.1)
    x = se.data[0].astype(np.float64)
    windows = x[: 110 * 100 // 200 * 200].reshape(-1, 200)          # 2 s windows
    rms = np.sqrt(((windows - windows.mean(1, keepdims=True)) ** 2).mean(1))
    quiet, quake = np.median(rms[:20]), rms[23:35].max()             # 0-40 s; 46-70 s
    assert 1e-8 < quiet < 1e-6, quiet
    assert 5e-8 < np.percentile(rms[:20], 5) and np.percentile(rms[:20], 95) < 5e-7
    assert quake > 30 * quiet
    # without a calibration: one line naming the file and --sensitivity; nothing written
    one_line_error(capsys, ["convert", "mseed", rs4d_record, "--channel", "EHZ", "--label", "background",
                            "--out", tmp_path / "nocal"], f"{rs4d_record}: seismic samples are in counts",
                   "--sensitivity COUNTS_PER_UNIT")
    assert not (tmp_path / "nocal").exists()
    # in counts on purpose: the dataset's profile says counts
    assert main(["convert", "mseed", str(rs4d_record), "--channel", "EHZ", "--units", "counts", "--label",
                 "background", "--out", str(tmp_path / "counts")]) == 0
    cds = load_dataset(tmp_path / "counts")
    assert cds.profile.modality("seismic").units == "counts"
    (crec,) = cds.recordings()
    np.testing.assert_allclose(crec.modalities["seismic"].data, se.data * realdata.RS4D_SENSITIVITY, rtol=1e-5)
