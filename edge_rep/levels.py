"""Signal levels in physical units: what a model was trained on, and whether live windows fall inside it.

A sensor's gain is never known to better than a few dB in the field, and a wrong scale (a sensitivity
left at 1, counts taken for Pa, a factor of ten) is the commonest deployment error. The front-end is
gain-invariant (edge_rep/frontend.py), so such an error does not fool the classifier; it is still worth
telling the operator. Training records, per modality, the range of window levels it saw (1st and 99th
percentile of each window's RMS, in dB re 1 unit: dB re 1 Pa, dB re 1 m/s), for background and target
windows apart. At run time a window whose level lies outside [background 1st percentile - margin,
target 99th percentile + margin] is marked, and an episode of such windows becomes one notice.

    window_level_db(x)                 (N, C, S) samples -> (N,) dB re 1 unit (-inf for silence)
    level_range(arrays, profile)       the sidecar's "level_range" record
    causal_floor_db(lev, rec, start)   each window's site noise floor (dB), from its recording's past
    NoiseFloor                         the same floor kept window by window (the daemon)

The model's level feature (ModelConfig.level_reference = "floor") is a window's level above the site's
own noise floor: a low percentile (``FLOOR_PERCENTILE``) of the levels of the windows that started in the
last ``FLOOR_S`` seconds, the current one included. A gain error moves level and floor alike and cancels;
a pass-by lifts the level above the floor. This is the long-term reference of the STA/LTA trigger of
seismology and of PCEN's smoother in audio, with a percentile rather than a mean so that a long pass-by
does not raise its own reference. Training (``causal_floor_db`` on each recording) and the daemon
(``NoiseFloor`` on the live stream) compute it the same way, from windows already seen.
"""

from __future__ import annotations

import bisect
import warnings
from collections import deque

import numpy as np

from .profiles import Profile

PERCENTILES = (1.0, 99.0)
FLOOR_S = 60.0              # how far back the noise floor looks (s of window starts)
FLOOR_PERCENTILE = 10.0     # which percentile of those windows' levels is the floor
MARGIN_DB = 10.0        # beyond the training range by more than this: out of range (site gains differ by a few dB)


def window_level_db(x: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Each window's RMS about each channel's mean (a sensor's DC offset is not signal: the RS4D's ADC
    offset alone reads 4e-5 m/s, 50 dB above its quiet ground), over its channels and samples, in dB re
    1 unit; NaN samples (lost) are left out. Computed ``chunk`` windows at a time: the float64 copies of a
    training set's 16000-sample windows at once would take several times its size in memory.

    x: (N, C, S) in physical units. Returns (N,) float64; -inf for a constant window, NaN when nothing
    is left."""
    if len(x) == 0:
        return np.zeros(0)
    out = np.empty(len(x))
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)          # all-NaN windows: NaN, said above
        for i in range(0, len(x), chunk):
            xi = np.asarray(x[i:i + chunk], np.float64)
            xi = xi - np.nanmean(xi, axis=2, keepdims=True)
            out[i:i + chunk] = 10.0 * np.log10(np.nanmean(xi.reshape(len(xi), -1) ** 2, axis=1))
    return out


def causal_floor_db(lev: np.ndarray, rec: np.ndarray, start: np.ndarray, floor_s: float = FLOOR_S,
                    percentile: float = FLOOR_PERCENTILE) -> np.ndarray:
    """Each window's noise floor: the ``percentile`` of the finite levels of the windows of the same
    recording that started in [start - floor_s, start] (the window itself included), so a recording's
    first window is its own floor. NaN where none is finite.

    lev, start: (N,) dB and s; rec: (N,) recording ids. Returns (N,) float64 dB."""
    lev, start, rec = np.asarray(lev, np.float64), np.asarray(start, np.float64), np.asarray(rec)
    out = np.full(len(lev), np.nan)
    for r in np.unique(rec):
        idx = np.flatnonzero(rec == r)
        idx = idx[np.argsort(start[idx], kind="stable")]
        floor = NoiseFloor(floor_s, percentile)
        for i in idx:
            out[i] = floor.update(float(start[i]), float(lev[i]))
    return out


def above_floor_db(levels: np.ndarray, present: np.ndarray, rec: np.ndarray, start: np.ndarray,
                   floor_s: float = FLOOR_S, percentile: float = FLOOR_PERCENTILE) -> np.ndarray:
    """The model's ``above_floor_db`` input for a set of windows: per modality, the window's level above
    its recording's causal noise floor; 0 where the modality is missing or silent (its tokens are hidden).

    levels: (N, M) dB (window_level_db of each modality); present: (N, M) bool. Returns (N, M) float32."""
    levels = np.asarray(levels, np.float64)
    out = np.zeros(levels.shape, np.float32)
    for m in range(levels.shape[1]):
        lev = np.where(np.asarray(present[:, m], bool), levels[:, m], np.nan)
        rel = lev - causal_floor_db(lev, rec, start, floor_s, percentile)
        out[:, m] = np.where(np.isfinite(rel), rel, 0.0)
    return out


def window_above_floor(modalities: tuple[str, ...], noise_floor: tuple[float, float], arrays,
                       chunk: int = 512) -> np.ndarray:
    """(N, M) float32: each window's level above its recording's causal noise floor per modality (dB): the
    ``above_floor_db`` input of a floor-referenced model. ``noise_floor``: (floor_s, floor_percentile) of
    the model (``ModelMeta.noise_floor``); ``arrays``: WindowArrays-like (x, present, rec, start)."""
    n = len(arrays.present)
    levels = np.zeros((n, len(modalities)))
    for m, name in enumerate(modalities):       # in chunks: float64 copies of 16000-sample windows add up
        for i in range(0, n, chunk):
            levels[i:i + chunk, m] = window_level_db(arrays.x[name][i:i + chunk])
    return above_floor_db(levels, np.asarray(arrays.present, bool), np.asarray(arrays.rec),
                          np.asarray(arrays.start, np.float64), *noise_floor)


class NoiseFloor:
    """A modality's noise floor kept window by window: ``update(start, level)`` adds a window and returns
    the ``percentile`` of the finite levels of the windows that started in the last ``floor_s`` seconds
    (itself included; NaN when none is finite). Times must not go backwards; ``reset()`` after a board
    reboot (its clock restarts). The same numbers as ``causal_floor_db`` over a recording."""

    def __init__(self, floor_s: float = FLOOR_S, percentile: float = FLOOR_PERCENTILE):
        self.floor_s, self.percentile = float(floor_s), float(percentile)
        self._times: deque[float] = deque()
        self._levels: deque[float] = deque()
        self._sorted: list[float] = []        # the same levels, sorted: the percentile without a sort per window

    def reset(self) -> None:
        self._times.clear()
        self._levels.clear()
        self._sorted.clear()

    def update(self, start: float, level: float) -> float:
        if self._times and start < self._times[-1]:
            self.reset()                      # the clock went back: a reboot not reported; start again
        if np.isfinite(level):
            self._times.append(start)
            self._levels.append(level)
            bisect.insort(self._sorted, level)
        while self._times and self._times[0] < start - self.floor_s:
            self._times.popleft()
            self._sorted.pop(bisect.bisect_left(self._sorted, self._levels.popleft()))
        if not self._sorted:
            return float("nan")
        return float(np.percentile(self._sorted, self.percentile))


def window_levels(windows: dict[str, np.ndarray], present: dict[str, bool]) -> dict[str, float]:
    """One window's level (``window_level_db``) per present modality: {modality: dB re its unit}, computed once
    per window for the level check (``LevelMonitor``) and the noise floor (the stream's classifier).
    windows: {modality: (C, S) samples in physical units}."""
    return {m: float(window_level_db(np.asarray(x)[None])[0]) for m, x in windows.items() if present.get(m)}


def level_range(x: dict[str, np.ndarray], present: np.ndarray, y: np.ndarray, profile: Profile) -> dict:
    """Per modality, the 1st/99th percentile of window levels (dB re the modality's unit) of the windows
    where it is present, for background windows, target windows and all: the sidecar's record of what
    the model was trained on (before any augmentation).

    x: modality -> (N, C, S); present: (N, M) bool; y: (N,) class index (-1 unlabelled)."""
    bg = profile.classes.index("background") if "background" in profile.classes else -1
    out = {}
    for m, spec in enumerate(profile.modalities):
        lev = window_level_db(x[spec.name])
        ok = present[:, m] & np.isfinite(lev)
        target = (y >= 0) & (y != bg)
        out[spec.name] = {"unit": spec.units, "percentiles": list(PERCENTILES), "all_db": _pct(lev[ok]),
                          "background_db": _pct(lev[ok & (y == bg)]), "targets_db": _pct(lev[ok & target]),
                          "windows": int(ok.sum())}
    return out


def _pct(v: np.ndarray) -> list[float] | None:
    return [round(float(p), 1) for p in np.percentile(v, PERCENTILES)] if len(v) else None


def accepted_band(record: dict, margin_db: float = MARGIN_DB) -> tuple[float, float] | None:
    """The levels (dB) a modality's windows may have without a flag: from the quietest background to the
    loudest target the training data held, widened by ``margin_db``. None when the record has no data."""
    lows = [r[0] for r in (record.get("background_db"), record.get("all_db")) if r]
    highs = [r[1] for r in (record.get("targets_db"), record.get("all_db")) if r]
    if not lows or not highs:
        return None
    return min(lows) - margin_db, max(highs) + margin_db


EPISODE_WINDOWS = 3     # an episode starts after this many consecutive windows out of range, ends after as many in


class LevelMonitor:
    """Marks windows whose level lies outside the band a model's training data covered, and turns runs of
    them into episodes: one notice when ``EPISODE_WINDOWS`` consecutive windows of a modality are out of
    range, one when as many are back in. Decided per window on the window's samples, so live and log
    playback agree. Modalities without a recorded range (older models) are never flagged.

        mon = LevelMonitor(meta.extra.get("level_range", {}))
        flags, notices = mon.update(window_levels({"acoustic": x_a, "seismic": x_s}, {"acoustic": True,
                                                                                     "seismic": True}))
        # flags: {"seismic": "high"}; notices: [{"event": "level_out_of_range", "modality": ..., ...}]
    """

    def __init__(self, level_range: dict, margin_db: float = MARGIN_DB, episode: int = EPISODE_WINDOWS):
        self.bands = {m: b for m, rec in (level_range or {}).items() if (b := accepted_band(rec, margin_db))}
        self.units = {m: (level_range[m] or {}).get("unit", "") for m in self.bands}
        self.episode = int(episode)
        self._run = {m: 0 for m in self.bands}          # consecutive windows on the other side of the state
        self._out = {m: False for m in self.bands}      # in an episode

    def update(self, levels_db: dict[str, float]) -> tuple[dict[str, str], list[dict]]:
        """One window: {present modality: level in dB re its unit} (``window_levels``) -> (flags of this
        window, episode notices: dicts with event, modality, level_db, band_db, relative_db, message)."""
        flags, notices = {}, []
        for m, (lo, hi) in self.bands.items():
            if m not in levels_db:
                continue                                  # a dropped channel has no level to judge
            lev = levels_db[m]
            if not np.isfinite(lev):
                continue
            side = "low" if lev < lo else "high" if lev > hi else ""
            if side:
                flags[m] = side
            if bool(side) != self._out[m]:
                self._run[m] += 1
                if self._run[m] >= self.episode:
                    self._out[m], self._run[m] = bool(side), 0
                    notices.append(self._notice(m, lev, side))
            else:
                self._run[m] = 0
        return flags, notices

    def _notice(self, m: str, lev: float, side: str) -> dict:
        lo, hi = self.bands[m]
        rel = lev - hi if side == "high" else lev - lo if side == "low" else 0.0
        unit = self.units[m] or "unit"
        if side:
            cause = ("a wrong scale in the board's HELLO (or a sensitivity left at 1: counts taken for " + unit + ")"
                     if side == "high" else "a wrong scale or sensitivity, a dead or disconnected sensor, or a "
                     "very quiet site")
            msg = (f"{m} level {lev:.1f} dB re 1 {unit} is {abs(rel):.0f} dB {'above' if side == 'high' else 'below'} "
                   f"what the model was trained on ({lo:.0f}..{hi:.0f} dB); likely {cause}")
        else:
            msg = (f"{m} level {lev:.1f} dB re 1 {unit} is back within the model's training range "
                   f"({lo:.0f}..{hi:.0f} dB)")
        return {"event": "level_out_of_range" if side else "level_in_range", "modality": m,
                "level_db": round(lev, 1), "band_db": [round(lo, 1), round(hi, 1)], "relative_db": round(rel, 1),
                "message": msg}
