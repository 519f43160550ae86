"""Benchmark runner: ``python benchmarks/run.py [NAME ...] [--quick] [--out benchmarks/results]``.

Each ``benchmarks/bench_<name>.py`` defines

    TITLE: str
    def run(quick: bool) -> list[dict]     # rows of figures; a row's keys are the table's columns

The runner prints every benchmark's rows as a table and writes them to ``<out>/<name>.json`` together
with the machine it ran on. Compare figures only as ratios within one run: machines here are shared.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover() -> dict[str, Path]:
    return {p.stem.removeprefix("bench_"): p for p in sorted(HERE.glob("bench_*.py"))}


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod          # dataclasses look their module up there
    sys.path.insert(0, str(HERE.parent))
    spec.loader.exec_module(mod)
    return mod


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n## {title}")
    if not rows:
        print("(no rows)")
        return
    cols = list(dict.fromkeys(k for r in rows for k in r))
    cells = [[fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def main(argv: list[str] | None = None) -> int:
    benches = discover()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help=f"benchmarks to run (default all): {', '.join(benches)}")
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="folder for the JSON results")
    args = ap.parse_args(argv)
    unknown = [n for n in args.names if n not in benches]
    if unknown:
        print(f"benchmarks/run.py: error: unknown benchmark(s) {', '.join(unknown)}; have {', '.join(benches)}",
              file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.names or list(benches):
        mod = load(benches[name])
        t0 = time.time()
        rows = mod.run(args.quick)
        print_table(mod.TITLE, rows)
        record = {"benchmark": name, "title": mod.TITLE, "quick": args.quick, "rows": rows,
                  "seconds": round(time.time() - t0, 2), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "machine": {"platform": platform.platform(), "python": platform.python_version(),
                              "processor": platform.processor() or platform.machine()}}
        (args.out / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
        print(f"-> {args.out / (name + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
