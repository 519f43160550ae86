"""The classifier's buffer cache and replay decisions, the record schema, and skipping when behind."""


import numpy as np

from edge_rep.modelspec import scenario_name
from edge_rep.stream.assembler import WindowAssembler
from edge_rep.stream.windows import WindowJob
from edge_rep.stream.classifier import BufferReplayClassifier
from edge_rep.stream.outputs import ListSink, format_record
from edge_rep.stream.notices import LinkChange
from edge_rep.stream.runner import StreamRunner
from edge_rep.stream.schema import HOST_FIELDS, SCHEMA, window_record, without_host_fields


class Spy:
    """The real backend, keeping a copy of every input it was given."""

    def __init__(self, backend):
        self.backend, self.meta, self.calls = backend, backend.meta, []

    def run(self, x):
        self.calls.append({k: v.copy() for k, v in x.items()})
        return self.backend.run(x)


def job(meta, t1, present=("acoustic", "seismic"), boot=0, healthy=None, seed=0):
    rng = np.random.default_rng(seed)
    p = meta.profile
    scale = {"Pa": 0.05, "m/s": 1e-6}          # within the training data's levels: no level notices
    data = {m.name: (rng.standard_normal((m.channels, p.window_samples(m.name))) * scale.get(m.units, 0.05))
            .astype(np.float32) for m in p.modalities}
    pres = {m: m in present for m in p.modality_names}
    return WindowJob(boot, int(t1 - p.window_s), t1 - p.window_s, t1, data, pres,
                     {m: 1.0 if pres[m] else 0.0 for m in pres},
                     {f"{m}0": "ok" if pres[m] else "dropped" for m in pres},
                     healthy if healthy is not None else dict(pres), 0.0)


def test_scenario_names():
    assert scenario_name({"acoustic": True, "seismic": True}) == "complete"
    assert scenario_name({"acoustic": False, "seismic": True}) == "acoustic_missing"
    assert scenario_name({"acoustic": False, "seismic": False}) == "all_missing"


def test_cached_buffers_are_replayed_within_holdover_then_learned_ones(backend):
    spy = Spy(backend)
    clf = BufferReplayClassifier(spy, replay=True, holdover_s=3.0)
    meta = backend.meta
    r0 = clf.classify(job(meta, 2.0))
    assert r0.replay == {"acoustic": False, "seismic": False} and spy.calls[-1]["present"].tolist() == [[1, 1]]
    cached = clf.cache["acoustic"].buffers
    assert cached.shape == (meta.buffer_tokens, meta.width) and np.abs(cached).sum() > 0
    r1 = clf.classify(job(meta, 4.0, present=("seismic",)))
    x = spy.calls[-1]
    assert r1.replay == {"acoustic": True, "seismic": False} and r1.buffer_age == {"acoustic": 2.0}
    assert x["replay"].tolist() == [[1, 0]] and x["present"].tolist() == [[0, 1]]
    assert np.array_equal(x["buffers_in"][0, 0], cached) and not x["acoustic"].any()
    # The missing modality's stale cache is not refreshed by windows where it is absent.
    assert np.array_equal(clf.cache["acoustic"].buffers, cached)
    r2 = clf.classify(job(meta, 5.5, present=("seismic",)))
    assert r2.replay["acoustic"] is False and spy.calls[-1]["replay"].tolist() == [[0, 0]]
    assert not spy.calls[-1]["buffers_in"].any()
    # Replaying changes the answer compared with the learned buffers (same window data).
    same = job(meta, 4.0, present=("seismic",))
    clf2 = BufferReplayClassifier(spy, replay=False)
    assert not np.allclose(clf2.classify(same).probs, r1.probs)


def test_cache_only_from_healthy_complete_windows_and_not_across_reboots(backend):
    meta = backend.meta
    clf = BufferReplayClassifier(Spy(backend), holdover_s=30)
    clf.classify(job(meta, 2.0, healthy={"acoustic": False, "seismic": True}))
    assert "acoustic" not in clf.cache and "seismic" in clf.cache
    clf.classify(job(meta, 3.0))
    r = clf.classify(job(meta, 1.0, present=("seismic",), boot=1))
    assert r.replay["acoustic"] is False          # cached on boot 0: its age on the new clock is unknown


def test_no_modality_present_gives_a_null_window_without_running_the_model(backend):
    spy = Spy(backend)
    clf = BufferReplayClassifier(spy)
    r = clf.classify(job(backend.meta, 2.0, present=()))
    assert r.probs is None and not spy.calls
    rec = window_record(r, backend.meta.classes, "m", "n", None)
    assert rec["label"] is None and rec["scenario"] == "all_missing" and rec["modalities"] == []


def test_window_record_schema_and_readable_line(backend):
    meta = backend.meta
    clf = BufferReplayClassifier(backend, holdover_s=5)
    clf.classify(job(meta, 2.0))
    r = clf.classify(job(meta, 3.0, present=("seismic",)))
    rec = window_record(r, meta.classes, meta.model_id, "node-1", 4.25, host_time=100.0)
    assert rec["label"] in meta.classes and set(rec["probs"]) == set(meta.classes)
    assert rec["scenario"] == "acoustic_missing" and rec["replay"] == ["acoustic"]
    assert rec["buffer_age_s"] == {"acoustic": 1.0} and rec["modalities"] == ["seismic"]
    assert rec["board_time"] == 3.0 and rec["window_start"] == 1.0 and rec["model"] == meta.model_id
    assert set(HOST_FIELDS) <= set(rec) and not set(HOST_FIELDS) & set(without_host_fields(rec))
    line = format_record(rec)
    assert "acoustic missing, replaying acoustic buffers 1 s old" in line and rec["label"] in line


def test_live_runner_skips_by_time_behind_never_by_batch_size(backend):
    """Five windows completed at once by fresh bytes (a stall's end) are all classified; windows whose bytes
    arrived longer ago than max_lag_s (2 hops) are skipped live, each with a window_skipped notice line, and
    never in playback."""
    import time
    meta = backend.meta

    def runner(live):
        sink = ListSink()
        return StreamRunner(WindowAssembler(meta.profile), BufferReplayClassifier(backend), [sink], "n",
                            live=live), sink

    r, sink = runner(True)
    fresh = [job(meta, 2.0 + i) for i in range(5)]
    for j in fresh:
        j.host_time_ready = time.time()
    r.handle(fresh)
    assert [w["board_time"] for w in sink.records] == [2.0, 3.0, 4.0, 5.0, 6.0] and r.stats.skipped == 0
    assert r.max_lag_s == 2 * meta.profile.hop_s
    for live in (True, False):
        r, sink = runner(live)
        jobs = [job(meta, 2.0 + i) for i in range(5)]
        for i, j in enumerate(jobs):
            j.host_time_ready = time.time() - (5.0 if i < 3 else 0.0)    # the first three arrived 5 s ago
        r.handle(jobs)
        kinds = [(x["type"], x.get("event"), x["board_time"]) for x in sink.records]
        if live:
            assert kinds == [("notice", "window_skipped", 2.0), ("notice", "window_skipped", 3.0),
                             ("notice", "window_skipped", 4.0), ("window", None, 5.0), ("window", None, 6.0)]
            assert r.stats.skipped == 3 and "3 skipped" in r.summary()
            assert "the model fell behind" in sink.records[0]["message"] and sink.records[0]["boot"] == 0
        else:
            assert [k[0] for k in kinds] == ["window"] * 5 and r.stats.skipped == 0


def test_link_changes_become_notice_lines_on_the_current_boot(backend):
    """A source's LinkChange (live only) reaches the outputs as a notice line, stamped with the boot the
    assembler is on and no board time; the line's fields are the documented notice schema."""
    sink = ListSink()
    runner = StreamRunner(WindowAssembler(backend.meta.profile), BufferReplayClassifier(backend), [sink], "node-1",
                          live=True)
    runner.asm.board.boot = 3
    change = LinkChange("link_down", "disconnected: /dev/ttyUSB0 (device reports readiness to read); reopening")
    runner.run([[change], []])
    (rec,) = sink.records
    assert without_host_fields(rec) == {"type": "notice", "event": "link_down", "boot": 3, "board_time": None,
                                        "message": change.message, "schema": SCHEMA, "node": "node-1"}
    assert set(rec) - set(without_host_fields(rec)) == {"host_time"} and runner.stats.events == 1


class FloorModel:
    """A stand-in backend with a floor-referenced level feature: uniform probabilities, zero buffers."""

    def __init__(self, meta):
        from dataclasses import replace
        self.meta = replace(meta, config={**meta.config, "level_norm": True, "level_feature": True,
                                          "level_reference": "floor"})

    def run(self, x):
        shapes = self.meta.output_shapes(1)
        return {"probs": np.full(shapes["probs"], 1.0 / shapes["probs"][1]),
                "buffers_out": np.zeros(shapes["buffers_out"], np.float32)}


def test_classifier_keeps_each_modalitys_noise_floor_and_feeds_the_level_above_it(backend):
    """The daemon's floor (window by window) is the one training computed (per recording, in batch)."""
    from edge_rep.levels import above_floor_db, window_level_db

    spy = Spy(FloorModel(backend.meta))
    meta = spy.meta
    assert meta.floor_referenced and "above_floor_db" in meta.input_shapes()
    clf = BufferReplayClassifier(spy)
    jobs = [job(meta, 2.0 + k, seed=k, present=("seismic",) if 5 <= k < 8 else ("acoustic", "seismic"))
            for k in range(12)]
    for k in (3, 9):                                   # two loud windows: a pass-by
        jobs[k].data["seismic"] *= 100.0
    results = [clf.classify(j) for j in jobs]
    fed = np.concatenate([c["above_floor_db"] for c in spy.calls])
    levels = np.stack([[window_level_db(j.data[m][None])[0] for m in meta.modalities] for j in jobs])
    present = np.array([[j.present[m] for m in meta.modalities] for j in jobs])
    want = above_floor_db(levels, present, np.zeros(len(jobs), int), np.array([j.t0 for j in jobs]))
    np.testing.assert_allclose(fed, want, atol=1e-3)
    assert fed[3, 1] > 35 and fed[9, 1] > 35 and (fed[5:8, 0] == 0).all()
    assert results[3].above_floor_db["seismic"] == round(float(fed[3, 1]), 2)
    # a reboot starts the floors again: the first window after it is its own floor
    clf.classify(job(meta, 2.0, boot=1, seed=99))
    assert spy.calls[-1]["above_floor_db"].tolist() == [[0.0, 0.0]]
