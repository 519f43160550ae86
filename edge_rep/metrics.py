"""Classification figures from labels and predictions (numpy only, no torch): what ``evaluate``, the
validation at the end of each training stage and ``evaluate --model`` report.

    y, pred: (N,) int class indices; k: number of classes
"""

from __future__ import annotations

import numpy as np


def macro_f1(y: np.ndarray, pred: np.ndarray, k: int) -> float:
    cm = confusion(y, pred, k)
    tp = np.diag(cm).astype(float)
    denom = cm.sum(0) + cm.sum(1)
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), np.nan)
    return float(np.nanmean(f1[cm.sum(1) > 0])) if (cm.sum(1) > 0).any() else 0.0


def confusion(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    cm = np.zeros((k, k), np.int64)
    np.add.at(cm, (y, pred), 1)
    return cm


def per_class(y: np.ndarray, pred: np.ndarray, classes: tuple[str, ...]) -> dict[str, dict]:
    """{class: {"precision", "recall", "support"}}; precision/recall None where undefined (no predictions
    of, or no windows of, that class)."""
    cm = confusion(y, pred, len(classes))
    out = {}
    for c, name in enumerate(classes):
        tp, called, actual = int(cm[c, c]), int(cm[:, c].sum()), int(cm[c].sum())
        out[name] = {"precision": tp / called if called else None, "recall": tp / actual if actual else None,
                     "support": actual}
    return out
