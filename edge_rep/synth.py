"""Physics-based synthetic acoustic-seismic recordings of ground-vehicle and pedestrian pass-bys.

Each source moves on a straight line past the node: it is closest (``cpa_distance``) at ``t_cpa``.
What the microphone hears and the geophone feels is rendered from the source's physics:

  engines     firing fundamental = RPM/60 x cylinders/2 (four-stroke) with harmonics, Doppler-shifted
  tyres       broadband road noise rising with speed (acoustic), suspension band + wheel impacts (seismic)
  tracks      block impacts at speed / track pitch: a clank (acoustic) and a strong line spectrum (seismic)
  footsteps   impacts at 1.45-2 Hz cadence, 0.12-0.17 s each, ground response 10-90 Hz; faint in the air
  propagation acoustic 1/r + air absorption rising with frequency; seismic (Rayleigh) 1/sqrt(r) with
              ground damping exp(-pi f r / (Q c_R)); air-to-ground coupling ~1e-5 (m/s)/Pa
  noise       gusty wind on the microphone (which saturates: clipping), microseismic and cultural
              ground noise, mains hum, distant interferers (aircraft, far road traffic, generators,
              birds), per-site sensor gain and ground coupling

A label covers the time a source is within its class's detection range (``DETECTION_RANGE_M``);
everything else is "background". Same seed -> identical arrays.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from scipy import signal

from .errors import EdgeRepError
from .outpaths import claim
from .profiles import CLASSES, MOD, Profile
from .recording import Channels, LabelInterval, Recording

GENERATOR_VERSION = 1
C_AIR = 343.0          # m/s, speed of sound
REACH_FACTOR = 3.0     # sources farther than this x their detection range are not rendered (under the noise)
SCREEN_START, SCREEN_SCALE = 0.8, 0.25   # terrain screening: exp(-(r - 0.8 R) / (0.25 R)) beyond 0.8 R

# A label is given while the source is within this range (m) of the node.
DETECTION_RANGE_M: dict[str, float] = {"pedestrian": 12.0, "motorcycle": 45.0, "car": 35.0,
                                       "truck": 50.0, "tracked": 60.0}

# Per-class source physics. Ranges are (low, high) drawn uniformly per event; levels are at 1 m.
CLASS_PHYSICS: dict[str, dict] = {
    "pedestrian": dict(speed=(1.0, 1.8), cpa=(1.5, 9.0), cadence=(1.45, 2.0), step_s=(0.12, 0.17),
                       step_seis=(1.5e-5, 4e-5), step_air=(0.004, 0.012)),
    "motorcycle": dict(speed=(5.0, 14.0), cpa=(3.0, 30.0), rpm=(3500.0, 7500.0), cylinders=(1, 2, 4),
                       engine=(0.8, 2.5), harmonics=16, decay_db=(1.0, 2.5), half_orders=0.5,
                       tyre=0.15, seis=0.25),
    "car": dict(speed=(4.0, 12.0), cpa=(3.0, 25.0), rpm=(1600.0, 3500.0), cylinders=(4,),
                engine=(0.6, 1.4), harmonics=8, decay_db=(3.0, 6.0), half_orders=0.05,
                tyre=0.45, seis=1.0),
    "truck": dict(speed=(3.0, 10.0), cpa=(4.0, 35.0), rpm=(800.0, 1500.0), cylinders=(6,),
                  engine=(1.5, 4.0), harmonics=14, decay_db=(1.5, 3.0), half_orders=0.6,
                  tyre=0.9, seis=5.0),
    "tracked": dict(speed=(2.0, 7.0), cpa=(5.0, 40.0), rpm=(1400.0, 2400.0), cylinders=(6, 8),
                    engine=(0.8, 2.5), harmonics=10, decay_db=(2.0, 4.0), half_orders=0.3,
                    tyre=0.3, seis=8.0, pitch=(0.15, 0.2), clank=(0.8, 2.0), track_seis=(5.0, 10.0)),
}

VEHICLES = ("motorcycle", "car", "truck", "tracked")


@dataclass
class Event:
    """One pass-by. Unset (None) physics fields are drawn from ``CLASS_PHYSICS`` by ``random_event``."""

    label: str                   # a class name other than "background"
    t_cpa: float                 # s from the recording start: time of closest approach
    speed: float                 # m/s
    cpa_distance: float          # m
    rpm: float | None = None     # engine speed (vehicles)
    cylinders: int | None = None
    engine_level: float | None = None   # Pa at 1 m, engine fundamental
    cadence: float | None = None        # Hz (pedestrian)
    track_pitch: float | None = None    # m (tracked)
    rpm_wander: float = 0.04            # relative rms drift of the RPM (throttle, gears)
    seed: int = 0                       # drives this source's own noise

    def position(self, t: np.ndarray) -> np.ndarray:
        return self.speed * (t - self.t_cpa)

    def in_range_span(self) -> tuple[float, float]:
        """Times (s) at which the source enters and leaves detection range (empty if it never does)."""
        R, d = DETECTION_RANGE_M[self.label], self.cpa_distance
        if d >= R:
            return self.t_cpa, self.t_cpa
        h = np.sqrt(R * R - d * d) / self.speed
        return self.t_cpa - h, self.t_cpa + h


@dataclass
class Site:
    """Where the node stands: sensor gains, ground coupling and the noise it lives with."""

    acoustic_gain: float = 1.0      # microphone sensitivity error (x)
    seismic_gain: float = 1.0       # geophone sensitivity error (x)
    coupling: float = 1.0           # how well the ground carries vibration to this geophone (x)
    ground_q: float = 20.0          # ground quality factor (damping of surface waves)
    rayleigh_speed: float = 250.0   # m/s
    air_to_ground: float = 1e-5     # (m/s)/Pa acoustic-to-seismic coupling
    wind_speed: float = 3.0         # m/s mean at the microphone
    gustiness: float = 0.4          # relative spread of gusts
    mic_clip: float = 2.0           # Pa at which the microphone saturates
    ambient_pa: float = 0.003       # rms of diffuse ambient sound
    microseismic: float = 3e-7      # m/s rms of ocean/cultural ground noise
    mains_hz: float = 50.0
    mains_pa: float = 0.0005        # rms of electrical hum picked up by the microphone chain
    interferers_per_min: float = 1.0
    name: str = "site"

    @classmethod
    def random(cls, rng: np.random.Generator, name: str = "site") -> Site:
        return cls(acoustic_gain=float(10 ** (rng.uniform(-3, 3) / 20)),
                   seismic_gain=float(10 ** (rng.uniform(-4, 4) / 20)),
                   coupling=float(10 ** (rng.uniform(-6, 6) / 20)),
                   ground_q=float(rng.uniform(10, 40)),
                   rayleigh_speed=float(rng.uniform(150, 400)),
                   air_to_ground=float(10 ** rng.uniform(-5.5, -4.5)),
                   wind_speed=float(rng.gamma(2.0, 1.5)),
                   gustiness=float(rng.uniform(0.2, 0.8)),
                   mic_clip=float(rng.uniform(1.0, 3.0)),
                   ambient_pa=float(10 ** rng.uniform(-2.8, -2.0)),
                   microseismic=float(10 ** rng.uniform(-7.0, -6.0)),
                   mains_hz=float(rng.choice([50.0, 60.0])),
                   mains_pa=float(10 ** rng.uniform(-4, -3)),
                   interferers_per_min=float(rng.uniform(0.2, 1.5)),
                   name=name)


def random_event(label: str, t_cpa: float, rng: np.random.Generator) -> Event:
    """An event of class ``label`` passing at ``t_cpa`` with physics drawn from ``CLASS_PHYSICS``."""
    if label not in CLASS_PHYSICS:
        raise EdgeRepError(f"event label '{label}' has no physics; use one of {', '.join(CLASS_PHYSICS)}")
    p = CLASS_PHYSICS[label]
    ev = Event(label=label, t_cpa=float(t_cpa), speed=float(rng.uniform(*p["speed"])),
               cpa_distance=float(rng.uniform(*p["cpa"])), seed=int(rng.integers(2**31)))
    if label == "pedestrian":
        ev.cadence = float(rng.uniform(*p["cadence"]))
    else:
        ev.rpm = float(rng.uniform(*p["rpm"]))
        ev.cylinders = int(rng.choice(p["cylinders"]))
        ev.engine_level = float(rng.uniform(*p["engine"]))
    if label == "tracked":
        ev.track_pitch = float(rng.uniform(*p["pitch"]))
    return ev


def random_events(duration_s: float, rng: np.random.Generator, labels: tuple[str, ...] = tuple(CLASS_PHYSICS),
                  gap_s: tuple[float, float] = (3.0, 12.0)) -> list[Event]:
    """Pass-bys one after another (their detection spans never overlap), separated by background gaps."""
    events, t = [], float(rng.uniform(0.0, gap_s[1]))
    while True:
        ev = random_event(str(rng.choice(labels)), 0.0, rng)
        t0, t1 = ev.in_range_span()
        half = max(t1 - ev.t_cpa, 1.0)
        ev.t_cpa = t + half
        if ev.t_cpa - half >= duration_s:
            return events
        events.append(ev)
        t = ev.t_cpa + half + float(rng.uniform(*gap_s))


# --- rendering helpers ---------------------------------------------------------------------------

def _air_absorption(f: np.ndarray | float, r: np.ndarray) -> np.ndarray:
    """Amplitude factor for air absorption: about 5 dB/km at 1 kHz, rising ~f^1.7."""
    alpha = 6e-4 * (np.asarray(f) / 1000.0) ** 1.7     # Np/m
    return np.exp(-alpha * r)


def _ground_damping(f: np.ndarray | float, r: np.ndarray, site: Site) -> np.ndarray:
    return np.exp(-np.pi * np.asarray(f) * r / (site.ground_q * site.rayleigh_speed))


def _band_noise(rng: np.random.Generator, n: int, fs: float, lo: float, hi: float) -> np.ndarray:
    """Unit-rms Gaussian noise in [lo, hi] Hz (clamped below Nyquist); zeros if the band is out of reach."""
    hi = min(hi, 0.45 * fs)
    if n == 0 or hi <= lo:
        return np.zeros(n)
    sos = signal.butter(2, [lo, hi], btype="bandpass", fs=fs, output="sos")
    x = signal.sosfilt(sos, rng.standard_normal(n + 256))[256:]
    return x / (np.std(x) + 1e-12)


def _smooth_noise(rng: np.random.Generator, t: np.ndarray, corner_hz: float) -> np.ndarray:
    """A slowly wandering unit-rms process sampled at times ``t`` (for RPM drift and gusts)."""
    dt = 1.0 / (8 * corner_hz)
    n = int(np.ceil((t[-1] - t[0]) / dt)) + 4 if len(t) else 4
    x = signal.sosfiltfilt(signal.butter(2, corner_hz, fs=1 / dt, output="sos"), rng.standard_normal(n + 32))[16:-16]
    x /= np.std(x) + 1e-12
    return np.interp(t, t[0] + dt * np.arange(len(x)) if len(t) else [0.0], x)


def _impulses(n: int, fs: float, times: np.ndarray, amps: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """A train of ``kernel``-shaped impacts at ``times`` (s, relative to sample 0) with ``amps``."""
    spikes = np.zeros(n)
    idx = np.round(times * fs).astype(int)
    ok = (idx >= 0) & (idx < n)
    np.add.at(spikes, idx[ok], amps[ok])
    return signal.fftconvolve(spikes, kernel)[:n]


def _ring(fs: float, freqs: list[float], decay_s: float, rng: np.random.Generator) -> np.ndarray:
    """A peak-normalised damped ring: the response of a struck plate, track block or ground patch."""
    t = np.arange(int(max(4 * decay_s * fs, 2))) / fs
    k = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in freqs if f < 0.45 * fs)
    if np.isscalar(k):   # every mode above Nyquist: the sensor sees a one-sample jolt
        k = np.zeros_like(t)
        k[0] = 1.0
    k = k * np.exp(-t / decay_s)
    return k / (np.max(np.abs(k)) + 1e-12)


def _burst(fs: float, lo: float, hi: float, dur_s: float, rng: np.random.Generator) -> np.ndarray:
    """A peak-normalised band-limited noise burst with a Hann envelope (a footstep's ground response)."""
    n = max(int(dur_s * fs), 3)
    x = _band_noise(rng, n, fs, lo, hi) if min(hi, 0.45 * fs) > lo else rng.standard_normal(n)
    x = x * np.hanning(n)
    return x / (np.max(np.abs(x)) + 1e-12)


class _Scene:
    """Renders every source of one recording at one modality's sampling rate."""

    def __init__(self, modality: str, fs: float, n: int, site: Site):
        self.modality, self.fs, self.n, self.site = modality, fs, n, site
        self.t = np.arange(n) / fs

    @property
    def acoustic(self) -> bool:
        return self.modality == "acoustic"

    def _span(self, ev: Event, reach_m: float) -> slice:
        """Samples during which the source is within ``reach_m`` (nothing outside is rendered)."""
        if ev.cpa_distance >= reach_m:
            return slice(0, 0)
        h = np.sqrt(reach_m ** 2 - ev.cpa_distance ** 2) / max(ev.speed, 1e-3)
        i0 = max(int((ev.t_cpa - h) * self.fs), 0)
        i1 = min(int((ev.t_cpa + h) * self.fs) + 1, self.n)
        return slice(i0, max(i0, i1))

    def _spread(self, r: np.ndarray) -> np.ndarray:
        return 1.0 / np.maximum(r, 1.0) if self.acoustic else 1.0 / np.sqrt(np.maximum(r, 1.0))

    def _atten(self, f, r: np.ndarray) -> np.ndarray:
        return _air_absorption(f, r) if self.acoustic else _ground_damping(f, r, self.site)

    def event(self, ev: Event) -> np.ndarray:
        out = np.zeros(self.n)
        sl = self._span(ev, REACH_FACTOR * DETECTION_RANGE_M[ev.label])
        if sl.stop <= sl.start:
            return out
        t = self.t[sl]
        rng = np.random.default_rng([ev.seed, 0 if self.acoustic else 1])
        x = ev.position(t)
        r = np.sqrt(x * x + ev.cpa_distance ** 2)
        c = C_AIR if self.acoustic else self.site.rayleigh_speed
        doppler = c / (c + ev.speed * x / r)      # > 1 approaching, < 1 receding
        p = CLASS_PHYSICS[ev.label]
        seg = np.zeros(len(t))
        if ev.label == "pedestrian":
            seg += self._footsteps(ev, t, r, rng)
        else:
            seg += self._engine(ev, p, t, r, doppler, rng)
            seg += self._tyres(ev, p, t, r, rng)
            if ev.label == "tracked":
                seg += self._tracks(ev, p, t, r, rng)
        # Terrain screening (ground effect, vegetation, buildings): excess attenuation that grows past
        # ~0.8 x the detection range. It is what makes "within detection range" a learnable label.
        R = DETECTION_RANGE_M[ev.label]
        out[sl] = seg * np.exp(-np.maximum(r - SCREEN_START * R, 0.0) / (SCREEN_SCALE * R))
        return out

    def _engine(self, ev, p, t, r, doppler, rng) -> np.ndarray:
        # Firing fundamental from RPM and cylinders; RPM wanders (throttle, gear) by a few percent.
        rpm = ev.rpm * (1 + ev.rpm_wander * _smooth_noise(np.random.default_rng([ev.seed, 7]), t, 0.3))
        f0 = rpm / 60.0 * ev.cylinders / 2.0
        erng = np.random.default_rng([ev.seed, 3])   # same harmonic recipe for both modalities
        decay = erng.uniform(*p["decay_db"])
        orders = [k for k in range(1, p["harmonics"] + 1)]
        orders += [k + 0.5 for k in range(0, p["harmonics"]) if erng.random() < p["half_orders"]]
        amps = {k: 10 ** (-(k - 1) * decay / 20) * 10 ** (erng.normal(0, 3) / 20) for k in orders}
        phases = {k: np.exp(1j * erng.uniform(0, 2 * np.pi)) for k in orders}
        level = ev.engine_level if self.acoustic else ev.engine_level * 2e-6 * p["seis"] * self.site.coupling
        # exp(i * phase / 2) to successive powers gives every half order without a sin per harmonic;
        # distance terms vary slowly, so they are computed on a 10 ms grid and interpolated.
        half = np.exp(1j * np.pi * np.cumsum(f0 * doppler) / self.fs).astype(np.complex64)
        step = max(1, int(self.fs / 100))
        tc, rc = t[::step], r[::step]
        fmean, fmax = float(np.mean(f0)), float(np.max(f0 * doppler))
        out = np.zeros(len(t))
        cur = np.ones(len(t), np.complex64)
        for n2 in range(1, int(2 * max(orders)) + 1):
            cur *= half
            k = n2 / 2
            if k not in amps:
                continue
            if k * fmax >= 0.45 * self.fs:
                break      # the anti-alias filter removes this and every higher order
            env = np.interp(t, tc, level * amps[k] * self._atten(k * fmean, rc) * self._spread(rc))
            out += env * (cur * phases[k]).imag
        return out

    def _tyres(self, ev, p, t, r, rng) -> np.ndarray:
        speed_gain = (ev.speed / 10.0) ** 2
        n = len(t)
        if self.acoustic:
            # tyre/road noise: three bands, each absorbed by the air at its own rate
            out = np.zeros(n)
            for lo, hi, w in ((150, 600, 1.0), (600, 1500, 0.8), (1500, 3500, 0.4)):
                out += w * _band_noise(rng, n, self.fs, lo, hi) * self._atten(np.sqrt(lo * hi), r)
            return p["tyre"] * 0.4 * speed_gain * out * self._spread(r)
        # suspension band (heavier vehicles lower and stronger) plus random wheel impacts on road roughness
        lo, hi = (2.0, 15.0) if p["seis"] >= 5 else (4.0, 30.0)
        base = p["seis"] * 3e-6 * self.site.coupling * np.sqrt(ev.speed / 10.0)
        out = base * _band_noise(rng, n, self.fs, lo, hi) * self._atten(np.sqrt(lo * hi), r)
        rate = 0.6 * ev.speed
        times = np.cumsum(rng.exponential(1 / rate, int(rate * (t[-1] - t[0] + 1)) + 2))
        kern = _ring(self.fs, [12.0, 23.0, 37.0], 0.05, rng)
        amps = base * 1.5 * rng.uniform(0.3, 1.0, len(times))
        out += _impulses(n, self.fs, times, amps, kern) * self._atten(20.0, r)
        return out * self._spread(r)

    def _tracks(self, ev, p, t, r, rng) -> np.ndarray:
        # Each track block hits the ground at speed / pitch: a very regular impact train.
        rate = ev.speed / ev.track_pitch
        trng = np.random.default_rng([ev.seed, 5])
        n_hits = int(rate * (t[-1] - t[0])) + 2
        times = np.arange(n_hits) / rate + trng.normal(0, 0.03 / rate, n_hits)
        a = trng.uniform(0.7, 1.0, n_hits)
        if self.acoustic:
            kern = _ring(self.fs, list(trng.uniform(400, 2500, 3)), 0.015, rng)
            lvl = trng.uniform(*p["clank"])
            att = self._atten(1000.0, r)
        else:
            kern = _ring(self.fs, [rate, 2 * rate, 2.7 * rate], 0.03, rng)
            lvl = trng.uniform(*p["track_seis"]) * 1e-5 * self.site.coupling
            att = self._atten(rate, r)
        return _impulses(len(t), self.fs, times, a * lvl, kern) * att * self._spread(r)

    def _footsteps(self, ev, t, r, rng) -> np.ndarray:
        p = CLASS_PHYSICS["pedestrian"]
        frng = np.random.default_rng([ev.seed, 9])
        n_steps = int(ev.cadence * (t[-1] - t[0])) + 2
        times = (np.arange(n_steps) + frng.normal(0, 0.03, n_steps)) / ev.cadence
        side = np.where(np.arange(n_steps) % 2 == 0, 1.0, frng.uniform(0.6, 1.0))   # a slight limp
        a = side * frng.uniform(0.6, 1.0, n_steps)
        dur = frng.uniform(*p["step_s"])
        if self.acoustic:
            kern = _burst(self.fs, 200.0, 3000.0, 0.03, rng)   # a scuff / heel click
            lvl, att = frng.uniform(*p["step_air"]), self._atten(1000.0, r)
        else:
            kern = _burst(self.fs, 10.0, 90.0, dur, rng)
            lvl, att = frng.uniform(*p["step_seis"]) * self.site.coupling, self._atten(30.0, r)
        # step times are relative to the span start; distance shapes each step through r(t)
        return _impulses(len(t), self.fs, times, a * lvl, kern) * att * self._spread(r)

    def noise(self, rng: np.random.Generator, duration_s: float) -> np.ndarray:
        """Everything that is not a labelled source: wind, ambient, ground noise, hum, interferers."""
        s, n, t = self.site, self.n, self.t
        grng = np.random.default_rng(rng.integers(2**31))
        # Wind speed with gusts (log-normal around the mean), shared by both modalities via the seed.
        gust = s.wind_speed * np.exp(s.gustiness * _smooth_noise(np.random.default_rng([int(s.wind_speed * 1e6), 1]),
                                                                  t, 0.15) - 0.5 * s.gustiness ** 2)
        if self.acoustic:
            wind = signal.sosfilt(signal.butter(1, 25.0, fs=self.fs, output="sos"), grng.standard_normal(n))
            wind *= 0.004 * gust ** 2 / (np.std(wind) + 1e-12)
            ambient = s.ambient_pa * _band_noise(grng, n, self.fs, 100.0, 3000.0)
            hum = sum(s.mains_pa / k * np.sin(2 * np.pi * k * s.mains_hz * t + grng.uniform(0, 6.3))
                      for k in (1, 2, 3))
            out = wind + ambient + hum
        else:
            micro = s.microseismic * _band_noise(grng, n, self.fs, 0.1, 0.5)
            cultural = 0.3 * s.microseismic * _band_noise(grng, n, self.fs, 1.0, 40.0)
            wind_ground = 2e-9 * gust ** 2 * _band_noise(grng, n, self.fs, 2.0, 20.0)   # trees and posts rocking
            out = micro + cultural + wind_ground
            if s.mains_hz < 0.45 * self.fs:
                out += 0.05 * s.microseismic * np.sin(2 * np.pi * s.mains_hz * t)
        return out + self._interferers(rng, duration_s)

    def _interferers(self, rng: np.random.Generator, duration_s: float) -> np.ndarray:
        out = np.zeros(self.n)
        irng = np.random.default_rng(rng.integers(2**31))
        k = irng.poisson(self.site.interferers_per_min * duration_s / 60.0)
        for _ in range(k):
            kind = irng.choice(["aircraft", "far_road", "generator", "birds"])
            seed = int(irng.integers(2**31))
            srng = np.random.default_rng([seed, 0 if self.acoustic else 1])
            t0, length = irng.uniform(-20, duration_s), irng.uniform(15, 60)
            env = np.clip(np.sin(np.pi * (self.t - t0) / length), 0, None) * ((self.t > t0) & (self.t < t0 + length))
            if kind == "far_road":
                # a vehicle on a distant road: beyond detection range, so it stays background
                lab = str(irng.choice(VEHICLES))
                ev = random_event(lab, t0 + length / 2, irng)
                ev.cpa_distance = DETECTION_RANGE_M[lab] * irng.uniform(1.2, 2.0)
                out += self.event(ev)
                continue
            if kind == "aircraft":
                lvl = irng.uniform(0.005, 0.05)
                x = lvl * _band_noise(srng, self.n, self.fs, 60.0, 1500.0) if self.acoustic else \
                    lvl * self.site.air_to_ground * _band_noise(srng, self.n, self.fs, 5.0, 45.0)
            elif kind == "generator":
                f = irng.choice([25.0, 29.5, 30.0]) * irng.uniform(0.98, 1.02)
                lvl = irng.uniform(0.003, 0.02) if self.acoustic else irng.uniform(1e-7, 1e-6) * self.site.coupling
                x = sum(lvl / h * np.sin(2 * np.pi * h * f * self.t + h) for h in (1, 2, 3, 4)
                        if h * f < 0.45 * self.fs)
                env = np.ones(self.n) * (self.t > t0) * (self.t < t0 + 3 * length)
            else:   # birds: chirps, air only
                if not self.acoustic:
                    continue
                x = irng.uniform(0.002, 0.02) * _band_noise(srng, self.n, self.fs, 2500.0, 5000.0) * \
                    (np.sin(2 * np.pi * irng.uniform(2, 6) * self.t) > 0.6)
            out += env * x
        return out


def _labels(events: list[Event], duration_s: float, step: float = 0.05) -> list[LabelInterval]:
    """Per-time labels: the nearest source within its detection range, else background; run-length coded."""
    grid = np.arange(0.0, duration_s, step)
    best = np.full(len(grid), np.inf)
    lab = np.zeros(len(grid), dtype=int)
    for ev in events:
        r = np.sqrt(ev.position(grid) ** 2 + ev.cpa_distance ** 2)
        win = (r < DETECTION_RANGE_M[ev.label]) & (r < best)
        best[win], lab[win] = r[win], CLASSES.index(ev.label)
    out: list[LabelInterval] = []
    edges = np.flatnonzero(np.diff(lab)) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [len(grid)]])
    for a, b in zip(starts, ends):
        out.append(LabelInterval(float(round(a * step, 6)), float(round(min(b * step, duration_s), 6)),
                                 CLASSES[lab[a]]))
    return out


def continuous(profile: Profile, duration_s: float, seed: int, events: list[Event] | None = None,
               site: Site | None = None) -> Recording:
    """A continuous recording of ``duration_s`` seconds; random site and pass-bys unless given."""
    if not (np.isfinite(duration_s) and duration_s > 0):
        raise EdgeRepError(f"synthetic duration must be a positive number of seconds, got {duration_s!r}")
    if int(seed) != seed or seed < 0:
        raise EdgeRepError(f"synthetic seed must be a non-negative integer, got {seed!r}")
    unknown = [m for m in profile.modality_names if m not in ("acoustic", "seismic")]
    if unknown:
        raise EdgeRepError(f"profile '{profile.name}': the generator renders only acoustic and seismic, "
                           f"not {', '.join(unknown)}")
    rng = np.random.default_rng(seed)
    site = site or Site.random(rng, name=f"site-{seed}")
    if events is None:
        events = random_events(duration_s, rng)
    for ev in events:
        if ev.label not in CLASS_PHYSICS:
            raise EdgeRepError(f"event label '{ev.label}' is not a source class; use one of {', '.join(CLASS_PHYSICS)}")
    mods: dict[str, Channels] = {}
    for spec in profile.modalities:
        n = int(round(duration_s * spec.sample_rate))
        scene = _Scene(spec.name, spec.sample_rate, n, site)
        srcs = sum((scene.event(ev) for ev in events), np.zeros(n))
        if spec.name == "seismic":
            # the ground also moves with the sound pressure above it (air-to-ground coupling)
            air = _Scene("acoustic", spec.sample_rate, n, site)
            srcs += site.air_to_ground * sum((air.event(ev) for ev in events), np.zeros(n))
        chans = []
        for ch in range(spec.channels):
            crng = np.random.default_rng([seed, profile.modality_names.index(spec.name), ch])
            x = srcs + scene.noise(crng, duration_s)
            if spec.name == "acoustic":
                x = site.acoustic_gain * x
                x += 2e-4 * crng.standard_normal(n)                   # microphone self-noise
                x = np.clip(x, -site.mic_clip, site.mic_clip)        # saturation on gusts and close engines
            else:
                x = site.seismic_gain * x + 2e-9 * crng.standard_normal(n)   # geophone self-noise
            chans.append(x)
        mods[spec.name] = Channels(np.stack(chans).astype(np.float32), spec.sample_rate, 0.0, spec.units,
                                   {"name": "synthetic", "site": site.name})
    return Recording(id=f"synth-{profile.name}-{seed}", modalities=mods, labels=_labels(events, duration_s),
                     start_time=0.0,
                     metadata={"generator": "edge_rep.synth", "generator_version": GENERATOR_VERSION, "seed": seed,
                               "site": asdict(site), "events": [asdict(e) for e in events]})


def benchmark_plan(n_recordings: int, seed: int) -> list[tuple[str, str]]:
    """(focus class, split) per recording: classes take turns, and each class's recordings are split
    70/15/15 into train/val/test (by recording, never by window)."""
    rng = np.random.default_rng([seed, 2024])
    plan: list[tuple[str, str] | None] = [None] * n_recordings
    for ci, cls in enumerate(CLASSES):
        idx = [i for i in range(n_recordings) if i % len(CLASSES) == ci]
        rng.shuffle(idx)
        n_test = max(1, round(0.15 * len(idx))) if len(idx) >= 3 else 0
        n_val = max(1, round(0.15 * len(idx))) if len(idx) >= 3 else 0
        for j, i in enumerate(idx):
            plan[i] = (cls, "test" if j < n_test else "val" if j < n_test + n_val else "train")
    return plan  # type: ignore[return-value]


def benchmark_recording(profile: Profile, duration_s: float, seed: int, focus: str) -> Recording:
    """One benchmark recording: pass-bys of ``focus`` with background gaps (none for "background")."""
    rng = np.random.default_rng([seed, 1])
    site = Site.random(rng, name=f"site-{seed}")
    events = [] if focus == "background" else random_events(duration_s, rng, labels=(focus,), gap_s=(3.0, 10.0))
    rec = continuous(profile, duration_s, seed, events=events, site=site)
    rec.metadata["focus"] = focus
    return rec


# The default benchmark: many short recordings, so each split holds many sites (8 per class in val and test)
BENCHMARK_RECORDINGS = 300
BENCHMARK_DURATION_S = 24.0


def make_benchmark(out_dir: str | os.PathLike, profile: Profile = MOD, seed: int = 0,
                   n_recordings: int = BENCHMARK_RECORDINGS, duration_s: float = BENCHMARK_DURATION_S,
                   progress: bool = True, force: bool = False) -> Path:
    """Build the synthetic benchmark in the dataset format (edge_rep.dataset); returns its folder.
    ``out_dir`` must be free, an empty folder or (with ``force``) a dataset to replace."""
    from tqdm import tqdm

    from .dataset import DATASET, write_dataset

    claim(out_dir, DATASET, force)        # before a minute of synthesis, not after
    if seed < 0:
        raise EdgeRepError(f"--seed {seed}: must be a non-negative integer")
    if n_recordings < len(CLASSES):
        raise EdgeRepError(f"--recordings {n_recordings}: need at least {len(CLASSES)} (one per class)")
    if duration_s < 2 * profile.window_s:
        raise EdgeRepError(f"--duration {duration_s:g}: need at least {2 * profile.window_s:g} s "
                           f"(two windows of profile '{profile.name}')")
    plan = benchmark_plan(n_recordings, seed)

    def recordings() -> Iterator[tuple[Recording, str]]:
        bar = tqdm(plan, desc="synth", unit="rec", disable=not progress)
        for i, (focus, split) in enumerate(bar):
            rec_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
            rec = benchmark_recording(profile, duration_s, rec_seed, focus)
            rec.id = f"synth-{profile.name}-s{seed}-{i:04d}-{focus}"
            yield rec, split

    return write_dataset(out_dir, recordings(), profile, force)
