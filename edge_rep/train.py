"""Training: stage 1 the backbone on complete windows, stage 2 an adaptation under simulated missing
modalities (REP, or a baseline), following the MAP/DCP/REP protocol.

Missing protocol: a share ``eta`` of the windows lose a modality; ``missing`` names which one, or
"both" = a 50/50 (uniform) mix of single-modality absences over that share. REP also trains its replay
path: for a window with a missing modality, with probability ``replay_prob`` the buffers cached from
an earlier window (1..replay_max_lag hops back, same recording, modality present) are fed with replay=1,
exactly as the daemon does when a channel drops.

The loops run on front-end features computed once per dataset (edge_rep/features.py). Under ``torchrun
--nproc_per_node N`` they use DistributedDataParallel (edge_rep/distributed.py): each rank takes every
N-th window of the epoch's permutation; rank 0 writes files.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from .checkpoint import load_training_state, save_model, save_training_state
from .distributed import dist_info, init_distributed, resolve_device
from .errors import EdgeRepError
from .features import Prepared, batch_feats, earlier_window, gain_augment, prepare, simulate_missing, to_device
from .levels import level_range
from .model import EdgeREP, ModelConfig
from .modelspec import MODEL_FILE, ModelMeta, sidecar_path
from .outpaths import OutputKind, claim, refuse_foreign
from .profiles import Profile
from .scoring import scenario_logits, scenario_scores

METHODS = ("rep", "finetune", "map", "dcp", "zerofill")
PROMPT_METHODS = ("rep", "map", "dcp")   # a frozen backbone with few trained parameters on top
# Learning rate of stage 1 when fine-tuning a trained model (train --init-from): a quarter of the default, so
# a few minutes of site data adjust the backbone without erasing it (benchmarks/bench_adaptation.py)
FINETUNE_LR = 5e-4


@dataclass
class TrainConfig:
    stage1_epochs: int = 12
    stage2_epochs: int = 6
    batch_size: int = 128
    lr: float = 2e-3            # stage 1 and full fine-tune
    adapter_lr: float = 1e-2    # REP / MAP (few parameters, frozen backbone)
    weight_decay: float = 0.05
    warmup_steps: int = 50
    eta: float = 0.7            # missing rate
    missing: str = "both"       # a modality name, or "both"
    replay_prob: float = 0.3
    replay_max_lag: int = 3
    gain_db: float = 40.0       # augmentation: random gain per window and modality, +-gain_db (sites differ,
                                # scales are set wrong): covers the +-30 dB a deployment must survive
    modality_dropout: float = 0.5   # stage 1: share of complete windows that lose one modality (masked), so
                                    # the frozen backbone gives useful features from each modality alone
    seed: int = 0
    device: str = "auto"        # auto (cuda when available), cpu, cuda, cuda:N

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


class _Step(nn.Module):
    """Routes forward_features through forward, so DistributedDataParallel sees (and syncs) the step."""

    def __init__(self, model: EdgeREP):
        super().__init__()
        self.model = model

    def forward(self, feats, present, replay, buffers_in, adapt: bool):
        return self.model.forward_features(feats, present, replay, buffers_in, adapt=adapt)


def _lr_at(step: int, total: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


# ---- the loop -----------------------------------------------------------------------------------

def fit(model: EdgeREP, prep: Prepared, tc: TrainConfig, stage: str, method: str,
        ckpt: Path | None = None, resume: dict | None = None, progress: bool = True) -> dict:
    """Train ``model`` in place. stage "backbone": complete labelled windows, bare backbone.
    stage "adapt": simulated missing modalities; ``method`` rep | map | finetune.

    ``resume`` = (training state, optimizer state) from ``load_training_state``. Returns a summary."""
    rank, world = dist_info()
    M = model.n_mod
    dev = resolve_device(tc.device)
    model.to(dev)
    prep = to_device(prep, dev)
    adapt = stage == "adapt" and method in PROMPT_METHODS
    model.set_trainable("adapter" if adapt else "backbone")
    if stage == "adapt" and method == "finetune":
        model.set_trainable("backbone")
    params = [p for p in model.parameters() if p.requires_grad]
    lr = tc.adapter_lr if adapt else tc.lr
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=tc.weight_decay if not adapt else 0.0)
    epochs = tc.stage1_epochs if stage == "backbone" else tc.stage2_epochs
    start_epoch, last = 0, {}
    if resume is not None:
        state, opt_state = resume
        if state.get("stage") == stage and state.get("method") == method:
            opt.load_state_dict(opt_state)
            start_epoch = int(state.get("epoch", 0))
            last = {k: v for k, v in state.items() if k != "train_config"}
    step_mod: nn.Module = _Step(model)
    if world > 1:
        step_mod = nn.parallel.DistributedDataParallel(
            step_mod, device_ids=[dev.index] if dev.type == "cuda" else None, find_unused_parameters=True)

    labelled = prep.y >= 0
    if stage == "backbone":
        pool = np.flatnonzero(labelled & prep.present.all(axis=1))
    else:
        pool = np.flatnonzero(labelled & prep.present.any(axis=1))
    if len(pool) == 0:
        raise EdgeRepError("training data: no labelled windows to train on; check the dataset's labels")
    prevs = [earlier_window(prep.rec, prep.start, lag) for lag in range(1, tc.replay_max_lag + 1)]
    y_all = torch.from_numpy(prep.y).to(dev)
    per_rank = len(pool[rank::world])
    steps_per_epoch = max(1, math.ceil(per_rank / tc.batch_size))
    total = epochs * steps_per_epoch
    L, D = model.cfg.buffer_tokens, model.cfg.width
    t0 = time.time()
    for epoch in range(start_epoch, epochs):
        model.train()
        rng = np.random.default_rng([tc.seed, epoch, 0 if stage == "backbone" else 1])
        perm = pool[rng.permutation(len(pool))][rank::world][:steps_per_epoch * tc.batch_size]
        # every rank runs the same number of steps (DDP needs matching collectives)
        perm = np.resize(perm, steps_per_epoch * tc.batch_size) if len(perm) else perm
        bar = tqdm(range(steps_per_epoch), desc=f"{stage}:{method} {epoch + 1}/{epochs}", unit="step",
                   disable=not progress or rank != 0, leave=False)
        tot_loss, correct, seen = 0.0, 0, 0
        for s in bar:
            idx = perm[s * tc.batch_size:(s + 1) * tc.batch_size]
            B = len(idx)
            rec_present = torch.from_numpy(prep.present[idx].astype(np.float32)).to(dev)
            if stage == "backbone":
                present = rec_present
                if tc.modality_dropout > 0:
                    drop = simulate_missing(B, tc.modality_dropout, "both", model.modalities, rng)
                    present = rec_present * torch.from_numpy(drop).to(dev)
            else:
                sim = torch.from_numpy(simulate_missing(B, tc.eta, tc.missing, model.modalities, rng)).to(dev)
                present = rec_present * sim
                present[present.sum(1) == 0] = rec_present[present.sum(1) == 0]  # keep at least one
            replay = torch.zeros(B, M, device=dev)
            buffers_in = torch.zeros(B, M, L, D, device=dev)
            if adapt and method == "rep" and model.cfg.rep and tc.replay_prob > 0:
                replay, buffers_in = _replay_batch(model, prep, idx, present, prevs, tc, rng)
            feats = batch_feats(prep, idx, present)
            if tc.gain_db > 0:
                feats = gain_augment(model, feats, present, tc.gain_db, rng)
            step = epoch * steps_per_epoch + s
            for g in opt.param_groups:
                g["lr"] = _lr_at(step, total, lr, tc.warmup_steps)
            logits, _, ortho = step_mod(feats, present, replay, buffers_in, adapt)
            y = y_all[idx]
            loss = F.cross_entropy(logits, y)
            if adapt and method == "rep":
                loss = loss + model.cfg.ortho_weight * ortho
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            tot_loss += float(loss.detach()) * B
            correct += int((logits.argmax(1) == y).sum())
            seen += B
            bar.set_postfix(loss=f"{tot_loss / seen:.3f}", acc=f"{correct / seen:.3f}")
        last = {"stage": stage, "method": method, "epoch": epoch + 1, "loss": round(tot_loss / max(seen, 1), 4),
                "train_acc": round(correct / max(seen, 1), 4), "seconds": round(time.time() - t0, 1)}
        if ckpt is not None and rank == 0:
            save_training_state(ckpt, model, opt, {**last, "train_config": asdict(tc)})
        if progress and rank == 0:
            tqdm.write(f"{stage}:{method} epoch {epoch + 1}/{epochs} loss {last['loss']} acc {last['train_acc']}")
    model.eval()
    model.set_trainable("all")
    model.to("cpu")
    return last


@torch.no_grad()
def _replay_batch(model: EdgeREP, prep: Prepared, idx: np.ndarray, present: torch.Tensor,
                  prevs: list[np.ndarray], tc: TrainConfig, rng: np.random.Generator
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """For some missing modalities, the buffers the model cached on an earlier window of the same recording."""
    B, M = present.shape
    L, D = model.cfg.buffer_tokens, model.cfg.width
    dev = present.device
    replay = torch.zeros(B, M, device=dev)
    buffers_in = torch.zeros(B, M, L, D, device=dev)
    lag = rng.integers(0, len(prevs), B)
    src = np.array([prevs[l][i] for l, i in zip(lag, idx)])
    ok = (src >= 0) & (rng.random(B) < tc.replay_prob) & (present.cpu().numpy() < 1).any(1)
    if not ok.any():
        return replay, buffers_in
    rows = np.flatnonzero(ok)
    s = src[rows]
    src_present = torch.from_numpy(prep.present[s].astype(np.float32)).to(dev)
    was = model.training
    model.eval()
    _, buf, _ = model.forward_features(batch_feats(prep, s, src_present), src_present,
                                       torch.zeros(len(rows), M, device=dev),
                                       torch.zeros(len(rows), M, L, D, device=dev))
    model.train(was)
    use = (1 - present[rows]) * src_present          # missing now, present in the earlier window
    replay[rows] = use
    buffers_in[rows] = buf * use[:, :, None, None]
    return replay, buffers_in


# ---- the two stages, end to end -------------------------------------------------------------------

def method_config(base: ModelConfig, method: str) -> ModelConfig:
    """The model config a method's stage 2 uses (the backbone fields stay as trained)."""
    if method == "rep":
        return replace(base, rep=True, map_prompts=0, dcp_prompts=0)
    if method == "map":
        return replace(base, rep=False, map_prompts=base.map_prompts or base.buffer_tokens, dcp_prompts=0)
    if method == "dcp":
        return replace(base, rep=False, map_prompts=0, dcp_prompts=base.dcp_prompts or base.buffer_tokens)
    if method in ("finetune", "zerofill"):
        return replace(base, rep=False, map_prompts=0, dcp_prompts=0)
    raise EdgeRepError(f"method '{method}': use one of {', '.join(METHODS)}")


def from_backbone(backbone: EdgeREP, cfg: ModelConfig) -> EdgeREP:
    """A new model with ``cfg`` that carries ``backbone``'s trained backbone and front-end."""
    model = EdgeREP(cfg, backbone.profile)
    keep = set(backbone.backbone_parameter_names()) | {n for n, _ in backbone.named_buffers()}
    state = {k: v for k, v in backbone.state_dict().items() if k in keep}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected:
        raise EdgeRepError(f"backbone does not fit the method's config ({unexpected[:3]}); "
                           "use the same backbone fields")
    return model


def resumed(ckpt: Path | None, resume: bool) -> tuple[EdgeREP | None, tuple | None]:
    """(model, (state, optimizer state)) from a run folder's training checkpoint when resuming, else (None, None)."""
    if resume and ckpt is not None and ckpt.is_file():
        model, state, opt_state = load_training_state(ckpt)
        return model, (state, opt_state)
    return None, None


def load_init(init_from: str | Path, profile: Profile, data: str = "the data") -> tuple[EdgeREP, dict]:
    """Site adaptation: the trained model to continue training from (``"bundled"``: the bundled one), checked
    against the dataset's profile, units and classes -> (model, its record for the new sidecar)."""
    from .checkpoint import default_model_path, load_model
    path = default_model_path() if str(init_from) in ("bundled", "default") else Path(init_from)
    model, meta = load_model(path, profile=profile, data=data)
    return model, {"model_id": meta.model_id, "path": str(path)}


def train_backbone(cfg: ModelConfig, profile: Profile, train_arrays, tc: TrainConfig, out: Path | None = None,
                   resume: bool = False, progress: bool = True,
                   init: EdgeREP | None = None) -> tuple[EdgeREP, Prepared, dict]:
    """Stage 1: calibrate the front-end on the training windows, then train the backbone on complete ones.
    ``init``: a trained model to continue from instead (its weights and front-end calibration are kept)."""
    torch.manual_seed(tc.seed)
    ckpt = out / "stage1.train.safetensors" if out else None
    model, res = resumed(ckpt, resume)
    if model is None and init is not None:
        model = init
    elif model is None:
        model = EdgeREP(cfg, profile)
        model.frontend.calibrate(train_arrays.x, np.asarray(train_arrays.present, bool), seed=tc.seed)
    prep = prepare(model, train_arrays, progress=progress)
    summary = fit(model, prep, tc, "backbone", "backbone", ckpt, res, progress)
    return model, prep, summary


def train_adapter(backbone: EdgeREP, prep: Prepared, method: str, tc: TrainConfig, cfg: ModelConfig | None = None,
                  out: Path | None = None, resume: bool = False, progress: bool = True) -> tuple[EdgeREP, dict]:
    """Stage 2 for ``method`` on top of a trained backbone (zerofill: no training)."""
    torch.manual_seed(tc.seed + 1)
    mcfg = cfg if cfg is not None else method_config(backbone.cfg, method)
    ckpt = out / f"stage2-{method}.train.safetensors" if out else None
    model, res = resumed(ckpt, resume)
    if model is None:
        model = from_backbone(backbone, mcfg)
        if mcfg.rep and mcfg.init == "dynamic":
            sample = np.random.default_rng(tc.seed).permutation(np.flatnonzero(prep.present.all(1)))[:1024]
            model.dynamic_init([f[sample] for f in prep.feats], seed=tc.seed)
    if method == "zerofill":
        return model.eval(), {"method": method, "epoch": 0}
    summary = fit(model, prep, tc, "adapt", method, ckpt, res, progress)
    return model, summary


def _training_checkpoints(out: Path) -> list[Path]:
    return sorted([*out.glob("stage1.train.safetensors"), *out.glob("stage2-*.train.safetensors")])


RUN_FOLDER = OutputKind("training run folder", folder=True,
                        owned=lambda p: bool(_training_checkpoints(p)) or (p / "backbone.safetensors").is_file())


def check_run_folder(out: str | Path, resume: bool = False, fresh: bool = False,
                     given: dict | None = None) -> Path:
    """The run-folder rule of ``edge-rep train``: ``out`` is free, an empty folder, or a run folder.
    A run with training checkpoints needs ``resume`` (continue; the model settings in ``given``, the
    ModelConfig fields the user set, must match the stored ones) or ``fresh`` (its checkpoints are
    deleted on rank 0; its final model is replaced only when the new one is written). EdgeRepError else."""
    out = refuse_foreign(out, RUN_FOLDER)
    if resume and fresh:
        raise EdgeRepError("--resume and --fresh: pass one of them (continue the run, or start it over)")
    ckpts = _training_checkpoints(out) if out.is_dir() else []
    if not ckpts:
        if out.is_dir() and (out / "backbone.safetensors").is_file() and not fresh:
            raise EdgeRepError(f"--out {out}: holds a finished run (backbone.safetensors); pass --fresh to train "
                               f"it again, or choose a new --out")
        return out
    if fresh:
        if int(os.environ.get("RANK", "0")) == 0:     # only the run's own checkpoints go; other ranks never read them
            for p in ckpts:
                p.unlink(missing_ok=True)
                sidecar_path(p).unlink(missing_ok=True)
        return out
    newest = max(ckpts, key=lambda p: p.stat().st_mtime)
    state = ModelMeta.load(sidecar_path(newest)).extra.get("training", {})
    where = f"epoch {state.get('epoch', '?')} of {state.get('stage', '?')}:{state.get('method', '?')}"
    if not resume:
        raise EdgeRepError(f"--out {out}: found a checkpoint at {where}: pass --resume to continue it or --fresh "
                           f"to start over")
    stored = ModelMeta.load(sidecar_path(ckpts[0])).config
    changed = [f"{k} {stored.get(k)!r} -> {v!r}" for k, v in (given or {}).items() if stored.get(k) != v]
    if changed:
        raise EdgeRepError(f"--resume: {out} was trained with other model settings ({', '.join(changed)}); drop "
                           f"those options to continue it, or pass --fresh to start over")
    return out


def _report(rank: int, what: str, scores: dict) -> None:
    """One line of validation figures per stage (rank 0 only)."""
    if rank == 0:
        figures = ", ".join(f"{name} {s['accuracy']:.3f}" for name, s in scores.items() if s["accuracy"] is not None)
        print(f"validation, {what}: {figures} ({next(iter(scores.values()))['windows']} windows)")


def calibrate(model: EdgeREP, prep: Prepared, method: str, kinds: np.ndarray | None = None) -> dict:
    """Fit the model's per-scenario temperatures and uncertain thresholds on ``prep`` (the validation split;
    edge_rep/confidence.py) and set the temperatures. ``kinds``: (N,) the non-target event kind of each
    window of ``prep`` ("" for none). Returns the sidecar's {"calibration": ..., "uncertain": ...,
    "detections": ...}."""
    from .confidence import (DETECTION_RATE, ECE_BINS, TARGET_FLAG_RATE, ece, fit_temperature, softmax,
                             target_confidence, uncertain_threshold)

    bg = model.profile.classes.index("background") if "background" in model.profile.classes else -1
    complete = np.flatnonzero(prep.present.all(1) & (prep.y >= 0))
    kinds = np.full(len(prep), "", object) if kinds is None else np.asarray(kinds, object)
    temps, before, after, thresholds, caught, gates = {}, {}, {}, {}, {}, {}
    for name, (logits, y) in scenario_logits(model, prep, method).items():
        t = fit_temperature(logits, y)
        p0, p1 = softmax(logits), softmax(logits / t)
        temps[name], before[name], after[name] = round(t, 4), ece(p0, y), ece(p1, y)
        conf, targets = p1.max(1), target_confidence(logits, y, t, bg)
        thresholds[name] = uncertain_threshold(targets)            # 0.0 when there is no target window
        gates[name] = uncertain_threshold(targets, DETECTION_RATE)
        nt = (kinds[complete] != "") & (y == bg)      # background windows with a non-target event
        flagged = (conf < thresholds[name]) | (p1.argmax(1) == bg)
        caught[name] = round(float(flagged[nt].mean()), 4) if nt.any() else None
    model.set_temperature(temps)
    return {"calibration": {"method": "temperature scaling, one temperature per scenario (Guo et al. 2017)",
                            "split": "val", "windows": int(len(complete)), "temperature": temps,
                            "ece_bins": ECE_BINS, "ece_before": before, "ece_after": after},
            "uncertain": {"score": "max calibrated probability (Hendrycks and Gimpel 2017)",
                          "threshold": thresholds, "target_flag_rate": TARGET_FLAG_RATE, "split": "val",
                          "nontarget_flagged_or_background": caught},
            "detections": {"min_confidence": gates, "target_rate": DETECTION_RATE, "split": "val",
                           "rule": "a detection is reported when the mean over its class's certain windows of "
                                   "(confidence - min_confidence of the window's scenario) is >= 0"}}


def extra_train_recordings(ds, dirs) -> list:
    """The train split of each dataset folder in ``dirs``, to join ``ds``'s (their val, test and foreign
    splits are never trained on). Each must have ``ds``'s profile (rates, units, window) and classes; else
    EdgeRepError naming the folder."""
    from .dataset import load_dataset

    out = []
    for d in dirs:
        if Path(d).resolve() == Path(ds.root).resolve():
            raise EdgeRepError(f"--add-train {d}: is --data itself; its train split is already trained on")
        extra = load_dataset(d)
        if extra.profile.to_dict() != ds.profile.to_dict():
            raise EdgeRepError(f"--add-train {d}: its profile '{extra.profile.name}' (rates, units, window, classes) "
                               f"differs from --data's '{ds.profile.name}'; add only datasets of the same profile")
        if not extra.splits()["train"]:
            raise EdgeRepError(f"--add-train {d}: its train split is empty (only train recordings are added); "
                               f"make it with a train split, e.g. 'edge-rep synth --background-only --split train'")
        out += extra.recordings("train")
    return out


def run_training(data_dir: str | Path, out: str | Path, cfg: ModelConfig, tc: TrainConfig, method: str = "rep",
                 resume: bool = False, progress: bool = True, save: str | Path | None = None,
                 fresh: bool = False, given: dict | None = None, init_from: str | Path | None = None,
                 add_train: tuple = ()) -> Path:
    """``edge-rep train``: stage 1 + stage 2 on a dataset folder. ``out`` gets the resumable training
    checkpoints and the backbone; the model goes to ``save`` (default ``<out>/model.safetensors``).
    ``init_from``: fine-tune that trained model (``load_init``) instead of starting from scratch.
    ``add_train``: more dataset folders whose train splits join ``data_dir``'s (``extra_train_recordings``).
    ``out`` follows ``check_run_folder(out, resume, fresh, given)``; ``save`` must be free or an edge-rep
    model (replaced only with ``resume`` or ``fresh``)."""
    from .dataset import load_dataset, window_arrays

    out = check_run_folder(out, resume, fresh, given)
    if save:
        claim(save, MODEL_FILE, force=resume or fresh, option="--save")
    distributed = init_distributed(tc.device)
    rank, world = dist_info()
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    ds = load_dataset(data_dir)
    if resume:      # checkpoints made on other data (say in counts, this in m/s) are refused
        for ckpt in _training_checkpoints(out):
            ModelMeta.load(sidecar_path(ckpt)).check_fits(ds.profile, what=str(ckpt), data=str(data_dir))
    if tc.missing != "both" and tc.missing not in ds.profile.modality_names:
        raise EdgeRepError(f"missing type '{tc.missing}': use one of {', '.join(ds.profile.modality_names)} or both")
    init, init_record = load_init(init_from, ds.profile, str(data_dir)) if init_from is not None else (None, None)
    train_arrays = window_arrays(ds.recordings("train") + extra_train_recordings(ds, add_train), ds.profile)
    if len(train_arrays) == 0:
        raise EdgeRepError(f"{data_dir}: the train split has no windows; build a dataset with a train split")
    levels = level_range(train_arrays.x, np.asarray(train_arrays.present, bool), train_arrays.y, ds.profile)
    val_arrays = window_arrays(ds.recordings("val"), ds.profile)
    if len(val_arrays) == 0 and rank == 0:
        from .errors import warn
        warn(f"{data_dir}: the val split holds no windows: no validation figures, and no calibration, uncertain "
             f"thresholds or detections' minimum confidence are fitted (the model flags no window uncertain and "
             f"reports every detection); give the dataset a val split (synth: --recordings 24 or more)")
    t0 = time.time()
    backbone, prep, s1 = train_backbone(init.cfg if init else cfg, ds.profile, train_arrays, tc, out, resume,
                                        progress, init=init)
    t1 = time.time()
    val_prep = prepare(backbone, val_arrays, progress=progress, desc="val front-end") if len(val_arrays) else None
    validation = {"windows": int(len(val_arrays))}
    if val_prep is not None:      # the bare backbone, told what is missing
        validation["stage1"] = scenario_scores(backbone, val_prep, "finetune")
        _report(rank, "stage 1 (backbone)", validation["stage1"])
    model, s2 = train_adapter(backbone, prep, method, tc, out=out, resume=resume, progress=progress)
    t2 = time.time()
    confidence = {}
    if val_prep is not None:
        validation["stage2"] = scenario_scores(model, val_prep, method)
        _report(rank, f"stage 2 ({method})", validation["stage2"])
        from .confidence import nontarget_kind_per_window
        kinds = nontarget_kind_per_window(ds.recordings("val"), val_arrays, ds.profile.window_s)
        confidence = calibrate(model, val_prep, method, kinds)
        if rank == 0:
            cal = confidence["calibration"]
            print("calibration (val): " + ", ".join(f"{s} T {t:.2f} ECE {cal['ece_before'][s]:.3f} -> "
                                                     f"{cal['ece_after'][s]:.3f}"
                                                     for s, t in cal["temperature"].items()))
    path = Path(save) if save else out / "model.safetensors"
    if rank == 0:
        model.set_trainable("adapter" if method in PROMPT_METHODS else "all")
        counts = model.count_parameters()
        save_model(backbone, out / "backbone.safetensors", extra={"stage1": s1, "level_range": levels,
                                                                  "validation": {k: v for k, v in validation.items()
                                                                                 if k != "stage2"}})
        save_model(model, path, extra={"method": method, "train_config": asdict(tc), "dataset": str(data_dir),
                                       **({"add_train": [str(d) for d in add_train]} if add_train else {}),
                                       "train_windows": int(len(train_arrays)),
                                       "stage1": s1, "stage2": s2, "parameters": counts, "world_size": world,
                                       "seconds": {"stage1": round(t1 - t0, 1), "stage2": round(t2 - t1, 1)},
                                       "level_range": levels, "validation": validation, **confidence,
                                       **({"init_from": init_record} if init_record else {})})
        model.set_trainable("all")
    if distributed:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return path
