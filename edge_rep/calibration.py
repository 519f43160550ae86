"""Units and calibration: samples as a file holds them (ADC counts, digital full scale) into the
profile's physical units (Pa for microphones, m/s for geophones), or a clear refusal.

Each loader states the unit its samples are in (``Channels.units``): ``counts`` (miniSEED without a
StationXML, MOD, ACIDS), ``FS`` (a WAV: 1.0 at digital full scale) or a physical unit (what an
edge-rep WAV sidecar or a StationXML says). ``to_units`` then applies what the user gave
``edge-rep convert``::

    --sensitivity [MODALITY=]COUNTS_PER_UNIT   counts -> unit: divide (the seismological convention,
                                               counts per m/s, or per Pa)
    --full-scale VALUE                         FS -> unit: multiply (WAV: the physical value, e.g. Pa,
                                               at digital full scale)
    --units [MODALITY=]UNIT                    keep the samples as they are, in UNIT, on purpose

Data in counts or FS with none of these is an ``EdgeRepError`` naming the option to use: a dataset
never holds counts under a profile that says Pa. With ``--units counts`` the dataset's profile records
counts for that modality (``Calibration.profile``), so a model trained in m/s refuses it and the other
way round (``edge_rep.modelspec.check_units``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .errors import EdgeRepError
from .profiles import Profile
from .recording import Channels

COUNTS = "counts"
FULL_SCALE = "FS"
RAW_UNITS = (COUNTS, FULL_SCALE)

# edge-rep's unit names <-> FDSN StationXML unit names (SI, upper case, e.g. <InputUnits><Name>M/S</Name>)
STATIONXML_UNITS: dict[str, str] = {"m/s": "M/S", "Pa": "PA", "m/s**2": "M/S**2", "m": "M", COUNTS: "COUNTS"}


# The sidecars that say what an edge-rep WAV / miniSEED file holds (written by ``edge-rep convert-log``,
# read by ``edge-rep convert``): FILE.wav -> FILE.wav.json; FILE.mseed -> FILE.xml (FDSN StationXML).
WAV_SIDECAR_FORMAT = "edge-rep-wav"


def wav_sidecar_path(path: str | os.PathLike) -> Path:
    """Where a WAV file's sidecar sits: ``FILE.wav`` -> ``FILE.wav.json``."""
    return Path(str(path) + ".json")


def wav_sidecar(modality: str, units: str, full_scale: float | None = None) -> dict:
    """A WAV file's sidecar: it holds ``modality`` in ``units``; ``full_scale`` None: the samples are the
    values in ``units``; a number: ``units`` at digital full scale."""
    return {"format": WAV_SIDECAR_FORMAT, "modality": modality, "units": units, "full_scale": full_scale}


def stationxml_beside(path: str | os.PathLike) -> Path:
    """Where the StationXML of miniSEED file ``path`` sits: ``path`` with the suffix ``.xml``."""
    return Path(path).with_suffix(".xml")


def from_stationxml_unit(name: str | None) -> str:
    """A StationXML unit name (any case; ``M/S``, ``Pa``, ``COUNTS``) as edge-rep names it (``m/s``, ``Pa``,
    ``counts``); an unknown name is returned as it is."""
    key = (name or "").strip().upper()
    return next((ours for ours, sx in STATIONXML_UNITS.items() if sx == key), (name or "").strip())


def to_stationxml_unit(units: str) -> str:
    return STATIONXML_UNITS.get(units, units.upper())


@dataclass(frozen=True)
class Calibration:
    """What the user said about units (``edge-rep convert``'s options). Keys are modality names, or None
    for "the format's only modality" (``sensitivity``) / "every modality not calibrated otherwise"
    (``units``)."""

    sensitivity: dict[str | None, float] = field(default_factory=dict)   # counts per unit
    full_scale: float | None = None                                      # unit at digital full scale
    units: dict[str | None, str] = field(default_factory=dict)           # declared unit of the samples
    inventory: str | None = None                                         # StationXML (miniSEED)
    remove_response: bool = False                                        # deconvolve, not only divide
    pre_filt: tuple[float, float, float, float] | None = None            # remove_response pre-filter, Hz

    def sensitivity_of(self, modality: str) -> float | None:
        return self.sensitivity.get(modality, self.sensitivity.get(None))

    def declared_units(self, modality: str) -> str | None:
        """The unit the user declared for ``modality`` (a bare ``--units`` covers every modality that has no
        sensitivity and no full scale of its own)."""
        if modality in self.units:
            return self.units[modality]
        if self.sensitivity_of(modality) is not None or self.full_scale is not None:
            return None
        return self.units.get(None)

    def explicit(self, modality: str) -> bool:
        """The user calibrated ``modality`` on the command line: a StationXML or WAV sidecar found beside a
        file is then not read (the command line wins)."""
        return (self.inventory is not None or self.full_scale is not None
                or self.sensitivity_of(modality) is not None or self.declared_units(modality) is not None)

    def profile(self, profile: Profile, modalities: tuple[str, ...]) -> Profile:
        """``profile`` with the units the user declared for ``modalities`` (e.g. counts for seismic): the
        profile a dataset of such data records, so it never claims Pa or m/s for counts."""
        mods = tuple(replace(m, units=self.declared_units(m.name)) if m.name in modalities
                     and self.declared_units(m.name) is not None else m for m in profile.modalities)
        return replace(profile, modalities=mods)


def advice(raw: str, modality: str, target: str, fmt: str | None = None) -> str:
    """What to pass to turn samples in ``raw`` into ``target``, or to keep them on purpose."""
    keep = f"--units {raw}" if fmt in ("wav", "mseed") else f"--units {modality}={raw}"
    if raw == FULL_SCALE:
        how = f"pass --full-scale VALUE (the value in {target} at digital full scale)"
    else:
        sens = "COUNTS_PER_UNIT" if fmt in ("wav", "mseed") else f"{modality}=COUNTS_PER_UNIT"
        how = f"pass --sensitivity {sens} (counts per {target})"
        how += " or --inventory STATIONXML" if fmt == "mseed" else ""
    return f"{how}, or {keep} to keep {raw} on purpose"


def to_units(ch: Channels, modality: str, profile: Profile, cal: Calibration, where: str,
             fmt: str | None = None) -> Channels:
    """``ch`` (in the unit its loader stated) in the profile's unit for ``modality``, by ``cal``; or, with
    a declared ``--units``, as it is in that unit. EdgeRepError (naming ``where``, a file, and the option
    to use) when samples in counts or FS have no calibration, or a stated unit is neither the profile's
    nor the declared one."""
    target = profile.modality(modality).units
    raw = ch.units
    sens = cal.sensitivity_of(modality)
    declared = cal.declared_units(modality)
    if sens is not None or cal.full_scale is not None:
        if raw != (COUNTS if sens is not None else FULL_SCALE):
            given = f"--sensitivity (counts per {target})" if sens is not None else "--full-scale"
            raise EdgeRepError(f"{where}: {modality} samples are in {raw or 'no stated unit'}, which {given} does "
                               f"not apply to; drop it" + (f" ({advice(raw, modality, target, fmt)})"
                                                           if raw in RAW_UNITS else ""))
        factor = 1.0 / sens if sens is not None else cal.full_scale
        done = {"sensitivity": sens} if sens is not None else {"full_scale": cal.full_scale}
        return replace(ch, data=(ch.data.astype(np.float64) * factor).astype(np.float32), units=target,
                       sensor={**ch.sensor, "calibration": {**done, "units": target}})
    if declared is not None:
        if raw in RAW_UNITS and declared not in (raw, target):
            raise EdgeRepError(f"{where}: {modality} samples are in {raw}; --units {declared} can only keep them "
                               f"in {raw} or declare them already in {target}")
        if raw not in RAW_UNITS and declared != raw:
            raise EdgeRepError(f"{where}: {modality} samples are in {raw or 'no stated unit'} (its sidecar or "
                               f"StationXML says so), not {declared}; drop --units")
        return replace(ch, units=declared, sensor={**ch.sensor, "calibration": {"declared_units": declared}})
    if raw == target:
        return ch
    if raw in RAW_UNITS:
        what = "digital full scale (FS)" if raw == FULL_SCALE else raw
        raise EdgeRepError(f"{where}: {modality} samples are in {what} with no calibration, but the dataset holds "
                           f"{target}; {advice(raw, modality, target, fmt)}")
    raise EdgeRepError(f"{where}: {modality} samples are in {raw or 'no stated unit'}, but profile "
                       f"'{profile.name}' holds {target}; convert them to {target} first")
