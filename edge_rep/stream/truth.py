"""Truth in log playback: a log's labels (``<log>.labels.json``) beside its window and detection lines, scored.

    truth = LogTruth.for_log("run.edgelog", classes)     # None when the log has no labels file
    run_playback(cfg, "run.edgelog", truth=truth)         # lines gain "truth"; truth.score holds the counts
    print(truth.score.table())                            # per-scenario accuracy, detection metrics

Labels are on the log's timeline (seconds from its header's ``start_time``); windows and detections are on
their boot's board clock. Each boot is placed on the log's timeline as ``log_conversion.to_recording``
places it: board time 0 = min(receive time - frame timestamp) over the boot's frames.

A window's truth is the label covering at least half of it (``Recording.label_between``; null otherwise).
A *pass-by* is a maximal run of one non-background label. A detection's truth is the pass-by it overlaps
most ("background" when it overlaps none: a false alarm). Detection metrics: probability of detection
(``pd``: share of pass-bys overlapped by at least one detection; one detection spanning two pass-bys
detects both), class accuracy per detection (over the
detections that overlap a pass-by), false alarms (detections that overlap none) per hour of windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..recording import LabelInterval, Recording
from .detections import BACKGROUND
from .outputs import ReadableSink

# Labels may run this far past the log's last record: a board's last packets leave just before the signal ends.


def passbys(labels: list[LabelInterval], background: str = BACKGROUND) -> list[LabelInterval]:
    """Maximal runs of one non-background label, in time order."""
    out: list[LabelInterval] = []
    for iv in sorted(labels, key=lambda iv: iv.start):
        if iv.label == background:
            continue
        if out and out[-1].label == iv.label and iv.start <= out[-1].end + 1e-9:
            out[-1] = LabelInterval(out[-1].start, max(out[-1].end, iv.end), iv.label)
        else:
            out.append(LabelInterval(iv.start, iv.end, iv.label))
    return out


@dataclass
class TruthScore:
    """Counts of a scored playback (or several: ``merge``)."""

    windows: dict = field(default_factory=dict)       # scenario -> [labelled windows, correct]
    target_windows: list = field(default_factory=lambda: [0, 0])   # windows inside pass-bys: [n, correct]
    passbys: int = 0
    detected: int = 0
    detections: int = 0
    matched: int = 0                                  # detections that overlap a pass-by
    correct: int = 0                                  # ... with its class
    false_alarms: int = 0
    seconds: float = 0.0                              # board time the windows covered (for the hourly rate)

    def merge(self, other: TruthScore) -> None:
        for k, (n, c) in other.windows.items():
            w = self.windows.setdefault(k, [0, 0])
            w[0] += n
            w[1] += c
        self.target_windows = [a + b for a, b in zip(self.target_windows, other.target_windows)]
        for k in ("passbys", "detected", "detections", "matched", "correct", "false_alarms", "seconds"):
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def result(self) -> dict:
        """The figures: per-scenario window accuracy, and ``pd``, ``accuracy``, ``far_per_hour`` with counts."""
        def ratio(a, b):
            return round(a / b, 4) if b else None
        n_all = sum(n for n, _ in self.windows.values())
        c_all = sum(c for _, c in self.windows.values())
        hours = self.seconds / 3600.0
        return {"windows": {k: {"windows": n, "accuracy": ratio(c, n)} for k, (n, c) in sorted(self.windows.items())},
                "window_accuracy": ratio(c_all, n_all), "target_windows": self.target_windows[0],
                "target_window_accuracy": ratio(self.target_windows[1], self.target_windows[0]),
                "pd": ratio(self.detected, self.passbys), "passbys": self.passbys, "detected": self.detected,
                "accuracy": ratio(self.correct, self.matched), "detections": self.detections,
                "matched": self.matched, "false_alarms": self.false_alarms,
                "far_per_hour": round(self.false_alarms / hours, 3) if hours else None, "hours": round(hours, 4)}

    def table(self) -> str:
        r = self.result()
        rows = ["| scenario | labelled windows | accuracy |", "| --- | --- | --- |"]
        rows += [f"| {k} | {v['windows']} | {_fmt(v['accuracy'])} |" for k, v in r["windows"].items()]
        rows += [f"| all | {sum(v['windows'] for v in r['windows'].values())} | {_fmt(r['window_accuracy'])} |", "",
                 "| pass-bys | detected | Pd | detections | on a pass-by | class accuracy | false alarms | per hour |",
                 "| --- | --- | --- | --- | --- | --- | --- | --- |",
                 f"| {r['passbys']} | {r['detected']} | {_fmt(r['pd'])} | {r['detections']} | {r['matched']} "
                 f"| {_fmt(r['accuracy'])} | {r['false_alarms']} | {_fmt(r['far_per_hour'])} |"]
        return "\n".join(rows) + "\n"


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


class LogTruth:
    """Labels on the log's timeline and each boot's place on it (``anchors``: boot -> log seconds of its
    board time 0). ``annotate(rec)`` adds ``truth`` to a window or detection line and counts it in ``score``;
    ``finish()`` counts the pass-bys."""

    def __init__(self, labels: list[LabelInterval], anchors: dict[int, float], background: str = BACKGROUND):
        self.labels = sorted(labels, key=lambda iv: iv.start)
        self.anchors = dict(anchors)
        self.background = background
        self.passbys = passbys(self.labels, background)
        self._hit = [False] * len(self.passbys)
        self._lookup = Recording(id="truth", modalities={}, labels=self.labels)
        self.score = TruthScore()
        self._span: dict[int, list[float]] = {}     # boot -> [first window start, last window end]

    @classmethod
    def for_log(cls, log_path: str | Path, classes: tuple[str, ...]) -> LogTruth | None:
        """The truth of a log from its labels file, checked against the log and ``classes``; None without one."""
        from ..log_conversion import boot_anchors, check_labels, labels_path, read_labels
        p = labels_path(log_path)
        if not p.exists():
            return None
        labels = read_labels(log_path)
        anchors, span = boot_anchors(log_path)
        check_labels(labels, classes, span, where=f"labels {p}")     # the one check (record, label, replay)
        return cls(labels, anchors)

    def _log_time(self, boot: int, t: float) -> float | None:
        a = self.anchors.get(boot)
        return None if a is None else a + t

    def window_truth(self, rec: dict) -> str | None:
        t0, t1 = self._log_time(rec["boot"], rec["window_start"]), self._log_time(rec["boot"], rec["board_time"])
        return None if t0 is None else self._lookup.label_between(t0, t1)

    def detection_truth(self, rec: dict) -> tuple[str, int | None]:
        """The label of the pass-by ``rec`` overlaps most ("background" for none) and every pass-by it overlaps."""
        t0, t1 = self._log_time(rec["boot"], rec["onset"]), self._log_time(rec["boot"], rec["end"])
        hits = {} if t0 is None else {i: min(t1, pb.end) - max(t0, pb.start) for i, pb in enumerate(self.passbys)}
        hits = {i: o for i, o in hits.items() if o > 0}
        if not hits:
            return self.background, []
        return self.passbys[max(hits, key=hits.get)].label, sorted(hits)

    def annotate(self, rec: dict) -> None:
        s = self.score
        if rec["type"] == "window":
            truth = rec["truth"] = self.window_truth(rec)
            span = self._span.setdefault(rec["boot"], [rec["window_start"], rec["board_time"]])
            span[1] = max(span[1], rec["board_time"])
            if truth is not None and rec["label"] is not None:
                w = s.windows.setdefault(rec["scenario"], [0, 0])
                w[0] += 1
                w[1] += rec["label"] == truth
                if truth != self.background:
                    s.target_windows[0] += 1
                    s.target_windows[1] += rec["label"] == truth
        elif rec["type"] in ("detection", "detection_open"):
            truth, hits = self.detection_truth(rec)
            rec["truth"] = truth
            if rec["type"] == "detection":
                s.detections += 1
                if not hits:
                    s.false_alarms += 1
                else:
                    for i in hits:
                        self._hit[i] = True
                    s.matched += 1
                    s.correct += rec["label"] == truth

    def finish(self) -> TruthScore:
        """Count the pass-bys (those inside the windows' span) and the time covered; returns ``score``."""
        s = self.score
        covered = [(self._log_time(b, t0), self._log_time(b, t1)) for b, (t0, t1) in self._span.items()
                   if b in self.anchors]
        for pb, hit in zip(self.passbys, self._hit):
            if any(min(b, pb.end) - max(a, pb.start) > 0 for a, b in covered):
                s.passbys += 1
                s.detected += hit
        s.seconds = sum(b - a for a, b in covered)
        return s


class RunningAccuracySink(ReadableSink):
    """Readable lines and, after each detection, the running scores against ``truth`` (the demo)."""

    def __init__(self, truth: LogTruth, stream=None):
        super().__init__(stream)
        self.truth = truth

    def write(self, rec: dict) -> None:
        super().write(rec)
        if rec.get("type") == "detection":
            s = self.truth.score
            n, c = sum(w[0] for w in s.windows.values()), sum(w[1] for w in s.windows.values())
            self.stream.write(f"            running: {s.correct} of {s.matched} detections on a pass-by have its "
                              f"class, {s.false_alarms} false alarms; {c} of {n} windows right\n")
            self.stream.flush()
