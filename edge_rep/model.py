"""The temporal REP model, in one file (in the spirit of nanoGPT's model.py).

Backbone: the front-end (edge_rep/frontend.py) gives one feature vector per interval per modality;
each is projected to a token, gets a modality and a position embedding; a class token is prepended;
transformer blocks fuse both modalities; the class token is read out. A missing modality's tokens are
hidden from attention with an additive key bias, so one graph serves every presence pattern.

REP (REplay Prompting, arXiv 2511.23070) on top of the frozen backbone:
- buffers: L tokens per modality (private) and L shared tokens, learned per missing scenario
  (scenarios = every non-empty subset of present modalities; complete first);
- residual bypass: after each layer l < k the modality's tokens are pooled into L segments and folded
  into its buffer, B^l = a * g^l(LN(B^(l-1) + pool(h^l))) + (1 - a) * B^(l-1), g a small residual MLP,
  a a learned scalar starting at 0.5. A missing modality's buffer skips the bypass: it is its scenario's
  learned buffer, or (replay=1) the buffer the caller cached from an earlier window;
- replay: from layer k on, the buffers are concatenated to the sequence as extra tokens;
- orthogonality loss between private and shared buffers; task-aware dynamic initialisation from the
  trained backbone's statistics (see ``dynamic_init``).
Baselines share the code: the bare backbone (zero-fill, or fine-tuned with modality dropout) and
MAP-style missing-aware prompts (``map_prompts``), and DCP-style deep correlated prompts
(``dcp_prompts``; Hu et al., NeurIPS 2024, the paper's strongest prompt baseline): prompts in the first
``dcp_layers`` layers, each layer's generated from the previous layer's (correlated), plus an
input-conditioned part (dynamic) and a part shared by every scenario (modal-common).

The scenario is picked from ``present`` by arithmetic (one-hot weights, a product over modalities),
never by branching, so the model exports with fixed shapes to ONNX/TensorRT.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, fields, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import EdgeRepError
from .frontend import LEVEL_BOUND, Frontend, plan
from .levels import FLOOR_PERCENTILE, FLOOR_S
from .modelspec import scenario_name
from .profiles import Profile

NEG = -1e4  # additive attention bias for hidden keys (finite so fp16 engines stay finite)
INIT_MODES = ("dynamic", "random", "zero")
# fields added after the first models were saved: a sidecar without them means these values
LEGACY_FIELDS = {"frame_pool": False, "readout": "cls", "level_norm": False, "level_feature": False,
                 "level_reference": "absolute"}
LEVEL_REFERENCES = ("floor", "absolute")


@dataclass
class ModelConfig:
    # front-end
    frame_s: float = 0.1        # target frame length in seconds (10 Hz bins; see docs/model.md)
    max_bands: int = 32         # log bands per frame (fewer when the frame has fewer DFT bins)
    frame_pool: bool = False    # average band powers over each interval's frames before the log
    level_norm: bool = True     # band powers relative to the window's level: exact sensor-gain invariance
    level_feature: bool = True  # plus the window's level per channel, bounded (see frontend.py)
    level_reference: str = "floor"      # floor: above the site's running noise floor; absolute: re the unit
    floor_s: float = FLOOR_S            # the noise floor: this percentile of the last floor_s s of window
    floor_percentile: float = FLOOR_PERCENTILE   # levels (edge_rep/levels.py; the daemon keeps it alike)
    # backbone
    width: int = 64             # D
    n_layer: int = 4
    n_head: int = 4
    mlp_ratio: int = 4
    dropout: float = 0.1
    readout: str = "cls"        # cls: the class token; mean: the mean of the class and visible interval tokens
    # REP
    rep: bool = True
    buffer_tokens: int = 4      # L tokens per modality buffer and per shared buffer
    rep_layer: int = 2          # k: layers 0..k-1 feed the bypass; buffers are replayed from layer k on
    private: bool = True        # replay the modality-wise (private) buffers
    shared: bool = True         # replay the shared buffers
    bypass: bool = True         # fold early-layer features into the buffers (off: learned buffers only)
    bypass_hidden: int = 16     # hidden width of g
    ortho_weight: float = 0.1
    init: str = "dynamic"       # dynamic | random | zero
    init_noise: float = 0.2     # dynamic init: noise relative to the statistics' RMS
    # MAP-style baseline: per-scenario prompts prepended in the first layers (0 tokens = off)
    map_prompts: int = 0
    map_layers: int = 2
    # DCP-style baseline: deep correlated prompts (0 tokens = off)
    dcp_prompts: int = 0
    dcp_layers: int = 2
    dcp_rank: int = 8           # the input-conditioned part: D -> rank -> tokens x D
    dcp_hidden: int = 16        # the layer-to-layer generator: a residual MLP D -> hidden -> D

    def validate(self) -> None:
        if self.width % self.n_head:
            raise EdgeRepError(f"model config: width {self.width} is not a multiple of n_head {self.n_head}; fix it")
        if not 0 <= self.rep_layer < self.n_layer:
            raise EdgeRepError(f"model config: rep_layer {self.rep_layer} must be in 0..{self.n_layer - 1}")
        if self.init not in INIT_MODES:
            raise EdgeRepError(f"model config: init '{self.init}' is not one of {', '.join(INIT_MODES)}")
        if self.level_reference not in LEVEL_REFERENCES:
            raise EdgeRepError(f"model config: level_reference '{self.level_reference}' is not one of "
                               f"{', '.join(LEVEL_REFERENCES)}")
        if not (self.floor_s > 0 and 0 <= self.floor_percentile <= 100):
            raise EdgeRepError("model config: floor_s must be > 0 and floor_percentile in 0..100")
        if self.readout not in ("cls", "mean"):
            raise EdgeRepError(f"model config: readout '{self.readout}' is not one of cls, mean")
        if self.buffer_tokens < 1:
            raise EdgeRepError(f"model config: buffer_tokens (--buffer-tokens) must be >= 1, got {self.buffer_tokens}")
        if self.map_layers > self.n_layer or self.dcp_layers > self.n_layer:
            raise EdgeRepError(f"model config: {self.n_layer} layer(s) (--layers) is fewer than the "
                               f"{max(self.map_layers, self.dcp_layers)} the MAP/DCP baselines prompt; use "
                               f"--layers {max(self.map_layers, self.dcp_layers)} or more")
        if self.map_prompts and self.dcp_prompts:
            raise EdgeRepError("model config: map_prompts and dcp_prompts are two baselines; use one")

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise EdgeRepError(f"model config: unknown field(s) {', '.join(sorted(unknown))}; "
                               "this model needs a newer edge-rep")
        cfg = cls(**{**LEGACY_FIELDS, **d})
        cfg.validate()
        return cfg

    def to_dict(self) -> dict:
        return asdict(self)


def scenarios(modalities: tuple[str, ...]) -> list[tuple[int, ...]]:
    """Presence patterns with at least one modality: complete first, then by how many are missing."""
    pats = [p for p in itertools.product((1, 0), repeat=len(modalities)) if any(p)]
    return sorted(pats, key=lambda p: (len(p) - sum(p), p))


def segment_matrix(n: int, L: int) -> torch.Tensor:
    """(L, n) matrix averaging n interval tokens into L contiguous segments (adaptive average pooling)."""
    mat = torch.zeros(L, n)
    for i in range(L):
        a, b = (i * n) // L, -((-(i + 1) * n) // L)
        mat[i, a:b] = 1.0 / (b - a)
    return mat


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.width, 3 * cfg.width)
        self.proj = nn.Linear(cfg.width, cfg.width)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=2)
        q, k, v = (t.reshape(B, T, self.n_head, D // self.n_head).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(D // self.n_head)) + bias
        att = self.drop(F.softmax(att, dim=-1))
        return self.drop(self.proj((att @ v).transpose(1, 2).reshape(B, T, D)))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.width)
        self.attn = Attention(cfg)
        self.ln2 = nn.LayerNorm(cfg.width)
        self.mlp = nn.Sequential(nn.Linear(cfg.width, cfg.mlp_ratio * cfg.width), nn.GELU(),
                                 nn.Linear(cfg.mlp_ratio * cfg.width, cfg.width), nn.Dropout(cfg.dropout))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), bias)
        return x + self.mlp(self.ln2(x))


class BypassMLP(nn.Module):
    """g^l: LayerNorm -> Linear -> GELU -> dropout -> Linear, plus the identity skip (residual MLP)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln = nn.LayerNorm(cfg.width)
        self.fc1 = nn.Linear(cfg.width, cfg.bypass_hidden)
        self.fc2 = nn.Linear(cfg.bypass_hidden, cfg.width)
        self.drop = nn.Dropout(cfg.dropout)
        nn.init.zeros_(self.fc2.weight)   # starts as the identity on the normalised input
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln(x)
        return h + self.fc2(self.drop(F.gelu(self.fc1(h))))


class EdgeREP(nn.Module):
    """forward(<modality windows...>, present, replay, buffers_in) -> (probs, buffers_out); see modelspec."""

    def __init__(self, cfg: ModelConfig, profile: Profile):
        super().__init__()
        cfg.validate()
        self.cfg, self.profile = cfg, profile
        self.modalities = profile.modality_names
        M, D, L, I = len(self.modalities), cfg.width, cfg.buffer_tokens, profile.intervals
        self.n_mod, self.n_int = M, I
        self.frontend = Frontend(plan(profile, cfg.frame_s, cfg.max_bands, pool=cfg.frame_pool,
                                      level_norm=cfg.level_norm, level_feature=cfg.level_feature,
                                      level_reference=cfg.level_reference))
        # backbone
        self.tok_proj = nn.ModuleList(nn.Linear(p.feat_dim, D) for p in self.frontend.plans)
        self.mod_emb = nn.Parameter(torch.randn(M, D) * 0.02)
        self.pos_emb = nn.Parameter(torch.randn(I, D) * 0.02)
        self.cls = nn.Parameter(torch.randn(D) * 0.02)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(D)
        self.head = nn.Linear(D, len(profile.classes))
        self.apply(self._init_weights)
        # scenarios and pooling are fixed buffers (arithmetic scenario choice, pooling by matmul)
        pats = scenarios(self.modalities)
        self.scenario_names = [scenario_name(dict(zip(self.modalities, map(bool, p)))) for p in pats]
        self.register_buffer("scenario_presence", torch.tensor(pats, dtype=torch.float32), persistent=False)
        self.register_buffer("segments", segment_matrix(I, L), persistent=False)
        S = len(pats)
        # calibration: one temperature per scenario dividing the logits of forward() (edge_rep/confidence.py);
        # ones until fitted on the validation split. Saved with the weights, so it is in the model id.
        self.register_buffer("temperature", torch.ones(S))
        # REP
        if cfg.rep:
            self.private = nn.Parameter(torch.zeros(S, M, L, D))
            self.shared = nn.Parameter(torch.zeros(S, L, D))
            self.bypass_mlp = nn.ModuleList(BypassMLP(cfg) for _ in range(cfg.rep_layer if cfg.bypass else 0))
            self.bypass_a = nn.Parameter(torch.full((len(self.bypass_mlp),), 0.5))
            self.init_buffers_plain(cfg.init if cfg.init != "dynamic" else "random")
        # MAP-style baseline prompts: per scenario, per layer
        if cfg.map_prompts:
            self.map = nn.Parameter(torch.randn(S, cfg.map_layers, cfg.map_prompts, D) * 0.02)
        # DCP-style baseline: missing-aware base prompts, a common part, an input-conditioned part, and
        # generators that make each layer's prompts from the previous layer's
        if cfg.dcp_prompts:
            N = cfg.dcp_prompts
            self.dcp_base = nn.Parameter(torch.randn(S, N, D) * 0.02)
            self.dcp_common = nn.Parameter(torch.randn(N, D) * 0.02)
            self.dcp_down = nn.Linear(D, cfg.dcp_rank)
            self.dcp_up = nn.Linear(cfg.dcp_rank, N * D)
            nn.init.zeros_(self.dcp_up.weight)
            nn.init.zeros_(self.dcp_up.bias)
            self.dcp_next = nn.ModuleList(BypassMLP(replace(cfg, bypass_hidden=cfg.dcp_hidden))
                                          for _ in range(cfg.dcp_layers - 1))

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    # ---- parameter groups -------------------------------------------------------------------------
    def adapter_parameter_names(self) -> list[str]:
        """Parameters that adaptation trains: REP buffers/bypass or MAP prompts, and the classifier."""
        keep = ("private", "shared", "bypass_mlp.", "bypass_a", "map", "dcp_", "head.")
        return [n for n, _ in self.named_parameters() if n.startswith(keep)]

    def backbone_parameter_names(self) -> list[str]:
        adapter = set(self.adapter_parameter_names()) - {"head.weight", "head.bias"}
        return [n for n, _ in self.named_parameters() if n not in adapter]

    def set_trainable(self, what: str) -> None:
        """'backbone' (stage 1, full fine-tune), 'adapter' (REP/MAP: frozen backbone) or 'all'."""
        names = {"backbone": set(self.backbone_parameter_names()), "adapter": set(self.adapter_parameter_names()),
                 "all": {n for n, _ in self.named_parameters()}}[what]
        for n, p in self.named_parameters():
            p.requires_grad_(n in names)

    def count_parameters(self) -> dict[str, int]:
        adapter = set(self.adapter_parameter_names()) - {"head.weight", "head.bias"}
        total = sum(p.numel() for p in self.parameters())
        return {"total": total,
                "backbone": sum(p.numel() for n, p in self.named_parameters() if n not in adapter),
                "trainable": sum(p.numel() for p in self.parameters() if p.requires_grad)}

    # ---- buffers initialisation -------------------------------------------------------------------
    @torch.no_grad()
    def init_buffers_plain(self, mode: str) -> None:
        for p in (self.private, self.shared):
            if mode == "zero":
                p.zero_()
            else:
                p.normal_(0.0, 0.02)

    # ---- forward ----------------------------------------------------------------------------------
    def scenario_weights(self, present: torch.Tensor) -> torch.Tensor:
        """[B, S] one-hot scenario weights from the [B, M] presence mask (all-zero when nothing is present)."""
        p = present[:, None, :]
        s = self.scenario_presence[None]
        return torch.prod(p * s + (1 - p) * (1 - s), dim=-1)

    def embed(self, feats: list[torch.Tensor], present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens [B, 1 + M*I, D] and the additive key bias [B, 1 + M*I]."""
        B = present.shape[0]
        toks = [self.cls.expand(B, 1, -1)]
        for m, f in enumerate(feats):
            p = self.frontend.plans[m]
            if p.level_feature:      # bound the level: a far-off sensor scale saturates instead of extrapolating
                f = torch.cat([f[..., :-p.channels], f[..., -p.channels:].clamp(-LEVEL_BOUND, LEVEL_BOUND)], dim=-1)
            toks.append(self.tok_proj[m](f) + self.mod_emb[m] + self.pos_emb)
        x = self.drop(torch.cat(toks, dim=1))
        hidden = (1 - present).repeat_interleave(self.n_int, dim=1)
        bias = torch.cat([torch.zeros(B, 1, dtype=x.dtype, device=x.device), hidden * NEG], dim=1)
        return x, bias

    def forward_features(self, feats: list[torch.Tensor], present: torch.Tensor, replay: torch.Tensor,
                         buffers_in: torch.Tensor, adapt: bool = True
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Front-end features -> (logits [B,K], buffers_out [B,M,L,D], orthogonality loss).

        ``adapt=False`` runs the bare backbone (stage 1 and the zero-fill/fine-tune baselines)."""
        cfg, M, I = self.cfg, self.n_mod, self.n_int
        B = present.shape[0]
        x, bias = self.embed(feats, present)
        rep = cfg.rep and adapt
        use_map = bool(cfg.map_prompts) and adapt
        use_dcp = bool(cfg.dcp_prompts) and adapt
        w = self.scenario_weights(present)
        if use_dcp:      # DCP: layer-0 prompts = scenario's + common + conditioned on the present input tokens
            keep = present.repeat_interleave(I, dim=1)[:, :, None]
            pooled = (x[:, 1:1 + M * I] * keep).sum(1) / keep.sum(1).clamp_min(1.0)
            dcp = (torch.einsum("bs,snd->bnd", w, self.dcp_base) + self.dcp_common
                   + self.dcp_up(self.dcp_down(pooled)).reshape(B, cfg.dcp_prompts, -1))
        pres4 = present[:, :, None, None]
        if rep:
            learned = torch.einsum("bs,smld->bmld", w, self.private)
            use_cached = (replay * (1 - present))[:, :, None, None] > 0.5
            buf = torch.where(use_cached, buffers_in, learned)
        else:
            buf = buffers_in.new_zeros(B, M, cfg.buffer_tokens, cfg.width)
        n_map = 0
        for l, block in enumerate(self.blocks):
            if use_map and l < cfg.map_layers:   # MAP: this layer's scenario prompts replace the previous ones
                prompts = torch.einsum("bs,spd->bpd", w, self.map[:, l])
                x = torch.cat([prompts, x[:, n_map:]], dim=1)
                if n_map == 0:
                    bias = torch.cat([bias.new_zeros(B, cfg.map_prompts), bias], dim=1)
                n_map = cfg.map_prompts
            if use_dcp and l < cfg.dcp_layers:   # DCP: each layer's prompts made from the previous layer's
                if l > 0:
                    dcp = self.dcp_next[l - 1](dcp)
                x = torch.cat([dcp, x[:, n_map:]], dim=1)
                if n_map == 0:
                    bias = torch.cat([bias.new_zeros(B, cfg.dcp_prompts), bias], dim=1)
                n_map = cfg.dcp_prompts
            if rep and l == cfg.rep_layer:        # replay the buffers as extra tokens from layer k on
                extra = []
                if cfg.private:
                    extra.append((buf + self.mod_emb[None, :, None, :]).reshape(B, M * cfg.buffer_tokens, -1))
                if cfg.shared:
                    extra.append(torch.einsum("bs,sld->bld", w, self.shared))
                if extra:
                    extra = torch.cat(extra, dim=1)
                    x = torch.cat([x, extra], dim=1)
                    bias = torch.cat([bias, bias.new_zeros(B, extra.shape[1])], dim=1)
            x = block(x, bias[:, None, None, :])
            if rep and cfg.bypass and l < cfg.rep_layer:   # fold this layer's features into the buffers
                mod_tok = x[:, n_map + 1:n_map + 1 + M * I].reshape(B, M, I, -1)
                pooled = torch.einsum("li,bmid->bmld", self.segments, mod_tok)
                a = self.bypass_a[l]
                upd = a * self.bypass_mlp[l](buf + pooled) + (1 - a) * buf
                buf = pres4 * upd + (1 - pres4) * buf
        logits = self.head(self.ln_f(self.readout(x[:, n_map:n_map + 1 + M * I], present)))
        ortho = self.ortho_loss(buf, w) if rep else logits.new_zeros(())
        return logits, buf, ortho

    def readout(self, x: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """[B, D] summary of the class token and interval tokens [B, 1 + M*I, D]."""
        if self.cfg.readout == "cls":
            return x[:, 0]
        w = torch.cat([torch.ones_like(present[:, :1]), present.repeat_interleave(self.n_int, dim=1)], dim=1)
        return (x * w[:, :, None]).sum(1) / w.sum(1, keepdim=True)

    def ortho_loss(self, buf: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Mean squared cosine between every private buffer token and every shared token of the scenario."""
        if not (self.cfg.private and self.cfg.shared):
            return buf.new_zeros(())
        shared = F.normalize(torch.einsum("bs,sld->bld", w, self.shared), dim=-1)
        priv = F.normalize(buf.flatten(1, 2), dim=-1)
        return (priv @ shared.transpose(1, 2)).pow(2).mean()

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs: one raw window tensor per modality (profile order), then present, replay, buffers_in
        and, for a floor-referenced level feature, above_floor_db [B, M] (edge_rep/modelspec.py)."""
        M = self.n_mod
        windows, (present, replay, buffers_in) = inputs[:M], inputs[M:M + 3]
        above = inputs[M + 3] if self.frontend.floor_referenced else None
        logits, buf, _ = self.forward_features(self.frontend(*windows, above_floor=above), present, replay,
                                               buffers_in)
        w = self.scenario_weights(present)
        temp = w @ self.temperature + (1 - w.sum(dim=1))       # the scenario's temperature; 1 when none matches
        return F.softmax(logits / temp[:, None], dim=-1), buf

    @torch.no_grad()
    def set_temperature(self, by_scenario: dict[str, float]) -> None:
        """Set the calibration temperature of the named scenarios (``scenario_names``); others keep theirs."""
        for name, t in by_scenario.items():
            self.temperature[self.scenario_names.index(name)] = float(t)

    def example_inputs(self, batch: int = 1) -> tuple[torch.Tensor, ...]:
        p, M, L, D = self.profile, self.n_mod, self.cfg.buffer_tokens, self.cfg.width
        xs = [torch.zeros(batch, m.channels, p.window_samples(m.name)) for m in p.modalities]
        floor = (torch.zeros(batch, M),) if self.frontend.floor_referenced else ()
        return (*xs, torch.ones(batch, M), torch.zeros(batch, M), torch.zeros(batch, M, L, D), *floor)

    # ---- task-aware dynamic initialisation ---------------------------------------------------------
    @torch.no_grad()
    def dynamic_init(self, feats: list[torch.Tensor], seed: int = 0) -> None:
        """Start each scenario's buffers from the trained backbone's own statistics on complete data.

        private[s, m] for a present m: its mean pooled layer-0 tokens (the bypass then adds the window's
        own features); for a missing m: the mean of the buffers the bypass produces when m is present,
        i.e. what m usually looks like at layer k. shared[s]: the mean class token entering layer k under
        scenario s (the backbone's view of the task in that scenario). Plus init_noise x RMS noise."""
        cfg, M, I = self.cfg, self.n_mod, self.n_int
        g = torch.Generator().manual_seed(seed)
        was_training = self.training
        self.eval()
        B = feats[0].shape[0]
        full = torch.ones(B, M)

        def noisy(t: torch.Tensor) -> torch.Tensor:
            rms = t.pow(2).mean().sqrt()
            return t + cfg.init_noise * rms * torch.randn(t.shape, generator=g)

        def run_backbone(present: torch.Tensor) -> list[torch.Tensor]:
            x, bias = self.embed(feats, present)
            outs = []
            for block in self.blocks:
                x = block(x, bias[:, None, None, :])
                outs.append(x)
            return outs

        outs = run_backbone(full)
        layer0 = outs[0][:, 1:1 + M * I].reshape(B, M, I, -1)
        early = torch.einsum("li,bmid->bmld", self.segments, layer0).mean(0)      # [M, L, D]
        for s in range(len(self.scenario_names)):
            for m in range(M):
                self.private[s, m] = noisy(early[m])
        # what the bypass makes of a present modality, as the stand-in for a missing one
        _, buf, _ = self.forward_features(feats, full, torch.zeros(B, M),
                                          torch.zeros(B, M, cfg.buffer_tokens, cfg.width))
        typical = buf.mean(0)
        for s, pat in enumerate(self.scenario_presence.tolist()):
            for m in range(M):
                if not pat[m]:
                    self.private[s, m] = noisy(typical[m])
            cls_k = (run_backbone(self.scenario_presence[s].expand(B, M))[cfg.rep_layer - 1][:, 0].mean(0)
                     if cfg.rep_layer > 0 else self.cls)
            self.shared[s] = noisy(cls_k.expand(cfg.buffer_tokens, -1).clone())
        self.train(was_training)
