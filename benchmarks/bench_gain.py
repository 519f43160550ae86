"""Sensor-gain robustness: accuracy as one modality's gain is set wrong by -30..+30 dB (a wrong
sensitivity, the commonest deployment error), for complete windows and for that modality alone.

Target (issue 11): at most 2 points from the 0 dB figure anywhere in -30..+30 dB. Runs the model on
its deployed runtime (edge_rep/evaluate_model.py). Data: EDGE_REP_DATA (a dataset folder; default:
runs/bench if present, else a small synthetic set built in a temporary folder) and EDGE_REP_SPLIT (test);
model: EDGE_REP_MODEL (default: the bundled one). These figures come from our own generator.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

TITLE = "Gain robustness: accuracy vs a per-modality gain error (dB)"
GAINS_DB = (-30, -20, -10, 0, 10, 20, 30)


def _data(quick: bool) -> Path:
    if os.environ.get("EDGE_REP_DATA"):
        return Path(os.environ["EDGE_REP_DATA"])
    root = Path(__file__).resolve().parent.parent
    if (root / "runs" / "bench" / "manifest.json").is_file() and not quick:
        return root / "runs" / "bench"
    from edge_rep.synth import make_benchmark
    return make_benchmark(Path(tempfile.mkdtemp()) / "bench", n_recordings=30 if quick else 120,
                          duration_s=12.0, progress=False)


def run(quick: bool) -> list[dict]:
    from edge_rep.backends import resolve
    from edge_rep.evaluate_model import evaluate_model
    from edge_rep.modelspec import ModelMeta, scenario_name, sidecar_path

    data, split = _data(quick), os.environ.get("EDGE_REP_SPLIT", "test")
    model = os.environ.get("EDGE_REP_MODEL") or None
    mods = ModelMeta.load(sidecar_path(resolve(model)[1])).modalities
    gains = (-30, 0, 30) if quick else GAINS_DB
    rows, base = [], {}
    for m in mods:
        alone = scenario_name({o: o == m for o in mods})      # only m present
        for g in gains:
            sc = evaluate_model(model, data, split, gain_db={m: float(g)}, progress=False)["scenarios"]
            row = {"modality": m, "gain_db": g, "complete": sc["complete"]["accuracy"],
                   f"{m}_alone": sc[alone]["accuracy"]}
            rows.append(row)
            if g == 0:
                base[m] = row
    for r in rows:        # points from the 0 dB figure, the target's measure
        b = base[r["modality"]]
        r["worst_change_points"] = round(100 * max(abs(r["complete"] - b["complete"]),
                                                   abs(r[f"{r['modality']}_alone"] - b[f"{r['modality']}_alone"])), 2)
    return rows
