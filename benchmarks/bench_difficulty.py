"""Difficulty of the synthetic benchmark: a simple baseline (a small MLP on per-interval log band
energies) trained on the train split and scored on the test split (sites unseen, families seen) and on
the foreign split (families unseen), with complete, acoustic-only and seismic-only inputs (one model per
input set, scored on both splits). Rows give accuracy, per-class recall and the top confusions, so one
can see that each modality fails differently and what an unseen family costs.

Set EDGE_REP_SYNTH_DIR to score an existing dataset folder instead of building one.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge_rep.dataset import load_dataset, window_arrays
from edge_rep.profiles import MOD, Profile
from edge_rep.synth import make_benchmark

TITLE = "Synthetic benchmark difficulty: baseline MLP on log band energies (test and foreign splits)"
BANDS = {"acoustic": (20.0, 4000.0, 24), "seismic": (1.0, 50.0, 12)}


def band_features(x: np.ndarray, fs: float, intervals: int, lo: float, hi: float, n_bands: int) -> np.ndarray:
    """(N, C, S) windows -> (N, 2 * n_bands + 1): mean and std over intervals of log band energies, and
    the log kurtosis of the samples (impulsiveness)."""
    n, c, s = x.shape
    seg = x.reshape(n, c, intervals, s // intervals)
    p = np.abs(np.fft.rfft(seg, axis=-1)) ** 2
    f = np.fft.rfftfreq(s // intervals, 1.0 / fs)
    edges = np.geomspace(lo, min(hi, fs / 2), n_bands + 1)
    e = np.stack([p[..., (f >= a) & (f < b)].sum(-1) + 1e-30 for a, b in zip(edges[:-1], edges[1:])], -1)
    le = np.log10(e).mean(1)                       # (N, intervals, bands), channels averaged
    z = x - x.mean(-1, keepdims=True)
    kurt = (z ** 4).mean(-1) / ((z ** 2).mean(-1) ** 2 + 1e-30)
    return np.concatenate([le.mean(1), le.std(1), np.log(kurt.mean(1, keepdims=True) + 1e-6)], -1)


def features(recs, profile: Profile) -> tuple[dict[str, np.ndarray], np.ndarray]:
    feats: dict[str, list] = {m: [] for m in profile.modality_names}
    ys = []
    for r in recs:                       # one recording at a time keeps memory small
        wa = window_arrays([r], profile)
        keep = wa.y >= 0
        for m in profile.modalities:
            lo, hi, nb = BANDS[m.name]
            feats[m.name].append(band_features(wa.x[m.name][keep], m.sample_rate, profile.intervals, lo, hi, nb))
        ys.append(wa.y[keep])
    return {m: np.concatenate(v) for m, v in feats.items()}, np.concatenate(ys)


def train_mlp(xtr: np.ndarray, ytr: np.ndarray, n_classes: int, seed: int = 0, epochs: int = 300):
    import torch

    torch.set_num_threads(1)     # tiny model: threads only fight the other jobs on the machine
    torch.manual_seed(seed)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    net = torch.nn.Sequential(torch.nn.Linear(xtr.shape[1], 128), torch.nn.GELU(), torch.nn.Dropout(0.2),
                              torch.nn.Linear(128, 128), torch.nn.GELU(), torch.nn.Linear(128, n_classes))
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-3)
    X = torch.tensor((xtr - mu) / sd, dtype=torch.float32)
    Y = torch.tensor(ytr)
    counts = np.bincount(ytr, minlength=n_classes)
    w = torch.tensor(counts.sum() / np.maximum(counts, 1) / n_classes, dtype=torch.float32)   # class-balanced
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(X), generator=g).split(256):
            loss = torch.nn.functional.cross_entropy(net(X[idx]), Y[idx], weight=w)
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.tensor((x - mu) / sd, dtype=torch.float32)).argmax(1).numpy()
    return predict


def evaluate(root: Path, epochs: int) -> list[dict]:
    ds = load_dataset(root)
    prof = ds.profile
    ftr, ytr = features(ds.recordings("train"), prof)
    scored = {s: features(ds.recordings(s), prof) for s in ("test", "foreign") if ds.splits().get(s)}
    K = len(prof.classes)
    rows = []
    for cond, mods in (("complete", prof.modality_names), ("acoustic-only", ("acoustic",)),
                       ("seismic-only", ("seismic",))):
        predict = train_mlp(np.concatenate([ftr[m] for m in mods], 1), ytr, K, epochs=epochs)
        for split, (fte, yte) in scored.items():
            pred = predict(np.concatenate([fte[m] for m in mods], 1))
            cm = np.zeros((K, K), int)
            np.add.at(cm, (yte, pred), 1)
            recall = cm.diagonal() / np.maximum(cm.sum(1), 1)
            off = [(cm[i, j] / max(cm[i].sum(), 1), prof.classes[i], prof.classes[j])
                   for i in range(K) for j in range(K) if i != j]
            top = sorted(off, reverse=True)[:3]
            row = {"split": split, "input": cond, "accuracy": round(float((pred == yte).mean()), 4),
                   "macro_recall": round(float(recall.mean()), 4)}
            row.update({f"recall_{c}": round(float(r), 3) for c, r in zip(prof.classes, recall)})
            row["top_confusions"] = "; ".join(f"{a}->{b} {v:.0%}" for v, a, b in top)
            row["train_windows"], row["scored_windows"] = int(len(ytr)), int(len(yte))
            rows.append(row)
    return rows


def run(quick: bool) -> list[dict]:
    given = os.environ.get("EDGE_REP_SYNTH_DIR")
    if given:
        return evaluate(Path(given), epochs=60 if quick else 150)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        size = {"n_recordings": 36, "duration_s": 30.0} if quick else {}   # else the default benchmark
        root = make_benchmark(Path(tmp) / "synth", MOD, seed=0, progress=False, **size)
        build_s = time.time() - t0
        rows = evaluate(root, epochs=60 if quick else 150)
    for r in rows:
        r["build_s"] = round(build_s, 1)
    return rows
