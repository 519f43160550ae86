"""Synthetic generation throughput: recorded seconds generated per wall second, per profile."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge_rep import synth
from edge_rep.profiles import CLASSES, PROFILES

TITLE = "Synthetic generation throughput (recorded s per wall s; one benchmark recording per class)"


def run(quick: bool) -> list[dict]:
    duration = 10.0 if quick else 45.0
    rows = []
    for name, profile in PROFILES.items():
        t0 = time.perf_counter()
        for i, cls in enumerate(CLASSES):
            synth.benchmark_recording(profile, duration, seed=i, focus=cls)
        wall = time.perf_counter() - t0
        rec_s = duration * len(CLASSES)
        rows.append({"profile": name, "recorded_s": rec_s, "wall_s": round(wall, 2),
                     "recorded_s_per_wall_s": round(rec_s / wall, 1),
                     "samples_per_s": round(sum(m.sample_rate for m in profile.modalities) * rec_s / wall)})
    return rows
