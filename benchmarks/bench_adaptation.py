"""Site adaptation: accuracy against labelled minutes per class on families of sites the model never saw.

For each budget (minutes of labelled windows per class) and seed, three models are scored on the same
held-out recordings:

    (a) fine-tune   the trained model (--model, default the bundled one) trained further on the budget,
                    as 'edge-rep train --init-from' does (edge_rep.train.load_init, train.FINETUNE_LR)
    (b) scratch     a new model of the same config trained on the same windows (default learning rate)
    (c) zero-shot   the trained model as it is

Data: the synthetic benchmark's foreign families (split 'foreign': upland-rock and peat-bog sites, a foreign
fleet; never used to train the bundled model), generated into --data if missing. The recordings are split
BY RECORDING into an adaptation half and a test half (per focus class, a hash of the id decides). A budget of
m minutes takes, per seed, adaptation recordings in a seeded order until every class but background has
m x 60 / hop labelled windows, and keeps exactly that many of each, with the background windows of the same
recordings (what a user gets who records and labels pass-bys; a class-balanced set would shift the model's
prior away from background, which is half the test windows). Budgets are nested: 1 min is inside 2 min...
Both trainings run the default recipe (12 + 6 epochs) or at least --min-steps optimizer steps per stage,
whichever is more, so the smallest budgets are not simply under-trained. Scored: accuracy and macro-F1 on
the test half's windows recorded complete, seen complete ("complete") and with each modality dropped.

    python benchmarks/bench_adaptation.py                          # bundled model, 2 seeds
    python benchmarks/bench_adaptation.py --model runs/b3_default/model.safetensors --seeds 0
Writes OUT/results.json (after every run, so a cut run keeps what it measured), OUT/adaptation.png and
prints the table. torch uses one thread.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TITLE = "Site adaptation: accuracy vs labelled minutes per class on unseen families (fine-tune / scratch / zero-shot)"

BUDGETS_MIN = (1, 2, 5, 10, 20)
BACKGROUND = "background"      # not budgeted: it is what a pass-by recording holds between the passes


def split_halves(recs, n_test_per_class: int):
    """(adaptation recordings, test recordings): per focus class (the id's last part), a hash of the id
    puts a recording in the test half, capped at ``n_test_per_class``; the rest adapt."""
    by_class: dict[str, list] = {}
    for r in recs:
        by_class.setdefault(r.id.rsplit("-", 1)[-1], []).append(r)
    adapt, test = [], []
    for _cls, rs in sorted(by_class.items()):
        rs = sorted(rs, key=lambda r: hashlib.sha256(f"adapt-half:{r.id}".encode()).hexdigest())
        k = min(n_test_per_class, len(rs) // 2)
        test += rs[:k]
        adapt += rs[k:]
    return adapt, test


def window_labels(rec, profile) -> list[str | None]:
    n = max(int(np.floor((rec.duration - profile.window_s) / profile.hop_s + 1e-9)) + 1, 0)
    return [rec.label_between(w * profile.hop_s, w * profile.hop_s + profile.window_s) for w in range(n)]


def budget_arrays(adapt, profile, minutes: float, seed: int):
    """WindowArrays holding exactly minutes x 60 / hop labelled windows of every class but background, and
    the background windows of the same recordings (see the module text) -> (arrays, recordings used)."""
    from edge_rep.dataset import WindowArrays, window_arrays

    quota = int(round(minutes * 60 / profile.hop_s))
    targets = [c for c in profile.classes if c != BACKGROUND]
    order = np.random.default_rng([seed, 77]).permutation(len(adapt))
    have = {c: 0 for c in targets}
    chosen = []
    for i in order:
        labs = [c for c in window_labels(adapt[i], profile) if c in have]
        if any(have[c] < quota for c in labs):
            chosen.append(adapt[i])
            for c in labs:
                have[c] += 1
        if all(v >= quota for v in have.values()):
            break
    short = {c: v for c, v in have.items() if v < quota}
    if short:
        raise SystemExit(f"bench_adaptation: not enough adaptation windows for {minutes} min per class ({short}); "
                         f"generate more foreign recordings (--foreign)")
    wa = window_arrays(chosen, profile)
    capped = {profile.classes.index(c) for c in targets}
    keep, used = [], dict.fromkeys(capped, 0)
    for i, y in enumerate(wa.y):
        if y >= 0 and (int(y) not in capped or used[int(y)] < quota):
            used[int(y)] = used.get(int(y), 0) + 1
            keep.append(i)
    keep = np.asarray(keep)
    return WindowArrays(x={k: v[keep] for k, v in wa.x.items()}, present=wa.present[keep], y=wa.y[keep],
                        rec=wa.rec[keep], start=wa.start[keep]), len(chosen)


def recipe(tc, n_windows: int, min_steps: int):
    steps = max(1, math.ceil(n_windows / tc.batch_size))
    return replace(tc, stage1_epochs=max(tc.stage1_epochs, math.ceil(min_steps / steps)),
                   stage2_epochs=max(tc.stage2_epochs, math.ceil(min_steps / 2 / steps)))


def score(model, arrays, prep=None) -> dict:
    from edge_rep.features import prepare
    from edge_rep.scoring import scenario_scores
    prep = prep if prep is not None else prepare(model, arrays, progress=False)
    scores = scenario_scores(model, prep, "rep")
    return {**{k: v["accuracy"] for k, v in scores.items()}, "macro_f1_complete": scores["complete"]["macro_f1"]}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="bundled", help="trained model to adapt (default: the bundled one)")
    ap.add_argument("--data", default="runs/adapt-foreign",
                    help="dataset with a foreign split; generated if missing (edge-rep synth --recordings 6 "
                         "--foreign 900 --seed 7)")
    ap.add_argument("--out", default="benchmarks/results/adaptation")
    ap.add_argument("--budgets", type=float, nargs="+", default=list(BUDGETS_MIN), help="minutes per class")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--test-per-class", type=int, default=16, help="test recordings per focus class")
    ap.add_argument("--min-steps", type=int, default=150, help="least optimizer steps of stage 1 (stage 2: half)")
    return ap


def run(quick: bool) -> list[dict]:
    """benchmarks/run.py: the curve's rows (quick: 1 and 5 min, one seed)."""
    args = parser().parse_args(["--budgets", "1", "5", "--seeds", "0"] if quick else [])
    results = measure(args)
    rows = []
    for m in sorted({r["minutes"] for r in results["runs"]}):
        rs = [r for r in results["runs"] if r["minutes"] == m]
        ft, sc = _mean(rs, "finetune", "complete")[0], _mean(rs, "scratch", "complete")[0]
        rows.append({"min_per_class": m, "seeds": len(rs), "finetune": round(ft, 4), "scratch": round(sc, 4),
                     "zero_shot": results["zero_shot"]["complete"],
                     "finetune_minus_scratch_points": round(100 * (ft - sc), 1)})
    return rows


def main() -> int:
    measure(parser().parse_args())
    return 0


def measure(args) -> dict:
    """Run the benchmark as ``args`` say; write OUT/results.json, table.md, adaptation.png; print the table."""

    import torch
    torch.set_num_threads(1)
    from edge_rep.dataset import load_dataset, window_arrays
    from edge_rep.features import prepare
    from edge_rep.train import FINETUNE_LR, TrainConfig, load_init, train_adapter, train_backbone

    t_start = time.time()
    data = Path(args.data)
    if not (data / "manifest.json").is_file():
        from edge_rep.synth import make_benchmark
        make_benchmark(data, n_recordings=6, n_foreign=900, seed=7, progress=False)
    ds = load_dataset(data)
    profile = ds.profile
    adapt, test = split_halves(ds.recordings("foreign"), args.test_per_class)
    test_arrays = window_arrays(test, profile)
    init, record = load_init(args.model, profile, str(data))
    print(f"model {record['model_id']} ({record['path']}); {len(adapt)} adaptation and {len(test)} test recordings "
          f"({int((test_arrays.y >= 0).sum())} labelled test windows), foreign families", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {"model": record, "data": str(data), "test_recordings": len(test), "seeds": args.seeds,
               "min_steps": args.min_steps, "finetune_lr": FINETUNE_LR, "runs": []}
    shared_prep = prepare(init, test_arrays, progress=False)      # (a) and (c) keep the model's front-end
    results["zero_shot"] = score(init, test_arrays, shared_prep)
    print(f"zero-shot: {results['zero_shot']}", flush=True)
    base = TrainConfig.from_dict(json.loads((Path(record["path"]).with_suffix(".json")).read_text())["extra"]
                                 .get("train_config", {}))
    base = replace(base, device="cpu")
    for seed in args.seeds:
        for minutes in args.budgets:
            arrays, n_recs = budget_arrays(adapt, profile, minutes, seed)
            tc = recipe(replace(base, seed=seed), len(arrays), args.min_steps)
            row = {"minutes": minutes, "seed": seed, "windows": len(arrays), "recordings": n_recs,
                   "windows_per_class": dict(zip(profile.classes, np.bincount(arrays.y, minlength=len(
                       profile.classes)).tolist())),
                   "epochs": [tc.stage1_epochs, tc.stage2_epochs]}
            t0 = time.time()
            ft = copy.deepcopy(init)
            bb, prep, _ = train_backbone(ft.cfg, profile, arrays, replace(tc, lr=FINETUNE_LR), progress=False, init=ft)
            model, _ = train_adapter(bb, prep, "rep", replace(tc, lr=FINETUNE_LR), progress=False)
            row["finetune"] = score(model, test_arrays, shared_prep)
            t1 = time.time()
            torch.manual_seed(seed)
            bb, prep, _ = train_backbone(init.cfg, profile, arrays, tc, progress=False)
            model, _ = train_adapter(bb, prep, "rep", tc, progress=False)
            row["scratch"] = score(model, test_arrays)
            row["seconds"] = {"finetune": round(t1 - t0, 1), "scratch": round(time.time() - t1, 1)}
            results["runs"].append(row)
            results["seconds"] = round(time.time() - t_start, 1)
            (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
            print(f"seed {seed} {minutes:g} min/class ({len(arrays)} windows, {n_recs} recordings): fine-tune "
                  f"{row['finetune']['complete']:.3f}, scratch {row['scratch']['complete']:.3f}, zero-shot "
                  f"{results['zero_shot']['complete']:.3f} ({row['seconds']})", flush=True)
    table = summarise(results)
    (out / "table.md").write_text(table + "\n")
    print(table)
    plot(results, out / "adaptation.png")
    print(f"wrote {out}/results.json, table.md, adaptation.png; {time.time() - t_start:.0f} s in all")
    return results


def _mean(rows, cond, scen):
    v = [r[cond][scen] for r in rows]
    return float(np.mean(v)), float(np.std(v))


def summarise(results) -> str:
    scen = list(results["zero_shot"])
    lines = ["| min/class | seeds | " + " | ".join(f"fine-tune {s}" for s in scen) + " | "
             + " | ".join(f"scratch {s}" for s in scen) + " | fine-tune - scratch (complete) |",
             "|" + " --- |" * (3 + 2 * len(scen))]
    for m in sorted({r["minutes"] for r in results["runs"]}):
        rows = [r for r in results["runs"] if r["minutes"] == m]
        ft = [_mean(rows, "finetune", s) for s in scen]
        sc = [_mean(rows, "scratch", s) for s in scen]
        gap = ft[0][0] - sc[0][0]
        lines.append(f"| {m:g} | {len(rows)} | " + " | ".join(f"{a:.3f} ± {b:.3f}" for a, b in ft) + " | "
                     + " | ".join(f"{a:.3f} ± {b:.3f}" for a, b in sc) + f" | {100 * gap:+.1f} points |")
    zs = results["zero_shot"]
    lines.append("zero-shot (c): " + ", ".join(f"{s} {zs[s]:.3f}" for s in scen))
    return "\n".join(lines)


def plot(results, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ms = sorted({r["minutes"] for r in results["runs"]})
    fig, ax = plt.subplots(figsize=(6, 4))
    for cond, style in (("finetune", "o-"), ("scratch", "s--")):
        mean = [_mean([r for r in results["runs"] if r["minutes"] == m], cond, "complete") for m in ms]
        ax.errorbar(ms, [a for a, _ in mean], yerr=[b for _, b in mean], fmt=style, capsize=3,
                    label={"finetune": "(a) fine-tune from the model", "scratch": "(b) from scratch"}[cond])
    ax.axhline(results["zero_shot"]["complete"], color="gray", ls=":", label="(c) model zero-shot")
    ax.set_xscale("log")
    ax.set_xticks(ms, [f"{m:g}" for m in ms])
    ax.set_xlabel("labelled minutes per class")
    ax.set_ylabel("accuracy, complete windows")
    ax.set_title(f"site adaptation on unseen families (model {results['model']['model_id']})")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
