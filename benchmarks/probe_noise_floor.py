"""Probe (not a benchmark of the product): the level feature relative to a causal noise floor.

The default front-end keeps each window's absolute level as a bounded feature trained under +-40 dB of
gain augmentation, and so loses the cue that tells quiet ground from a distant vehicle (docs/model.md,
"Open"). This probe replaces that feature, in the precomputed features only, by the window's level minus
the 10th percentile of its recording's window levels over the previous 60 s (a causal noise floor, as
STA/LTA detectors do), trains stage 1 and REP with the defaults (no gain augmentation: the feature is
gain-invariant), and prints the validation figures and what it calls the real RS4D record's windows.

    python benchmarks/probe_noise_floor.py DATASET RS4D_TESTDATA_MS

DATASET: an `edge-rep synth` folder; RS4D_TESTDATA_MS: rsudp 2.2.1's test/testdata.ms (GPL-3.0, fetched
with pip download as tests/test_units.py does; never committed). Run once on 2026-11-29 (docs/model.md).
The product version needs the floor as a model input the daemon keeps per modality.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edge_rep.dataset import load_dataset, window_arrays
from edge_rep.features import Prepared, prepare
from edge_rep.levels import window_level_db
from edge_rep.model import EdgeREP, ModelConfig
from edge_rep.recording import Channels, LabelInterval, Recording
from edge_rep.scoring import predict, scenario_scores
from edge_rep.train import TrainConfig, fit, train_adapter

RS4D_COUNTS_PER_M_S = 3.99e8     # the RS4D's nominal EHZ sensitivity (domain notes)
FLOOR_S, FLOOR_PERCENTILE = 60.0, 10.0


def causal_floor(rec: np.ndarray, start: np.ndarray, lev: np.ndarray) -> np.ndarray:
    """Per window: the FLOOR_PERCENTILE of its recording's window levels over the last FLOOR_S seconds."""
    out = np.full(len(lev), np.nan)
    for r in np.unique(rec):
        idx = np.flatnonzero(rec == r)
        idx = idx[np.argsort(start[idx])]
        for j, i in enumerate(idx):
            past = idx[:j + 1][start[idx[:j + 1]] >= start[i] - FLOOR_S]
            v = lev[past][np.isfinite(lev[past])]
            out[i] = np.percentile(v, FLOOR_PERCENTILE) if len(v) else np.nan
    return out


def with_relative_level(model: EdgeREP, prep: Prepared, arrays) -> Prepared:
    """``prep`` with each modality's level feature replaced by (level - floor) in 20 dB steps."""
    for m, p in enumerate(model.frontend.plans):
        lev = window_level_db(arrays.x[p.name])
        rel = np.nan_to_num((lev - causal_floor(arrays.rec, arrays.start, lev)) / 20.0, nan=0.0)
        prep.feats[m][:, :, -p.channels:] = torch.from_numpy(rel.astype(np.float32))[:, None, None]
    return prep


def main(data: str, rs4d: str) -> None:
    import obspy

    torch.set_num_threads(2)
    ds = load_dataset(data)
    tr, va = window_arrays(ds.recordings("train"), ds.profile), window_arrays(ds.recordings("val"), ds.profile)
    tc = TrainConfig(gain_db=0.0)
    torch.manual_seed(0)
    model = EdgeREP(ModelConfig(), ds.profile)
    model.frontend.calibrate(tr.x, np.asarray(tr.present, bool), seed=0)
    ptr = with_relative_level(model, prepare(model, tr, progress=False), tr)
    pva = with_relative_level(model, prepare(model, va, progress=False), va)
    fit(model, ptr, tc, "backbone", "backbone", progress=False)
    print("stage 1, validation:", scenario_scores(model, pva, "finetune"), flush=True)
    rep, _ = train_adapter(model, ptr, "rep", tc, progress=False)
    print("REP, validation:", scenario_scores(rep, pva, "rep"), flush=True)
    x = obspy.read(rs4d).select(channel="EHZ")[0].data.astype(np.float64) / RS4D_COUNTS_PER_M_S
    rec = Recording("rs4d", {"seismic": Channels(x[None, :], 100.0, 0.0, "m/s")},
                    [LabelInterval(0.0, len(x) / 100.0, "background")])
    ar = window_arrays([rec], ds.profile)
    pr = with_relative_level(rep, prepare(rep, ar, progress=False), ar)
    idx = np.flatnonzero(ar.present[:, ds.profile.modality_names.index("seismic")])
    pattern = torch.tensor([[float(m == "seismic") for m in ds.profile.modality_names]])
    pred, _ = predict(rep, pr, idx, pattern.expand(len(idx), -1), "rep")
    t, bg = ar.start[idx], rep.profile.classes.index("background")
    quiet, quake = t + ds.profile.window_s <= 44.0, t >= 45.0       # the quake's onset is at 45 s
    print(f"RS4D: quiet windows called background {(pred[quiet] == bg).mean():.3f} of {quiet.sum()}; "
          f"earthquake windows {(pred[quake] == bg).mean():.3f} of {quake.sum()}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
