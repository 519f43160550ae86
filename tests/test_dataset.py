import json

import numpy as np
import pytest

from edge_rep.dataset import (Dataset, load_dataset, read_recording, window_arrays, write_dataset,
                              write_recording)
from edge_rep.errors import EdgeRepError
from edge_rep.profiles import ACIDS, MOD
from edge_rep.recording import Channels, LabelInterval, Recording


def _rec(rid="r1", seconds=4.0, seis_seconds=None, label="car", seis_rate=100.0, gap=None):
    rng = np.random.default_rng(abs(hash(rid)) % 2**32)
    s = rng.normal(size=int(seis_rate * (seis_seconds or seconds))).astype(np.float32)
    if gap:
        s[int(gap[0] * seis_rate):int(gap[1] * seis_rate)] = np.nan
    return Recording(rid, {"acoustic": Channels(rng.normal(size=int(8000 * seconds)), 8000.0, 5.0, "Pa",
                                                {"name": "mic"}),
                           "seismic": Channels(s, seis_rate, 5.0, "m/s", {"name": "geo"})},
                     labels=[LabelInterval(0.0, 2.0, "background"), LabelInterval(2.0, seconds, label)],
                     start_time=5.0, metadata={"site": "A"})


def test_recording_round_trip_is_exact(tmp_path):
    r = _rec(gap=(1.0, 1.5))
    write_recording(tmp_path / "r.npz", r)
    back = read_recording(tmp_path / "r.npz")
    assert back.id == r.id and back.start_time == 5.0 and back.metadata == {"site": "A"}
    for m in ("acoustic", "seismic"):
        a, b = r.modalities[m], back.modalities[m]
        assert np.array_equal(a.data, b.data, equal_nan=True)
        assert (a.sample_rate, a.start_time, a.units, a.sensor) == (b.sample_rate, b.start_time, b.units, b.sensor)
    assert [(iv.start, iv.end, iv.label) for iv in back.labels] == [(0.0, 2.0, "background"), (2.0, 4.0, "car")]
    np.load(tmp_path / "r.npz", allow_pickle=False)   # no pickles inside


def test_write_and_load_dataset_with_splits(tmp_path):
    recs = [(_rec("a"), "train"), (_rec("b", label="truck"), "train"), (_rec("c"), "val"), (_rec("d"), "test"),
            (_rec("e"), "foreign")]
    out = write_dataset(tmp_path / "ds", recs, MOD)
    man = json.loads((out / "manifest.json").read_text())
    assert man["format"] == "edge-rep-dataset" and man["version"] == 2 and man["classes"][0] == "background"
    assert [(e["id"], e["split"]) for e in man["recordings"]] == [("a", "train"), ("b", "train"), ("c", "val"),
                                                                  ("d", "test"), ("e", "foreign")]
    assert all(len(e["sha256"]) == 64 and e["duration_s"] == 4.0 for e in man["recordings"])
    ds = load_dataset(out)
    assert isinstance(ds, Dataset) and ds.profile == MOD
    assert [r.id for r in ds.recordings("train")] == ["a", "b"] and [r.id for r in ds.recordings("test")] == ["d"]
    assert [r.id for r in ds.recordings("foreign")] == ["e"]
    assert ds.splits() == {"train": 2, "val": 1, "test": 1, "foreign": 1}
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())   # no temp folder left


def test_version_1_dataset_still_reads_and_a_newer_one_is_refused(tmp_path):
    out = write_dataset(tmp_path / "ds", [(_rec("a"), "train"), (_rec("d"), "test")], MOD)
    mpath = out / "manifest.json"
    man = json.loads(mpath.read_text())
    mpath.write_text(json.dumps({**man, "version": 1}))
    ds = load_dataset(out)
    assert [r.id for r in ds.recordings("test")] == ["d"] and ds.splits()["foreign"] == 0
    mpath.write_text(json.dumps({**man, "version": 3}))
    with pytest.raises(EdgeRepError, match="newer than this edge-rep reads"):
        load_dataset(out)


def test_window_arrays_shapes_labels_presence():
    wa = window_arrays([_rec("a", gap=(2.0, 3.0)), _rec("b", seconds=3.0)], MOD)
    assert wa.x["acoustic"].shape == (3 + 2, 1, 16000) and wa.x["seismic"].shape == (5, 1, 200)
    assert wa.x["acoustic"].dtype == np.float32 and wa.y.dtype == np.int64
    assert wa.rec.tolist() == [0, 0, 0, 1, 1] and wa.start.tolist() == [0.0, 1.0, 2.0, 0.0, 1.0]
    car, bg = MOD.classes.index("car"), MOD.classes.index("background")
    # window [1, 3) is half background half car: the first interval wins ties
    assert wa.y.tolist() == [bg, bg, car, bg, bg]
    assert wa.present[:, 0].all() and wa.present[:, 1].tolist() == [True, False, False, True, True]
    assert np.all(np.isfinite(wa.x["seismic"]))


def test_unlabelled_windows_get_minus_one():
    r = _rec()
    r.labels = []
    assert (window_arrays([r], MOD).y == -1).all()


def test_failed_build_leaves_nothing_complete(tmp_path):
    def gen():
        yield _rec("a"), "train"
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        write_dataset(tmp_path / "ds", gen(), MOD)
    assert list(tmp_path.iterdir()) == []
    # a bad recording half-way: the same, and an existing dataset is kept untouched
    write_dataset(tmp_path / "ds", [(_rec("a"), "train")], MOD)
    with pytest.raises(EdgeRepError, match="spaceship"):
        write_dataset(tmp_path / "ds", [(_rec("a"), "train"), (_rec("b", label="spaceship"), "train")], MOD,
                      force=True)
    assert [r.id for r in load_dataset(tmp_path / "ds").recordings()] == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_unwritable_destination_is_one_line_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(EdgeRepError, match="afile/ds: cannot create"):
        write_dataset(tmp_path / "afile" / "ds", [(_rec("a"), "train")], MOD)

    def gen():
        yield _rec("a"), "train"
        raise OSError(28, "No space left on device")
    with pytest.raises(EdgeRepError, match="No space left on device"):
        write_dataset(tmp_path / "ds", gen(), MOD)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


@pytest.mark.parametrize("problem, match", [
    ("missing", "not found"), ("truncated", "sha256|truncated|corrupt"), ("garbage", "sha256|corrupt"),
])
def test_damaged_files_name_the_file(tmp_path, problem, match):
    out = write_dataset(tmp_path / "ds", [(_rec("a"), "train")], MOD)
    f = out / "recordings" / "a.npz"
    if problem == "missing":
        f.unlink()
    elif problem == "truncated":
        f.write_bytes(f.read_bytes()[:1000])
    else:
        f.write_bytes(b"not a zip file at all")
    with pytest.raises(EdgeRepError, match=match) as e:
        load_dataset(out).recordings("train")
    assert "a.npz" in str(e.value) and "\n" not in str(e.value)
    # reading the file directly also names it
    if problem != "missing":
        with pytest.raises(EdgeRepError, match="a.npz.*(truncated|corrupt)"):
            read_recording(f)


def test_missing_or_bad_manifest(tmp_path):
    with pytest.raises(EdgeRepError, match="manifest.json: not found"):
        load_dataset(tmp_path)
    (tmp_path / "manifest.json").write_text("{ not json")
    with pytest.raises(EdgeRepError, match="manifest.json: unreadable"):
        load_dataset(tmp_path)


def test_wrong_rate_and_label_rejected(tmp_path):
    with pytest.raises(EdgeRepError, match="200 Hz.*expects 100 Hz"):
        write_dataset(tmp_path / "ds", [(_rec("a", seis_rate=200.0), "train")], MOD)
    # a dataset whose file was swapped for one at another rate: the error names the file
    out = write_dataset(tmp_path / "ds", [(_rec("a"), "train")], MOD)
    write_recording(out / "recordings" / "a.npz", _rec("a", seis_rate=200.0))
    with pytest.raises(EdgeRepError, match=r"a\.npz: .*200 Hz"):
        load_dataset(out).recordings("train", verify=False)
    with pytest.raises(EdgeRepError, match="spaceship"):
        write_dataset(tmp_path / "ds2", [(_rec("a", label="spaceship"), "train")], MOD)
    with pytest.raises(EdgeRepError, match="split 'dev'"):
        write_dataset(tmp_path / "ds2", [(_rec("a"), "dev")], MOD)
    with pytest.raises(EdgeRepError, match="profile 'acids' expects 1024 Hz"):
        write_dataset(tmp_path / "ds2", [(_rec("a"), "train")], ACIDS)


def test_channels_of_different_lengths_rejected(tmp_path):
    with pytest.raises(EdgeRepError, match="different lengths"):
        write_recording(tmp_path / "r.npz", _rec("a", seconds=4.0, seis_seconds=2.0))
