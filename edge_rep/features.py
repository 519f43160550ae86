"""Front-end features of window sets, computed once, and the missing-modality protocol on them.

The front-end has no trainable parameters, so training, evaluation and the validation sweeps
(benchmarks/tune_rep.py) run their loops on features: ``prepare`` turns WindowArrays (edge_rep.dataset)
into a ``Prepared`` set, ``simulate_missing`` draws the MAP/DCP/REP missing protocol, ``batch_feats``
feeds a missing modality the features of an all-zero window (what the daemon's front-end sees for a
dropped channel), ``gain_augment`` mimics a sensor gain error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from tqdm import tqdm

from .errors import EdgeRepError
from .frontend import LEVEL_UNIT
from .levels import window_above_floor
from .model import EdgeREP


@dataclass
class Prepared:
    """Front-end features of a window set plus what the loops need."""

    feats: list[torch.Tensor]      # per modality [N, I, F_m]
    zero_feats: list[torch.Tensor]  # per modality [I, F_m]: the features of an all-zero (dropped) window
    present: np.ndarray            # (N, M) bool, as recorded
    y: np.ndarray                  # (N,) int64
    rec: np.ndarray
    start: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@torch.no_grad()
def prepare(model: EdgeREP, arrays, batch: int = 256, progress: bool = True, desc: str = "front-end") -> Prepared:
    """Run the model's front-end over WindowArrays-like ``arrays`` once (x, present, y, rec, start)."""
    names = model.modalities
    missing = [n for n in names if n not in arrays.x]
    if missing:
        raise EdgeRepError(f"dataset has no {', '.join(missing)} windows; the model needs {', '.join(names)}")
    for m in model.profile.modalities:
        want = (m.channels, model.profile.window_samples(m.name))
        if tuple(arrays.x[m.name].shape[1:]) != want:
            raise EdgeRepError(f"dataset {m.name} windows are {tuple(arrays.x[m.name].shape[1:])}, the model "
                               f"expects {want}; use data cut with profile '{model.profile.name}'")
    y = np.asarray(arrays.y)
    if len(y) and y.max() >= len(model.profile.classes):
        raise EdgeRepError(f"dataset has class index {int(y.max())} but the model knows "
                           f"{len(model.profile.classes)} classes; use a matching class list")
    n = len(y)
    above = (torch.from_numpy(window_above_floor(names, (model.cfg.floor_s, model.cfg.floor_percentile), arrays))
             if model.frontend.floor_referenced else None)
    out: list[list[torch.Tensor]] = [[] for _ in names]
    for i in tqdm(range(0, n, batch), desc=desc, unit="batch", disable=not progress, leave=False):
        fs = model.frontend(*(torch.from_numpy(np.asarray(arrays.x[nm][i:i + batch], np.float32)) for nm in names),
                            above_floor=None if above is None else above[i:i + batch])
        for m, f in enumerate(fs):
            out[m].append(f)
    feats = [torch.cat(o) if o else torch.zeros(0) for o in out]
    zeros = model.frontend(*(torch.zeros(1, m.channels, model.profile.window_samples(m.name))
                             for m in model.profile.modalities), above_floor=torch.zeros(1, len(names)))
    return Prepared(feats, [z[0] for z in zeros], np.asarray(arrays.present, bool), y,
                    np.asarray(arrays.rec), np.asarray(arrays.start, np.float64))


def earlier_window(rec: np.ndarray, start: np.ndarray, lag: int = 1) -> np.ndarray:
    """Index of the window ``lag`` hops earlier in the same recording, -1 where there is none."""
    order = np.lexsort((start, rec))
    prev = np.full(len(rec), -1, np.int64)
    if lag < len(order):
        same = rec[order[lag:]] == rec[order[:-lag]]
        prev[order[lag:][same]] = order[:-lag][same]
    return prev


def simulate_missing(n: int, eta: float, missing: str, modalities: tuple[str, ...],
                     rng: np.random.Generator) -> np.ndarray:
    """(n, M) float presence: a share ``eta`` of windows lose one modality (``missing`` or, for
    "both", one chosen uniformly)."""
    if not 0.0 <= eta <= 1.0:
        raise EdgeRepError(f"missing rate {eta}: must be between 0 and 1 (e.g. 0.7 for 70%)")
    M = len(modalities)
    present = np.ones((n, M), np.float32)
    hit = rng.random(n) < eta
    if missing == "both":
        which = rng.integers(0, M, n)
    elif missing in modalities:
        which = np.full(n, modalities.index(missing))
    else:
        raise EdgeRepError(f"missing type '{missing}': use one of {', '.join(modalities)} or 'both'")
    present[np.flatnonzero(hit), which[hit]] = 0.0
    return present


def batch_feats(prep: Prepared, idx: np.ndarray, present: torch.Tensor) -> list[torch.Tensor]:
    """Features of windows ``idx``; a missing modality gets the features of an all-zero window (what the
    daemon's front-end sees for a dropped channel)."""
    out = []
    for m, f in enumerate(prep.feats):
        p = present[:, m, None, None]
        out.append(p * f[idx] + (1 - p) * prep.zero_feats[m])
    return out


def gain_augment(model: EdgeREP, feats: list[torch.Tensor], present: torch.Tensor, gain_db: float,
                 rng: np.random.Generator) -> list[torch.Tensor]:
    """Features as if each present modality's sensor gain were off by a random +-gain_db (uniform in dB;
    sites differ, and scales are set wrong in the field). A gain scales every band power equally: with
    level normalisation only the level feature moves (by the gain in its 20 dB units); without it, every
    log band shifts by the same amount before the front-end's normalisation (``shift / band std``)."""
    out = []
    for m, f in enumerate(feats):
        p = model.frontend.plans[m]
        gain = torch.from_numpy(rng.uniform(-gain_db, gain_db, f.shape[0]).astype(np.float32)).to(f.device)
        shift = gain * math.log(10) / 10 * present[:, m]             # ln of the power ratio, present only
        if p.level_norm:
            if p.level_feature and p.level_reference == "absolute":   # a floor-referenced level is gain-invariant
                lev = torch.zeros(f.shape[-1], device=f.device)
                lev[-p.channels:] = 1.0 / LEVEL_UNIT
                f = f + shift[:, None, None] * lev
            out.append(f)
            continue
        std = getattr(model.frontend, f"std{m}")
        per_feat = (1.0 / std).repeat(f.shape[-1] // std.numel())
        out.append(f + shift[:, None, None] * per_feat)
    return out


def to_device(prep: Prepared, dev: torch.device) -> Prepared:
    """The features on ``dev`` (the index arrays stay numpy)."""
    if dev.type == "cpu":
        return prep
    return replace(prep, feats=[f.to(dev) for f in prep.feats], zero_feats=[z.to(dev) for z in prep.zero_feats])
