"""Non-target events a real node sees: earthquakes, thunder, aircraft, helicopters, machinery, rain,
birds and vehicles beyond detection range. They are labelled "background" (the class list does not
change) and each recording lists them in ``metadata["nontarget"]`` as ``[start_s, end_s, kind]``.

``TRAIN_KINDS`` may appear in every split; ``HELD_OUT_KINDS`` never appear in train or val (only in
test and foreign), so an out-of-distribution score fitted on the first can be tested on the second.
Parameter ranges and their sources: docs/synthetic.md ("Non-target events").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import synth_dsp as dsp

NONTARGET_KINDS: tuple[str, ...] = ("earthquake_local", "earthquake_regional", "aircraft", "helicopter",
                                    "machinery", "thunder", "rain", "far_vehicle", "birds")
HELD_OUT_KINDS: tuple[str, ...] = ("thunder", "helicopter")
TRAIN_KINDS: tuple[str, ...] = tuple(k for k in NONTARGET_KINDS if k not in HELD_OUT_KINDS)

RHO_C_AIR = 412.0      # Pa s/m: characteristic impedance of air (1.2 kg/m^3 x 343 m/s)


@dataclass
class NonTarget:
    """One non-target event. ``start`` is its onset in seconds from the recording start (may be < 0);
    ``duration`` how long it stays within 20 dB of its peak (10 dB for aircraft, as noise practice counts
    an overflight); ``level`` its peak: Pa for airborne kinds, m/s for earthquakes; ``params`` the rest."""

    kind: str
    start: float
    duration: float
    level: float
    params: dict = field(default_factory=dict)
    seed: int = 0

    def span(self, duration_s: float) -> tuple[float, float] | None:
        """(start, end) clipped to a recording of ``duration_s`` seconds; None if outside it."""
        a, b = max(self.start, 0.0), min(self.start + self.duration, duration_s)
        return (round(a, 3), round(b, 3)) if b > a else None


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def random_nontarget(kind: str, duration_s: float, rng: np.random.Generator) -> NonTarget:
    """A ``kind`` event whose span overlaps a recording of ``duration_s`` seconds, parameters drawn
    from the documented ranges. ``far_vehicle`` events carry only a time: edge_rep.synth renders them."""
    seed = int(rng.integers(2**31))
    if kind == "earthquake_local":       # 8-60 km: S-P 1-7 s, energy 1-20 Hz, coda of seconds
        p = dict(s_minus_p=float(rng.uniform(1.0, 7.0)), corner_hz=float(rng.uniform(6.0, 15.0)),
                 coda_s=float(rng.uniform(2.0, 8.0)))
        dur = p["s_minus_p"] + p["coda_s"] * np.log(10.0)
        level = _loguniform(rng, 1e-6, 3e-4)
    elif kind == "earthquake_regional":  # 100-800 km: S-P 12-90 s, energy 1-5 Hz, minutes long
        p = dict(s_minus_p=float(rng.uniform(12.0, 90.0)), corner_hz=float(rng.uniform(2.0, 5.0)),
                 coda_s=float(rng.uniform(15.0, 60.0)))
        dur = p["s_minus_p"] + p["coda_s"] * np.log(10.0)
        level = _loguniform(rng, 1e-7, 1e-5)
    elif kind == "aircraft":             # jet or propeller overflight
        p = dict(altitude=float(rng.uniform(300.0, 3000.0)), speed=float(rng.uniform(70.0, 250.0)),
                 lo=float(rng.uniform(40.0, 80.0)), hi=float(rng.uniform(1200.0, 2500.0)))
        dur = 2 * 3.0 * p["altitude"] / p["speed"]           # 10 dB-down duration: r = sqrt(10) h
        level = float(dsp.P_REF * 10 ** (rng.uniform(55.0, 85.0) / 20))
    elif kind == "helicopter":           # main-rotor blade passage 10-25 Hz, tail rotor 50-110 Hz
        p = dict(altitude=float(rng.uniform(100.0, 600.0)), speed=float(rng.uniform(20.0, 70.0)),
                 bpf=float(rng.uniform(10.0, 25.0)), tail_hz=float(rng.uniform(50.0, 110.0)),
                 slap=float(rng.uniform(0.2, 1.0)))
        dur = 2 * 3.0 * p["altitude"] / p["speed"]
        level = float(dsp.P_REF * 10 ** (rng.uniform(70.0, 95.0) / 20))
    elif kind == "machinery":            # a diesel generator or pump: 1500/1800 rpm, 3-6 cylinders
        rot = float(rng.choice([25.0, 30.0])) * float(rng.uniform(0.99, 1.01))
        p = dict(rotation_hz=rot, cylinders=int(rng.choice([3, 4, 6])),
                 seismic=_loguniform(rng, 1e-8, 5e-7))
        dur = float(rng.uniform(30.0, 600.0))
        level = float(dsp.P_REF * 10 ** (rng.uniform(40.0, 65.0) / 20))
    elif kind == "thunder":              # 1-10 km: a clap, then 5-30 s of rumble peaking 30-100 Hz
        p = dict(peak_hz=float(rng.uniform(30.0, 100.0)), rumble_s=float(rng.uniform(5.0, 30.0)))
        dur = p["rumble_s"]
        level = float(dsp.P_REF * 10 ** (rng.uniform(80.0, 115.0) / 20))
    elif kind == "rain":                 # 1-50 mm/h
        rate = _loguniform(rng, 1.0, 50.0)
        p = dict(rate_mm_h=rate, seismic=float(2e-9 * np.sqrt(rate)))
        dur = float(rng.uniform(60.0, 900.0))
        level = float(dsp.P_REF * 10 ** ((42.0 + 12.0 * np.log10(rate) + rng.uniform(-3, 3)) / 20))
    elif kind == "birds":
        p = dict(lo=float(rng.uniform(2000.0, 3000.0)), hi=float(rng.uniform(4000.0, 6000.0)),
                 chirp_hz=float(rng.uniform(2.0, 6.0)))
        dur = float(rng.uniform(3.0, 30.0))
        level = float(rng.uniform(0.002, 0.02))
    elif kind == "far_vehicle":
        p = {}
        dur, level = float(rng.uniform(15.0, 40.0)), 0.0
    else:
        raise ValueError(f"unknown non-target kind {kind!r}")
    start = float(rng.uniform(-dur, duration_s))       # any onset whose span overlaps the recording
    return NonTarget(kind, start, float(dur), level, p, seed)


def render(nt: NonTarget, acoustic: bool, t: np.ndarray, fs: float, air_to_ground: float,
           ground_gain: float) -> np.ndarray:
    """The event at the microphone (Pa) or at the geophone (m/s, before the sensor response) at times ``t``.
    Airborne events reach the ground through ``air_to_ground`` ((m/s)/Pa); earthquakes reach the air as
    rho c v. ``ground_gain`` scales ground-borne sources by the soil's response."""
    n = len(t)
    rng = np.random.default_rng([nt.seed, 0 if acoustic else 1])
    tau = t - nt.start
    k = nt.kind
    if k.startswith("earthquake"):
        v = _earthquake(nt, tau, fs, rng) * np.sqrt(ground_gain)
        # the moving ground radiates sound (p = rho c v): a low rumble, mostly below the microphone's band
        return RHO_C_AIR * v if acoustic else v
    if k == "machinery":
        env = np.clip(tau / 2.0, 0, 1) * np.clip((nt.duration - tau) / 2.0, 0, 1)
        f_rot, cyl = nt.params["rotation_hz"], nt.params["cylinders"]
        if acoustic:
            fire = f_rot * cyl / 2
            x = sum(np.sin(2 * np.pi * h * fire * t + rng.uniform(0, 6.3)) / h for h in (1, 2, 3, 4, 5, 6)
                    if h * fire < 0.45 * fs)
            x = x + 0.3 * dsp.band_noise(rng, n, fs, 200.0, 2000.0)
            return env * nt.level * x / (np.std(x) + 1e-12)
        x = sum(np.sin(2 * np.pi * h * f_rot * t + rng.uniform(0, 6.3)) / h for h in (1, 2, 3) if h * f_rot < 0.45 * fs)
        return env * nt.params["seismic"] * ground_gain * x
    if k == "rain":
        env = np.clip(tau / 10.0, 0, 1) * np.clip((nt.duration - tau) / 10.0, 0, 1)
        if acoustic:   # patter: a dense rain of drop impacts is Gaussian; a few big drops stand out
            x = dsp.band_noise(rng, n, fs, 500.0, 6000.0)
            big = rng.random(n) < 30.0 / fs
            x = x + dsp.impulses(n, fs, np.flatnonzero(big) / fs, rng.uniform(2, 6, big.sum()),
                                 dsp.ring(fs, [2500.0, 3700.0], 0.002, rng))
            return env * nt.level * x / (np.std(x) + 1e-12)
        return env * nt.params["seismic"] * ground_gain * dsp.band_noise(rng, n, fs, 10.0, 45.0)
    if k == "birds":
        if not acoustic:
            return np.zeros(n)
        env = ((tau > 0) & (tau < nt.duration)).astype(float)
        gate = np.sin(2 * np.pi * nt.params["chirp_hz"] * t) > 0.6
        return env * gate * nt.level * dsp.band_noise(rng, n, fs, nt.params["lo"], nt.params["hi"])
    # airborne: aircraft, helicopter, thunder; the ground hears them through air-to-ground coupling
    p = _airborne(nt, tau, t, fs, rng)
    return p if acoustic else air_to_ground * p


def _earthquake(nt: NonTarget, tau: np.ndarray, fs: float, rng: np.random.Generator) -> np.ndarray:
    """P arrival at tau = 0, S at tau = S-P (3x stronger, lower), then an exponentially decaying coda."""
    n = len(tau)
    sp, fc, coda = nt.params["s_minus_p"], nt.params["corner_hz"], nt.params["coda_s"]
    lo = 1.0 if nt.kind == "earthquake_local" else 0.5
    p_env = np.where(tau > 0, np.minimum(tau / 0.1, 1.0) * np.exp(-np.maximum(tau, 0) / max(0.4 * sp, 1.0)), 0.0)
    ts = tau - sp
    s_env = np.where(ts > 0, np.minimum(ts / 0.5, 1.0) * np.exp(-np.maximum(ts, 0) / coda), 0.0)
    p_wave = dsp.band_noise(rng, n, fs, 2 * lo, 1.5 * fc)
    s_wave = dsp.band_noise(rng, n, fs, lo, fc)
    # band_noise is unit rms: a Gaussian peak is ~3x rms, so scale the S wave's peak to nt.level
    return nt.level / 3.0 * (s_env * s_wave + 0.3 * p_env * p_wave)


def _airborne(nt: NonTarget, tau: np.ndarray, t: np.ndarray, fs: float, rng: np.random.Generator) -> np.ndarray:
    n = len(t)
    if nt.kind == "thunder":
        # clap: a short N-wave-like burst; rumble: noise bursts whose envelope decays over the rumble time
        lo, hi = 0.4 * nt.params["peak_hz"], 2.5 * nt.params["peak_hz"]
        rumble = dsp.band_noise(rng, n, fs, lo, hi)
        gusts = np.abs(dsp.smooth_noise(rng, t, 1.5)) + 0.3
        env = np.where(tau > 0, np.exp(-np.maximum(tau, 0) / (0.35 * nt.params["rumble_s"])), 0.0)
        env *= np.clip(tau / 0.05, 0, 1) * (tau < nt.duration * 1.5)
        clap = np.where((tau > 0) & (tau < 0.25), np.sin(2 * np.pi * tau / 0.25), 0.0)
        return nt.level * (env * gusts * rumble / 8.0 + 0.8 * clap)
    # an overflight at altitude h and speed v, closest at mid-span: p ~ 1/r, relative to the level at r = h
    h, v = nt.params["altitude"], nt.params["speed"]
    x = v * (tau - nt.duration / 2)
    r = np.sqrt(h * h + x * x)
    spread = h / r
    if nt.kind == "aircraft":
        lo, hi = nt.params["lo"], nt.params["hi"]
        x1 = dsp.band_noise(rng, n, fs, lo, 4 * lo) * dsp.air_absorption(2 * lo, r)
        x2 = 0.6 * dsp.band_noise(rng, n, fs, 4 * lo, hi) * dsp.air_absorption(np.sqrt(4 * lo * hi), r)
        return nt.level * spread * (x1 + x2) / 1.2
    # helicopter: main-rotor blade passage harmonics (impulsive when slapping), tail rotor, Doppler
    doppler = 343.0 / (343.0 + v * x / r)
    phase = 2 * np.pi * np.cumsum(nt.params["bpf"] * doppler) / fs
    slap = nt.params["slap"]
    main = sum((1.0 / k ** (1.5 - slap)) * np.sin(k * phase + rng.uniform(0, 6.3)) for k in range(1, 13)
               if k * nt.params["bpf"] * 1.2 < 0.45 * fs)
    tail_phase = 2 * np.pi * np.cumsum(nt.params["tail_hz"] * doppler) / fs
    tail = 0.4 * np.sin(tail_phase) if nt.params["tail_hz"] * 1.2 < 0.45 * fs else 0.0
    x = main + tail + 0.2 * dsp.band_noise(rng, n, fs, 100.0, 1500.0)
    return nt.level * spread * x / (np.std(x) + 1e-12)
