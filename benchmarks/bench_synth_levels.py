"""Absolute levels of the synthetic generator against references: background ground velocity against
Peterson's (1993) NLNM/NHNM and a real Raspberry Shake RS4D record, sound levels against the usual
figures, each class at a fixed distance in both modalities (ground velocity also without the geophone's
response, for comparison with FTA figures), and the non-target events. Rows are percentiles over sites.

The RS4D record is rsudp's test/testdata.ms (GPL-3.0, never committed): set EDGE_REP_RS4D to its path,
or the benchmark fetches rsudp 2.2.1 from PyPI (pip download) into ~/.cache/edge-rep/ and reads it there.
It needs ObsPy (the dev extra). Channel EHZ / 3.99e8 counts per m/s, first 44 s (before the earthquake).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge_rep import synth
from edge_rep.profiles import MOD
from edge_rep.synth_dsp import band_rms, spl_db
from edge_rep.synth_families import FOREIGN_FAMILIES, IN_FAMILIES
from edge_rep.synth_nontarget import NONTARGET_KINDS, random_nontarget

TITLE = "Absolute levels: synthetic generator vs references (percentiles 5/50/95 over sites)"
RS4D_SENSITIVITY = 3.99e8     # counts per m/s, Raspberry Shake RS4D EHZ (nominal)
SEIS_BAND = (1.0, 45.0)


def rs4d_path() -> Path | None:
    given = os.environ.get("EDGE_REP_RS4D")
    if given:
        return Path(given)
    cache = Path.home() / ".cache" / "edge-rep" / "rsudp-2.2.1" / "testdata.ms"
    if not cache.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "rsudp==2.2.1", "-d", tmp],
                               capture_output=True, text=True)
            wheels = list(Path(tmp).glob("rsudp-*.whl"))
            if r.returncode != 0 or not wheels:
                return None
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_bytes(zipfile.ZipFile(wheels[0]).read("rsudp/test/testdata.ms"))
    return cache


def rs4d_quiet_rms() -> float | None:
    """Rms ground velocity (m/s, 1-45 Hz) of the RS4D record's quiet first 44 s."""
    try:
        import obspy
    except ImportError:
        return None
    path = rs4d_path()
    if path is None:
        return None
    from scipy import signal

    tr = obspy.read(str(path)).select(channel="EHZ")[0]
    x = tr.data.astype(float) / RS4D_SENSITIVITY
    fs = tr.stats.sampling_rate
    sos = signal.butter(4, SEIS_BAND, btype="bandpass", fs=fs, output="sos")
    return float(np.std(signal.sosfiltfilt(sos, x)[: int(44 * fs)]))   # filter the whole trace, then cut


def peterson_rms() -> tuple[float, float] | None:
    """Rms velocity (m/s) in SEIS_BAND of Peterson's NLNM and NHNM (acceleration PSD in dB, converted;
    flat in acceleration beyond their 10 Hz end)."""
    try:
        from obspy.signal.spectral_estimation import get_nhnm, get_nlnm
    except ImportError:
        return None
    out = []
    for model in (get_nlnm, get_nhnm):
        period, db = model()
        f, order = 1.0 / period, np.argsort(1.0 / period)
        g = np.geomspace(*SEIS_BAND, 400)
        acc = np.interp(np.log(g), np.log(f[order]), db[order])
        out.append(float(np.sqrt(np.trapezoid(10 ** (acc / 10) / (2 * np.pi * g) ** 2, g))))
    return out[0], out[1]


def pct(values) -> str:
    v = np.percentile(np.asarray(values, dtype=float), [5, 50, 95])
    if abs(v[1]) < 1e-2:
        return " / ".join(f"{x:.2g}" for x in v)
    return " / ".join(f"{x:.1f}" for x in v)


def quiet(site: synth.Site) -> synth.Site:
    site.nontarget_per_min = 0.0
    return site


def background_rows(n_sites: int, families, name: str) -> list[dict]:
    seis, spl, dba = [], [], []
    for s in range(n_sites):
        rng = np.random.default_rng([s, 77])
        site = quiet(synth.Site.random(rng, family=families[s % len(families)]))
        r = synth.continuous(MOD, 24.0, seed=s, events=[], site=site)
        ac, se = r.modalities["acoustic"].data[0], r.modalities["seismic"].data[0]
        seis.append(band_rms(se, 100.0, *SEIS_BAND))
        spl.append(spl_db(ac, 8000.0))
        dba.append(spl_db(ac, 8000.0, a_weighted=True))
    return [{"what": f"background ({name}), no events", "quantity": "ground velocity 1-45 Hz, m/s rms",
             "synthetic": pct(seis)},
            {"what": f"background ({name}), no events", "quantity": "sound level, dB SPL", "synthetic": pct(spl)},
            {"what": f"background ({name}), no events", "quantity": "sound level, dB(A)", "synthetic": pct(dba)}]


def class_rows(n_sites: int) -> list[dict]:
    rows = []
    for label in synth.SOURCE_CLASSES:
        dist = 5.0 if label == "pedestrian" else 10.0
        spl, dba, rec_v, ground_v, ground15 = [], [], [], [], []
        for s in range(n_sites):
            rng = np.random.default_rng([s, 78])
            fam = IN_FAMILIES[s % len(IN_FAMILIES)]
            site = quiet(synth.Site.random(rng, family=fam))
            site.wind_speed, site.ambient_pa, site.cultural, site.microseismic = 0.3, 1e-4, 1e-9, 1e-9
            ev = synth.random_event(label, 10.0, rng, site.fleet)
            vals = []
            for d, flat in ((dist, False), (dist, True), (15.24, True)):
                ev.cpa_distance = d
                site.geophone_hz = 0.01 if flat else site.geophone_hz      # a flat velocity sensor
                r = synth.continuous(MOD, 20.0, seed=s, events=[ev], site=site)
                vals.append(r)
            ac = vals[0].modalities["acoustic"].data[0, 9 * 8000:11 * 8000]
            spl.append(spl_db(ac, 8000.0))
            dba.append(spl_db(ac, 8000.0, a_weighted=True))
            rec_v.append(_cpa_rms(vals[0]))
            ground_v.append(_cpa_rms(vals[1]))
            ground15.append(_cpa_rms(vals[2]))
        rows += [{"what": f"{label} at {dist:g} m", "quantity": "sound level at closest approach, dB SPL",
                  "synthetic": pct(spl)},
                 {"what": f"{label} at {dist:g} m", "quantity": "sound level at closest approach, dB(A)",
                  "synthetic": pct(dba)},
                 {"what": f"{label} at {dist:g} m", "quantity": "recorded velocity 1-45 Hz, m/s rms (2 s)",
                  "synthetic": pct(rec_v)},
                 {"what": f"{label} at {dist:g} m", "quantity": "ground velocity 1-45 Hz, m/s rms (2 s)",
                  "synthetic": pct(ground_v)},
                 {"what": f"{label} at 15.24 m (50 ft)", "quantity": "ground velocity 1-45 Hz, m/s rms (2 s)",
                  "synthetic": pct(ground15)}]
    return rows


def _cpa_rms(r) -> float:
    from scipy import signal
    x = r.modalities["seismic"].data[0].astype(float)
    sos = signal.butter(4, SEIS_BAND, btype="bandpass", fs=100.0, output="sos")
    return float(np.std(signal.sosfiltfilt(sos, x)[900:1100]))


def nontarget_rows(n: int) -> list[dict]:
    rows = []
    for kind in NONTARGET_KINDS:
        if kind == "far_vehicle":
            continue
        peak_pa, peak_v = [], []
        for s in range(n):
            rng = np.random.default_rng([s, 79])
            site = quiet(synth.Site.random(rng, family=IN_FAMILIES[s % len(IN_FAMILIES)]))
            site.wind_speed, site.ambient_pa, site.cultural, site.microseismic = 0.3, 1e-4, 1e-9, 1e-9
            nt = random_nontarget(kind, 60.0, rng)
            nt.start = 2.0                     # the whole event inside the 60 s recording where it fits
            r = synth.continuous(MOD, 60.0, seed=s, events=[], site=site, nontarget=[nt])
            peak_pa.append(spl_db(_loudest_second(r.modalities["acoustic"].data[0], 8000), 8000.0))
            peak_v.append(float(np.max(np.abs(r.modalities["seismic"].data[0]))))
        rows += [{"what": f"non-target {kind}", "quantity": "loudest 1 s, dB SPL", "synthetic": pct(peak_pa)},
                 {"what": f"non-target {kind}", "quantity": "peak recorded velocity, m/s", "synthetic": pct(peak_v)}]
    return rows


def _loudest_second(x: np.ndarray, fs: int) -> np.ndarray:
    segs = x[: len(x) // fs * fs].reshape(-1, fs)
    return segs[int(np.argmax(segs.std(1)))]


def run(quick: bool) -> list[dict]:
    n = 12 if quick else 48
    rows = []
    pet = peterson_rms()
    if pet:
        rows.append({"what": "Peterson 1993 NLNM / NHNM", "quantity": "ground velocity 1-45 Hz, m/s rms",
                     "synthetic": "", "reference": f"{pet[0]:.2g} / {pet[1]:.2g}"})
    rs4d = rs4d_quiet_rms()
    rows.append({"what": "RS4D record (rsudp testdata.ms), quiet first 44 s", "quantity":
                 "ground velocity 1-45 Hz, m/s rms", "synthetic": "",
                 "reference": f"{rs4d:.3g}" if rs4d else "unavailable (no ObsPy or no rsudp download)"})
    rows += background_rows(n, IN_FAMILIES, "in-family")
    rows += background_rows(max(n // 3, 4), FOREIGN_FAMILIES, "foreign")
    rows += class_rows(n // 2)
    rows += nontarget_rows(n // 2)
    return rows
