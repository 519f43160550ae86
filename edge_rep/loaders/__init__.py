"""Converters from public datasets and plain files into edge-rep recordings (then the dataset format).

Each module defines ``load(src: Path, profile: Profile, label: str | None, calibration: Calibration)
-> list[Recording]``; the ``edge-rep convert`` command picks one by ``FORMATS`` name, splits the
recordings by recording (never by window) and writes them with ``edge_rep.dataset.write_dataset``.
Every loader states the unit its samples are in and converts them with ``edge_rep.calibration.to_units``
as each file is read: samples come out in the profile's physical unit, or in a raw unit the user kept on
purpose (``--units counts``), or the file is refused naming the option to use.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import EdgeRepError
from ..profiles import Profile
from ..recording import LabelInterval, Recording

# convert format name -> module in this package
FORMATS: dict[str, str] = {"mod-csv": "mod_csv", "mod-pt": "mod_pt", "acids": "acids", "wav": "wav", "mseed": "mseed"}

# Class names of public datasets mapped onto edge-rep's classes (documented in docs/data-format.md).
LABEL_ALIASES: dict[str, str] = {
    # MOD / Parkland (FOCAL)
    "walking": "pedestrian", "walk": "pedestrian", "human": "pedestrian", "person": "pedestrian",
    "tesla": "car", "mustang": "car", "polaris": "car", "sedan": "car", "suv": "car",
    "warthog": "tracked", "tank": "tracked", "motorbike": "motorcycle", "bike": "motorcycle",
    "noise": "background", "quiet": "background", "none": "background",
}


def loader(fmt: str):
    """The loader module for ``fmt`` (one of ``FORMATS``)."""
    if fmt not in FORMATS:
        raise EdgeRepError(f"unknown input format '{fmt}'; choose one of: {', '.join(FORMATS)}")
    return importlib.import_module(f"{__name__}.{FORMATS[fmt]}")


def resolve_label(label: str, profile: Profile, where: str) -> str:
    """Map a dataset's class name onto the profile's classes; EdgeRepError if it is not one."""
    name = label.strip().lower()
    name = LABEL_ALIASES.get(name, name)
    if name not in profile.classes:
        raise EdgeRepError(f"{where}: label '{label}' is not in the class list ({', '.join(profile.classes)}); "
                           f"pass --label with one of them")
    return name


def label_from_path(path: Path, profile: Profile) -> str | None:
    """A class (or alias) named by one of the path's components, e.g. .../walking/node1/ehz.csv."""
    for part in reversed(path.parts):
        for tok in re.split(r"[^a-z]+", part.lower()):
            if tok in profile.classes or tok in LABEL_ALIASES:
                return LABEL_ALIASES.get(tok, tok)
    return None


def whole_label(rec_duration: float, label: str | None) -> list[LabelInterval]:
    return [LabelInterval(0.0, rec_duration, label)] if label else []


def resample(x: np.ndarray, rate_in: float, rate_out: float, where: str) -> np.ndarray:
    """Polyphase resampling along the last axis (anti-aliased); the ratio must be a simple fraction."""
    if abs(rate_in - rate_out) <= 1e-9 * rate_out:
        return x
    ratio = Fraction(rate_out / rate_in).limit_denominator(1000)
    if abs(float(ratio) - rate_out / rate_in) > 1e-6 * rate_out / rate_in:
        raise EdgeRepError(f"{where}: cannot resample {rate_in:g} Hz to {rate_out:g} Hz exactly; "
                           f"resample it yourself first")
    from scipy import signal          # here, not at import: it costs most of a bad command's second
    nan = ~np.isfinite(x)
    y = signal.resample_poly(np.where(nan, 0.0, x), ratio.numerator, ratio.denominator, axis=-1)
    if nan.any():   # keep gaps as gaps: a resampled sample is lost if any nearby input sample was lost
        lost = signal.resample_poly(nan.astype(float), ratio.numerator, ratio.denominator, axis=-1)
        y[np.abs(lost) > 0.01] = np.nan
    return y.astype(np.float32)


def assign_splits(recs: list[Recording], seed: int = 0, fractions=(0.7, 0.15, 0.15),
                  group=lambda r: r.id) -> list[tuple[Recording, str]]:
    """Split by recording (or by ``group`` of recordings), per class, deterministically.

    Groups are ordered by a hash of their name so adding a recording does not reshuffle the rest.
    """
    by_class: dict[str, list[str]] = {}
    groups: dict[str, list[Recording]] = {}
    for r in recs:
        g = group(r)
        if g not in groups:
            lab = r.labels[0].label if r.labels else "unlabelled"
            by_class.setdefault(lab, []).append(g)
        groups.setdefault(g, []).append(r)
    split_of: dict[str, str] = {}
    for names in by_class.values():
        names.sort(key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).hexdigest())
        n = len(names)
        n_test = round(fractions[2] * n) if n >= 3 else 0
        n_val = round(fractions[1] * n) if n >= 3 else 0
        for i, g in enumerate(names):
            split_of[g] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return [(r, split_of[group(r)]) for r in recs]


def find_files(src: Path, patterns: tuple[str, ...], what: str) -> list[Path]:
    if not src.exists():
        raise EdgeRepError(f"{src}: not found; check the path")
    if src.is_file():
        return [src]
    files = sorted({p for pat in patterns for p in src.rglob(pat) if p.is_file()})
    if not files:
        raise EdgeRepError(f"{src}: no {what} files ({', '.join(patterns)}) found; check the folder")
    return files


def rec_id(path: Path, src: Path) -> str:
    """A recording id unique within ``src``: the relative path without suffix, '/' as '__'."""
    rel = path.relative_to(src) if src.is_dir() and path != src else Path(path.name)
    return "__".join(rel.with_suffix("").parts)
