"""The front-end: raw windows (physical units) -> one feature vector per interval per modality.

It lives inside the network (a torch module with fixed buffers and no trainable parameters), so the
exported ONNX/TensorRT graph takes raw windows and nobody can feed it differently from training.
Per modality: NaN/inf -> 0, divide by a fixed input scale, cut each interval into frames, remove each
frame's mean, Hann window, DFT as one fixed real matmul, power, pool bins into log-spaced bands
(fixed matrix), log, normalise each band by the mean/std measured on training data.

Level normalisation (``level_norm``, the default since the model of issue 11): a sensor's gain is never
known to better than a few dB in the field, and a wrong scale is the commonest deployment error. So
each band power is divided by the window's mean band power (per channel) before the log: a gain error
multiplies every power by the same factor and cancels exactly; what is left is the spectral shape and
its course over the window's intervals. The floor that keeps the log finite is relative too
(``REL_EPS`` x the window's power), so quiet windows stay gain-invariant. The window's absolute level
(its mean band power, in dB re the modality's unit after the input scale) can be kept as one more
feature per channel (``level_feature``), in 20 dB units and bounded in the model (``LEVEL_BOUND``). Its
reference (``level_reference``): "floor" (the default since the retrained model of issue 11) is the
site's own running noise floor, given to the graph as the ``above_floor_db`` input (edge_rep/levels.py
computes it from the windows already seen, in training and in the daemon alike), so a gain error cancels
and a quiet site still reads quiet; "absolute" (models of 2026-11-27/28) is the training data's median
level, which a scale error shifts (hence their +-40 dB gain augmentation).
No torch.stft and no data-dependent branches: every op maps to plain ONNX/TensorRT layers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn

from .errors import EdgeRepError
from .profiles import Profile

EPS = 1e-6  # power floor after input scaling (signals are ~1 after `scale`), without level_norm
REL_EPS = 1e-6   # level_norm: power floor relative to the window's mean band power (-60 dB)
TINY = 1e-12     # keeps log() finite for an all-zero (dropped) window: -120 dB re the training level
LEVEL_UNIT = 2 * 2.302585092994046   # the level feature counts 20 dB steps (ln of power: 20 dB = 2 ln 10)
LEVEL_BOUND = 3.0                    # the model clamps the level feature to +-3 steps (+-60 dB)


@dataclass(frozen=True)
class ModalityPlan:
    """Framing and bands of one modality; derived from the profile, stored in the model sidecar."""

    name: str
    channels: int
    sample_rate: float
    intervals: int
    frames: int       # frames per interval
    frame_len: int    # samples per frame
    bands: int        # log-spaced bands per frame
    pool: bool = False  # average the frames' band powers over each interval (Welch) before the log
    level_norm: bool = False     # band powers relative to the window's mean band power (gain-invariant)
    level_feature: bool = False  # plus the window's level per channel as the last `channels` features
    level_reference: str = "absolute"   # the level feature's reference: "absolute" or "floor" (see above)

    @property
    def bins(self) -> int:
        return self.frame_len // 2 + 1

    @property
    def feat_dim(self) -> int:
        """Features of one interval token: channels x frames (1 when pooled) x bands (+ channels levels)."""
        levels = self.channels if self.level_feature else 0
        return self.channels * (1 if self.pool else self.frames) * self.bands + levels


def plan(profile: Profile, frame_s: float = 0.1, max_bands: int = 32, min_frame: int = 16,
         pool: bool = False, level_norm: bool = False, level_feature: bool = False,
         level_reference: str = "absolute") -> list[ModalityPlan]:
    """Frames of about ``frame_s`` seconds (at least ``min_frame`` samples) tiling each interval."""
    out = []
    for m in profile.modalities:
        n = profile.interval_samples(m.name)
        if n < 4:
            raise EdgeRepError(f"profile '{profile.name}': {m.name} intervals hold {n} samples; "
                               "use longer intervals or a higher sampling rate")
        frames = int(max(1, min(round(n / (frame_s * m.sample_rate)), n // min_frame)))
        frame_len = n // frames
        bands = min(max_bands, frame_len // 2 + 1)
        out.append(ModalityPlan(m.name, m.channels, m.sample_rate, profile.intervals, frames, frame_len, bands, pool,
                                level_norm, level_feature and level_norm, level_reference))
    return out


def band_matrix(bins: int, bands: int) -> np.ndarray:
    """(bins, bands) averaging matrix: log-spaced bands, each at least one bin wide, DC in the first."""
    if bands >= bins:
        return np.eye(bins, dtype=np.float32)
    edges = [0]
    geo = np.geomspace(1.0, bins, bands + 1)[1:]
    for i, g in enumerate(geo):
        room = bins - (bands - 1 - i)           # leave at least one bin for each later band
        edges.append(int(min(max(round(g), edges[-1] + 1), room)))
    edges[-1] = bins
    mat = np.zeros((bins, bands), dtype=np.float32)
    for b in range(bands):
        mat[edges[b]:edges[b + 1], b] = 1.0 / (edges[b + 1] - edges[b])
    return mat


def dft_matrix(frame_len: int) -> np.ndarray:
    """(frame_len, 2 * bins) Hann-windowed real DFT: [cos | sin] columns."""
    n = np.arange(frame_len)
    k = np.arange(frame_len // 2 + 1)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * n / frame_len)   # periodic Hann
    ang = 2 * np.pi * np.outer(n, k) / frame_len
    return np.concatenate([hann[:, None] * np.cos(ang), -hann[:, None] * np.sin(ang)], axis=1).astype(np.float32)


class Frontend(nn.Module):
    """Raw windows [B, C_m, N_m] per modality -> features [B, intervals, feat_dim_m] per modality."""

    def __init__(self, plans: list[ModalityPlan]):
        super().__init__()
        self.plans = plans
        for i, p in enumerate(plans):
            self.register_buffer(f"dft{i}", torch.from_numpy(dft_matrix(p.frame_len)))
            self.register_buffer(f"bands{i}", torch.from_numpy(band_matrix(p.bins, p.bands)))
            self.register_buffer(f"scale{i}", torch.ones(p.channels, 1))      # input RMS of training data
            self.register_buffer(f"mean{i}", torch.zeros(p.bands))           # log band energy statistics
            self.register_buffer(f"std{i}", torch.ones(p.bands))
            if p.level_feature and p.level_reference == "absolute":
                self.register_buffer(f"level{i}", torch.zeros(p.channels))    # mean training level (ln power)

    def one(self, i: int, x: torch.Tensor, above_floor: torch.Tensor | None = None) -> torch.Tensor:
        """Modality ``i``'s raw windows [B, C, N] -> [B, intervals, feat_dim]; ``above_floor`` [B] (dB) is
        the window's level above the site's noise floor, needed when the level feature is floor-referenced."""
        p = self.plans[i]
        B = x.shape[0]
        x = torch.where(torch.isfinite(x), x, torch.zeros_like(x)) / getattr(self, f"scale{i}")
        used = p.intervals * p.frames * p.frame_len
        x = x[:, :, :used].reshape(B, p.channels, p.intervals * p.frames, p.frame_len)
        x = x - x.mean(dim=-1, keepdim=True)                       # drop sensor DC offsets
        y = x @ getattr(self, f"dft{i}")
        power = y[..., :p.bins] ** 2 + y[..., p.bins:] ** 2
        power = power @ getattr(self, f"bands{i}")
        if p.pool:
            power = power.reshape(B, p.channels, p.intervals, p.frames, p.bands).mean(dim=3)
        if p.level_norm:
            w = power.mean(dim=(-2, -1), keepdim=True)                # [B, C, 1, 1] window level
            # clamp_min, not "+ TINY": torch.onnx's optimiser drops the addition of so small a constant
            e = torch.log((power + REL_EPS * w).clamp_min(TINY)) - torch.log(w.clamp_min(TINY))
        else:
            e = torch.log(power + EPS)
        e = (e - getattr(self, f"mean{i}")) / getattr(self, f"std{i}")
        e = e.reshape(B, p.channels, p.intervals, -1).transpose(1, 2).reshape(B, p.intervals, -1)
        if p.level_feature and p.level_reference == "floor":     # 20 dB steps above the floor; the model bounds it
            if above_floor is None:
                raise EdgeRepError("front-end: this model's level feature needs above_floor_db (edge_rep/levels.py)")
            lev = (above_floor / 20.0)[:, None].expand(B, p.channels)
            e = torch.cat([e, lev[:, None, :].expand(B, p.intervals, p.channels)], dim=2)
        elif p.level_feature:   # unbounded here (linear in the log gain); the model bounds it
            lev = (torch.log(w[:, :, 0, 0].clamp_min(TINY)) - getattr(self, f"level{i}")) / LEVEL_UNIT   # [B, C]
            e = torch.cat([e, lev[:, None, :].expand(B, p.intervals, p.channels)], dim=2)
        return e

    @property
    def floor_referenced(self) -> bool:
        """Whether the level feature needs the ``above_floor_db`` input."""
        return any(p.level_feature and p.level_reference == "floor" for p in self.plans)

    def forward(self, *xs: torch.Tensor, above_floor: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Raw windows per modality -> features per modality; ``above_floor`` [B, M] dB (floor reference)."""
        return [self.one(i, x, None if above_floor is None else above_floor[:, i]) for i, x in enumerate(xs)]

    @torch.no_grad()
    def calibrate(self, x: dict[str, np.ndarray], present: np.ndarray, limit: int = 4000, seed: int = 0) -> None:
        """Set input scales and band statistics from training windows where the modality is present."""
        rng = np.random.default_rng(seed)
        for i, p in enumerate(self.plans):
            idx = np.flatnonzero(present[:, i])
            if len(idx) == 0:
                raise EdgeRepError(f"training data: no window has {p.name} present; the front-end cannot be "
                                   "calibrated, add complete windows")
            idx = np.sort(rng.choice(idx, size=min(limit, len(idx)), replace=False))
            xi = np.nan_to_num(np.asarray(x[p.name][idx], dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
            rms = np.sqrt(np.mean(xi.astype(np.float64) ** 2, axis=(0, 2)))
            rms = np.where(rms > 0, rms, 1.0)
            getattr(self, f"scale{i}").copy_(torch.from_numpy(rms.astype(np.float32))[:, None])
            getattr(self, f"mean{i}").zero_()
            getattr(self, f"std{i}").fill_(1.0)
            absolute = p.level_feature and p.level_reference == "absolute"
            if absolute:
                getattr(self, f"level{i}").zero_()
            e = self.one(i, torch.from_numpy(xi), torch.zeros(len(xi)))
            n_lev = p.channels if p.level_feature else 0
            bands = e[..., :e.shape[-1] - n_lev].reshape(-1, p.bands)
            getattr(self, f"mean{i}").copy_(bands.mean(0))
            getattr(self, f"std{i}").copy_(bands.std(0).clamp_min(1e-3))
            if absolute:                                 # the level's median, in ln power after the scale
                lev = e[:, 0, -n_lev:] * LEVEL_UNIT
                getattr(self, f"level{i}").copy_(lev.median(dim=0).values)

    def describe(self) -> dict:
        return {"kind": "hann-dft-logbands", "eps": EPS, "rel_eps": REL_EPS, "level_unit": LEVEL_UNIT,
                "level_bound": LEVEL_BOUND, "modalities": [asdict(p) for p in self.plans]}
