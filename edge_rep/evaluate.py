"""Evaluation: the paper's table on our data, the REP ablations, and the replay measurement.

Protocol (MAP/DCP/REP): the same missing rate eta and type in training and test; the test set's
missing pattern is drawn once per (eta, type) with a fixed seed, so every method sees the same windows
with the same modality missing. One stage-1 backbone (complete data) is shared by every cell.

Methods:
  zerofill  the complete-data backbone, the missing modality zero-filled and presented as if present
  mask      the same backbone, missing modality's tokens hidden by the mask (no training; a reference)
  finetune  full fine-tune of the backbone with modality dropout (the missing protocol)
  map       MAP-style missing-aware prompts per scenario in the first layers, frozen backbone
  dcp       DCP-style deep correlated prompts (scenario + common + input-conditioned, each layer's made
            from the previous layer's), frozen backbone
  rep       REP, frozen backbone
Replay measurement: on test windows whose modality is missing while the earlier window (1..3 hops
back, same recording) had it, REP with the buffers cached on that window (replay=1) against REP with
its scenario's learned buffers (replay=0), and every other method of the cell on the same windows.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from .errors import EdgeRepError
from .features import Prepared, earlier_window, prepare, simulate_missing
from .model import EdgeREP, ModelConfig
from .outpaths import OutputKind, json_file_has
from .plots import plot_confusion
from .scoring import predict, score
from .train import TrainConfig, train_adapter, train_backbone

EVAL_METHODS = ("zerofill", "mask", "finetune", "map", "dcp", "rep")
ABLATIONS: dict[str, dict] = {
    "REP (full)": {},
    "no bypass": {"bypass": False},
    "private only": {"shared": False},
    "shared only": {"private": False},
    "no orthogonality loss": {"ortho_weight": 0.0},
    "random init": {"init": "random"},
    "zero init": {"init": "zero"},
    "replay layer k=1": {"rep_layer": 1},
    "replay layer k=3": {"rep_layer": 3},
}


def test_presence(prep: Prepared, eta: float, missing: str, modalities: tuple[str, ...], seed: int) -> torch.Tensor:
    rng = np.random.default_rng([seed, 999, int(round(eta * 100)), (modalities + ("both",)).index(missing)])
    sim = torch.from_numpy(simulate_missing(len(prep), eta, missing, modalities, rng))
    rec = torch.from_numpy(prep.present.astype(np.float32))
    p = rec * sim
    none = p.sum(1) == 0
    p[none] = rec[none]
    return p


def train_and_score(backbone: EdgeREP, train_prep: Prepared, test_prep: Prepared, present: torch.Tensor,
                    method: str, tc: TrainConfig, cfg: ModelConfig | None = None, progress: bool = False
                    ) -> tuple[EdgeREP, dict]:
    """Train ``method``'s stage 2 (mask: the untrained backbone, told what is missing) and score it on
    ``test_prep`` under ``present``: (model, score + ``trainable`` parameters + ``seconds`` of training)."""
    t0 = time.time()
    model, _ = train_adapter(backbone, train_prep, "zerofill" if method == "mask" else method, tc, cfg=cfg,
                             progress=progress)
    secs = round(time.time() - t0, 1)
    model.set_trainable("backbone" if method == "finetune" else "adapter")
    counts = model.count_parameters()
    model.set_trainable("all")
    sc = score(model, test_prep, present, method)
    sc.update(trainable=counts["trainable"] if method in ("rep", "map", "dcp", "finetune") else 0,
              backbone_params=counts["backbone"], seconds=secs)
    return model, sc


@torch.no_grad()
def replay_gain(model: EdgeREP, prep: Prepared, present: torch.Tensor, max_lag: int = 3,
                others: dict[str, np.ndarray] | None = None) -> list[dict]:
    """Accuracy on windows with a dropped modality: learned buffers (replay=0) vs an earlier window's cached
    ones; ``others`` (method -> predictions per window of ``prep``) are scored on the same windows."""
    rows = []
    for lag in range(1, max_lag + 1):
        prev = earlier_window(prep.rec, prep.start, lag)
        cand = np.flatnonzero((prep.y >= 0) & (prev >= 0) & (present.numpy() < 1).any(1))
        src = prev[cand]
        src_present = torch.from_numpy(prep.present[src].astype(np.float32))
        use = (1 - present[cand]) * src_present
        keep = use.sum(1) > 0
        cand, src, src_present, use = cand[keep.numpy()], src[keep.numpy()], src_present[keep], use[keep]
        if len(cand) == 0:
            continue
        _, cached = predict(model, prep, src, src_present, "rep")
        y = prep.y[cand]
        p0, _ = predict(model, prep, cand, present[cand], "rep")
        p1, _ = predict(model, prep, cand, present[cand], "rep", replay=use, buffers_in=cached * use[:, :, None, None])
        rows.append({"lag_windows": lag, "windows": len(cand), "acc_learned_buffers": float((p0 == y).mean()),
                     "acc_replayed_buffers": float((p1 == y).mean()),
                     **{f"acc_{m}": float((pred[cand] == y).mean()) for m, pred in (others or {}).items()}})
    return rows


def write_table(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with open(path.with_suffix(".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)

    def cell(v):
        return f"{v:.4f}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in cols) + " |" for r in rows]
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")


def plot(out: Path, rows: list[dict], confusion_mat: list[list[int]] | None, classes: tuple[str, ...]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    types = list(dict.fromkeys(r["missing"] for r in rows)) or ["both"]
    fig, axes = plt.subplots(1, len(types), figsize=(4.3 * len(types), 4), sharey=True, squeeze=False)
    axes = axes[0]
    for ax, t in zip(axes, types):
        for m in dict.fromkeys(r["method"] for r in rows):
            pts = sorted((r["eta"], r["accuracy"]) for r in rows if r["method"] == m and r["missing"] == t)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=m)
        ax.set_title("either missing (50/50 mix)" if t == "both" else f"{t} missing")
        ax.set_xlabel("missing rate eta (%)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out / "accuracy_vs_eta.png", dpi=100)
    plt.close(fig)
    if confusion_mat is not None:
        plot_confusion(out / "confusion_rep.png", confusion_mat, classes, "REP confusion (eta 70%, both)")


# An evaluation folder: what ``evaluate`` writes (results.json with its rows).
EVALUATION = OutputKind("evaluation folder", folder=True, owned=lambda p: json_file_has(p / "results.json", "rows"))


def evaluate(train_arrays, test_arrays, profile, out: str | Path, cfg: ModelConfig, tc: TrainConfig,
             etas: tuple[float, ...] = (0.5, 0.7, 0.9), types: tuple[str, ...] = ("acoustic", "seismic", "both"),
             methods: tuple[str, ...] = EVAL_METHODS, ablations: bool = True, backbone: EdgeREP | None = None,
             progress: bool = True) -> dict:
    """Run the table (and ablations at eta 70% / both) and write markdown, CSV, PNGs and JSON to ``out``."""
    from tqdm import tqdm

    from .checkpoint import save_model

    unknown = [m for m in methods if m not in EVAL_METHODS]
    if unknown:
        raise EdgeRepError(f"--methods {','.join(unknown)}: unknown; use some of {', '.join(EVAL_METHODS)}")
    for t in types:
        if t != "both" and t not in profile.modality_names:
            raise EdgeRepError(f"missing type '{t}': use one of {', '.join(profile.modality_names)} or both")
    methods = tuple(sorted(methods, key=lambda m: m == "rep"))   # rep last: its replay rows compare the others
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if backbone is None:
        backbone, train_prep, s1 = train_backbone(cfg, profile, train_arrays, tc, out, progress=progress)
        save_model(backbone, out / "backbone.safetensors", extra={"stage1": s1})
    else:
        train_prep = prepare(backbone, train_arrays, progress=progress)
    stage1_s = round(time.time() - t0, 1)
    test_prep = prepare(backbone, test_arrays, progress=progress, desc="front-end (test)")
    if not (test_prep.y >= 0).any():
        raise EdgeRepError("test split: no labelled windows to score; use a dataset with a labelled test split")
    rows, replay_rows, conf = [], [], None
    cells = [(eta, t) for eta in etas for t in types]
    for eta, t in tqdm(cells, desc="table", unit="cell", disable=not progress):
        ctc = replace(tc, eta=eta, missing=t)
        present = test_presence(test_prep, eta, t, profile.modality_names, tc.seed)
        preds: dict[str, np.ndarray] = {}   # this cell's predictions per method (methods before rep)
        for m in methods:
            model, sc = train_and_score(backbone, train_prep, test_prep, present, m, ctc, progress=progress)
            preds[m] = sc["pred"]
            rows.append({"eta": int(round(eta * 100)), "missing": t, "method": m, "accuracy": sc["accuracy"],
                         "macro_f1": sc["macro_f1"], "trainable_params": sc["trainable"],
                         "trainable_pct_of_backbone": round(100.0 * sc["trainable"] / sc["backbone_params"], 2),
                         "train_seconds": sc["seconds"]})
            if m == "rep":
                if abs(eta - 0.7) < 1e-6 and t == "both":
                    conf = sc["confusion"]
                others = {k: v for k, v in preds.items() if k != "rep"}
                for r in replay_gain(model, test_prep, present, others=others):
                    replay_rows.append({"eta": int(round(eta * 100)), "missing": t, **r})
        write_table(out / "table", rows)
        write_table(out / "replay", replay_rows)
    abl_rows = []
    if ablations and "rep" in methods:
        eta, t = (0.7, "both") if 0.7 in etas or not etas else (etas[0], types[-1])
        ctc = replace(tc, eta=eta, missing=t)
        present = test_presence(test_prep, eta, t, profile.modality_names, tc.seed)
        for name, change in tqdm(list(ABLATIONS.items()), desc="ablations", unit="run", disable=not progress):
            acfg = replace(backbone.cfg, rep=True, map_prompts=0, **change)
            if acfg.rep_layer >= acfg.n_layer:
                continue
            _, sc = train_and_score(backbone, train_prep, test_prep, present, "rep", ctc, cfg=acfg, progress=progress)
            abl_rows.append({"variant": name, "eta": int(round(eta * 100)), "missing": t,
                             "accuracy": sc["accuracy"], "macro_f1": sc["macro_f1"],
                             "trainable_params": sc["trainable"], "train_seconds": sc["seconds"]})
            write_table(out / "ablation", abl_rows)
    plot(out, rows, conf, profile.classes)
    bc = backbone.count_parameters()
    summary = {"rows": rows, "ablation": abl_rows, "replay": replay_rows, "stage1_seconds": stage1_s,
               "backbone_parameters": bc["backbone"], "train_config": asdict(tc), "model_config": cfg.to_dict(),
               "train_windows": len(train_prep), "test_windows": len(test_prep),
               "seconds": round(time.time() - t0, 1)}
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
