"""miniSEED (and anything else ObsPy reads) via ObsPy, the optional ``seismic`` extra.

One recording per file. Traces of one channel are merged (as float64, whatever each record's encoding);
gaps stay gaps (NaN). Where a file holds several channels, the vertical one (code ending in Z) is taken
unless ``channel`` names another.

Units: miniSEED holds numbers, usually ADC counts. They become physical units by, in this order:

1. ``--inventory STATIONXML``: the division by the channel's overall sensitivity (ObsPy's
   ``remove_sensitivity``), or with ``--remove-response`` its ``remove_response`` (deconvolution: output ``VEL`` for
   a seismic profile, so a displacement or acceleration sensor becomes m/s; ``DEF`` for acoustic, whose
   sensor must measure Pa) with the pre-filter ``pre_filt_for(rate)`` unless ``--pre-filt`` gives one;
2. ``--sensitivity COUNTS_PER_UNIT`` or ``--units UNIT`` (``edge_rep.calibration.to_units``);
3. with none of these, a StationXML beside the file, ``FILE`` with the suffix ``.xml`` (``run.mseed`` ->
   ``run.xml``; what ``edge-rep convert-log --to mseed`` writes), read as if given with ``--inventory``.

Otherwise the samples are counts and the conversion stops, naming the options.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..calibration import COUNTS, Calibration, advice, from_stationxml_unit, stationxml_beside, to_units
from ..errors import EdgeRepError
from ..inpaths import input_file
from ..profiles import Profile
from ..recording import Channels, Recording
from . import find_files, label_from_path, rec_id, resample, resolve_label, whole_label

PATTERNS = ("*.mseed", "*.miniseed", "*.ms", "*.MSEED")


def _obspy():
    try:
        import obspy
    except ImportError:
        raise EdgeRepError("miniSEED needs ObsPy, which is not installed; run: pip install edge-rep[seismic]") from None
    return obspy


def pre_filt_for(rate: float) -> tuple[float, float, float, float]:
    """The default ``remove_response`` pre-filter for data sampled at ``rate`` Hz: a cosine taper that is
    one from rate/100 to 0.4 x rate (0.8 x Nyquist) and zero below rate/200 and above 0.45 x rate (0.9 x
    Nyquist). At 100 Hz: (0.5, 1, 40, 45) Hz, keeping a 4.5 Hz geophone's deconvolution away from the
    band where it would blow up noise, and away from the anti-alias filter's roll-off."""
    return (rate / 200, rate / 100, 0.4 * rate, 0.45 * rate)


def read_inventory(path: Path, where: str):
    """An ObsPy Inventory from a StationXML file; EdgeRepError naming it if it is not one."""
    obspy = _obspy()
    input_file(path, "StationXML", missing=where)          # a FIFO or a device beside the file is refused unread
    try:
        return obspy.read_inventory(str(path))
    except Exception as e:  # noqa: BLE001 - ObsPy raises many kinds for a file it cannot read
        first = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise EdgeRepError(f"{path}: not a readable StationXML ({first}); {where}") from None


def _response(inv, inv_path: Path, tr, path: Path):
    """The response of ``tr``'s channel over its whole time span (the same at its start and its end)."""
    n, s, loc, cha = tr.id.split(".")
    span = f"{tr.stats.starttime.isoformat()}..{tr.stats.endtime.isoformat()}"
    if not len(inv.select(network=n, station=s, location=loc, channel=cha)):
        raise EdgeRepError(f"{path}: {inv_path} has no channel {tr.id}; use a StationXML that holds it, or "
                           f"--sensitivity COUNTS_PER_UNIT")
    try:
        first = inv.get_response(tr.id, tr.stats.starttime)
        last = inv.get_response(tr.id, tr.stats.endtime)
    except Exception:  # noqa: BLE001 - ObsPy raises a plain Exception when no epoch covers the time
        raise EdgeRepError(f"{path}: {inv_path} has {tr.id} but not for its time span {span}; use a StationXML "
                           f"whose channel epochs cover the recording") from None
    sens = first.instrument_sensitivity
    if sens is None or not sens.value or not np.isfinite(sens.value):
        raise EdgeRepError(f"{path}: {inv_path} gives {tr.id} no usable InstrumentSensitivity; fix the StationXML "
                           f"or pass --sensitivity COUNTS_PER_UNIT")
    other = last.instrument_sensitivity
    if other is None or (other.value, other.input_units) != (sens.value, sens.input_units):
        raise EdgeRepError(f"{path}: {tr.id}'s response in {inv_path} changes within {span}; split the file at "
                           f"the epoch boundary")
    return first


def _calibrate(st, inv, inv_path: Path, target: str, cal: Calibration, path: Path) -> None:
    """Each trace of ``st`` (float64) into ``target`` units by the StationXML ``inv``, in place."""
    for tr in st:
        resp = _response(inv, inv_path, tr, path)
        have = from_stationxml_unit(resp.instrument_sensitivity.input_units)
        if cal.remove_response:
            output = "VEL" if target == "m/s" else "DEF"
            if output == "DEF" and have != target:
                raise EdgeRepError(f"{path}: {inv_path} gives {tr.id} in {have}, not {target}; use the StationXML "
                                   f"of a sensor that measures {target}")
            if output == "VEL" and have not in ("m", "m/s", "m/s**2"):
                raise EdgeRepError(f"{path}: {inv_path} gives {tr.id} in {have}, which is not a ground motion "
                                   f"(m, m/s, m/s**2); use the StationXML of a seismic sensor")
            pre_filt = cal.pre_filt or pre_filt_for(tr.stats.sampling_rate)
            try:
                tr.remove_response(inventory=inv, output=output, pre_filt=pre_filt)
            except Exception as e:  # noqa: BLE001 - ObsPy's evalresp raises many kinds for a response it cannot use
                raise EdgeRepError(f"{path}: cannot remove {tr.id}'s response with {inv_path} ({type(e).__name__}: "
                                   f"{str(e).splitlines()[0][:160] if str(e) else ''}); fix the StationXML, or use "
                                   f"the sensitivity alone (drop --remove-response)") from None
        else:
            if have != target:
                hint = ("pass --remove-response to convert it to m/s" if target == "m/s" and have in ("m", "m/s**2")
                        else f"use the StationXML of a sensor that measures {target}")
                raise EdgeRepError(f"{path}: {inv_path} gives {tr.id} in {have}, not {target}; {hint}")
            # what ObsPy's remove_sensitivity does, which fails on a response with no stages (a sensitivity
            # alone is valid StationXML, and common in hand-written files)
            tr.data = tr.data / resp.instrument_sensitivity.value


def read_trace(path: Path, channel: str | None = None, modality: str | None = None,
               profile: Profile | None = None, calibration: Calibration | None = None
               ) -> tuple[np.ndarray, float, float, dict, str]:
    """(samples with NaN gaps, rate, start time (UNIX s), stats, units) of one channel of a miniSEED file.

    ``units`` is "counts" unless a StationXML (``calibration.inventory``, or one beside the file when the
    calibration is not given explicitly) calibrated it to ``profile``'s unit for ``modality``."""
    obspy = _obspy()
    cal = calibration or Calibration()
    try:
        st = obspy.read(str(path))
    except FileNotFoundError:
        raise EdgeRepError(f"{path}: file not found; check the path") from None
    except Exception as e:  # noqa: BLE001 - ObsPy raises many kinds for a bad file
        raise EdgeRepError(f"{path}: not a readable miniSEED file ({type(e).__name__}: {e}); check it") from None
    codes = sorted({tr.stats.channel for tr in st})
    if not codes:
        raise EdgeRepError(f"{path}: holds no traces")
    if channel is None:
        pick = [c for c in codes if c.endswith("Z")] or codes
        if len(pick) > 1:
            raise EdgeRepError(f"{path}: holds channels {', '.join(codes)}; choose one with --channel")
        channel = pick[0]
    st = st.select(channel=channel)
    if len(st) == 0:
        raise EdgeRepError(f"{path}: has no channel '{channel}'; it has {', '.join(codes)}")
    rates = {tr.stats.sampling_rate for tr in st}
    if len(rates) > 1:
        raise EdgeRepError(f"{path}: channel {channel} changes sampling rate ({sorted(rates)}); split the file")
    for tr in st:       # a channel may switch encodings between records (STEIM2 ints, then FLOAT32):
        tr.data = tr.data.astype(np.float64)    # ObsPy merges only traces of one dtype
    units = COUNTS
    inv_path = Path(cal.inventory) if cal.inventory is not None else None
    where = "pass another with --inventory, or --sensitivity COUNTS_PER_UNIT"
    if inv_path is None and modality is not None and not cal.explicit(modality) and stationxml_beside(path).exists():
        inv_path = stationxml_beside(path)
        where = "fix or move it, or pass --inventory, --sensitivity or --units"
    if inv_path is not None:
        if modality is None or profile is None:
            raise EdgeRepError("read_trace: a StationXML needs the modality and profile to calibrate to")
        target = profile.modality(modality).units
        _calibrate(st, read_inventory(inv_path, where), inv_path, target, cal, path)     # per trace, before merging
        units = target
    st.merge(method=1, fill_value=None)     # gaps become masked samples
    tr = st[0]
    data = np.ma.filled(np.ma.masked_array(tr.data).astype(np.float64), np.nan)
    stats = {"id": tr.id, "network": tr.stats.network, "station": tr.stats.station, "channel": tr.stats.channel}
    if inv_path is not None:
        stats["inventory"] = str(inv_path)
        stats["response"] = "removed" if cal.remove_response else "sensitivity"
    return data, float(tr.stats.sampling_rate), float(tr.stats.starttime.timestamp), stats, units


def load(src: Path, profile: Profile, label: str | None = None, modality: str = "seismic",
         channel: str | None = None, calibration: Calibration | None = None) -> list[Recording]:
    cal = calibration or Calibration()
    spec = profile.modality(modality)
    files = find_files(src, PATTERNS, "miniSEED")
    if not cal.explicit(modality):        # say what is missing before ObsPy's import (about a second)
        for path in files:
            if not stationxml_beside(path).is_file():
                raise EdgeRepError(f"{path}: {modality} samples are in {COUNTS} with no calibration, but the "
                                   f"dataset holds {spec.units}; {advice(COUNTS, modality, spec.units, 'mseed')}")
    _obspy()
    out = []
    for path in files:
        data, rate, t0, stats, units = read_trace(path, channel, modality, profile, cal)
        x = resample(data[None, :], rate, spec.sample_rate, str(path))
        ch = to_units(Channels(x, spec.sample_rate, t0, units, dict(stats, original_rate=rate)), modality, profile,
                      cal, str(path), fmt="mseed")
        lab = label or label_from_path(path.relative_to(src) if src.is_dir() else Path(path.name), profile)
        lab = resolve_label(lab, profile, str(path)) if lab else None
        out.append(Recording(id=rec_id(path, src), modalities={modality: ch}, start_time=t0,
                             labels=whole_label(ch.duration, lab), metadata={"source": "mseed", "file": str(path)}))
    return out
