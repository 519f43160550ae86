"""Choose the ``[detections]`` defaults and ``confidence.DETECTION_RATE`` on the VALIDATION split (never test):

    python benchmarks/tune_detections.py --data runs/bench3 --background runs/background_val [--model M] [--out DIR]

Plays every validation recording (with and without a channel dropped around each closest approach) and a
background-only dataset through the daemon once (``edge_rep.evaluate_detections``), keeps the window lines,
then re-runs the daemon's own detection tracker and truth scoring on them for each setting (the windows do
not depend on them):

1. ``min_duration_s`` x ``merge_gap_s``, with the model's fitted minimum confidence per scenario;
2. the minimum confidence per scenario at several rates: the calibrated confidence below which that share
   of the validation target windows of each scenario fall, computed as ``train.calibrate`` fits it at
   ``confidence.DETECTION_RATE`` (``scoring.scenario_target_confidence`` on the model's checkpoint, the
   ``.safetensors`` beside ``--model``); rate 0 keeps every detection. With ``--out``, a plot of Pd against
   false alarms per hour along the rates (``detection_tradeoff.png``) and the rows as JSON.

Prints one row per setting: Pd, false alarms per hour and accuracy per detection, with each channel dropped
beside the undropped one. The background for tuning must not be the test one: make it with
``edge-rep synth --background-only --split val --seed 1 --recordings 12 --out runs/background_val``
(2 hours, no held-out kind of non-target event).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_rep.backends import load_backend
from edge_rep.confidence import uncertain_threshold
from edge_rep.config import DetectionsSection
from edge_rep.evaluate_detections import VARIANTS, evaluate_detections, rescore

MIN_DURATION_S = (2.0, 3.0, 4.0, 5.0)
MERGE_GAP_S = (0.0, 2.0, 4.0, 6.0)
RATES = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4)


def target_confidences(model: str | None, data: str, split: str) -> dict[str, np.ndarray]:
    """Per scenario, the calibrated confidence of the split's target windows (``train.calibrate``'s population)."""
    import torch

    from edge_rep.checkpoint import load_model
    from edge_rep.dataset import load_dataset, window_arrays
    from edge_rep.features import prepare
    from edge_rep.scoring import scenario_target_confidence

    torch.set_num_threads(1)
    net, meta = load_model(None if model is None else Path(model).with_suffix(".safetensors"))
    ds = load_dataset(data)
    prep = prepare(net, window_arrays(ds.recordings(split), ds.profile), progress=False)
    return scenario_target_confidence(net, prep, meta.extra.get("method", "rep"))


def row_for(kept, meta, sec, gate=None) -> dict:
    row = {}
    for v in VARIANTS:
        p = rescore(kept[(v, "passbys")], meta, sec, gate).result()
        b = rescore(kept[(v, "background")], meta, sec, gate).result()
        row.update({f"pd_{v}": p["pd"], f"far_{v}": b["far_per_hour"], f"acc_{v}": p["accuracy"]})
        if v == "none":
            row["window_acc"] = p["window_accuracy"]
    return row


def table(rows: list[dict]) -> str:
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(f"{r[c]:.3f}" if isinstance(r[c], float) else
                                     json.dumps(r[c]) if isinstance(r[c], dict) else str(r[c]) for c in cols) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--background", required=True, help="background-only dataset for tuning (not the test one)")
    ap.add_argument("--model", default=None, help="model file (default: the bundled one)")
    ap.add_argument("--split", default="val")
    ap.add_argument("--out", default=None, help="folder for the rows (JSON) and the trade-off plot")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    args = ap.parse_args(argv)
    t = time.perf_counter()
    be = load_backend(args.model)
    kept: dict = {}
    evaluate_detections(args.model, args.data, args.split, background=args.background, keep=kept, jobs=args.jobs)
    played = time.perf_counter() - t
    grid = []
    for md in MIN_DURATION_S:
        for gap in MERGE_GAP_S:
            grid.append({"min_duration_s": md, "merge_gap_s": gap,
                         **row_for(kept, be.meta, DetectionsSection(min_duration_s=md, merge_gap_s=gap))})
    print("min_duration_s x merge_gap_s (the model's min_confidence per scenario):\n" + table(grid))
    conf = target_confidences(args.model, args.data, args.split)
    rates = []
    for rate in RATES:
        gate = {s: uncertain_threshold(c, rate) for s, c in sorted(conf.items())} if rate else {}
        rates.append({"rate": rate, "min_confidence": gate, **row_for(kept, be.meta, DetectionsSection(), gate)})
    print("\nminimum confidence per scenario at each rate (defaults otherwise):\n" + table(rates))
    print(f"\nplayed the {args.split} split and the background in {played:.0f} s; "
          f"re-scored in {time.perf_counter() - t - played:.0f} s")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "tune_detections.json").write_text(json.dumps({"model": be.meta.model_id, "split": args.split,
                                                              "grid": grid, "rates": rates}, indent=1))
        from edge_rep.plots import plot_lines
        names = {"none": "no drop", "acoustic": "microphone dropped", "seismic": "geophone dropped"}
        plot_lines(out / "detection_tradeoff.png",
                   {names[v]: [(r[f"far_{v}"], r[f"pd_{v}"]) for r in rates] for v in VARIANTS},
                   "false alarms per hour (validation background)", "probability of detection",
                   f"Pd vs false alarms, rate 0 to 0.4 ({args.split})")
        print(f"wrote {out / 'tune_detections.json'} and {out / 'detection_tradeoff.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
