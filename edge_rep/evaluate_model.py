"""Score a finished model as it is, no training: ``edge-rep evaluate --model M --data D --out DIR``.

The model runs on the same runtime backends as the daemon (ONNX Runtime, TensorRT or PyTorch), on the
raw windows of a dataset split, for complete windows and for each single modality missing (its samples
zeroed and ``present`` 0, as the daemon feeds a dropped channel). A scenario is scored on the labelled
windows that recorded every modality it keeps: with complete recordings every scenario sees the same
windows; a geophone-only record (a Raspberry Shake) is scored as ``acoustic_missing`` alone.

``DIR/metrics.json`` (format 1; later work adds top-level keys beside ``scenarios``)::

    {"format": 1,
     "model": {"path", "model_id", "backend"}, "data": {"path", "split", "recordings", "windows"},
     "scenarios": {NAME: {"accuracy", "macro_f1", "windows", "mean_confidence", "ece",
                          "per_class": {CLASS: {"precision", "recall", "support"}}, "confusion": [[...]],
                          "reliability": {"edges", "windows", "confidence", "accuracy", "ece"},
                          "uncertain": {"threshold", "target_flagged", "background_flagged",
                                        "nontarget_fitted_kinds": {"windows", "flagged_or_background", "kinds"},
                                        "nontarget_held_out_kinds": {...}} | null}},
     "levels": {MODALITY: {"unit", "band_db": [lo, hi] | null, "median_db", "below", "above", "windows"}}}

NAME is the scenario identifier of the window lines (``complete``, ``acoustic_missing``,
``seismic_missing``). ``levels`` counts the windows whose level (RMS, dB re the unit) lies outside the
band the model's training data covered (edge_rep/levels.py); a wrong sensitivity shows up there.
``ece`` is the expected calibration error (15 equal-width confidence bins) of the probabilities the model
gives (calibrated inside the graph: edge_rep/confidence.py); ``uncertain`` (null for a model without
fitted thresholds) the share of target windows flagged uncertain and of non-target-event windows flagged
or called background. Beside it: ``metrics.md`` (the same as a table), ``confusion_<NAME>.png`` and
``reliability.png``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .backends import load_backend
from .dataset import SPLITS, load_dataset, window_arrays
from .errors import EdgeRepError
from .confidence import nontarget_kind_per_window, reliability
from .levels import accepted_band, window_above_floor, window_level_db
from .metrics import confusion, macro_f1, per_class
from .modelspec import (INPUT_ABOVE_FLOOR, INPUT_BUFFERS, INPUT_PRESENT, INPUT_REPLAY, check_units,
                        single_drop_patterns)
from .outpaths import OutputKind, claim, json_file_has, staged_folder

METRICS_FORMAT = 1
SPLIT_CHOICES = (*SPLITS, "all")
MODEL_EVALUATION = OutputKind("model evaluation folder", folder=True,
                              owned=lambda p: json_file_has(p / "metrics.json", "scenarios"))


def evaluate_model(model: str | os.PathLike | None, data: str | os.PathLike, split: str = "test",
                   backend: str = "auto", gain_db: dict[str, float] | None = None, batch: int = 64,
                   progress: bool = True, uncertain_threshold: float | None = None) -> dict:
    """The metrics.json record for ``model`` (None: the bundled one) on ``split`` of dataset ``data``.
    ``gain_db``: modality -> a gain error applied to the data first (benchmarks/bench_gain.py);
    ``uncertain_threshold``: one threshold for every scenario instead of the model's fitted ones."""
    from tqdm import tqdm

    if split not in SPLIT_CHOICES:
        raise EdgeRepError(f"--split {split}: use one of {', '.join(SPLIT_CHOICES)}")
    be = load_backend(model, backend)
    meta = be.meta
    ds = load_dataset(data)
    check_units(meta, ds.profile, str(data), str(be.path))
    meta.check_fits(ds.profile, what=f"{be.path} on {data}")
    recs = ds.recordings(None if split == "all" else split)
    if not recs:
        raise EdgeRepError(f"{data}: the {split} split holds no recordings; choose another --split")
    arrays = window_arrays(recs, meta.profile)
    mods = meta.modalities
    labelled = arrays.y >= 0
    gains = {m: 10 ** ((gain_db or {}).get(m, 0.0) / 20) for m in mods}
    classes = meta.classes
    L, D = meta.buffer_tokens, meta.width
    # the level above the site's floor: a gain error moves level and floor alike, so it is computed once
    above = window_above_floor(mods, meta.noise_floor, arrays) if meta.floor_referenced else None
    kinds = nontarget_kind_per_window(recs, arrays, meta.profile.window_s)
    scenarios = {}
    for name, pat in single_drop_patterns(mods).items():
        # the windows that recorded every modality this scenario keeps (a seismic-only record is scored
        # with the acoustic missing); with every modality recorded, each scenario sees the same windows
        idx = np.flatnonzero(labelled & arrays.present[:, np.asarray(pat, bool)].all(1))
        if len(idx) == 0:
            continue
        y, probs = arrays.y[idx], []
        for i in tqdm(range(0, len(idx), batch), desc=f"{name}", unit="batch", disable=not progress, leave=False):
            sl = idx[i:i + batch]
            inputs = {m: arrays.x[m][sl] * (gains[m] * pat[k]) for k, m in enumerate(mods)}
            inputs[INPUT_PRESENT] = np.tile(np.asarray(pat, np.float32), (len(sl), 1))
            inputs[INPUT_REPLAY] = np.zeros((len(sl), len(mods)), np.float32)
            inputs[INPUT_BUFFERS] = np.zeros((len(sl), len(mods), L, D), np.float32)
            if above is not None:
                inputs[INPUT_ABOVE_FLOOR] = above[sl] * np.asarray(pat, np.float32)   # 0 for a dropped one
            probs.append(be.run(inputs)["probs"])
        p = np.concatenate(probs)
        pred = p.argmax(1)
        rel = reliability(p, y)
        scenarios[name] = {"accuracy": round(float((pred == y).mean()), 4), "ece": rel["ece"],
                           "macro_f1": round(macro_f1(y, pred, len(classes)), 4), "windows": int(len(y)),
                           "mean_confidence": round(float(p.max(1).mean()), 4),
                           "per_class": {c: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
                                         for c, r in per_class(y, pred, classes).items()},
                           "confusion": confusion(y, pred, len(classes)).tolist(), "reliability": rel,
                           "uncertain": _uncertain(meta, name, p, y, kinds[idx], uncertain_threshold)}
    if not scenarios:
        raise EdgeRepError(f"{data}: no labelled window of the {split} split has a modality this model takes; "
                           "nothing to score")
    levels = {}
    record = meta.extra.get("level_range") or {}
    for k, spec in enumerate(meta.profile.modalities):
        have = np.flatnonzero(labelled & arrays.present[:, k])
        lev = window_level_db(arrays.x[spec.name][have] * gains[spec.name])
        band = accepted_band(record[spec.name]) if spec.name in record else None
        fin = lev[np.isfinite(lev)]
        levels[spec.name] = {"unit": spec.units, "band_db": [round(b, 1) for b in band] if band else None,
                             "median_db": round(float(np.median(fin)), 1) if len(fin) else None,
                             "below": int((lev < band[0]).sum()) if band else None,
                             "above": int((lev > band[1]).sum()) if band else None, "windows": int(len(lev))}
    return {"format": METRICS_FORMAT,
            "model": {"path": str(be.path), "model_id": meta.model_id, "backend": be.name},
            "data": {"path": str(data), "split": split, "recordings": len(recs), "windows": int(labelled.sum()),
                     **({"gain_db": gain_db} if gain_db else {})},
            "scenarios": scenarios, "levels": levels}


def _uncertain(meta, scenario: str, probs: np.ndarray, y: np.ndarray, kinds: np.ndarray,
               override: float | None) -> dict | None:
    """The uncertain flag's figures on one scenario's windows: share of target windows flagged; of
    non-target-event windows (labelled background) flagged or called background, for the event kinds the
    threshold was fitted with and, apart, for kinds held out of fitting (edge_rep/synth_nontarget.py)."""
    from .synth_nontarget import HELD_OUT_KINDS

    fitted = (meta.extra.get("uncertain") or {}).get("threshold") or {}
    thr = override if override is not None else fitted.get(scenario)
    if thr is None:
        return None
    bg = meta.classes.index("background") if "background" in meta.classes else -1
    flagged = probs.max(1) < thr
    target = y != bg
    out = {"threshold": thr, "target_windows": int(target.sum()),
           "target_flagged": round(float(flagged[target].mean()), 4) if target.any() else None,
           "background_flagged": round(float(flagged[~target].mean()), 4) if (~target).any() else None}
    caught = flagged | (probs.argmax(1) == bg)
    # a window during a pass-by is a target window even when a non-target event overlaps it: only background
    # windows count here (calling a pass-by background is no success)
    for group, sel in (("nontarget_fitted_kinds", ~target & (kinds != "") & ~np.isin(kinds, HELD_OUT_KINDS)),
                       ("nontarget_held_out_kinds", ~target & np.isin(kinds, HELD_OUT_KINDS))):
        out[group] = {"windows": int(sel.sum()),
                      "flagged_or_background": round(float(caught[sel].mean()), 4) if sel.any() else None,
                      "kinds": sorted(set(kinds[sel]))}
    return out


def metrics_table(metrics: dict) -> str:
    """metrics.json as a markdown table (one row per scenario, then the level check)."""
    rows = ["| scenario | accuracy | macro-F1 | mean confidence | ECE | targets flagged uncertain | "
            "non-target events flagged or background (fitted kinds / held-out kinds) | windows |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]

    def pct(v):
        return "–" if v is None else f"{100 * v:.1f} %"

    for name, s in metrics["scenarios"].items():
        u = s.get("uncertain") or {}
        nt = (f"{pct((u.get('nontarget_fitted_kinds') or {}).get('flagged_or_background'))} / "
              f"{pct((u.get('nontarget_held_out_kinds') or {}).get('flagged_or_background'))}") if u else "–"
        ece_s = "–" if s.get("ece") is None else f"{s['ece']:.3f}"
        rows.append(f"| {name} | {s['accuracy']:.3f} | {s['macro_f1']:.3f} | {s['mean_confidence']:.3f} | {ece_s} "
                    f"| {pct(u.get('target_flagged')) if u else '–'} | {nt} | {s['windows']} |")
    rows += ["", "| modality | median level (dB re unit) | training band (dB) | below | above |",
             "| --- | --- | --- | --- | --- |"]
    for m, lv in metrics["levels"].items():
        band = f"{lv['band_db'][0]} .. {lv['band_db'][1]}" if lv["band_db"] else "not recorded"
        rows.append(f"| {m} ({lv['unit']}) | {lv['median_db']} | {band} | {lv['below']} | {lv['above']} |")
    if "detections" in metrics:                    # evaluate --detections (evaluate_detections.py)
        from .evaluate_detections import detections_table
        rows += ["", detections_table(metrics["detections"]).rstrip("\n")]
    return "\n".join(rows) + "\n"


def write_report(out: str | os.PathLike, metrics: dict, force: bool = False) -> Path:
    """DIR/metrics.json, metrics.md and one confusion PNG per scenario, written atomically."""
    from .plots import plot_confusion, plot_reliability

    out = claim(out, MODEL_EVALUATION, force)
    classes = tuple(next(iter(metrics["scenarios"].values()))["per_class"])
    with staged_folder(out) as tmp:
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
        (tmp / "metrics.md").write_text(metrics_table(metrics))
        for name, s in metrics["scenarios"].items():
            plot_confusion(tmp / f"confusion_{name}.png", s["confusion"], classes,
                           f"{name} ({metrics['data']['split']} split, {s['windows']} windows)")
        plot_reliability(tmp / "reliability.png", {n: s["reliability"] for n, s in metrics["scenarios"].items()},
                         f"reliability ({metrics['data']['split']} split, 15 bins)")
    return out
