"""Log playback: the shipped sensor logs (tests/data/logs) through the daemon's path with the bundled model:
drops detected within 1 s of board time, classification continuing under the right scenario, buffer
replay used then expiring, recovery, corrupt bytes and reboots without crashes or lost windows."""

import json
import random
from pathlib import Path

import numpy as np
import pytest

from edge_rep.config import HealthSection, load_config
from edge_rep.log_conversion import read_labels, to_recording
from edge_rep.stream.assembler import WindowAssembler
from edge_rep.stream.windows import WindowJob
from edge_rep.stream.daemon import playback_records
from edge_rep.stream.health import HealthEvent
from edge_rep.stream.schema import without_host_fields
from firmware_bridge.sensorlog import messages, read_log

LOGS = Path(__file__).parent / "data" / "logs"
HOLDOVER = 3.0


def config(holdover=HOLDOVER, replay=True):
    cfg = load_config(None)
    cfg.replay.holdover_s, cfg.replay.enabled = holdover, replay
    cfg.output.status_line = "off"
    cfg.node.id = "test"
    return cfg


def faults(name):
    return read_log(LOGS / name).header.extra.get("faults", [])


def windows(recs, boot=None):
    return [r for r in recs if r["type"] == "window" and (boot is None or r["boot"] == boot)]


def events(recs, channel=None, to=None):
    return [r for r in recs if r["type"] == "health" and (channel is None or r["channel"] == channel)
            and (to is None or r["to"] == to)]


@pytest.fixture(scope="module")
def playbacks(backend):
    return {p.name: playback_records(config(), str(p), backend) for p in sorted(LOGS.glob("*.edgelog"))}


def test_every_shipped_log_plays_back(playbacks):
    assert {"clean.edgelog", "acoustic_drop.edgelog", "seismic_drop.edgelog", "corrupt_bytes.edgelog",
            "board_reset.edgelog", "labelled_passbys.edgelog"} <= set(playbacks)
    for name, recs in playbacks.items():
        ws = windows(recs)
        assert ws, name
        for w in ws:
            assert set(w) >= {"board_time", "host_time", "label", "probs", "confidence", "modalities", "scenario",
                              "replay", "buffer_age_s", "latency_ms", "model", "health"}
            if w["label"] is not None:
                assert abs(sum(w["probs"].values()) - 1) < 1e-3 and w["confidence"] == max(w["probs"].values())


def test_clean_log_all_complete_and_healthy(playbacks):
    recs = playbacks["clean.edgelog"]
    ws = windows(recs)
    assert [w["scenario"] for w in ws] == ["complete"] * len(ws)
    assert not events(recs, to="dropped") and not any(w["replay"] for w in ws)
    assert len(ws) == 19          # 20 s of board time, 2 s windows every 1 s


@pytest.mark.parametrize("name,mod,other", [("acoustic_drop.edgelog", "acoustic", "seismic"),
                                            ("seismic_drop.edgelog", "seismic", "acoustic")])
def test_drop_detected_replayed_expired_and_recovered(playbacks, name, mod, other):
    recs = playbacks[name]
    (f,) = [f for f in faults(name) if f["kind"] == "drop"]
    drops = events(recs, f"{mod}0", "dropped")
    assert len(drops) == 1
    # The last good sample is the one just before the fault: detected within 1 s of board time.
    assert 0 <= drops[0]["board_time"] - f["at"] <= 1.0
    assert not events(recs, f"{other}0", "dropped")
    until = f["until"] if f["until"] is not None else 1e9
    during = [w for w in windows(recs) if w["board_time"] > drops[0]["board_time"] and w["window_start"] < until]
    assert len(during) >= 4
    for w in during:
        # Classification continues on what is left, under the right scenario.
        assert w["scenario"] == f"{mod}_missing" and w["modalities"] == [other] and w["label"] is not None
    replayed = [w for w in during if w["replay"] == [mod]]
    learned = [w for w in during if not w["replay"]]
    assert replayed and learned, "replay must be used, then expire"
    assert max(w["board_time"] for w in replayed) < min(w["board_time"] for w in learned)
    assert all(0 < w["buffer_age_s"][mod] <= HOLDOVER for w in replayed)
    # The cache is the last complete window before the drop: its age is board time since then.
    last_before = max(w["board_time"] for w in windows(recs) if w["board_time"] <= f["at"])
    assert replayed[0]["buffer_age_s"][mod] == pytest.approx(replayed[0]["board_time"] - last_before)
    if f["until"] is not None:
        back = events(recs, f"{mod}0", "recovering")
        ok = events(recs, f"{mod}0", "ok")
        assert back and f["until"] <= back[0]["board_time"] <= f["until"] + 1.0
        assert ok and ok[-1]["board_time"] > back[0]["board_time"]
        after = [w for w in windows(recs) if w["window_start"] >= f["until"] + 0.05]
        assert after and all(w["scenario"] == "complete" for w in after)
        # Different buffers are replayed than learned: the replayed probabilities are not the learned ones.
    assert any(r["probs"] != learned[0]["probs"] for r in replayed)


def test_replay_disabled_uses_learned_buffers(backend):
    recs = playback_records(config(replay=False), str(LOGS / "acoustic_drop.edgelog"), backend)
    ws = windows(recs)
    assert any(w["scenario"] == "acoustic_missing" for w in ws) and not any(w["replay"] for w in ws)


def test_corrupt_bytes_lose_only_windows_whose_data_was_lost(playbacks):
    recs = playbacks["corrupt_bytes.edgelog"]
    ws = windows(recs)
    # One window per hop, none missing: index 0..18 for 20 s.
    assert [w["window"] for w in ws] == list(range(19))
    for w in ws:
        full = {m for m, c in w["coverage"].items() if c >= 0.9}
        if w["label"] is None:
            assert w["scenario"] == "all_missing"
        # A modality whose samples all arrived is given to the model unless its channel was dropped.
        for m in full:
            if w["health"][f"{m}0"] != "dropped":
                assert m in w["modalities"]
    intact = [w for w in ws if min(w["coverage"].values()) == 1.0]
    assert len(intact) >= 8 and all(w["label"] is not None for w in intact)
    lost = [w for w in ws if w["label"] is None]
    assert all(min(w["coverage"].values()) < 0.9 for w in lost)


def test_board_reset_restarts_windowing_without_crash(playbacks):
    recs = playbacks["board_reset.edgelog"]
    (f,) = [f for f in faults("board_reset.edgelog") if f["kind"] == "reset"]
    resets = [r for r in recs if r.get("event") == "board_reset"]
    assert len(resets) == 1 and resets[0]["boot"] == 1
    before, after = windows(recs, 0), windows(recs, 1)
    # Boot 0 keeps every window its data completed; boot 1 starts again at board time 0.
    assert [w["window"] for w in before] == list(range(int(f["at"]) - 1))
    assert after[0]["window_start"] == 0.0 and [w["window"] for w in after] == list(range(len(after)))
    assert len(before) + len(after) >= 19 - 2      # only windows spanning the reset are lost
    assert all(w["label"] is not None for w in before + after)


def test_playback_is_deterministic_and_chunking_does_not_matter(backend):
    path = LOGS / "corrupt_bytes.edgelog"
    a = [without_host_fields(r) for r in playback_records(config(), str(path), backend)]
    b = [without_host_fields(r) for r in playback_records(config(), str(path), backend)]
    assert a == b
    # The assembler alone, fed the same bytes in random chunks: same windows and events.
    data = read_log(path).data

    def run(chunks):
        asm, out = WindowAssembler(backend.meta.profile, HealthSection()), []
        for c in chunks:
            out += asm.feed(c)
        out += asm.finish()
        return [(o.boot, o.index, o.present, o.coverage, o.health) if isinstance(o, WindowJob) else
                (o.channel, o.board_time, o.new) if isinstance(o, HealthEvent) else o.event for o in out]

    rng = random.Random(0)
    cuts = sorted(rng.sample(range(1, len(data)), 300))
    chunks = [data[i:j] for i, j in zip([0, *cuts], [*cuts, len(data)])]
    assert run(chunks) == run([data]) == run([data[i:i + 1] for i in range(0, 50_000)] + [data[50_000:]])


def test_garbage_and_truncation_never_crash(backend):
    data = read_log(LOGS / "clean.edgelog").data
    rng = np.random.default_rng(1)
    asm, n = WindowAssembler(backend.meta.profile, HealthSection()), 0
    for i in range(0, len(data), 5000):
        chunk = bytearray(data[i:i + 5000])
        k = rng.integers(0, len(chunk), 20)
        for j in k:
            chunk[j] = rng.integers(0, 256)
        if i % 20000 == 0:
            chunk = chunk[: len(chunk) // 2]       # a cut frame
        out = asm.feed(bytes(chunk) + rng.bytes(50))
        n += sum(isinstance(o, WindowJob) for o in out)
    n += sum(isinstance(o, WindowJob) for o in asm.finish())
    assert 10 <= n <= 19
    assert asm.counters.crc_errors + asm.decoder.stats.cobs_errors > 0


def _anchor(log_path):
    """Where board time 0 (boot 0) sits on the log's timeline, as to_recording places it."""
    log = read_log(log_path)
    return min(t - m.timestamp_us / 1e6 for t, m in messages(log)) - log.header.start_time


def _offline_accuracy(backend, log_path, present, board_from=0.0):
    """The offline evaluation: the log decoded to a Recording, cut with the profile, run window by
    window; windows starting at board time ``board_from`` or later."""
    log = read_log(log_path)
    rec = to_recording(log)
    rec.labels = read_labels(log_path)
    profile = backend.meta.profile
    t_from = _anchor(log_path) + board_from - 1e-6
    every = list(rec.windows(profile))
    keep = [i for i, w in enumerate(every) if w.label is not None and w.start >= t_from]
    ws = [every[i] for i in keep]
    x = {m: np.stack([w.data[m] for w in ws]) for m in profile.modality_names}
    M, meta = len(profile.modalities), backend.meta
    if meta.floor_referenced:    # the noise floor runs over every window from the log's start, as live
        from edge_rep.levels import above_floor_db, window_level_db
        levels = np.stack([[window_level_db(w.data[m][None])[0] for m in profile.modality_names] for w in every])
        pres = np.tile(np.asarray(present, bool), (len(every), 1))
        above = above_floor_db(levels, pres, np.zeros(len(every), int), np.array([w.start for w in every]))
        x["above_floor_db"] = above[keep]
    x["present"] = np.tile(np.asarray(present, np.float32), (len(ws), 1))
    x["replay"] = np.zeros((len(ws), M), np.float32)
    x["buffers_in"] = np.zeros((len(ws), M, meta.buffer_tokens, meta.width), np.float32)
    for i, name in enumerate(profile.modality_names):
        if not present[i]:
            x[name][:] = 0
    probs = np.concatenate([backend.run({k: v[i:i + 1] for k, v in x.items()})["probs"] for i in range(len(ws))])
    pred = [profile.classes[k] for k in probs.argmax(1)]
    return float(np.mean([p == w.label for p, w in zip(pred, ws)])), rec


def _stream_accuracy(recs, log_path, rec, scenario, board_from=0.0):
    """Stream windows of ``scenario`` starting at ``board_from`` or later, labelled on the log's timeline."""
    anchor = _anchor(log_path)
    hits = []
    for w in windows(recs, 0):
        lab = rec.label_between(anchor + w["window_start"], anchor + w["board_time"])
        if lab is not None and w["scenario"] == scenario and w["window_start"] >= board_from:
            hits.append(w["label"] == lab)
    return float(np.mean(hits)), len(hits)


def test_labelled_log_matches_offline_evaluation_complete(backend, playbacks):
    path = LOGS / "labelled_passbys.edgelog"
    off, rec = _offline_accuracy(backend, path, [1, 1])
    on, n = _stream_accuracy(playbacks[path.name], path, rec, "complete")
    assert n >= 20
    assert abs(on - off) <= 0.05, (on, off)


def test_seismic_drop_matches_offline_evaluation_for_its_scenario(backend):
    path = LOGS / "seismic_drop.edgelog"
    recs = playback_records(config(replay=False), str(path), backend)
    (f,) = faults(path.name)
    off, rec = _offline_accuracy(backend, path, [1, 0], board_from=f["at"])
    on, n = _stream_accuracy(recs, path, rec, "seismic_missing", board_from=f["at"])
    assert n >= 8
    assert abs(on - off) <= 0.05, (on, off)


def test_replay_cli_writes_json_lines(tmp_path, capsys, stream_model):
    from edge_rep.cli import main
    out = tmp_path / "r.jsonl"
    args = ["replay", str(LOGS / "acoustic_drop.edgelog"), "--out", str(out), "--holdover", "2",
            "--model", stream_model]
    assert main(args) == 0
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(windows(recs)) == 19 and events(recs, "acoustic0", "dropped")
    assert "19 windows" in capsys.readouterr().err


def test_replay_cli_bad_inputs_are_one_line_errors(tmp_path, capsys):
    from edge_rep.cli import main
    assert main(["replay", str(tmp_path / "nope.edgelog")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not found" in err[0]
    bad = tmp_path / "bad.edgelog"
    bad.write_bytes(b"not a log at all")
    assert main(["replay", str(bad)]) == 2
    assert "not an edge-rep sensor log" in capsys.readouterr().err
    assert main(["replay", str(LOGS / "clean.edgelog"), "--holdover", "-1"]) == 2


GOLDEN = Path(__file__).parent / "data" / "golden"


@pytest.mark.parametrize("name", ["acoustic_drop", "board_reset"])
def test_replay_cli_gives_the_golden_lines(tmp_path, name, stream_model):
    """`edge-rep replay LOG` gives, field for field and in order, the lines committed under tests/data/golden
    (host-only fields removed; probabilities to 1e-3, for other CPUs and runtime versions)."""
    from edge_rep.cli import main
    conf = tmp_path / "golden.toml"
    conf.write_text('[node]\nid = "golden"\n\n[output]\nstatus_line = "off"\n')
    out = tmp_path / "out.jsonl"
    assert main(["replay", str(LOGS / f"{name}.edgelog"), "--config", str(conf), "--out", str(out),
                 "--model", stream_model]) == 0
    got = [without_host_fields(json.loads(line)) for line in out.read_text().splitlines()]
    want = [json.loads(line) for line in (GOLDEN / f"{name}.jsonl").read_text().splitlines()]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert list(g) == list(w), (g, w)              # same fields in the same order
        for k in w:
            if k == "probs" and w[k] is not None:
                assert list(g[k]) == list(w[k]) and all(abs(g[k][c] - w[k][c]) <= 1e-3 for c in w[k]), (g, w)
            elif k == "confidence" and w[k] is not None:
                assert abs(g[k] - w[k]) <= 1e-3, (g, w)
            else:
                assert g[k] == w[k], (k, g, w)


def test_a_sensor_scale_far_off_the_training_range_is_flagged_and_noticed(tmp_path, stream_model):
    """The model's sidecar records the levels it was trained on; windows far outside them carry
    level_flags, and a run of 3 becomes one level_out_of_range notice naming the modality, the level
    relative to the range and the likely cause, the same in every playback."""
    import shutil
    src = Path(stream_model)
    shutil.copy(src, tmp_path / "m.onnx")
    side = json.loads(src.with_suffix(".json").read_text())
    # a training range far below what the shipped log's geophone reads: the board's scale looks tens of dB off
    side["extra"]["level_range"] = {"seismic": {"unit": "m/s", "all_db": [-200.0, -190.0],
                                                "background_db": [-200.0, -195.0], "targets_db": [-195.0, -190.0]}}
    (tmp_path / "m.json").write_text(json.dumps(side))
    conf = tmp_path / "c.toml"
    conf.write_text('[output]\nstatus_line = "off"\n')
    from edge_rep.cli import main
    outs = []
    for k in range(2):
        out = tmp_path / f"out{k}.jsonl"
        assert main(["replay", str(LOGS / "clean.edgelog"), "--config", str(conf), "--out", str(out),
                     "--model", str(tmp_path / "m.onnx")]) == 0
        outs.append([without_host_fields(json.loads(line)) for line in out.read_text().splitlines()])
    assert outs[0] == outs[1]
    recs = outs[0]
    windows = [r for r in recs if r["type"] == "window"]
    assert windows and all(w["level_flags"] == {"seismic": "high"} for w in windows if "seismic" in w["modalities"])
    notices = [r for r in recs if r["type"] == "notice" and r["event"].startswith("level_")]
    assert [n["event"] for n in notices] == ["level_out_of_range"]
    n = notices[0]
    assert n["modality"] == "seismic" and n["relative_db"] > 20 and "wrong scale" in n["message"]
    assert n["board_time"] == windows[2]["board_time"]            # after the third window out of range
