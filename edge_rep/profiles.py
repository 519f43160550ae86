"""Sensor profiles: which modalities a node has, their sampling rates, and how windows are cut.

A profile is the contract shared by the generator, the dataset format, the model's front-end, the
exporter and the daemon: a model trained on one profile refuses windows cut by another.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from .errors import EdgeRepError

# Class list of the default benchmark. Order matters: it is the model's output order.
CLASSES: tuple[str, ...] = ("background", "pedestrian", "motorcycle", "car", "truck", "tracked")
# Modality order: index m in presence masks, buffers and model inputs.
MODALITIES: tuple[str, ...] = ("acoustic", "seismic")


@dataclass(frozen=True)
class ModalitySpec:
    name: str            # "acoustic" or "seismic"
    sample_rate: float   # Hz
    channels: int = 1    # sensors of this modality on one node
    units: str = ""      # physical units after scaling: "Pa" for microphones, "m/s" for geophones


@dataclass(frozen=True)
class Profile:
    name: str
    modalities: tuple[ModalitySpec, ...]
    window_s: float = 2.0    # classification window
    hop_s: float = 1.0       # stride between windows (the daemon classifies once per hop)
    intervals: int = 10      # each window is split into this many intervals, one token each
    classes: tuple[str, ...] = field(default=CLASSES)

    def __post_init__(self) -> None:
        """Refuse a profile no window can be cut with (a sidecar or manifest may be hand-edited or damaged):
        ``hop_s = -1`` looped forever and ``hop_s = 0`` gave no windows before this check."""
        where = f"profile '{self.name}'"
        problems = []
        if not isinstance(self.name, str) or not self.name:
            problems.append("name must be a non-empty string")
        names = [m.name for m in self.modalities]
        if not names or len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
            problems.append(f"modalities {names} must be one or more distinct names")
        for m in self.modalities:
            if not _finite_positive(m.sample_rate):
                problems.append(f"{m.name} sample_rate {m.sample_rate!r} must be a finite number of Hz > 0")
            if not isinstance(m.channels, int) or m.channels < 1:
                problems.append(f"{m.name} channels {m.channels!r} must be an integer >= 1")
        for key in ("window_s", "hop_s"):
            if not _finite_positive(getattr(self, key)):
                problems.append(f"{key} {getattr(self, key)!r} must be a finite number of seconds > 0")
        if not isinstance(self.intervals, int) or self.intervals < 1:
            problems.append(f"intervals {self.intervals!r} must be an integer >= 1")
        elif not problems and any(self.interval_samples(m.name) < 1 for m in self.modalities):
            problems.append(f"intervals {self.intervals} leave an interval without samples")
        if (len(self.classes) < 2 or len(set(self.classes)) != len(self.classes)
                or not all(isinstance(c, str) and c.strip() for c in self.classes)):
            problems.append(f"classes {list(self.classes)} must be two or more distinct non-empty names")
        if problems:
            raise EdgeRepError(f"{where}: {'; '.join(problems)}; fix the profile (or re-export the model)")

    @property
    def modality_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.modalities)

    def modality(self, name: str) -> ModalitySpec:
        for m in self.modalities:
            if m.name == name:
                return m
        raise EdgeRepError(f"profile '{self.name}' has no modality '{name}'; it has {', '.join(self.modality_names)}")

    def window_samples(self, name: str) -> int:
        """Samples of one window of modality ``name``."""
        return int(round(self.window_s * self.modality(name).sample_rate))

    def interval_samples(self, name: str) -> int:
        return self.window_samples(name) // self.intervals

    def to_dict(self) -> dict:
        d = asdict(self)
        d["modalities"] = [asdict(m) for m in self.modalities]
        d["classes"] = list(self.classes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Profile:
        try:
            mods = tuple(ModalitySpec(**{**m, "sample_rate": float(m["sample_rate"])}) for m in d["modalities"])
            return cls(name=d["name"], modalities=mods, window_s=float(d["window_s"]),
                       hop_s=float(d["hop_s"]), intervals=_whole(d["intervals"]),
                       classes=tuple(d.get("classes", CLASSES)))
        except (KeyError, TypeError, ValueError) as e:
            raise EdgeRepError(f"bad profile description ({e}); "
                               "expected the fields of edge_rep.profiles.Profile") from None


def _whole(x) -> int:
    """An integer given as an int or a whole float (JSON), never a silently truncated 2.5."""
    if isinstance(x, bool) or not isinstance(x, (int, float)) or x != int(x):
        raise ValueError(f"{x!r} is not a whole number")
    return int(x)


def _finite_positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


# MOD-like (FOCAL's Parkland data): microphone resampled to 8 kHz, geophone (EHZ) at 100 Hz,
# 2 s windows of 10 intervals of 0.2 s, 1 s hop.
MOD = Profile(
    name="mod",
    modalities=(ModalitySpec("acoustic", 8000.0, 1, "Pa"), ModalitySpec("seismic", 100.0, 1, "m/s")),
    window_s=2.0, hop_s=1.0, intervals=10,
)

# ACIDS-like: acoustic and seismic both at 1024 Hz, 1 s windows, 50 % overlap, intervals of 0.25 s.
ACIDS = Profile(
    name="acids",
    modalities=(ModalitySpec("acoustic", 1024.0, 1, "Pa"), ModalitySpec("seismic", 1024.0, 1, "m/s")),
    window_s=1.0, hop_s=0.5, intervals=4,
)

PROFILES: dict[str, Profile] = {p.name: p for p in (MOD, ACIDS)}
DEFAULT_PROFILE = MOD


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise EdgeRepError(f"unknown profile '{name}'; choose one of: {', '.join(PROFILES)}") from None
