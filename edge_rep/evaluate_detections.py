"""Pass-by detections scored on a dataset: ``edge-rep evaluate --model M --data D --detections``.

Every recording of the split becomes a sensor log (``simulator.write_log``: the simulated board's bytes,
with the recording's labels beside it) and is played back at full speed through the daemon's own path
(``stream.daemon.run_playback``: decoder, health, windows, model, ``stream.detections``), scored by
``stream.truth`` against its labels. There is no second implementation of windows or detections here.

Three variants of each log:

- ``none``: as recorded;
- ``acoustic``: the board's microphone disconnected for ``DROP_S`` seconds centred on each pass-by's closest
  approach (its ``t_cpa`` in the synthetic metadata, else the middle of its labelled interval);
- ``seismic``: the same with the geophone.

False alarms per hour come from background-only recordings (``edge-rep synth --background-only``: 10 hours
by default), played the same way; their drop variants disconnect the channel for ``DROP_S`` seconds every
``BACKGROUND_DROP_EVERY_S`` seconds, so the drops' own edges are in the count.

The ``detections`` object of metrics.json::

    {"pd", "far_per_hour", "accuracy", "window_accuracy", "passby_window_accuracy",
     "dropped": {"acoustic": {same keys}, "seismic": {same keys}},
     "variants": {"none" | "acoustic" | "seismic": {"passbys": TruthScore.result(), "background": ...}},
     "settings": {"min_duration_s", "merge_gap_s", "drop_s"}, "background": {"path", "recordings", "hours"},
     "seconds"}

``window_accuracy`` is the per-window accuracy of the same playbacks (every labelled window), and
``passby_window_accuracy`` that of the windows inside pass-bys, to compare the detections with.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from firmware_bridge.sensorlog import decoder_for

from .config import DetectionsSection, load_config
from .dataset import Dataset, load_dataset
from .errors import EdgeRepError
from .log_conversion import boot_anchors, labels_path
from .simulator import Scenario, Simulator, write_log
from .stream.daemon import build_runner
from .stream.outputs import ListSink
from .stream.detections import fitted_min_confidence
from .stream.sources import LogSource
from .stream.truth import LogTruth, TruthScore, passbys

DROP_S = 6.0                      # a drop covers the closest approach: 3 s either side of it
BACKGROUND_DROP_EVERY_S = 30.0
VARIANTS = ("none", "acoustic", "seismic")


def drop_faults(rec, variant: str) -> list[str]:
    """Simulator fault specs for ``variant``: the channel disconnected around each pass-by's closest approach
    (background-only recordings: every ``BACKGROUND_DROP_EVERY_S`` seconds)."""
    if variant == "none":
        return []
    dur = rec.duration
    events = rec.metadata.get("events") or []
    centres = [float(e["t_cpa"]) for e in events if "t_cpa" in e]
    if not events:
        centres = [(pb.start + pb.end) / 2 for pb in passbys(rec.labels)]
    if not centres and not any(iv.label != "background" for iv in rec.labels):
        centres = [BACKGROUND_DROP_EVERY_S / 2 + k * BACKGROUND_DROP_EVERY_S
                   for k in range(int(dur // BACKGROUND_DROP_EVERY_S) + 1)]
    spans: list[list[float]] = []
    for c in sorted(centres):
        a, b = max(0.0, c - DROP_S / 2), min(dur, c + DROP_S / 2)
        if b - a < 0.1:
            continue
        if spans and a <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], b)
        else:
            spans.append([a, b])
    return [f"drop:{variant}@{a:.3f}-{b:.3f}" for a, b in spans]


def play(rec, backend, section: DetectionsSection, faults: list[str], tmp: Path, seed: int = 0,
         keep: list | None = None) -> TruthScore:
    """Play ``rec`` as a sensor log (with ``faults``) through the daemon; its truth score. ``keep``: a list
    the window records are appended to (for re-scoring other detection settings)."""
    cfg = load_config(None)
    cfg.detections = section
    cfg.node.id, cfg.output.status_line = "evaluate", "off"
    path = tmp / "play.edgelog"
    write_log(Simulator(rec, Scenario.parse(faults), seed), path)
    try:
        truth = LogTruth(rec.labels, boot_anchors(path)[0])
        sink = ListSink()
        source = LogSource(path, "max")
        try:
            runner = build_runner(cfg, backend, live=False, sinks=[sink], decoder=decoder_for(source.header),
                                  truth=truth)
            runner.run(source)
        finally:
            source.close()
    finally:
        path.unlink(missing_ok=True)
        labels_path(path).unlink(missing_ok=True)
    if keep is not None:
        keep.append((rec.labels, truth.anchors, [r for r in sink.records if r["type"] == "window"]))
    return truth.finish()


def rescore(kept: list, meta, section: DetectionsSection, min_confidence: dict | None = None) -> TruthScore:
    """The truth score of kept window records under other detection settings (the same tracker and truth code
    the playback ran; the windows do not depend on them). ``meta``: the model's ``ModelMeta``;
    ``min_confidence``: {scenario: value} instead of the section's or the model's."""
    from .stream.detections import DetectionTracker
    total = TruthScore()
    for labels, anchors, windows in kept:
        truth = LogTruth(labels, anchors)
        tracker = DetectionTracker.from_config(meta, section, min_confidence=min_confidence)
        for w in windows:
            truth.annotate(dict(w))
            for d in tracker.window(w):
                truth.annotate(d)
        for d in tracker.close("end"):
            truth.annotate(d)
        total.merge(truth.finish())
    return total


def default_background(profile) -> Path:
    """Where the generated background is cached: ``$XDG_CACHE_HOME/edge-rep/`` (default ~/.cache)."""
    from .synth import BACKGROUND_DURATION_S, BACKGROUND_RECORDINGS, GENERATOR_VERSION
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edge-rep"
    hours = BACKGROUND_RECORDINGS * BACKGROUND_DURATION_S / 3600
    return root / f"background-{profile.name}-{hours:g}h-g{GENERATOR_VERSION}"


def background_dataset(path: str | os.PathLike | None, profile, progress: bool = True):
    """The background-only dataset at ``path``; None: the cached one, generated on first use (about 20 minutes
    of one core for 10 hours; ``edge-rep synth --background-only``)."""
    if path is not None:
        return load_dataset(path)
    p = default_background(profile)
    if not (p / "manifest.json").exists():
        from .synth import BACKGROUND_DURATION_S, BACKGROUND_RECORDINGS, make_benchmark
        p.parent.mkdir(parents=True, exist_ok=True)
        make_benchmark(p, profile=profile, seed=0, n_recordings=BACKGROUND_RECORDINGS,
                       duration_s=BACKGROUND_DURATION_S, progress=progress, background_only=True)
    return load_dataset(p)


# One worker process's state: the model and the datasets it reads (``_init``).
_WORKER: dict = {}


def _init(model: str, kind: str, section: DetectionsSection, keep: bool) -> None:
    from .backends import load_backend
    _WORKER.update(backend=load_backend(model, kind), section=section, keep=keep, datasets={})


def _job(job: tuple) -> tuple:
    """Play one recording (``job``: variant, part, dataset folder, manifest index) in this worker."""
    variant, part, root, i = job
    w = _WORKER
    ds = w["datasets"].get(root) or w["datasets"].setdefault(root, load_dataset(root))
    (rec,) = Dataset(ds.root, {**ds.manifest, "recordings": [ds.entries[i]]}, ds.profile).recordings()
    kept: list | None = [] if w["keep"] else None
    with tempfile.TemporaryDirectory(prefix="edge-rep-detections-") as tmp:
        score = play(rec, w["backend"], w["section"], drop_faults(rec, variant), Path(tmp), keep=kept)
    return variant, part, score, kept


def evaluate_detections(model: str | os.PathLike | None, data: str | os.PathLike, split: str = "test",
                        backend: str = "auto", background: str | os.PathLike | None = None,
                        section: DetectionsSection | None = None, progress: bool = True, keep: dict | None = None,
                        jobs: int = 1) -> dict:
    """The ``detections`` object of metrics.json (module docstring) for ``model`` (None: the bundled one) on
    the runtime ``backend``. ``jobs``: worker processes (each loads the model; recordings are read one at a
    time). ``keep``: a dict that receives, per (variant, part) with part "passbys" or "background", the kept
    window records of each recording (``rescore``)."""
    from multiprocessing import get_context

    from tqdm import tqdm

    from .backends import load_backend

    t_start = time.perf_counter()
    section = section or DetectionsSection()
    be = load_backend(model, backend)                      # a model that cannot load fails here, once
    ds = load_dataset(data)
    want = [i for i, e in enumerate(ds.entries) if split == "all" or e["split"] == split]
    if not want:
        raise EdgeRepError(f"{data}: the {split} split holds no recordings; choose another --split")
    bg = background_dataset(background, ds.profile, progress)
    bg_want = list(range(len(bg.entries)))          # every split: all of it is background (checked below)
    if not bg_want:
        raise EdgeRepError(f"{bg.root}: holds no recordings; make it with 'edge-rep synth --background-only'")
    if any(lab != "background" for e in (bg.entries[i] for i in bg_want) for lab in _entry_labels(bg, e)):
        raise EdgeRepError(f"{bg.root}: holds pass-bys, not background only; make it with "
                           "'edge-rep synth --background-only'")
    order = [(v, "background", str(bg.root), i) for v in VARIANTS for i in bg_want]   # long ones first
    order += [(v, "passbys", str(ds.root), i) for v in VARIANTS for i in want]
    scores = {(v, part): TruthScore() for v in VARIANTS for part in ("passbys", "background")}
    init = (str(be.path), be.name, section, keep is not None)
    bar = tqdm(total=len(order), desc="detections", unit="log", disable=not progress)
    if jobs <= 1:
        _init(*init)
        results = map(_job, order)
    else:
        pool = get_context("spawn").Pool(jobs, _init, init)
        results = pool.imap_unordered(_job, order)
    try:
        for v, part, score, kept in results:
            scores[(v, part)].merge(score)
            if keep is not None:
                keep.setdefault((v, part), []).extend(kept)
            bar.update()
    finally:
        bar.close()
        if jobs > 1:
            pool.terminate()
        _WORKER.clear()
    variants = {v: {"passbys": scores[(v, "passbys")].result(), "background": scores[(v, "background")].result()}
                for v in VARIANTS}
    summary = {v: headline(variants[v]) for v in VARIANTS}
    return {**summary["none"], "dropped": {v: summary[v] for v in VARIANTS[1:]}, "variants": variants,
            "settings": {"min_duration_s": section.min_duration_s, "merge_gap_s": section.merge_gap_s,
                         "min_confidence": (fitted_min_confidence(be.meta) if section.min_confidence is None
                                            else section.min_confidence),
                         "drop_s": DROP_S, "background_drop_every_s": BACKGROUND_DROP_EVERY_S},
            "background": {"path": str(bg.root), "recordings": len(bg_want),
                           "hours": variants["none"]["background"]["hours"], "generator": "edge_rep.synth"},
            "model": {"path": str(be.path), "model_id": be.meta.model_id},
            "data": {"path": str(data), "split": split, "recordings": len(want)},
            "jobs": jobs, "seconds": round(time.perf_counter() - t_start, 1)}


def _entry_labels(ds, entry: dict) -> list[str]:
    """The classes a manifest row lists (its ``labels`` summary; a manifest without one: read the recording)."""
    if isinstance(entry.get("labels"), list):
        return [str(lab) for lab in entry["labels"]]
    (rec,) = Dataset(ds.root, {**ds.manifest, "recordings": [entry]}, ds.profile).recordings()
    return [iv.label for iv in rec.labels]


def headline(variant: dict) -> dict:
    """The figures of one variant: pd and accuracy on the pass-by recordings, false alarms per hour on the
    background, and the per-window accuracies of the same playbacks."""
    p, b = variant["passbys"], variant["background"]
    return {"pd": p["pd"], "far_per_hour": b["far_per_hour"], "accuracy": p["accuracy"],
            "window_accuracy": p["window_accuracy"], "passby_window_accuracy": p["target_window_accuracy"]}


def detections_table(det: dict) -> str:
    """The ``detections`` object as a markdown table (one row per variant)."""
    rows = ["| channel dropped | Pd | false alarms / h | accuracy per detection | per window "
            "| per window in pass-bys |",
            "| --- | --- | --- | --- | --- | --- |"]
    for name, h in (("none", det), *det["dropped"].items()):
        rows.append(f"| {name} | {_f(h['pd'])} | {_f(h['far_per_hour'])} | {_f(h['accuracy'])} "
                    f"| {_f(h['window_accuracy'])} | {_f(h['passby_window_accuracy'])} |")
    s = det["settings"]
    gate = s.get("min_confidence")
    gate = (", ".join(f"{k} {v:g}" for k, v in gate.items()) or "0") if isinstance(gate, dict) else f"{gate:g}"
    return ("\n".join(rows) + f"\n\nmin_duration_s {s['min_duration_s']:g}, merge_gap_s {s['merge_gap_s']:g}, "
            f"min_confidence {gate}; "
            f"background {det['background']['hours']:.2f} h ({det['background']['path']}); {det['seconds']:.0f} s\n")


def _f(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"
