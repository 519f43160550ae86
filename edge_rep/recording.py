"""Recordings: per-modality sample arrays that carry their own sampling rate, start time and units
(like ObsPy's Trace/Stream), plus labels; and their cutting into fixed windows.

Times are seconds. ``Channels.start_time`` and ``Recording.start_time`` are on one clock (UNIX epoch
for real data and for sensor logs, whose samples are placed on the host clock since board time restarts
at every board reset); label intervals are seconds from ``Recording.start_time``.
Samples that were lost are NaN: gaps stay gaps, time never shifts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Iterator

import numpy as np

from .errors import EdgeRepError
from .profiles import Profile

# A window counts a modality as present when at least this share of its samples is finite.
MIN_PRESENT_FRACTION = 0.9


def values_equal(a, b) -> bool:
    """Equality that compares numpy arrays by shape and values (NaN, a lost sample, equals NaN) and
    dicts, lists and tuples element by element; anything else with ``==``."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.shape != b.shape:
            return False
        nan_aware = a.dtype.kind in "fc" and b.dtype.kind in "fc"
        return bool(np.array_equal(a, b, equal_nan=nan_aware))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(values_equal, a, b))
    return bool(a == b)


def fields_equal(self, other) -> bool:
    """``__eq__`` for dataclasses that hold numpy arrays (the generated one raises on arrays of more than
    one element): the same class and every compared field equal by ``values_equal``. Use as
    ``__eq__ = fields_equal`` in the class body (``@dataclass`` keeps an ``__eq__`` the class defines)."""
    if other.__class__ is not self.__class__:
        return NotImplemented
    return all(values_equal(getattr(self, f.name), getattr(other, f.name)) for f in fields(self) if f.compare)


@dataclass
class Channels:
    """All channels of one modality on one node: ``data`` is (channels, samples) float32."""

    data: np.ndarray
    sample_rate: float
    start_time: float = 0.0
    units: str = ""
    sensor: dict = field(default_factory=dict)   # e.g. {"name": "SM-24", "gain": 1.0, "site": "A"}

    __eq__ = fields_equal

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data, dtype=np.float32)
        if self.data.ndim == 1:
            self.data = self.data[None, :]
        if self.data.ndim != 2:
            raise EdgeRepError(f"channel data must be (channels, samples), got shape {self.data.shape}")
        if not (np.isfinite(self.sample_rate) and self.sample_rate > 0):
            raise EdgeRepError(f"sampling rate must be a positive number of Hz, got {self.sample_rate!r}")

    @property
    def n_channels(self) -> int:
        return self.data.shape[0]

    @property
    def n_samples(self) -> int:
        return self.data.shape[1]

    @property
    def duration(self) -> float:
        return self.n_samples / self.sample_rate

    @property
    def end_time(self) -> float:
        return self.start_time + self.duration

    def index_at(self, t: float) -> int:
        """Index of the sample at absolute time ``t`` (rounded)."""
        return int(round((t - self.start_time) * self.sample_rate))

    def segment(self, t0: float, n: int) -> np.ndarray:
        """``n`` samples starting at absolute time ``t0``; NaN where the recording has no data."""
        i0 = self.index_at(t0)
        out = np.full((self.n_channels, n), np.nan, dtype=np.float32)
        lo, hi = max(i0, 0), min(i0 + n, self.n_samples)
        if hi > lo:
            out[:, lo - i0:hi - i0] = self.data[:, lo:hi]
        return out


@dataclass
class LabelInterval:
    start: float   # seconds from Recording.start_time
    end: float
    label: str


@dataclass
class Window:
    start: float                     # seconds from Recording.start_time
    data: dict[str, np.ndarray]      # modality -> (channels, window samples), lost samples set to 0
    present: dict[str, bool]         # modality -> enough finite samples
    label: str | None                # label covering most of the window, None if unlabelled

    __eq__ = fields_equal


@dataclass
class Recording:
    id: str
    modalities: dict[str, Channels]
    labels: list[LabelInterval] = field(default_factory=list)
    start_time: float = 0.0
    metadata: dict = field(default_factory=dict)

    __eq__ = fields_equal     # metadata is free-form: it may hold arrays too

    @property
    def duration(self) -> float:
        return max((c.end_time for c in self.modalities.values()), default=self.start_time) - self.start_time

    def label_between(self, t0: float, t1: float) -> str | None:
        """The label covering most of [t0, t1) (seconds from start); None if nothing covers half of it."""
        best, best_overlap = None, 0.0
        for iv in self.labels:
            overlap = min(t1, iv.end) - max(t0, iv.start)
            if overlap > best_overlap:
                best, best_overlap = iv.label, overlap
        return best if best_overlap >= 0.5 * (t1 - t0) else None

    def validate(self, profile: Profile) -> None:
        """Raise EdgeRepError unless this recording fits ``profile`` (rates, channels, units, labels): a
        dataset holds one unit per modality, the profile's, never counts beside Pa."""
        for name, ch in self.modalities.items():
            spec = profile.modality(name)
            if ch.units != spec.units:
                raise EdgeRepError(f"recording '{self.id}': {name} is in {ch.units or 'no stated unit'} but profile "
                                   f"'{profile.name}' holds {spec.units or 'no stated unit'} (a dataset never mixes "
                                   f"units); calibrate it to {spec.units or 'that unit'} (edge-rep convert "
                                   f"--sensitivity/--full-scale/--inventory) or put it in a dataset of its own")
            if abs(ch.sample_rate - spec.sample_rate) > 1e-6 * spec.sample_rate:
                raise EdgeRepError(f"recording '{self.id}': {name} is sampled at {ch.sample_rate:g} Hz but profile "
                                   f"'{profile.name}' expects {spec.sample_rate:g} Hz; resample it first")
            if ch.n_channels != spec.channels:
                raise EdgeRepError(f"recording '{self.id}': {name} has {ch.n_channels} channels, profile "
                                   f"'{profile.name}' expects {spec.channels}")
        for iv in self.labels:
            if iv.label not in profile.classes:
                raise EdgeRepError(f"recording '{self.id}': label '{iv.label}' is not in the class list "
                                   f"({', '.join(profile.classes)})")
            if not iv.end > iv.start:
                raise EdgeRepError(f"recording '{self.id}': label interval {iv.start}..{iv.end} is empty")

    def windows(self, profile: Profile) -> Iterator[Window]:
        """Cut into windows of ``profile.window_s`` every ``profile.hop_s`` seconds from the start."""
        n_win = int(np.floor((self.duration - profile.window_s) / profile.hop_s + 1e-9)) + 1
        for w in range(max(n_win, 0)):
            t = w * profile.hop_s
            data, present = {}, {}
            for spec in profile.modalities:
                n = profile.window_samples(spec.name)
                ch = self.modalities.get(spec.name)
                seg = (ch.segment(self.start_time + t, n) if ch is not None
                       else np.full((spec.channels, n), np.nan, dtype=np.float32))
                finite = np.isfinite(seg)
                present[spec.name] = bool(finite.mean() >= MIN_PRESENT_FRACTION)
                data[spec.name] = np.where(finite, seg, 0.0).astype(np.float32)
            yield Window(start=t, data=data, present=present,
                         label=self.label_between(t, t + profile.window_s))
