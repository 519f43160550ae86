"""Choose the ``[detections]`` defaults on the VALIDATION split (never test):

    python benchmarks/tune_detections.py --data data/synth --background data/background_val [--model M]

Plays every validation recording (with and without a channel dropped around each closest approach) and a
background-only dataset through the daemon once (``edge_rep.evaluate_detections``), keeps the window lines,
then re-runs the daemon's own detection tracker and truth scoring on them for each ``min_duration_s`` x
``merge_gap_s`` of the grid (the windows do not depend on these settings). Prints one row per setting: Pd,
false alarms per hour and accuracy per detection, the worst of the three variants beside the undropped one.
The background for tuning must not be the one the test figures use (``synth --background-only --seed 1``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_rep.backends import load_backend
from edge_rep.config import DetectionsSection
from edge_rep.evaluate_detections import VARIANTS, evaluate_detections, rescore

MIN_DURATION_S = (2.0, 3.0, 4.0, 5.0)
MERGE_GAP_S = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--background", required=True, help="background-only dataset for tuning (not the test one)")
    ap.add_argument("--model", default=None, help="model file (default: the bundled one)")
    ap.add_argument("--split", default="val")
    ap.add_argument("--out", default=None, help="write the rows as JSON here")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    args = ap.parse_args(argv)
    t = time.perf_counter()
    be = load_backend(args.model)
    kept: dict = {}
    evaluate_detections(args.model, args.data, args.split, background=args.background, keep=kept, jobs=args.jobs)
    played = time.perf_counter() - t
    rows = []
    for md in MIN_DURATION_S:
        for gap in MERGE_GAP_S:
            sec = DetectionsSection(min_duration_s=md, merge_gap_s=gap)
            row = {"min_duration_s": md, "merge_gap_s": gap}
            for v in VARIANTS:
                p = rescore(kept[(v, "passbys")], be.meta.classes, be.meta.profile.hop_s, sec).result()
                b = rescore(kept[(v, "background")], be.meta.classes, be.meta.profile.hop_s, sec).result()
                row.update({f"pd_{v}": p["pd"], f"acc_{v}": p["accuracy"], f"far_{v}": b["far_per_hour"]})
                if v == "none":
                    row["window_acc"] = p["window_accuracy"]
            rows.append(row)
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |\n|" + " --- |" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")
    grid = time.perf_counter() - t - played
    print(f"\nplayed {args.split} split and background in {played:.0f} s; grid in {grid:.0f} s")
    if args.out:
        Path(args.out).write_text(json.dumps({"model": be.meta.model_id, "split": args.split, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
