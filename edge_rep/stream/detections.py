"""Pass-by detections: the daemon's window results turned into what an operator acts on (docs/streaming.md).

    tracker = DetectionTracker(classes, hop_s=1.0, min_duration_s=3.0, merge_gap_s=2.0, alarm_classes=("truck",))
    for rec in window_records:                  # the window lines (schema.window_record), in order
        for line in tracker.window(rec):        # "detection_open" / "detection" records
            ...
    tracker.close("end")                        # end of the stream: the open detection, if any

Decided on board time only (each window's ``board_time`` and ``window_start``), never the host clock, so a
log playback gives the same detections as the live run that recorded the log.

Rules:

- An *event window* is one whose label is not background. A certain event window (``uncertain`` absent or
  false) opens a detection or extends the open one, and votes for its label with its confidence.
- An uncertain event window never opens a detection (an out-of-distribution thunderclap alone is not a
  pass-by) and does not vote; inside an open detection it keeps it open (extends its end) and is counted
  in ``uncertain_windows``.
- Background windows, and windows with no modality present (``label`` null), are gap. A detection closes
  at the first window whose end lies more than ``merge_gap_s`` + one hop after the end of its last event
  window: the event windows' ends were then more than ``merge_gap_s`` apart with nothing but gap between.
- Onset is the first event window's start, end the last event window's end. A detection shorter than
  ``min_duration_s``, or not confident enough, is dropped without a line. Confident enough: the mean, over
  its class's certain windows, of each window's confidence minus its scenario's ``min_confidence`` is at
  least 0 (with one number for every scenario: the mean confidence reaches it). A run of middling windows
  is what non-target sounds (aircraft, machinery, a distant road, an earthquake) leave; a pass-by is
  confident near its closest approach. The per-scenario values are the model's (sidecar
  ``extra.detections``: fitted on validation, ``confidence.DETECTION_RATE``), because confidence falls
  when a modality is missing; ``[detections] min_confidence`` replaces them with one number.
- ``detection_open`` goes out once, for a detection that is long and confident enough so far (so a dropped
  one never raised an alarm) while its vote is an alarm class; its ``board_time`` is the end of the window
  that decided it. ``detection`` goes out when it closes (``closed_by``: ``gap``; ``reboot``, when the board
  rebooted: the old boot's clock ends there; ``end``, the end of the stream); always, once an alarm went out.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from .schema import SCHEMA

BACKGROUND = "background"
EPS = 1e-6       # board times are rounded to the microsecond in the window lines


@dataclass
class _Detection:
    number: int
    boot: int
    onset: float                       # first event window's start (board s)
    end: float                         # last event window's end (board s)
    votes: dict = field(default_factory=dict)           # class -> summed confidence of its certain windows
    confidences: dict = field(default_factory=dict)     # class -> confidences of its certain windows
    margins: dict = field(default_factory=dict)         # class -> confidence - its scenario's min_confidence
    windows: int = 0                   # windows from onset to end, gap windows between events included
    uncertain: int = 0
    replayed: int = 0
    modalities: set = field(default_factory=set)
    scenarios: Counter = field(default_factory=Counter)
    level_flags: dict = field(default_factory=dict)     # modality -> set of flags seen
    alarmed: bool = False
    pending: list = field(default_factory=list)         # gap windows after the last event window

    @property
    def duration(self) -> float:
        return self.end - self.onset

    def label(self) -> str:
        return max(self.votes.items(), key=lambda kv: (kv[1], kv[0]))[0]

    def margin(self) -> float:
        m = self.margins[self.label()]
        return sum(m) / len(m)

    def take(self, rec: dict) -> None:
        """Count one window of the detection (an event window, or a gap window before a later one)."""
        self.windows += 1
        self.replayed += bool(rec.get("replay"))
        self.modalities.update(rec.get("modalities") or ())
        self.scenarios[rec.get("scenario")] += 1
        for m, flag in (rec.get("level_flags") or {}).items():
            self.level_flags.setdefault(m, set()).add(flag)
        self.uncertain += bool(rec.get("uncertain", False))


def fitted_min_confidence(meta) -> dict[str, float]:
    """The model's per-scenario ``min_confidence`` (sidecar ``extra.detections``; {} for models saved before
    it: every detection long enough is kept)."""
    return dict((meta.extra.get("detections") or {}).get("min_confidence") or {})


class DetectionTracker:
    """Window records in, detection records out (module docstring). ``classes``: the model's; ``hop_s``:
    its profile's hop (s); ``alarm_classes``: classes whose detections get a ``detection_open`` line;
    ``min_confidence``: one value in [0, 1) for every scenario, or {scenario: value} (a scenario not in it:
    0); 0 = every detection long enough is reported."""

    def __init__(self, classes: tuple[str, ...], hop_s: float, min_duration_s: float, merge_gap_s: float,
                 alarm_classes: tuple[str, ...] = (), node: str = "", model_id: str = "",
                 background: str = BACKGROUND, min_confidence: float | dict[str, float] = 0.0):
        self.classes, self.hop_s = tuple(classes), float(hop_s)
        self.min_duration_s, self.merge_gap_s = float(min_duration_s), float(merge_gap_s)
        self.min_confidence = dict(min_confidence) if isinstance(min_confidence, dict) else float(min_confidence)
        self.alarm_classes = frozenset(alarm_classes)
        self.node, self.model_id, self.background = node, model_id, background
        self.open: _Detection | None = None
        self.count = 0                 # detections numbered from 0 over the run (reported or dropped)
        self.dropped = 0               # shorter than min_duration_s, or less confident than min_confidence

    @classmethod
    def from_config(cls, meta, section, node: str = "", min_confidence: dict | None = None) -> DetectionTracker:
        """From the model's ``ModelMeta`` and the ``[detections]`` section (``Config.detections``);
        ``min_confidence``: {scenario: value} instead of the section's or the model's (tuning)."""
        gate = (min_confidence if min_confidence is not None else
                fitted_min_confidence(meta) if section.min_confidence is None else section.min_confidence)
        return cls(meta.classes, meta.profile.hop_s, section.min_duration_s, section.merge_gap_s,
                   tuple(section.alarm_classes), node, meta.model_id, min_confidence=gate)

    # -- input ----------------------------------------------------------------------------------
    def window(self, rec: dict) -> list[dict]:
        """One window record, in stream order; returns the detection records it decides."""
        out: list[dict] = []
        d = self.open
        t1 = float(rec["board_time"])
        if d is not None and rec.get("boot") != d.boot:
            out += self.close("reboot")
            d = None
        if d is not None and t1 - d.end > self.merge_gap_s + self.hop_s + EPS:
            out += self.close("gap")
            d = None
        label = rec.get("label")
        event = label is not None and label != self.background
        uncertain = bool(rec.get("uncertain", False))
        if not event or (uncertain and d is None):
            if d is not None:
                d.pending.append(rec)
            return out
        if d is None:
            d = self.open = _Detection(self.count, rec.get("boot", 0), float(rec["window_start"]), t1)
            self.count += 1
        for p in d.pending:
            d.take(p)
        d.pending.clear()
        d.take(rec)
        d.end = max(d.end, t1)
        if not uncertain:
            c = float(rec["confidence"])
            d.votes[label] = d.votes.get(label, 0.0) + c
            d.confidences.setdefault(label, []).append(c)
            d.margins.setdefault(label, []).append(c - self._gate(rec.get("scenario")))
        if (not d.alarmed and d.votes and self._reportable(d) and d.label() in self.alarm_classes):
            d.alarmed = True
            out.append(self._record(d, "detection_open", t1))
        return out

    def close(self, reason: str) -> list[dict]:
        """Close the open detection (``reason``: gap, reboot or end); its line unless it is too short."""
        d, self.open = self.open, None
        if d is None:
            return []
        if not (d.alarmed or d.votes and self._reportable(d)):
            self.dropped += 1
            return []
        return [self._record(d, "detection", d.end, closed_by=reason)]

    def _gate(self, scenario: str | None) -> float:
        g = self.min_confidence
        return float(g.get(scenario, 0.0)) if isinstance(g, dict) else g

    def _reportable(self, d: _Detection) -> bool:
        return d.duration >= self.min_duration_s - EPS and d.margin() >= -EPS

    # -- output ---------------------------------------------------------------------------------
    def _record(self, d: _Detection, kind: str, board_time: float, closed_by: str | None = None) -> dict:
        label = d.label()
        conf = d.confidences[label]
        total = sum(d.votes.values())
        rec = {"type": kind, "schema": SCHEMA, "node": self.node, "boot": d.boot, "detection": d.number,
               "board_time": round(board_time, 6), "host_time": round(time.time(), 6),
               "onset": round(d.onset, 6), "end": round(d.end, 6), "duration_s": round(d.duration, 6),
               "label": label, "peak_confidence": round(max(conf), 4),
               "mean_confidence": round(sum(conf) / len(conf), 4),
               "vote": {c: round(v / total, 4) for c, v in sorted(d.votes.items(), key=lambda kv: -kv[1])},
               "windows": d.windows, "modalities": sorted(d.modalities), "scenarios": dict(d.scenarios),
               "replayed_windows": d.replayed, "uncertain_windows": d.uncertain,
               "level_flags": {m: sorted(f) for m, f in sorted(d.level_flags.items())},
               "alarm": label in self.alarm_classes, "model": self.model_id}
        if closed_by is not None:
            rec["closed_by"] = closed_by
        return rec
