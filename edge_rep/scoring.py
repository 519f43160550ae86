"""A model's predictions on prepared front-end features (edge_rep/features.py) under a presence pattern,
and their figures: what training reports on the validation split and ``evaluate`` on the test split."""

from __future__ import annotations

import numpy as np
import torch

from .features import Prepared, batch_feats
from .metrics import confusion, macro_f1
from .model import EdgeREP
from .modelspec import single_drop_patterns


@torch.no_grad()
def predict(model: EdgeREP, prep: Prepared, idx: np.ndarray, present: torch.Tensor, method: str,
            replay: torch.Tensor | None = None, buffers_in: torch.Tensor | None = None,
            batch: int = 512) -> tuple[np.ndarray, torch.Tensor]:
    """Predicted classes and buffers_out for windows ``idx`` under ``present`` as ``method`` sees them."""
    logits, bufs = predict_logits(model, prep, idx, present, method, replay, buffers_in, batch)
    return logits.argmax(1).astype(np.int64), bufs


@torch.no_grad()
def predict_logits(model: EdgeREP, prep: Prepared, idx: np.ndarray, present: torch.Tensor, method: str,
                   replay: torch.Tensor | None = None, buffers_in: torch.Tensor | None = None,
                   batch: int = 512) -> tuple[np.ndarray, torch.Tensor]:
    """Logits (N, K) before any temperature, and buffers_out, for windows ``idx`` under ``present``."""
    model.eval()
    M, L, D = model.n_mod, model.cfg.buffer_tokens, model.cfg.width
    logits_all, bufs = [], []
    for i in range(0, len(idx), batch):
        sl = slice(i, i + batch)
        p = present[sl]
        B = len(p)
        feats = batch_feats(prep, idx[sl], p)
        seen = torch.ones_like(p) if method == "zerofill" else p   # zero-fill: the backbone is not told
        r = replay[sl] if replay is not None else torch.zeros(B, M)
        b = buffers_in[sl] if buffers_in is not None else torch.zeros(B, M, L, D)
        logits, buf, _ = model.forward_features(feats, seen, r, b, adapt=method in ("rep", "map", "dcp"))
        logits_all.append(logits.numpy())
        bufs.append(buf)
    k = len(model.profile.classes)
    return (np.concatenate(logits_all) if logits_all else np.zeros((0, k), np.float32),
            torch.cat(bufs) if bufs else torch.zeros(0))


def score(model: EdgeREP, prep: Prepared, present: torch.Tensor, method: str) -> dict:
    idx = np.flatnonzero(prep.y >= 0)
    pred, _ = predict(model, prep, idx, present[idx], method)
    y = prep.y[idx]
    k = len(model.profile.classes)
    every = np.full(len(prep), -1, np.int64)   # per window of prep (-1: unlabelled), for later comparisons
    every[idx] = pred
    return {"accuracy": float((pred == y).mean()) if len(y) else 0.0, "macro_f1": macro_f1(y, pred, k),
            "confusion": confusion(y, pred, k).tolist(), "pred": every}


@torch.no_grad()
def scenario_logits(model: EdgeREP, prep: Prepared, method: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{scenario: (logits (N, K), labels (N,))} on the labelled windows recorded complete, seen complete and
    with each single modality dropped: what temperature scaling is fitted on (edge_rep/confidence.py)."""
    idx = np.flatnonzero(prep.present.all(1) & (prep.y >= 0))
    out = {}
    for name, pat in single_drop_patterns(model.modalities).items():
        present = torch.tensor(pat, dtype=torch.float32).expand(len(idx), -1)
        out[name] = (predict_logits(model, prep, idx, present, method)[0], prep.y[idx])
    return out


def scenario_target_confidence(model: EdgeREP, prep: Prepared, method: str) -> dict[str, np.ndarray]:
    """{scenario: (N,) calibrated confidence (top probability under the model's temperature) of the target
    windows of ``scenario_logits``}: what the uncertain thresholds and the detections' minimum confidence are
    quantiles of (``train.calibrate``, edge_rep/confidence.py)."""
    from .confidence import target_confidence
    bg = model.profile.classes.index("background") if "background" in model.profile.classes else -1
    temps = dict(zip(model.scenario_names, model.temperature.tolist()))
    return {name: target_confidence(logits, y, temps.get(name, 1.0), bg)
            for name, (logits, y) in scenario_logits(model, prep, method).items()}


@torch.no_grad()
def scenario_scores(model: EdgeREP, prep: Prepared, method: str) -> dict[str, dict]:
    """Accuracy and macro-F1 on the labelled windows recorded complete, seen complete and with each single
    modality dropped (``single_drop_patterns``): {scenario: {"accuracy", "macro_f1", "windows"}}."""
    idx = np.flatnonzero(prep.present.all(1) & (prep.y >= 0))
    y, k, out = prep.y[idx], len(model.profile.classes), {}
    for name, pat in single_drop_patterns(model.modalities).items():
        present = torch.tensor(pat, dtype=torch.float32).expand(len(idx), -1)
        pred, _ = predict(model, prep, idx, present, method)
        out[name] = {"accuracy": round(float((pred == y).mean()), 4) if len(y) else None,
                     "macro_f1": round(macro_f1(y, pred, k), 4) if len(y) else None, "windows": int(len(y))}
    return out
