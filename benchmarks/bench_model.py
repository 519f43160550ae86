"""Model size and cost per window: parameters, MFLOPs (torch.utils.flop_counter), REP's trainable share,
CPU latency. Uses the bundled default model when present, else a fresh default-config model."""

from __future__ import annotations

import functools
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

TITLE = "Model: parameters, MFLOPs per window, REP trainable share, CPU latency"


def _mflops(fn) -> float:
    with FlopCounterMode(display=False) as fc:
        fn()
    return fc.get_total_flops() / 1e6


def run(quick: bool) -> list[dict]:
    from edge_rep.checkpoint import default_model_path, load_model
    from edge_rep.model import EdgeREP, ModelConfig
    from edge_rep.profiles import MOD

    torch.set_num_threads(1)
    if default_model_path().is_file():
        model, meta = load_model()
        source = f"bundled default ({meta.model_id})"
    else:
        model, source = EdgeREP(ModelConfig(), MOD).eval(), "fresh default config"
    rows = []
    for variant in ("rep", "backbone only"):
        cfg = model.cfg if variant == "rep" else ModelConfig(**{**model.cfg.to_dict(), "rep": False})
        m = model if variant == "rep" else EdgeREP(cfg, model.profile).eval()
        x = m.example_inputs(1)
        with torch.no_grad():
            total = _mflops(functools.partial(m, *x))
            above = x[-1] if m.frontend.floor_referenced else None      # above_floor_db, the last input
            front = _mflops(functools.partial(m.frontend, *x[:m.n_mod], above_floor=above))
            m.set_trainable("adapter")
            counts = m.count_parameters()
            m.set_trainable("all")
            xb = m.example_inputs(16)
            reps = 5 if quick else 30
            m(*xb)
            t0 = time.perf_counter()
            for _ in range(reps):
                m(*xb)
            ms = (time.perf_counter() - t0) / reps / 16 * 1e3
        rows.append({"model": variant, "source": source, "params_total": counts["total"],
                     "params_backbone": counts["backbone"],
                     "trainable_adapter": counts["trainable"] if variant == "rep" else 0,
                     "trainable_pct_of_backbone": round(100 * counts["trainable"] / counts["backbone"], 2)
                     if variant == "rep" else 0.0,
                     "mflops_per_window": round(total, 3), "mflops_frontend": round(front, 3),
                     "mflops_network": round(total - front, 3), "cpu_ms_per_window_b16_1thread": round(ms, 3)})
    return rows
