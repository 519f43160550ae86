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

from .config import DetectionsSection, load_config
from .dataset import load_dataset
from .errors import EdgeRepError
from .simulator import Scenario, Simulator, write_log
from .stream.daemon import build_runner
from .stream.outputs import ListSink
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
        from .log_conversion import boot_anchors
        truth = LogTruth(rec.labels, boot_anchors(path)[0])
        sink = ListSink()
        source = LogSource(path, "max")
        try:
            from firmware_bridge.sensorlog import decoder_for
            runner = build_runner(cfg, backend, live=False, sinks=[sink], decoder=decoder_for(source.header),
                                  truth=truth)
            runner.run(source)
        finally:
            source.close()
    finally:
        path.unlink(missing_ok=True)
        Path(str(path) + ".labels.json").unlink(missing_ok=True)
    if keep is not None:
        keep.append((rec.labels, truth.anchors, [r for r in sink.records if r["type"] == "window"]))
    return truth.finish()


def rescore(kept: list, classes: tuple[str, ...], hop_s: float, section: DetectionsSection) -> TruthScore:
    """The truth score of kept window records under other detection settings (the same tracker and truth code
    the playback ran; the windows do not depend on them)."""
    from .stream.detections import DetectionTracker
    total = TruthScore()
    for labels, anchors, windows in kept:
        truth = LogTruth(labels, anchors)
        tracker = DetectionTracker(classes, hop_s, section.min_duration_s, section.merge_gap_s)
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


def evaluate_detections(backend, data: str | os.PathLike, split: str = "test",
                        background: str | os.PathLike | None = None, section: DetectionsSection | None = None,
                        progress: bool = True, keep: dict | None = None) -> dict:
    """The ``detections`` object of metrics.json (module docstring) for a loaded ``backend``.
    ``keep``: a dict that receives, per variant and part ("passbys", "background"), the window records
    (``rescore``)."""
    from tqdm import tqdm

    t_start = time.perf_counter()
    section = section or DetectionsSection()
    ds = load_dataset(data)
    recs = ds.recordings(None if split == "all" else split)
    if not recs:
        raise EdgeRepError(f"{data}: the {split} split holds no recordings; choose another --split")
    bg = background_dataset(background, ds.profile, progress)
    bg_recs = bg.recordings("test")
    if not bg_recs:
        raise EdgeRepError(f"{bg.root}: holds no test recordings; make it with 'edge-rep synth --background-only'")
    if any(iv.label != "background" for r in bg_recs for iv in r.labels):
        raise EdgeRepError(f"{bg.root}: holds pass-bys, not background only; make it with "
                           "'edge-rep synth --background-only'")
    out: dict = {"variants": {}}
    jobs = [(v, part, r) for v in VARIANTS for part, rs in (("passbys", recs), ("background", bg_recs)) for r in rs]
    scores = {(v, part): TruthScore() for v in VARIANTS for part in ("passbys", "background")}
    with tempfile.TemporaryDirectory(prefix="edge-rep-detections-") as tmp:
        for v, part, r in tqdm(jobs, desc="detections", unit="log", disable=not progress):
            kept = keep.setdefault((v, part), []) if keep is not None else None
            scores[(v, part)].merge(play(r, backend, section, drop_faults(r, v), Path(tmp), keep=kept))
    for v in VARIANTS:
        p, b = scores[(v, "passbys")].result(), scores[(v, "background")].result()
        out["variants"][v] = {"passbys": p, "background": b}
    summary = {v: headline(out["variants"][v]) for v in VARIANTS}
    out = {**summary["none"], "dropped": {v: summary[v] for v in VARIANTS[1:]}, **out,
           "settings": {"min_duration_s": section.min_duration_s, "merge_gap_s": section.merge_gap_s,
                        "drop_s": DROP_S, "background_drop_every_s": BACKGROUND_DROP_EVERY_S},
           "background": {"path": str(bg.root), "recordings": len(bg_recs),
                          "hours": out["variants"]["none"]["background"]["hours"]},
           "seconds": round(time.perf_counter() - t_start, 1)}
    return out


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
    return ("\n".join(rows) + f"\n\nmin_duration_s {s['min_duration_s']:g}, merge_gap_s {s['merge_gap_s']:g}; "
            f"background {det['background']['hours']:.2f} h ({det['background']['path']}); {det['seconds']:.0f} s\n")


def _f(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"
