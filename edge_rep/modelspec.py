"""The model's I/O contract and its JSON sidecar, shared by training, export, every runtime backend
and the daemon. Light on purpose: no torch.

Tensors (B = batch of windows, M = modalities in profile order, K = classes, L = buffer tokens per
modality, D = model width; all float32):

    inputs
      <modality>   [B, C_m, N_m]  raw window samples in physical units, one input per modality
                                  (for the default profile: "acoustic" [B,1,16000], "seismic" [B,1,200])
      present      [B, M]         1.0 where the modality's samples are real, 0.0 where it is missing
      replay       [B, M]         1.0 where a missing modality should use ``buffers_in`` (the last good
                                  buffers the daemon cached) instead of its scenario's learned buffers
      buffers_in   [B, M, L, D]   cached buffers per modality (ignored where replay is 0)
      above_floor_db [B, M]       models with a floor-referenced level feature only (``floor_referenced``):
                                  each window's level above its modality's running noise floor, dB
                                  (edge_rep/levels.py: NoiseFloor in the daemon, above_floor_db in batch);
                                  0 where the modality is missing
    outputs
      probs        [B, K]         class probabilities
      buffers_out  [B, M, L, D]   the buffers this pass cached per modality: the daemon keeps those of
                                  present modalities and replays them when the modality drops

The missing-modality scenario is derived from ``present`` inside the model, with arithmetic only
(no data-dependent branches), so one graph serves every scenario. Its name (``scenario_name``) is the
one the model, the daemon and every window line use.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from .errors import EdgeRepError
from .outpaths import OutputKind, has_magic, is_edge_rep_safetensors, json_file_has, staged_file
from .profiles import Profile

INPUT_PRESENT = "present"
INPUT_REPLAY = "replay"
INPUT_BUFFERS = "buffers_in"
INPUT_ABOVE_FLOOR = "above_floor_db"
OUTPUT_PROBS = "probs"
OUTPUT_BUFFERS = "buffers_out"

# 2: every recorded hash (model_id, the ONNX and engine records) covers the sidecar's profile and class
# list with the file's bytes, so an edited class order or rate is caught; 1: the bytes alone (still read).
SIDECAR_FORMAT = 2
READABLE_FORMATS = (1, 2)


def scenario_name(present: Mapping[str, bool]) -> str:
    """The missing-modality scenario of a presence pattern (modality -> present, in profile order): the
    identifier of window lines and of the model's learned buffers. "complete", "<modality>_missing"
    (several joined with "+": "acoustic+seismic_missing" with three modalities), or "all_missing"."""
    missing = [m for m, p in present.items() if not p]
    if not missing:
        return "complete"
    if len(missing) == len(present):
        return "all_missing"
    return "+".join(missing) + "_missing"


def single_drop_patterns(modalities: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    """{scenario name: presence pattern} for complete and each single modality missing (profile order):
    the scenarios a model is scored on."""
    pats = [tuple(1 for _ in modalities)] + [tuple(int(j != i) for j in range(len(modalities)))
                                             for i in range(len(modalities))]
    return {scenario_name(dict(zip(modalities, map(bool, p)))): p for p in pats}


def scenario_label(name: str) -> str:
    """A scenario identifier for people: "acoustic_missing" -> "acoustic missing"."""
    return name.replace("_", " ")


@dataclass
class ModelMeta:
    """What a weights/ONNX/engine file's JSON sidecar records about the model behind it."""

    profile: Profile
    buffer_tokens: int          # L
    width: int                  # D
    model_id: str               # short content hash of the weights, shown in every output line
    config: dict = field(default_factory=dict)     # the model config (edge_rep.model.ModelConfig fields)
    frontend: dict = field(default_factory=dict)   # front-end parameters (framing, spectra)
    versions: dict = field(default_factory=dict)   # edge-rep, torch, onnx, tensorrt... that made it
    extra: dict = field(default_factory=dict)      # anything else a stage wants to keep (e.g. metrics)
    format: int = SIDECAR_FORMAT                   # what the hashes cover (see SIDECAR_FORMAT)

    def bound_hash(self, data: bytes) -> str:
        """SHA-256 (hex) of a model file's ``data`` bound to this sidecar's profile and classes: what
        ``model_id`` (its first 12 digits) and the ONNX/engine records hold. Format 1: the bytes alone."""
        h = hashlib.sha256(data)
        if self.format >= 2:
            h.update(b"\0" + json.dumps(self.profile.to_dict(), sort_keys=True, separators=(",", ":")).encode())
        return h.hexdigest()

    @property
    def classes(self) -> tuple[str, ...]:
        return self.profile.classes

    @property
    def modalities(self) -> tuple[str, ...]:
        return self.profile.modality_names

    @property
    def floor_referenced(self) -> bool:
        """Whether the graph takes ``above_floor_db``: a level feature referenced to the site's noise floor
        (``ModelConfig.level_reference``; sidecars written before it have an absolute level)."""
        c = self.config
        return bool(c.get("level_norm") and c.get("level_feature") and c.get("level_reference") == "floor")

    @property
    def noise_floor(self) -> tuple[float, float]:
        """(floor_s, floor_percentile): how the ``above_floor_db`` input's floor is kept (edge_rep/levels.py)."""
        from .levels import FLOOR_PERCENTILE, FLOOR_S
        return (float(self.config.get("floor_s", FLOOR_S)),
                float(self.config.get("floor_percentile", FLOOR_PERCENTILE)))

    def input_shapes(self, batch: int = 1) -> dict[str, tuple[int, ...]]:
        shapes = {m.name: (batch, m.channels, self.profile.window_samples(m.name)) for m in self.profile.modalities}
        M = len(self.profile.modalities)
        shapes[INPUT_PRESENT] = (batch, M)
        shapes[INPUT_REPLAY] = (batch, M)
        shapes[INPUT_BUFFERS] = (batch, M, self.buffer_tokens, self.width)
        if self.floor_referenced:
            shapes[INPUT_ABOVE_FLOOR] = (batch, M)
        return shapes

    def output_shapes(self, batch: int = 1) -> dict[str, tuple[int, ...]]:
        M = len(self.profile.modalities)
        return {OUTPUT_PROBS: (batch, len(self.classes)),
                OUTPUT_BUFFERS: (batch, M, self.buffer_tokens, self.width)}

    def to_dict(self) -> dict:
        return {"format": self.format, "profile": self.profile.to_dict(), "buffer_tokens": self.buffer_tokens,
                "width": self.width, "model_id": self.model_id, "config": self.config,
                "frontend": self.frontend, "versions": self.versions, "extra": self.extra}

    @classmethod
    def from_dict(cls, d: dict, source: str = "sidecar") -> ModelMeta:
        if not isinstance(d, dict) or d.get("format") not in READABLE_FORMATS:
            raise EdgeRepError(f"{source}: sidecar format {d.get('format') if isinstance(d, dict) else None!r} is "
                               f"not one this edge-rep reads ({', '.join(map(str, READABLE_FORMATS))}); re-export "
                               "the model with this edge-rep version")
        try:
            return cls(profile=Profile.from_dict(d["profile"]), buffer_tokens=int(d["buffer_tokens"]),
                       width=int(d["width"]), model_id=str(d["model_id"]), config=dict(d.get("config", {})),
                       frontend=dict(d.get("frontend", {})), versions=dict(d.get("versions", {})),
                       extra=dict(d.get("extra", {})), format=int(d["format"]))
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as e:
            raise EdgeRepError(f"{source}: not a valid edge-rep model sidecar ({e}); re-export the model") from None
        except EdgeRepError as e:      # e.g. a profile no window can be cut with: name the file
            raise EdgeRepError(f"{source}: {e}") from None

    def save(self, path: str | Path) -> None:
        """Write the sidecar atomically (a reader sees the old one or the new one, never half)."""
        with staged_file(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> ModelMeta:
        p = Path(path)
        try:
            d = json.loads(p.read_text())
        except FileNotFoundError:
            raise EdgeRepError(f"{p}: model sidecar not found; it must sit beside the model file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise EdgeRepError(f"{p}: unreadable model sidecar ({e}); re-export the model") from None
        return cls.from_dict(d, source=str(p))

    def check_fits(self, profile: Profile | None = None, classes: tuple[str, ...] | None = None,
                   what: str = "model", data: str = "the data") -> None:
        """Refuse this model where another profile or class list is expected: the one check that a model
        fits (loading a checkpoint, a runtime backend). ``profile``/``classes`` None: not checked;
        ``classes`` defaults to the profile's. Units first (``check_units``: the commonest mismatch, with
        its own advice). Raises EdgeRepError naming ``what`` (e.g. the file) and ``data`` (the dataset)."""
        if profile is not None:
            check_units(self, profile, data, what)
        if profile is not None and replace(profile, classes=self.classes) != self.profile:
            mine, theirs = f"'{self.profile.name}'", f"'{profile.name}'"
            if self.profile.name == profile.name:      # same name, other rates or windows: show them
                mine, theirs = str(self.profile.to_dict()), str(profile.to_dict())
            raise EdgeRepError(f"{what}: the model was made for profile {mine}, not {theirs}; "
                               "use a model trained for this profile or change the config")
        want = classes if classes is not None else (profile.classes if profile is not None else None)
        if want is not None and tuple(want) != self.classes:
            raise EdgeRepError(f"{what}: the model has classes {list(self.classes)}, expected {list(want)}; "
                               "use a model trained on this class list")


def check_units(meta: ModelMeta, data_profile: Profile, data: str, model: str) -> None:
    """A model trained on one unit refuses data in another (Pa vs counts, m/s vs counts...), by the units
    its sidecar's profile and the dataset's profile record: one line naming the data, the model and the fix.
    The one units check of every model load against data (evaluate --model, --backbone, train --resume)."""
    for spec in meta.profile.modalities:
        try:
            have = data_profile.modality(spec.name).units
        except EdgeRepError:
            continue                      # a missing modality is check_fits' to report
        if have != spec.units:
            raise EdgeRepError(f"{data}: {spec.name} is in {have or 'no stated unit'}, but {model} takes "
                               f"{spec.units or 'no stated unit'}; convert the data with its calibration (e.g. "
                               f"'edge-rep convert mseed SRC --sensitivity COUNTS_PER_UNIT') or use a model "
                               f"trained on {have or 'that data'}")


def sidecar_path(model_path: str | Path) -> Path:
    """``model.safetensors`` / ``model.onnx`` / ``model.engine`` -> ``model.json``."""
    return Path(model_path).with_suffix(".json")


def _is_model_file(path: Path) -> bool:
    """An edge-rep model artifact: its format's own check, and our sidecar beside it."""
    body = {".safetensors": is_edge_rep_safetensors, ".onnx": lambda p: has_magic(p, b"\x08"),
            ".engine": lambda p: True}.get(path.suffix)
    return body is not None and body(path) and is_model_sidecar(sidecar_path(path))


def is_model_sidecar(path: Path) -> bool:
    """A JSON file that looks like an edge-rep model sidecar (it has a model_id)."""
    return path.is_file() and json_file_has(path, "model_id")


# A model file (.safetensors, .onnx or .engine) with its sidecar: what train --save and export write.
MODEL_FILE = OutputKind("model file with its .json sidecar", folder=False, owned=_is_model_file)
# A folder that holds at least one model sidecar: what export writes into (one stem per model).
EXPORT_FOLDER = OutputKind("export folder", folder=True, owned=lambda p: any(map(is_model_sidecar, p.glob("*.json"))))
