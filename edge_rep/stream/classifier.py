"""Run the model on a window, keeping and replaying each modality's last good buffers (REP).

Every pass returns ``buffers_out`` [1, M, L, D]: the buffers the model built from each modality. While
a modality is present and its channels are ``ok`` we keep its slice. When it drops, the next windows
pass that slice back as ``buffers_in`` with ``replay=1`` for ``holdover_s`` seconds of board time
after it was cached; after that ``replay=0`` and the model falls back on its scenario's learned
buffers. For a model whose level feature is referenced to the site's noise floor, it also keeps each
modality's floor (``levels.NoiseFloor``, fed the windows where the modality is present) and passes each
window's level above it. Ages are board time; buffers cached before a reboot of the board are not replayed after it
(the board clock restarted, so their age is unknown).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..config import ReplaySection
from ..levels import NoiseFloor, window_levels
from ..modelspec import INPUT_ABOVE_FLOOR, INPUT_BUFFERS, INPUT_PRESENT, INPUT_REPLAY, OUTPUT_BUFFERS, OUTPUT_PROBS
from ..recording import fields_equal
from .windows import WindowJob


@dataclass
class CachedBuffers:
    buffers: np.ndarray   # [L, D]
    boot: int
    board_time: float     # end of the window that made them

    __eq__ = fields_equal


@dataclass
class Result:
    job: WindowJob
    probs: np.ndarray | None          # [K]; None when no modality was present
    replay: dict[str, bool]           # modality -> its cached buffers were replayed
    buffer_age: dict[str, float]      # modality -> age (s, board time) of the replayed buffers
    backend_ms: float                 # time inside the backend
    above_floor_db: dict[str, float] | None = None   # modality -> level above its noise floor (floor models)
    uncertain: bool = False           # calibrated confidence below the scenario's threshold (confidence.py)

    __eq__ = fields_equal


class BufferReplayClassifier:
    """Wraps a ``Backend``; ``classify(job)`` gives a ``Result`` and updates the buffer cache."""

    def __init__(self, backend, replay: bool = ReplaySection.enabled, holdover_s: float = ReplaySection.holdover_s,
                 uncertain_threshold: float | None = None):
        """``uncertain_threshold``: a window whose top probability is below it is flagged uncertain; None:
        the thresholds fitted per scenario on the model's validation split (sidecar ``extra.uncertain``;
        none for models saved before them: never flagged)."""
        self.backend, self.meta = backend, backend.meta
        fitted = (self.meta.extra.get("uncertain") or {}).get("threshold") or {}
        self.thresholds = fitted if uncertain_threshold is None else {}
        self.threshold_all = uncertain_threshold
        self.replay_enabled, self.holdover_s = bool(replay), float(holdover_s)
        self.modalities = self.meta.modalities
        self.cache: dict[str, CachedBuffers] = {}
        shapes = self.meta.input_shapes(1)
        self._inputs = {k: np.zeros(s, np.float32) for k, s in shapes.items()}
        self.floors = ({m: NoiseFloor(*self.meta.noise_floor) for m in self.modalities}
                       if self.meta.floor_referenced else None)
        self._boot: int | None = None

    @classmethod
    def from_config(cls, backend, section: ReplaySection,
                    uncertain_threshold: float | None = None) -> BufferReplayClassifier:
        """From the ``[replay]`` section (``Config.replay``): whether and how long buffers are replayed;
        ``uncertain_threshold``: ``[detections] uncertain_threshold`` (None: the model's fitted ones)."""
        return cls(backend, section.enabled, section.holdover_s, uncertain_threshold)

    def classify(self, job: WindowJob, levels_db: dict[str, float] | None = None) -> Result:
        """Classify one window; refresh the cache from modalities that are present, complete and ``ok``.
        ``levels_db``: the window's ``levels.window_levels`` when the caller has them (computed here if not)."""
        x = self._inputs
        replay, age = {}, {}
        for m, name in enumerate(self.modalities):
            present = job.present.get(name, False)
            x[name][0] = job.data[name] if present else 0.0
            x[INPUT_PRESENT][0, m] = 1.0 if present else 0.0
            c = self.cache.get(name)
            a = None if c is None else self._age(c, job)
            use = (not present and self.replay_enabled and c is not None and a is not None and a <= self.holdover_s)
            x[INPUT_REPLAY][0, m] = 1.0 if use else 0.0
            x[INPUT_BUFFERS][0, m] = c.buffers if use else 0.0
            replay[name] = use
            if use:
                age[name] = round(a, 3)
        above = None
        if self.floors is not None:
            above = self._above_floor(job, window_levels(job.data, job.present) if levels_db is None else levels_db)
        if not any(job.present.get(n, False) for n in self.modalities):
            return Result(job, None, replay={n: False for n in self.modalities}, buffer_age={}, backend_ms=0.0)
        t = time.perf_counter()
        out = self.backend.run(x)
        ms = (time.perf_counter() - t) * 1e3
        for m, name in enumerate(self.modalities):
            if job.present.get(name, False) and job.healthy.get(name, False) and job.coverage.get(name, 0.0) >= 1.0:
                self.cache[name] = CachedBuffers(np.array(out[OUTPUT_BUFFERS][0, m]), job.boot, job.t1)
        probs = np.asarray(out[OUTPUT_PROBS][0], dtype=np.float64)
        limit = self.threshold_all if self.threshold_all is not None else self.thresholds.get(job.scenario)
        return Result(job, probs, replay, age, ms, above, uncertain=bool(limit is not None and probs.max() < limit))

    def _above_floor(self, job: WindowJob, levels_db: dict[str, float]) -> dict[str, float]:
        """Update each present modality's noise floor with this window and fill ``above_floor_db``."""
        if job.boot != self._boot:              # the board clock restarted: floors of the old clock go
            for f in self.floors.values():
                f.reset()
            self._boot = job.boot
        out = {}
        for m, name in enumerate(self.modalities):
            rel = 0.0
            if name in levels_db:
                lev = levels_db[name]
                floor = self.floors[name].update(job.t0, lev)
                rel = lev - floor if np.isfinite(lev) and np.isfinite(floor) else 0.0
                out[name] = round(rel, 2)
            self._inputs[INPUT_ABOVE_FLOOR][0, m] = rel
        return out

    @staticmethod
    def _age(c: CachedBuffers, job: WindowJob) -> float | None:
        if c.boot == job.boot:
            return job.t1 - c.board_time
        return None    # cached before a reboot: the board clock restarted, its age is unknown
