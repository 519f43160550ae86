"""The JSON line schema: one dict per classified window and per event (see docs/streaming.md).

Fields that depend on the host (``host_time``, ``latency_ms``, ``backend_ms``) are listed in
``HOST_FIELDS`` so a log playback can be compared with the live run that recorded the log.
"""

from __future__ import annotations

import time

from .classifier import Result
from .health import HealthEvent
from .notices import Notice

SCHEMA = 1
HOST_FIELDS = ("host_time", "latency_ms", "backend_ms")


def window_record(r: Result, classes: tuple[str, ...], model_id: str, node: str, latency_ms: float | None,
                  host_time: float | None = None, level_flags: dict[str, str] | None = None) -> dict:
    """One classified window. ``label`` is null when no modality was present. ``level_flags``: the
    modalities whose level lies outside the model's training range, "low" or "high" (edge_rep/levels.py)."""
    j = r.job
    rec = {"type": "window", "schema": SCHEMA, "node": node, "boot": j.boot, "window": j.index,
           "board_time": round(j.t1, 6), "window_start": round(j.t0, 6),
           "host_time": round(time.time() if host_time is None else host_time, 6)}
    if r.probs is None:
        rec.update(label=None, confidence=None, probs=None, uncertain=None)
    else:
        k = int(r.probs.argmax())
        rec.update(label=classes[k], confidence=round(float(r.probs[k]), 4),
                   probs={c: round(float(p), 4) for c, p in zip(classes, r.probs)}, uncertain=r.uncertain)
    rec.update(modalities=[m for m, p in j.present.items() if p], scenario=j.scenario,
               replay=[m for m, u in r.replay.items() if u], buffer_age_s=r.buffer_age,
               coverage=j.coverage, health=j.health, level_flags=dict(level_flags or {}),
               above_floor_db=dict(r.above_floor_db or {}),
               latency_ms=None if latency_ms is None else round(latency_ms, 3),
               backend_ms=round(r.backend_ms, 3), model=model_id)
    return rec


def health_record(ev: HealthEvent, node: str, host_time: float | None = None) -> dict:
    rec = {**ev.to_dict(), "schema": SCHEMA, "node": node, "boot": ev.boot,
           "host_time": round(time.time() if host_time is None else host_time, 6)}
    return rec


def notice_record(notice: Notice, node: str, host_time: float | None = None) -> dict:
    return {**notice.to_dict(), "schema": SCHEMA, "node": node,
            "host_time": round(time.time() if host_time is None else host_time, 6)}


def without_host_fields(rec: dict) -> dict:
    """The part of a record that must be equal between a live run and a playback of its log."""
    return {k: v for k, v in rec.items() if k not in HOST_FIELDS}
