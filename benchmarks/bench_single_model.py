"""The shipped model against the fair single-model alternative, per scenario, on test and foreign families.

The shipped model is REP on a frozen backbone, one file for every scenario. The single-model alternative
(issue 11) is the same backbone fine-tuned once with modality dropout over all scenarios, missing tokens
masked, no per-type training: that is exactly stage 1 of `edge-rep train` (modality dropout 0.5, hidden
tokens of a missing modality), so it is that backbone run without REP. Both are scored by
`edge-rep evaluate --model` (the deployed runtime path) on complete windows and with each modality missing.

Target: the shipped model not worse than the alternative by more than 1 point in any scenario, on test and
on the foreign-family split. Run folder: EDGE_REP_RUN (an `edge-rep train` output with backbone.safetensors
and model.safetensors; default runs/bundled); data: EDGE_REP_DATA (default runs/bench). Our own generator.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

TITLE = "Shipped REP model vs the single-model alternative (backbone with modality dropout, masked)"
ROOT = Path(__file__).resolve().parents[1]


def single_model(run: Path, out: Path) -> Path:
    """The run's stage-1 backbone as a model without REP (missing tokens masked), saved to ``out``."""
    from edge_rep.checkpoint import load_model, save_model
    from edge_rep.train import from_backbone, method_config

    backbone, _ = load_model(run / "backbone.safetensors")
    model = from_backbone(backbone, method_config(backbone.cfg, "finetune"))
    save_model(model, out, extra={"method": "single model (stage-1 backbone, masked)"})
    return out


def run(quick: bool) -> list[dict]:
    from edge_rep.evaluate_model import evaluate_model

    run_dir = Path(os.environ.get("EDGE_REP_RUN", ROOT / "runs" / "bundled"))
    data = Path(os.environ.get("EDGE_REP_DATA", ROOT / "runs" / "bench"))
    alt = single_model(run_dir, Path(tempfile.mkdtemp(prefix="bench-single-")) / "single.safetensors")
    rows = []
    for split in ("test", "foreign"):
        shipped = evaluate_model(run_dir / "model.safetensors", data, split, backend="torch", progress=False)
        other = evaluate_model(alt, data, split, backend="torch", progress=False)
        for name, s in shipped["scenarios"].items():
            o = other["scenarios"][name]
            rows.append({"split": split, "scenario": name, "shipped_rep": s["accuracy"], "single_model": o["accuracy"],
                         "difference_points": round(100 * (s["accuracy"] - o["accuracy"]), 2),
                         "target": "difference >= -1"})
    return rows
