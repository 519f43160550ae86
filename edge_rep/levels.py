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
"""

from __future__ import annotations

import numpy as np

from .profiles import Profile

PERCENTILES = (1.0, 99.0)
MARGIN_DB = 10.0        # beyond the training range by more than this: out of range (site gains differ by a few dB)


def window_level_db(x: np.ndarray) -> np.ndarray:
    """Each window's RMS over its channels and samples, in dB re 1 unit; NaN samples (lost) are left out.

    x: (N, C, S) in physical units. Returns (N,) float64; -inf for an all-zero window, NaN when nothing
    is left."""
    x = np.asarray(x, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ms = np.nanmean(x.reshape(len(x), -1) ** 2, axis=1)
        return 10.0 * np.log10(ms)


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
