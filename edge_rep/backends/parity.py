"""Output parity between two runtimes of one model, over every missing scenario, cached-buffer
replay and random inputs. Used by the exporter (ONNX Runtime vs PyTorch, TensorRT vs ONNX Runtime)
and the backend benchmark. No torch."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import EdgeRepError
from ..modelspec import (INPUT_ABOVE_FLOOR, INPUT_BUFFERS, INPUT_PRESENT, INPUT_REPLAY, OUTPUT_BUFFERS,
                         OUTPUT_PROBS, ModelMeta)

RunFn = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def _signals(meta: ModelMeta, batch: int, rng: np.random.Generator, scales: dict[str, float]) -> dict:
    """Noise plus a tone per window, in physical units around each modality's input scale."""
    x = {}
    for m in meta.profile.modalities:
        n = meta.profile.window_samples(m.name)
        t = np.arange(n) / m.sample_rate
        f = rng.uniform(0.05, 0.4, size=(batch, m.channels, 1)) * m.sample_rate
        tone = rng.uniform(0.5, 3.0, size=(batch, m.channels, 1)) * np.sin(2 * np.pi * f * t)
        x[m.name] = (scales.get(m.name, 1.0) * (tone + rng.normal(size=(batch, m.channels, n)))).astype(np.float32)
    return x


def scenario_inputs(meta: ModelMeta, reference: RunFn, batch: int = 2, seed: int = 0,
                    scales: dict[str, float] | None = None) -> list[tuple[str, dict[str, np.ndarray]]]:
    """(label, inputs) for: complete; each modality missing (zeros, no replay); each modality missing
    and replayed from the buffers ``reference`` cached on the complete windows; random masks and buffers."""
    rng = np.random.default_rng(seed)
    scales = scales or {}
    mods = meta.modalities
    M, L, D = len(mods), meta.buffer_tokens, meta.width
    base = _signals(meta, batch, rng, scales)
    above = rng.uniform(-10.0, 50.0, size=(batch, M))     # dB above the noise floor: quiet to a close pass-by

    def inputs(present: np.ndarray, replay: np.ndarray, buffers: np.ndarray, sig: dict) -> dict:
        x = {k: v * present[:, i, None, None] for i, (k, v) in enumerate(sig.items())}  # missing -> zeros
        x.update({INPUT_PRESENT: present.astype(np.float32), INPUT_REPLAY: replay.astype(np.float32),
                  INPUT_BUFFERS: buffers.astype(np.float32)})
        if meta.floor_referenced:
            x[INPUT_ABOVE_FLOOR] = (above * present).astype(np.float32)
        return x

    ones, zeros = np.ones((batch, M)), np.zeros((batch, M))
    no_buf = np.zeros((batch, M, L, D), np.float32)
    out = [("complete", inputs(ones, zeros, no_buf, base))]
    cached = reference(out[0][1])[OUTPUT_BUFFERS]
    for i, name in enumerate(mods):
        present = ones.copy()
        present[:, i] = 0
        out.append((f"{name}_missing", inputs(present, zeros, no_buf, base)))              # modelspec.scenario_name
        out.append((f"{name}_missing+replay", inputs(present, 1 - present, cached, base)))
    present = (rng.random((batch, M)) < 0.6).astype(np.float64)
    present[np.arange(batch), rng.integers(0, M, batch)] = 1           # at least one modality present
    replay = (1 - present) * (rng.random((batch, M)) < 0.5)
    out.append(("random", inputs(present, replay, rng.normal(size=(batch, M, L, D)),
                                 _signals(meta, batch, rng, scales))))
    return out


def compare(meta: ModelMeta, reference: RunFn, candidate: RunFn, tol: float = 1e-4, batch: int = 2,
            seed: int = 0, scales: dict[str, float] | None = None, what: str = "candidate") -> list[dict]:
    """Largest absolute differences of ``probs`` (and of ``buffers_out``, relative to their scale) per
    scenario; raises an EdgeRepError when a probability differs by more than ``tol`` or a buffer by
    more than ``10 * tol`` of the buffers' scale (buffers are replayed later, so they must match too)."""
    rows = []
    for label, x in scenario_inputs(meta, reference, batch, seed, scales):
        ref, got = reference(x), candidate(x)
        p_ref, p_got = ref[OUTPUT_PROBS], got[OUTPUT_PROBS]
        if p_got.shape != p_ref.shape or got[OUTPUT_BUFFERS].shape != ref[OUTPUT_BUFFERS].shape:
            raise EdgeRepError(f"{what}: output shapes {p_got.shape}, {got[OUTPUT_BUFFERS].shape} differ from the "
                               f"reference's {p_ref.shape}, {ref[OUTPUT_BUFFERS].shape}; re-export the model")
        b_ref = ref[OUTPUT_BUFFERS]
        rows.append({"scenario": label,
                     "probs_max_abs": float(np.max(np.abs(p_got - p_ref))),
                     "buffers_max_rel": float(np.max(np.abs(got[OUTPUT_BUFFERS] - b_ref))
                                              / max(1.0, float(np.max(np.abs(b_ref)))))})
    bad = [r for r in rows if not np.isfinite(r["probs_max_abs"]) or r["probs_max_abs"] > tol]
    # NaN first (max() over NaNs picks at random), then the largest difference
    worst = max(bad or rows, key=lambda r: (not np.isfinite(r["probs_max_abs"]), np.nan_to_num(r["probs_max_abs"])))
    worst_buf = max(rows, key=lambda r: r["buffers_max_rel"])
    if not bad and not worst_buf["buffers_max_rel"] <= 10 * tol:
        raise EdgeRepError(f"{what}: cached buffers differ from the reference by {worst_buf['buffers_max_rel']:.3g} "
                           f"of their scale (scenario '{worst_buf['scenario']}') > {10 * tol:g}; the export is not "
                           "faithful, report it with the model config")
    if bad:
        raise EdgeRepError(f"{what}: probabilities differ from the reference by {worst['probs_max_abs']:.3g} "
                           f"(scenario '{worst['scenario']}') > tolerance {tol:g}; the export is not faithful, "
                           "report it with the model config")
    return rows


def format_rows(rows: list[dict]) -> str:
    """A small table of ``compare`` rows for the console."""
    w = max([len("scenario")] + [len(r["scenario"]) for r in rows])
    lines = [f"  {'scenario':<{w}} {'max |dprobs|':>12} {'max |dbuf|/scale':>17}"]
    lines += [f"  {r['scenario']:<{w}} {r['probs_max_abs']:>12.3g} {r['buffers_max_rel']:>17.3g}" for r in rows]
    return "\n".join(lines)
