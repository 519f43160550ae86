"""Confidence an operator can act on: calibrated probabilities and the "uncertain" flag. No torch.

**Calibration.** Temperature scaling (Guo et al., "On calibration of modern neural networks", ICML 2017):
one temperature T per missing-modality scenario divides the logits before the softmax, chosen to
minimise the negative log-likelihood on the validation split. It changes no prediction (the arg max is
the same), only how sure each one claims to be: a network trained with cross-entropy is typically
over-confident, and more so with a modality missing. The temperatures live in the model's weights
(``EdgeREP.temperature``), so the exported graph, every runtime and the daemon give the same calibrated
probabilities. Because ``softmax(log p / T)`` equals ``softmax(logits / T)``, T can be fitted on
probabilities as well as on logits.

**Expected calibration error** (ECE; Naeini et al. 2015, as Guo et al. use it): windows binned by their
confidence (the top probability) into 15 equal-width bins; the mean over bins of |accuracy - mean
confidence|, weighted by each bin's share of windows.

**Uncertain.** A window is flagged uncertain when its calibrated confidence (the maximum softmax
probability; Hendrycks and Gimpel, ICLR 2017) is below its scenario's threshold. The threshold is fitted on
the validation split so that a small share (``TARGET_FLAG_RATE``) of target windows is flagged; what
it catches of non-target events (earthquakes, aircraft, machinery... labelled background) is reported
for the kinds seen in validation and, apart, for kinds held out of it (edge_rep/synth_nontarget.py).
The label is still given: "uncertain" says "do not act on this window alone".

**Detections' minimum confidence.** The same pass fits, per scenario, the calibrated confidence below
which ``DETECTION_RATE`` of the validation target windows fall; a pass-by detection whose windows are on
average less confident than their scenarios' values is not reported (edge_rep/stream/detections.py).
Per scenario because a model with a modality missing is rightly less sure of its pass-bys too.
"""

from __future__ import annotations

import numpy as np

ECE_BINS = 15
TARGET_FLAG_RATE = 0.04      # share of validation target windows an uncertain threshold flags (target <= 5 %)
DETECTION_RATE = 0.2         # share of validation target windows below a detection's min_confidence (chosen on
                             # the validation split: docs/results.md, Detections)
T_BOUNDS = (0.05, 20.0)      # temperatures outside this are a sign of a broken fit, not calibration


def softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, y: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of labels ``y`` (N,) under softmax(logits / T)."""
    z = np.asarray(logits, np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]))


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising the NLL of ``y`` (N,) under softmax(logits / T), searched on log T
    (scipy's bounded Brent). logits: (N, K) (log-probabilities do as well). 1.0 when ``y`` is empty."""
    from scipy.optimize import minimize_scalar

    y = np.asarray(y, np.int64)
    if len(y) == 0:
        return 1.0
    res = minimize_scalar(lambda t: nll(logits, y, float(np.exp(t))), bounds=np.log(T_BOUNDS), method="bounded",
                          options={"xatol": 1e-4})
    return float(np.exp(res.x))


def reliability(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> dict:
    """Per confidence bin (equal width on [0, 1]): windows, mean confidence and accuracy (None when empty),
    and the ECE. probs: (N, K); y: (N,)."""
    probs, y = np.asarray(probs, np.float64), np.asarray(y, np.int64)
    conf, correct = probs.max(axis=1), probs.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    out = {"edges": edges.round(4).tolist(), "windows": count.tolist(), "confidence": [], "accuracy": []}
    ece = 0.0
    for b in range(bins):
        sel = which == b
        if count[b]:
            c, a = float(conf[sel].mean()), float(correct[sel].mean())
            ece += count[b] / len(y) * abs(a - c)
            out["confidence"].append(round(c, 4))
            out["accuracy"].append(round(a, 4))
        else:
            out["confidence"].append(None)
            out["accuracy"].append(None)
    out["ece"] = round(float(ece), 4) if len(y) else None
    return out


def ece(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float | None:
    """Expected calibration error with ``bins`` equal-width confidence bins (None for no windows)."""
    return reliability(probs, y, bins)["ece"]


def target_confidence(logits: np.ndarray, y: np.ndarray, temperature: float, background: int) -> np.ndarray:
    """(T,) the calibrated confidence (top probability of softmax(logits / temperature)) of the target windows
    (``y`` not ``background``): what the uncertain threshold and the detections' minimum confidence are
    quantiles of. logits: (N, K); y: (N,)."""
    return softmax(np.asarray(logits) / temperature).max(1)[np.asarray(y) != background]


def uncertain_threshold(confidence: np.ndarray, rate: float = TARGET_FLAG_RATE) -> float:
    """The confidence below which ``rate`` of these (target) windows fall: the uncertain threshold at
    ``TARGET_FLAG_RATE``, the detections' minimum confidence at ``DETECTION_RATE``; 0.0 for no window."""
    confidence = np.asarray(confidence, np.float64)
    return round(float(np.quantile(confidence, rate)), 4) if len(confidence) else 0.0


def nontarget_kind_per_window(recordings, arrays, window_s: float, min_overlap_s: float = 0.5) -> np.ndarray:
    """(N,) the kind of the non-target event each window of ``arrays`` (window_arrays of ``recordings``,
    windows ``window_s`` long) overlaps by at least ``min_overlap_s``, "" for none: from each recording's
    ``metadata["nontarget"]`` ([start_s, end_s, kind], edge_rep/synth_nontarget.py). Longest overlap wins."""
    out = np.full(len(arrays.rec), "", dtype=object)
    for i, (r, t0) in enumerate(zip(arrays.rec, arrays.start)):
        best = 0.0
        for a, b, kind in (recordings[int(r)].metadata or {}).get("nontarget") or []:
            ov = min(t0 + window_s, b) - max(t0, a)
            if ov >= min_overlap_s and ov > best:
                best, out[i] = ov, str(kind)
    return out
