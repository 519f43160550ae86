"""Regenerate the small sensor logs under tests/data/logs/ (deterministic: same bytes every run).

    python -m edge_rep.testlogs [--out tests/data/logs] [NAME ...]

Each log is the default profile (acoustic 8 kHz int16 + seismic 100 Hz int24) streamed by the
simulator with one scenario; its labels sit beside it (<log>.labels.json). The scenarios are listed
in LOGS and documented in tests/data/logs/README.md. The board speaks protocol 1.0 (STATUS without
state, HELLO every 10 s), as when the logs were first made: they keep old logs playing back.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from . import synth
from .profiles import MOD
from .simulator import Scenario, Simulator, write_log

# name -> (seconds, seed, faults, pass-bys as (label, time of closest approach) or None for random ones)
LOGS: dict[str, tuple[float, int, list[str], list[tuple[str, float]] | None]] = {
    "clean": (20.0, 1, [], None),
    "acoustic_drop": (20.0, 2, ["drop:acoustic@6-12"], None),
    "seismic_drop": (20.0, 3, ["drop:seismic@8"], None),
    "corrupt_bytes": (20.0, 4, ["corrupt@5-7=0.002", "lose@12-13=0.001"], None),
    "board_reset": (20.0, 5, ["reset@10"], None),
    "labelled_passbys": (30.0, 6, [], [("car", 8.0), ("pedestrian", 17.0), ("truck", 25.0)]),
}


# The simulated board of these logs: protocol 1.0, as a board built before 1.1 speaks it.
BOARD_1_0 = {"protocol_minor": 0, "hello_every_s": 10.0}


def make(name: str, out_dir: str | Path) -> Path:
    seconds, seed, faults, passbys = LOGS[name]
    events = None
    if passbys is not None:
        rng = np.random.default_rng(seed)
        events = [synth.random_event(label, t, rng) for label, t in passbys]
    rec = synth.continuous(MOD, seconds, seed, events=events)
    path = Path(out_dir) / f"{name}.edgelog"
    path.unlink(missing_ok=True)
    write_log(Simulator(rec, Scenario.parse(faults), seed, **BOARD_1_0), path)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "tests" / "data" / "logs"))
    ap.add_argument("names", nargs="*", help=f"logs to make (default all): {', '.join(LOGS)}")
    args = ap.parse_args(argv)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    for name in args.names or LOGS:
        p = make(name, args.out)
        print(f"{p}: {p.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
