"""Model selection on the validation split: REP variants against the baselines, several seeds.

    python benchmarks/tune_rep.py --data runs/bench2 --backbone runs/b2/stage1.train.safetensors \
        --save-features runs/b2/features.npz --grid benchmarks/grids/rep.json --out runs/tune

``--features FILE.npz`` (written by ``--save-features``) replaces ``--data``: front-end features of the
train and validation windows (a few tens of MB), so a sweep can run on a machine without the dataset,
e.g. a GPU box (``--device cuda --workers 8``). Each grid entry is

    {"name": "...", "method": "rep|map|finetune|zerofill|mask", "model": {ModelConfig overrides},
     "train": {TrainConfig overrides}, "seeds": optional list}

Every (entry, missing type, seed) trains one stage-2 model on the train split at ``--eta`` and scores it
on the validation split. Rows go to ``OUT/rows.jsonl`` as they finish; the summary (mean and spread over
seeds, per missing type, and each variant's paired difference to REP over the same seeds) to
``OUT/summary.md``. ``--backbone-seeds`` also retrains stage 1 with other seeds on the same features, to
see whether a ranking survives another backbone; ``--stage1 JSON`` retrains every backbone seed (0
included) with TrainConfig overrides, e.g. ``'{"modality_dropout": 0}'`` for a backbone trained on
complete windows only.

Model selection uses the validation split only. ``--splits test foreign`` is the final report, run once
after the choices are made (docs/results.md): each stage-2 model is scored on each split named.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edge_rep.outpaths import OutputKind, claim, refuse_foreign, staged_file

TYPES = ("acoustic", "seismic", "both")
METHODS = ("rep", "map", "dcp", "finetune", "zerofill", "mask")
_W: dict = {}


def _is_features(path: Path) -> bool:
    import zipfile
    with zipfile.ZipFile(path) as z:
        return "train.y.npy" in z.namelist()


FEATURES = OutputKind("features file (.npz)", folder=False, owned=_is_features)
# rows.jsonl is appended to: a tuning folder is continued, never replaced
TUNE_FOLDER = OutputKind("tuning folder", folder=True, owned=lambda p: (p / "rows.jsonl").is_file()
                         or (p / "features.npz").is_file())


def save_features(path: Path, preps: dict) -> None:
    """Every split's front-end features in one .npz, written atomically (an existing features file only)."""
    arrays = {}
    for split, p in preps.items():
        for m, f in enumerate(p.feats):
            arrays[f"{split}.feat{m}"] = f.numpy()
            arrays[f"{split}.zero{m}"] = p.zero_feats[m].numpy()
        arrays[f"{split}.present"] = p.present
        arrays[f"{split}.y"] = p.y
        arrays[f"{split}.rec"] = np.asarray(p.rec).astype(str)
        arrays[f"{split}.start"] = p.start
    with staged_file(claim(path, FEATURES, force=True, option="--save-features")) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def load_features(path: Path) -> dict:
    import torch

    from edge_rep.features import Prepared
    z = np.load(path, allow_pickle=False)
    out = {}
    for split in sorted({k.split(".")[0] for k in z.files}):
        n = len([k for k in z.files if k.startswith(f"{split}.feat")])
        out[split] = Prepared([torch.from_numpy(z[f"{split}.feat{m}"]) for m in range(n)],
                              [torch.from_numpy(z[f"{split}.zero{m}"]) for m in range(n)],
                              z[f"{split}.present"], z[f"{split}.y"], z[f"{split}.rec"], z[f"{split}.start"])
    return out


def _init(args: dict) -> None:
    import torch
    torch.set_num_threads(1)
    from edge_rep.checkpoint import load_model
    _W["preps"] = load_features(Path(args["features"]))
    _W["backbones"] = {}
    for s, path in args["backbones"].items():
        _W["backbones"][int(s)], _ = load_model(path)
    _W["args"] = args


def _job(job: dict) -> list[dict]:
    from edge_rep.evaluate import score, test_presence, train_and_score
    from edge_rep.train import TrainConfig, method_config
    a = _W["args"]
    backbone = _W["backbones"][job["backbone_seed"]]
    train, splits = _W["preps"]["train"], a["splits"]
    tc = replace(TrainConfig(), eta=a["eta"], missing=job["missing"], seed=job["seed"], device=a["device"],
                 **job["train"])
    method = job["method"]
    cfg = replace(method_config(backbone.cfg, "zerofill" if method == "mask" else method), **job["model"])
    rows = []
    first = _W["preps"][splits[0]]
    present = test_presence(first, a["eta"], job["missing"], backbone.modalities, 0)   # same pattern for all
    model, sc = train_and_score(backbone, train, first, present, method, tc, cfg=cfg)
    for split in splits:
        if split != splits[0]:
            prep = _W["preps"][split]
            sc = {**sc, **score(model, prep, test_presence(prep, a["eta"], job["missing"], backbone.modalities, 0),
                                method)}
        rows.append({**{k: job[k] for k in ("name", "method", "missing", "seed", "backbone_seed")}, "split": split,
                     "accuracy": round(sc["accuracy"], 4), "macro_f1": round(sc["macro_f1"], 4),
                     "trainable": sc["trainable"], "seconds": sc["seconds"]})
    return rows


def summarise(rows: list[dict]) -> str:
    """Per split: mean +- sd over seeds per variant and missing type; then each variant's paired
    difference to REP (same seed, type and backbone), mean +- sd over seeds, in points."""
    out = []
    for split in dict.fromkeys(r.get("split", "val") for r in rows):
        sr = [r for r in rows if r.get("split", "val") == split]
        names = list(dict.fromkeys(r["name"] for r in sr))
        out += [f"### {split} split: accuracy", "",
                "| variant | " + " | ".join(TYPES) + " | mean | trainable |", "|---" * (len(TYPES) + 3) + "|"]
        for n in names:
            cells, means = [], []
            for t in TYPES:
                acc = [r["accuracy"] for r in sr if r["name"] == n and r["missing"] == t]
                if acc:
                    means.append(np.mean(acc))
                    cells.append(f"{np.mean(acc):.3f} ± {np.std(acc):.3f} (n={len(acc)})")
                else:
                    cells.append("–")
            tr = max(r["trainable"] for r in sr if r["name"] == n)
            out.append(f"| {n} | " + " | ".join(cells) + f" | {np.mean(means):.3f} | {tr:,} |")
        ref = {(r["missing"], r["seed"], r["backbone_seed"]): r["accuracy"] for r in sr if r["name"] == "REP"}
        others = [n for n in names if n != "REP"]
        if ref and others:
            out += ["", f"### {split} split: REP minus each variant, paired over seeds (points)", "",
                    "| REP minus | " + " | ".join(TYPES) + " | mean over types |", "|---" * (len(TYPES) + 2) + "|"]
            for n in others:
                cells, means = [], []
                for t in TYPES:
                    d = [100 * (ref[k] - r["accuracy"]) for r in sr if r["name"] == n and r["missing"] == t
                         and (k := (t, r["seed"], r["backbone_seed"])) in ref]
                    if d:
                        means.append(np.mean(d))
                        cells.append(f"{np.mean(d):+.2f} ± {np.std(d):.2f} (n={len(d)})")
                    else:
                        cells.append("–")
                out.append(f"| {n} | " + " | ".join(cells) + f" | {np.mean(means):+.2f} |" if means else
                           f"| {n} | " + " | ".join(cells) + " | – |")
        out.append("")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="dataset folder (train and val splits)")
    src.add_argument("--features", help="features written by --save-features")
    ap.add_argument("--backbone", required=True, help="stage-1 backbone checkpoint (safetensors)")
    ap.add_argument("--save-features", help="write the train/val features here (with --data) and continue")
    ap.add_argument("--grid", help="JSON list of variants (see the module docstring)")
    ap.add_argument("--out", default="runs/tune", help="output folder")
    ap.add_argument("--eta", type=float, default=70.0, help="missing rate in percent (default 70)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="stage-2 seeds (default 0 1)")
    ap.add_argument("--types", nargs="+", default=list(TYPES), help="missing types")
    ap.add_argument("--backbone-seeds", type=int, nargs="+", default=[0],
                    help="backbones to run the grid on: 0 is --backbone, others retrain stage 1 with that seed "
                         "on the same features (default 0)")
    ap.add_argument("--stage1-epochs", type=int, default=None, help="stage-1 epochs for --backbone-seeds")
    ap.add_argument("--stage1", default=None, help="JSON TrainConfig overrides: retrain every backbone seed (0 "
                    "included) with them on the same front-end, e.g. '{\"modality_dropout\": 0}'")
    ap.add_argument("--splits", nargs="+", default=["val"], choices=["val", "test", "foreign"],
                    help="splits to score on (default val; test and foreign only for the final report)")
    ap.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    args = ap.parse_args(argv)
    grid = load_grid(Path(args.grid)) if args.grid else None

    import torch

    from edge_rep.checkpoint import load_model, save_model
    from edge_rep.distributed import resolve_device
    from edge_rep.features import prepare
    from edge_rep.train import TrainConfig, fit
    out = refuse_foreign(args.out, TUNE_FOLDER)
    out.mkdir(parents=True, exist_ok=True)
    backbone, meta = load_model(args.backbone)
    feat_path = Path(args.save_features or args.features or out / "features.npz")
    if args.data:
        from edge_rep.dataset import load_dataset, window_arrays
        ds = load_dataset(args.data)
        meta.check_fits(ds.profile, what=args.backbone, data=args.data)     # units and profile
        preps = {s: prepare(backbone, window_arrays(ds.recordings(s), ds.profile), desc=s)
                 for s in dict.fromkeys(("train", "val", *args.splits)) if ds.recordings(s)}
        save_features(feat_path, preps)
        print(f"wrote {feat_path}")
    if not grid:
        return 0
    stage1 = json.loads(args.stage1) if args.stage1 else None
    retrain = set(args.backbone_seeds) if stage1 is not None else set(args.backbone_seeds) - {0}
    backbones = {0: str(Path(args.backbone).resolve())} if 0 in args.backbone_seeds and 0 not in retrain else {}
    with np.load(feat_path, allow_pickle=False) as z:          # the split names only, not the arrays
        have = {k.split(".")[0] for k in z.files}
    if missing := [s for s in ("train", *args.splits) if s not in have]:
        from edge_rep.errors import EdgeRepError
        raise EdgeRepError(f"{feat_path}: no features of the {', '.join(missing)} split(s); write them with "
                           "--data and --save-features (with the same --splits)")
    if retrain:   # other stage-1 seeds (or settings) on the same (already calibrated) front-end
        from edge_rep.model import EdgeREP
        train = load_features(feat_path)["train"]
        for s in sorted(retrain):
            torch.manual_seed(s)
            m = EdgeREP(backbone.cfg, backbone.profile)
            m.frontend.load_state_dict(backbone.frontend.state_dict())
            t0 = time.time()
            s1 = replace(TrainConfig(), seed=s, device=args.device, **(stage1 or {}))
            if args.stage1_epochs:
                s1 = replace(s1, stage1_epochs=args.stage1_epochs)
            fit(m, train, s1, "backbone", "backbone", progress=False)
            path = out / f"backbone-seed{s}.safetensors"
            save_model(m, path)
            backbones[s] = str(path.resolve())
            print(f"stage 1 seed {s}: {time.time() - t0:.1f} s", flush=True)
    device = str(resolve_device(args.device))
    jobs = [{"name": g["name"] + (f" [backbone {b}]" if b else ""), "method": g.get("method", "rep"),
             "model": g.get("model", {}), "train": g.get("train", {}), "missing": t, "seed": s, "backbone_seed": b}
            for g in grid for b in backbones for t in args.types
            for s in (g.get("seeds") or ([0] if g.get("method") in ("zerofill", "mask") else args.seeds))]
    # seed by seed: a run stopped early still holds every variant and type for the seeds it finished (paired)
    jobs.sort(key=lambda j: j["seed"])
    init = {"features": str(feat_path), "backbones": backbones, "eta": args.eta / 100.0, "device": device,
            "splits": args.splits}
    rows = []
    t0 = time.time()
    with open(out / "rows.jsonl", "a") as f:
        if args.workers > 1:
            pool = mp.get_context("spawn").Pool(args.workers, _init, (init,))
            it = pool.imap_unordered(_job, jobs)
        else:
            _init(init)
            it = map(_job, jobs)
        for i, rs in enumerate(it, 1):
            for r in rs:
                rows.append(r)
                f.write(json.dumps(r) + "\n")
            f.flush()
            r = rs[0]
            print(f"[{i}/{len(jobs)} {time.time() - t0:.0f}s] {r['name']} {r['missing']} seed {r['seed']}: "
                  + ", ".join(f"{x['split']} {x['accuracy']:.4f}" for x in rs) + f" ({r['seconds']} s)", flush=True)
    md = summarise(rows)
    (out / "summary.md").write_text(md)
    print(md)
    return 0


def cli(argv: list[str] | None = None) -> int:
    """``main`` with one-line errors and exit code 2 for bad arguments, paths and grid files."""
    from edge_rep.errors import EdgeRepError
    try:
        return main(argv)
    except EdgeRepError as e:
        print(f"tune_rep: error: {e}", file=sys.stderr)
    except OSError as e:
        print(f"tune_rep: error: {e.filename}: {e.strerror}; check the path", file=sys.stderr)
    return 2


def load_grid(path: Path) -> list[dict]:
    """The grid file, checked: known keys, methods, ModelConfig and TrainConfig fields."""
    from dataclasses import fields

    from edge_rep.errors import EdgeRepError
    from edge_rep.model import ModelConfig
    from edge_rep.train import TrainConfig
    try:
        grid = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise EdgeRepError(f"{path}: not JSON ({e}); see benchmarks/grids/rep.json") from None
    known = {"model": {f.name for f in fields(ModelConfig)}, "train": {f.name for f in fields(TrainConfig)}}
    if not isinstance(grid, list) or not all(isinstance(g, dict) and "name" in g for g in grid):
        raise EdgeRepError(f"{path}: a JSON list of objects with a name; see benchmarks/grids/rep.json")
    for g in grid:
        bad = set(g) - {"name", "method", "model", "train", "seeds"}
        bad |= {f"{k}.{f}" for k in known for f in set(g.get(k, {})) - known[k]}
        if g.get("method", "rep") not in METHODS:
            bad.add(f"method {g['method']}")
        if bad:
            raise EdgeRepError(f"{path}: entry '{g['name']}': unknown {', '.join(sorted(bad))}")
    return grid


if __name__ == "__main__":
    raise SystemExit(cli())
