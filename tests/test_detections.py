"""Pass-by detections (edge_rep/stream/detections.py): the state machine on window lines, the same detections
live and in a playback of the live run's log, truth in replays and its labels file, the [detections] config,
and evaluate --detections."""

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from edge_rep import synth
from edge_rep.cli import main
from edge_rep.config import Config
from edge_rep.errors import EdgeRepError
from edge_rep.profiles import CLASSES, MOD
from edge_rep.simulator import Scenario, Simulator, run_realtime, write_log
from edge_rep.stream.daemon import playback_records, run_stream
from edge_rep.stream.detections import DetectionTracker
from edge_rep.stream.outputs import ListSink, format_record
from edge_rep.stream.schema import without_host_fields
from edge_rep.stream.truth import LogTruth
from firmware_bridge.pty import PtyLink

LOGS = Path(__file__).parent / "data" / "logs"


def win(t1, label, conf=0.9, boot=0, uncertain=None, **extra):
    """A window line as the daemon writes it (the fields the tracker reads), 2 s window ending at ``t1``."""
    rec = {"type": "window", "boot": boot, "window_start": t1 - 2.0, "board_time": t1, "label": label,
           "confidence": conf, "modalities": ["acoustic", "seismic"], "scenario": "complete", "replay": [],
           "level_flags": {}, **extra}
    if uncertain is not None:
        rec["uncertain"] = uncertain
    return rec


def run(tracker, windows):
    out = []
    for w in windows:
        out += tracker.window(w)
    return out + tracker.close("end")


def tracker(**kw):
    args = {"min_duration_s": 3.0, "merge_gap_s": 2.0, "alarm_classes": ()} | kw
    return DetectionTracker(CLASSES, 1.0, **args)


def labels_of(seq, start=2.0):
    return [win(start + i, lab) for i, lab in enumerate(seq)]


def test_a_gap_up_to_merge_gap_merges_and_a_longer_one_splits():
    bg, car = "background", "car"
    # two background windows between the car windows: event ends 4 and 7 are 2 s + one hop apart: merged
    merged = [d for d in run(tracker(), labels_of([car, car, car, bg, bg, car, car])) if d["type"] == "detection"]
    assert len(merged) == 1 and (merged[0]["onset"], merged[0]["end"], merged[0]["windows"]) == (0.0, 8.0, 7)
    # three background windows: the first detection closes at the window whose end is 3 s + a hop past it
    t = tracker()
    out = []
    for w in labels_of([car, car, car, bg, bg, bg, car, car]):
        got = t.window(w)
        out += [(w["board_time"], d) for d in got]
    out += [(None, d) for d in t.close("end")]
    assert [(at, d["onset"], d["end"], d["closed_by"]) for at, d in out] == [(8.0, 0.0, 4.0, "gap"),
                                                                             (None, 6.0, 9.0, "end")]
    assert [d["detection"] for _, d in out] == [0, 1]


def test_shorter_than_min_duration_is_dropped_and_uncertain_windows_do_not_open_one():
    bg = "background"
    t = tracker()
    out = run(t, labels_of(["car", bg, bg, bg, bg]))
    assert out == [] and t.dropped == 1                   # a lone 2 s window is under 3 s
    ws = [win(2 + i, "truck", uncertain=True) for i in range(5)]
    assert run(tracker(), ws) == []                       # uncertain windows alone open nothing
    ws = [win(2, "car"), win(3, "car"), win(4, "truck", uncertain=True), win(5, "truck", uncertain=True)]
    (d,) = run(tracker(), ws)                             # ... but keep an open one going, without voting
    assert (d["label"], d["end"], d["uncertain_windows"], d["vote"]) == ("car", 5.0, 2, {"car": 1.0})


def test_class_is_the_confidence_weighted_vote_with_peak_and_mean():
    ws = [win(2, "car", 0.4), win(3, "car", 0.45), win(4, "car", 0.4), win(5, "truck", 0.99),
          win(6, "background", 0.9)]
    (d,) = [d for d in run(tracker(), ws) if d["type"] == "detection"]
    assert d["label"] == "car" and d["peak_confidence"] == 0.45 and d["mean_confidence"] == pytest.approx(0.4167, 1e-3)
    assert d["vote"] == {"car": pytest.approx(1.25 / 2.24, abs=1e-4), "truck": pytest.approx(0.99 / 2.24, abs=1e-4)}
    ws = [win(2, "car", 0.4), win(3, "car", 0.4), win(4, "truck", 0.99)]
    assert [d["label"] for d in run(tracker(), ws)] == ["truck"]     # 0.99 outweighs 2 x 0.4


def test_min_confidence_drops_middling_detections_and_holds_the_alarm_until_reached():
    middling = [win(2 + i, "truck", 0.6) for i in range(5)] + [win(7 + i, "background") for i in range(4)]
    t = tracker(min_confidence=0.7, alarm_classes=("truck",))
    assert run(t, middling) == [] and t.dropped == 1            # mean 0.6 < 0.7: no line, no alarm
    assert [d["type"] for d in run(tracker(alarm_classes=("truck",)), middling)] == ["detection_open", "detection"]
    # the alarm waits until the mean reaches it: 0.6, 0.6, 0.9 (mean 0.7), 0.9 (mean 0.75 at the 4th window)
    ws = [win(2, "truck", 0.6), win(3, "truck", 0.6), win(4, "truck", 0.9), win(5, "truck", 0.9), win(6, "background")]
    t = tracker(min_confidence=0.75, alarm_classes=("truck",))
    out = []
    for w in ws:
        out += [(w["board_time"], d["type"]) for d in t.window(w)]
    out += [(None, d["type"]) for d in t.close("end")]
    assert out == [(5.0, "detection_open"), (None, "detection")]
    # an alarm raised is always closed, even when later windows bring the mean below the setting
    ws = [win(2, "truck", 0.9), win(3, "truck", 0.9), win(4, "truck", 0.3), win(5, "truck", 0.3)]
    assert [d["type"] for d in run(tracker(min_confidence=0.7, alarm_classes=("truck",)), ws)] == \
        ["detection_open", "detection"]
    # per scenario (the model's fitted values): a geophone-only detection at 0.6 passes its scenario's 0.5
    geo = [win(2 + i, "truck", 0.6, scenario="acoustic_missing") for i in range(5)]
    gates = {"complete": 0.7, "acoustic_missing": 0.5}
    assert [d["type"] for d in run(tracker(min_confidence=gates), geo)] == ["detection"]
    assert run(tracker(min_confidence=gates), middling) == []            # complete windows at 0.6 < 0.7
    # ... a window's margin is taken against its own scenario: 0.6 - 0.7 and 0.8 - 0.5 average to +0.1
    mixed = [win(2, "truck", 0.6), win(3, "truck", 0.8, scenario="acoustic_missing"), win(4, "truck", 0.6),
             win(5, "truck", 0.8, scenario="acoustic_missing")]
    assert len(run(tracker(min_confidence=gates), mixed)) == 1
    assert run(tracker(min_confidence=0.75), mixed) == []                # one number: the mean 0.7 < 0.75
    # an out-of-range setting is a config error naming the key
    with pytest.raises(EdgeRepError, match="min_confidence"):
        Config.from_dict({"detections": {"min_confidence": 1.5}})
    with pytest.raises(EdgeRepError, match=r"give a number \(e.g. min_confidence = 0.5\), or leave the key out"):
        Config.from_dict({"detections": {"min_confidence": "0.5"}})


def test_detection_lines_count_modalities_replay_and_level_flags():
    ws = [win(2, "tracked"), win(3, "tracked", modalities=["seismic"], scenario="acoustic_missing",
                                 replay=["acoustic"], level_flags={"seismic": "high"}),
          win(4, "background"), win(5, "tracked", level_flags={"seismic": "low"})]
    (d,) = run(tracker(), ws)
    assert d["modalities"] == ["acoustic", "seismic"] and d["replayed_windows"] == 1
    assert d["scenarios"] == {"complete": 3, "acoustic_missing": 1} and d["windows"] == 4
    assert d["level_flags"] == {"seismic": ["high", "low"]}
    assert format_record(d).startswith("t=   5.00s  >> detection 0: tracked 0.90 (peak 0.90), 5.0 s from t=0.00s, "
                                       "4 windows, acoustic + seismic, 1 replayed, level seismic:high/low")


def test_detection_open_once_for_alarm_classes_after_min_duration():
    t = tracker(alarm_classes=("truck",))
    out = []
    for w in labels_of(["truck"] * 4 + ["background"] * 4):
        out += [(w["board_time"], d["type"]) for d in t.window(w)]
    # the first window (0-2 s) is under 3 s; the second (onset 0, end 3) opens the alarm; the close at 9 s
    assert out == [(3.0, "detection_open"), (9.0, "detection")]
    assert run(tracker(alarm_classes=("truck",)), labels_of(["car"] * 4))[0]["alarm"] is False
    assert [d["type"] for d in run(tracker(alarm_classes=("truck",)), labels_of(["truck"]))] == []


def test_a_reboot_closes_the_open_detection():
    t = tracker()
    out = run(t, [win(2, "car"), win(3, "car"), win(4, "car"), win(2, "car", boot=1), win(3, "car", boot=1)])
    assert [(d["boot"], d["closed_by"], d["onset"], d["end"]) for d in out] == [(0, "reboot", 0.0, 4.0),
                                                                               (1, "end", 0.0, 3.0)]


def test_live_run_and_playback_of_its_log_give_the_same_detections(tmp_path, backend):
    """Detections are decided on board time: the log the live run recorded plays back to the same lines."""
    speed, duration = 2.0, 20.0
    rng = np.random.default_rng(3)
    rec = synth.continuous(MOD, duration, 3, events=[synth.random_event("car", 6.0, rng),
                                                     synth.random_event("truck", 15.0, rng)])
    sim = Simulator(rec, Scenario.parse(["drop:acoustic@13-17", "reset@18.5"]), 3)
    link = PtyLink(tmp_path / "board")
    board = threading.Thread(target=run_realtime, args=(sim, link, speed), kwargs={"on_event": lambda s: None},
                             daemon=True)
    cfg = Config()
    cfg.serial.port, cfg.serial.open_timeout_s = str(link.link), 5.0
    cfg.record.dir, cfg.output.status_line, cfg.node.id = str(tmp_path / "rec"), "off", "det-test"
    cfg.detections.alarm_classes = ["car", "truck"]
    sink = ListSink()
    try:
        run_stream(cfg, backend, sinks=[sink], on_started=board.start, stop_after_s=duration / speed + 1.5)
    finally:
        board.join(timeout=10)
        link.close()
    live = [without_host_fields(r) for r in sink.records if r["type"].startswith("detection")]
    assert any(r["type"] == "detection" for r in live)
    (log_path,) = list((tmp_path / "rec").glob("*.edgelog"))
    again = [without_host_fields(r) for r in playback_records(cfg, str(log_path), backend)
             if r["type"].startswith("detection")]
    assert again == live


def test_replay_with_labels_adds_truth_and_ends_with_the_scores(tmp_path, capsys, stream_model):
    out = tmp_path / "out.jsonl"
    assert main(["replay", str(LOGS / "labelled_passbys.edgelog"), "--model", stream_model, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    wins = [r for r in recs if r["type"] == "window"]
    assert {w["truth"] for w in wins} == {"background", "car", "pedestrian", "truck"}
    dets = [r for r in recs if r["type"] == "detection"]
    assert dets and all(d["truth"] in CLASSES for d in dets)
    assert "| complete | 29 |" in err and "| pass-bys | detected | Pd |" in err
    # the window table counts what the lines say
    right = sum(w["label"] == w["truth"] for w in wins)
    assert f"| all | 29 | {right / 29:.3f} |" in err


def test_replay_without_labels_has_no_truth(tmp_path, capsys, stream_model):
    log = tmp_path / "clean.edgelog"
    log.write_bytes((LOGS / "clean.edgelog").read_bytes())      # no labels file beside this copy
    out = tmp_path / "out.jsonl"
    assert main(["replay", str(log), "--model", stream_model, "--out", str(out)]) == 0
    assert not any("truth" in json.loads(line) for line in out.read_text().splitlines())
    assert "pass-bys" not in capsys.readouterr().err


@pytest.mark.parametrize("labels, says", [
    ([[0, 5, "car"], [4, 8, "truck"]], "intervals 0..5 s (car) and 4..8 s (truck) overlap"),
    ([[0, 5, "cat"]], "label of 0..5 s: 'cat' is not one of the model's classes"),
    ([[2, 50, "car"]], "interval 2..50 s (car) ends after the log (20.0 s)"),
    ([[-3, 1, "car"]], "interval -3..1 s (car) is not 0 <= start < end"),
    ([[5, 5, "car"]], "interval 5..5 s (car) is not 0 <= start < end"),
    ([[0, 5]], "not a list of [start, end, label]"),
])
def test_a_labels_file_that_does_not_match_is_one_line_exit_2(tmp_path, capsys, stream_model, labels, says):
    log = tmp_path / "clean.edgelog"
    log.write_bytes((LOGS / "clean.edgelog").read_bytes())
    (tmp_path / "clean.edgelog.labels.json").write_text(json.dumps({"labels": labels}))
    assert main(["replay", str(log), "--model", stream_model, "--out", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("edge-rep: error: labels ") and "clean.edgelog.labels.json" in err[0]
    assert says in err[0]
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize("body, says", [
    ("[detections]\nmin_duration_s = -1\n", "detections.min_duration_s: must be >= 0"),
    ("[detections]\nmerge_gap_s = 1e9\n", "detections.merge_gap_s: must be <= 3600"),
    ("[detections]\nuncertain_threshold = 1.0\n", "detections.uncertain_threshold: must be < 1"),
    ("[detections]\nuncertain_threshold = 0\n", "detections.uncertain_threshold: must be > 0"),
    ('[detections]\nalarm_classes = "truck"\n', "detections.alarm_classes: expected an array of class names"),
    ('[detections]\nalarm_classes = ["truck", "truck"]\n', "detections.alarm_classes: names a class twice"),
])
def test_detections_config_out_of_range_is_one_line_exit_2(tmp_path, capsys, body, says):
    conf = tmp_path / "e.toml"
    conf.write_text(body)
    assert main(["config", "--check", str(conf)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"edge-rep: error: {conf}: ") and says in err[0]


def test_detections_config_defaults_round_trip_and_alarm_classes_are_checked_against_the_model(tmp_path, capsys,
                                                                                                stream_model):
    cfg = Config.from_dict({"detections": {"uncertain_threshold": 0.25, "alarm_classes": ["truck"]}})
    assert cfg.detections.uncertain_threshold == 0.25 and cfg.detections.alarm_classes == ["truck"]
    assert Config().detections.uncertain_threshold is None           # absent: the model's fitted value
    conf = tmp_path / "a.toml"
    conf.write_text('[detections]\nalarm_classes = ["truck", "spaceship"]\n')
    assert main(["replay", str(LOGS / "clean.edgelog"), "--config", str(conf), "--model", stream_model,
                 "--out", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{conf}: detections.alarm_classes: \"spaceship\" is not a class of the model" in err[0]
    conf.write_text('[detections]\nalarm_classes = ["background"]\n')     # background raises no alarm
    with pytest.raises(EdgeRepError):
        from edge_rep.config import check_detections, load_config
        check_detections(load_config(conf), CLASSES)


def test_truth_maps_each_boot_onto_the_logs_timeline(tmp_path):
    """A log whose board reboots: boot 1's board time 0 lies at the reset on the log's timeline."""
    rng = np.random.default_rng(0)
    rec = synth.continuous(MOD, 16.0, 5, events=[synth.random_event("car", 12.0, rng)])
    path = tmp_path / "r.edgelog"
    write_log(Simulator(rec, Scenario.parse(["reset@8"]), 5), path)
    truth = LogTruth.for_log(path, CLASSES)
    assert truth.anchors[0] == pytest.approx(0.0, abs=1e-3) and truth.anchors[1] == pytest.approx(8.0, abs=0.06)
    w = {"type": "window", "boot": 1, "window_start": 3.0, "board_time": 5.0, "label": "car", "scenario": "complete"}
    truth.annotate(w)
    a = truth.anchors[1]
    assert w["truth"] == rec.label_between(a + 3.0, a + 5.0) == "car"      # the car passes at 12 s of the log


def test_evaluate_detections_on_a_tiny_dataset_writes_the_metrics(tmp_path, capsys, stream_model):
    data, bg, out = tmp_path / "d", tmp_path / "bg", tmp_path / "ev"
    assert main(["synth", "--out", str(data), "--recordings", "18", "--duration", "10", "--foreign", "0",
                 "--quiet"]) == 0
    assert main(["synth", "--out", str(bg), "--background-only", "--recordings", "1", "--duration", "40",
                 "--quiet"]) == 0
    assert main(["evaluate", "--model", stream_model, "--data", str(data), "--detections", "--background", str(bg),
                 "--out", str(out), "--quiet", "--jobs", "2"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    det = m["detections"]
    for h in (det, det["dropped"]["acoustic"], det["dropped"]["seismic"]):
        assert {"pd", "far_per_hour", "accuracy", "window_accuracy", "passby_window_accuracy"} <= set(h)
        assert 0 <= h["pd"] <= 1 and h["far_per_hour"] >= 0
    assert det["background"]["hours"] == pytest.approx(38 / 3600, abs=2 / 3600)   # windows ending at 2 .. 40 s
    v = det["variants"]
    assert v["none"]["passbys"]["passbys"] > 0
    assert "acoustic_missing" in v["acoustic"]["passbys"]["windows"]
    assert "seismic_missing" in v["seismic"]["passbys"]["windows"]
    assert "acoustic_missing" not in v["none"]["passbys"]["windows"]
    assert "| channel dropped | Pd |" in (out / "metrics.md").read_text()
    # the same figures from one process: workers change nothing
    from edge_rep.evaluate_detections import evaluate_detections
    one = evaluate_detections(stream_model, data, background=bg, progress=False, jobs=1)
    assert {k: one[k] for k in ("pd", "far_per_hour", "accuracy", "dropped", "variants")} == \
        {k: det[k] for k in ("pd", "far_per_hour", "accuracy", "dropped", "variants")}
    # --config: that file's [detections] settings; a minimum confidence near 1 reports (almost) nothing
    from edge_rep.modelspec import ModelMeta, sidecar_path
    fitted = (ModelMeta.load(sidecar_path(stream_model)).extra.get("detections") or {}).get("min_confidence") or {}
    assert det["settings"]["min_confidence"] == fitted
    conf = tmp_path / "strict.toml"
    conf.write_text("[detections]\nmin_confidence = 0.999\n")
    assert main(["evaluate", "--model", stream_model, "--data", str(data), "--detections", "--background", str(bg),
                 "--config", str(conf), "--out", str(tmp_path / "strict"), "--quiet", "--jobs", "1"]) == 0
    strict = json.loads((tmp_path / "strict" / "metrics.json").read_text())["detections"]
    assert strict["settings"]["min_confidence"] == 0.999
    assert strict["pd"] <= det["pd"] and strict["far_per_hour"] <= det["far_per_hour"]
    assert strict["variants"]["none"]["passbys"]["detections"] < det["variants"]["none"]["passbys"]["detections"]
    assert "min_confidence 0.999" in (tmp_path / "strict" / "metrics.md").read_text()
    capsys.readouterr()
    assert main(["evaluate", "--model", stream_model, "--data", str(data), "--config", str(conf),
                 "--out", str(tmp_path / "x")]) == 2
    assert "use it with --detections" in capsys.readouterr().err


def test_synth_background_only_is_background_in_the_test_split(tmp_path):
    from edge_rep.dataset import load_dataset
    assert main(["synth", "--out", str(tmp_path / "bg"), "--background-only", "--recordings", "2", "--duration", "6",
                 "--quiet"]) == 0
    ds = load_dataset(tmp_path / "bg")
    assert ds.splits() == {"train": 0, "val": 0, "test": 2, "foreign": 0}
    recs = ds.recordings("test")
    assert all({iv.label for iv in r.labels} == {"background"} and r.duration == 6.0 for r in recs)


def test_synth_background_for_training_holds_no_held_out_kind(tmp_path, capsys):
    from edge_rep.dataset import load_dataset
    from edge_rep.synth_nontarget import HELD_OUT_KINDS
    assert main(["synth", "--out", str(tmp_path / "bg"), "--background-only", "--split", "train", "--recordings", "8",
                 "--duration", "60", "--quiet"]) == 0
    ds = load_dataset(tmp_path / "bg")
    assert ds.splits() == {"train": 8, "val": 0, "test": 0, "foreign": 0}
    kinds = {k for r in ds.recordings() for _, _, k in r.metadata["nontarget"]}
    assert kinds and not kinds & set(HELD_OUT_KINDS), kinds
    # the test background holds them (the same seed and sites)
    assert main(["synth", "--out", str(tmp_path / "bt"), "--background-only", "--recordings", "8",
                 "--duration", "60", "--quiet"]) == 0
    assert {k for r in load_dataset(tmp_path / "bt").recordings() for _, _, k in r.metadata["nontarget"]} & \
        set(HELD_OUT_KINDS)
    capsys.readouterr()
    for split in ("val", "test"):
        assert main(["synth", "--out", str(tmp_path / "x"), "--split", split, "--quiet"]) == 2
        assert "only with --background-only" in capsys.readouterr().err


def test_evaluate_detections_needs_a_model_and_a_background_only_dataset(tmp_path, capsys, stream_model):
    assert main(["evaluate", "--data", str(tmp_path), "--detections", "--out", str(tmp_path / "e")]) == 2
    assert "--detections scores a finished model" in capsys.readouterr().err


def test_uncertain_threshold_is_passed_to_the_classifier_and_uncertain_windows_open_nothing(backend):
    """[detections] uncertain_threshold reaches the daemon's classifier: just below 1 flags every window, and
    flagged windows alone open no detection; the default (the model's fitted value) leaves pass-bys detected."""
    cfg = Config()
    cfg.output.status_line = "off"
    log = str(LOGS / "labelled_passbys.edgelog")
    plain = playback_records(cfg, log, backend)
    assert any(r["type"] == "detection" for r in plain)
    cfg.detections.uncertain_threshold = 0.999999
    flagged = playback_records(cfg, log, backend)
    wins = [r for r in flagged if r["type"] == "window"]
    assert wins and all(w["uncertain"] for w in wins)
    assert not any(r["type"].startswith("detection") for r in flagged)
