"""Physics-based synthetic acoustic-seismic recordings of ground-vehicle and pedestrian pass-bys.

Each source moves on a straight line past the node: it is closest (``cpa_distance``) at ``t_cpa``.
What the microphone hears and the geophone feels is rendered from the source's physics:

  engines     firing fundamental = RPM/60 x cylinders/2 (four-stroke) with harmonics, Doppler-shifted
  tyres       broadband road noise rising with speed (acoustic), suspension band + wheel impacts (seismic)
  tracks      block impacts at speed / track pitch: a clank (acoustic) and a strong line spectrum (seismic)
  footsteps   impacts at the cadence, 0.08-0.17 s each, ground response 10-90 Hz; faint in the air
  propagation acoustic 1/r + ISO 9613-1 air absorption; seismic (Rayleigh) 1/sqrt(r) with ground damping
              exp(-pi f r / (Q c_R)) and a soil response ~ c_R^-2; air-to-ground coupling ~1/(rho c_R)
  sensors     geophone (natural frequency, damping, self-noise), microphone (low-frequency roll-off,
              self-noise, clipping, windscreen), sensitivity and coupling spread
  noise       gusty wind on the microphone, ambient sound, microseismic and cultural ground noise, mains hum
  non-target  earthquakes, thunder, aircraft, helicopters, machinery, rain, birds, far vehicles
              (edge_rep.synth_nontarget): labelled background, listed in metadata["nontarget"]

Sites are drawn from families (edge_rep.synth_families): ground, sensors, fleet and climate. A label
covers the time a source is within its class's detection range (``DETECTION_RANGE_M``); everything else
is "background". Same seed -> identical arrays.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
from scipy import signal

from . import synth_dsp as dsp
from .errors import EdgeRepError
from .outpaths import claim
from .profiles import CLASSES, MOD, Profile
from .recording import Channels, LabelInterval, Recording
from .synth_families import (C_REF, CLIMATES, FAMILIES, FOREIGN_FAMILIES, GEOPHONES, GROUNDS, IN_FAMILIES,
                             MICROPHONES, RAYLEIGH_OVER_VS, Family, fleet_physics)
from .synth_nontarget import NONTARGET_KINDS, TRAIN_KINDS, NonTarget, random_nontarget, render

GENERATOR_VERSION = 2
C_AIR = 343.0          # m/s, speed of sound
REACH_FACTOR = 3.0     # sources farther than this x their detection range are not rendered (under the noise)
SCREEN_START, SCREEN_SCALE = 0.8, 0.25   # terrain screening: exp(-(r - 0.8 R) / (0.25 R)) beyond 0.8 R
# Ground velocity at 1 m on the reference soil per unit of a class's "seis" weight (m/s); checked against
# FTA and Tholen figures in docs/synthetic.md ("Absolute levels").
SEIS_ENGINE = 6e-6       # (m/s) per Pa of engine level
SEIS_SUSPENSION = 1e-5   # m/s, suspension band of a "seis" = 1 vehicle at 10 m/s
SEIS_TRACK = 1.2e-4      # m/s per unit of "track_seis"

# A label is given while the source is within this range (m) of the node.
DETECTION_RANGE_M: dict[str, float] = {"pedestrian": 12.0, "motorcycle": 45.0, "car": 35.0,
                                       "truck": 50.0, "tracked": 60.0}
SOURCE_CLASSES: tuple[str, ...] = tuple(DETECTION_RANGE_M)
VEHICLES = ("motorcycle", "car", "truck", "tracked")
DEFAULT_FLEET = "mixed"


@dataclass
class Event:
    """One pass-by. Unset (None) physics fields are drawn from the fleet's ranges by ``random_event``."""

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
    fleet: str = DEFAULT_FLEET          # edge_rep.synth_families.FLEETS: the rest of the source's physics
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


def _default_mix() -> dict[str, float]:
    return dict(CLIMATES["temperate"].nontarget_mix)


@dataclass
class Site:
    """Where the node stands: ground, sensors, weather, noise and the non-target events it lives with.
    The defaults are a mid-range site (like family "loam-farm", but of no family); ``Site.random`` draws
    one from a family."""

    acoustic_gain: float = 1.0      # microphone sensitivity error (x)
    seismic_gain: float = 1.0       # geophone sensitivity error (x)
    coupling: float = 1.0           # how well this geophone is coupled to the ground (x)
    ground_q: float = 20.0          # ground quality factor (damping of surface waves)
    rayleigh_speed: float = 250.0   # m/s
    air_to_ground: float = 1e-5     # (m/s)/Pa acoustic-to-seismic coupling
    wind_speed: float = 3.0         # m/s mean at the microphone
    gustiness: float = 0.4          # relative spread of gusts
    temperature_c: float = 15.0     # air, for ISO 9613-1 absorption
    humidity_pct: float = 70.0
    ambient_pa: float = 0.002       # rms of diffuse ambient sound (100-3000 Hz)
    microseismic: float = 3e-7      # m/s rms 0.1-0.5 Hz (ocean microseism)
    cultural: float = 1e-7          # m/s rms 1-40 Hz on the reference soil (distant traffic, industry)
    mains_hz: float = 50.0
    mains_pa: float = 0.0005        # rms of electrical hum picked up by the microphone chain
    geophone_hz: float = 10.0       # natural frequency
    geophone_damping: float = 0.686
    geophone_noise: float = 5e-9    # m/s rms self-noise
    mic_lowcut_hz: float = 20.0     # first-order high-pass of the microphone chain
    mic_noise_dba: float = 34.0     # equivalent input noise, dB(A) SPL
    mic_clip: float = 2.0           # Pa at which the microphone saturates
    wind_factor: float = 1.0        # wind noise relative to a foam-windscreened microphone
    nontarget_per_min: float = 1.5  # mean rate of non-target events, all kinds
    nontarget_mix: dict = field(default_factory=_default_mix)   # kind -> relative weight
    fleet: str = DEFAULT_FLEET
    family: str = ""
    name: str = "site"

    @property
    def ground_gain(self) -> float:
        """Ground velocity a force source produces here relative to the reference soil: ~ c_R^-2 (a point
        force on a half-space gives v ~ F / (rho c^2); Tholen 1974 measured 10x between clay and till)."""
        return (C_REF / self.rayleigh_speed) ** 2

    @classmethod
    def random(cls, rng: np.random.Generator, name: str = "site", family: Family | str | None = None) -> Site:
        """A site of ``family`` (an in-family one drawn at random if None) with every parameter drawn."""
        if family is None:
            family = IN_FAMILIES[int(rng.integers(len(IN_FAMILIES)))]
        elif isinstance(family, str):
            if family not in FAMILIES:
                raise EdgeRepError(f"unknown synthetic family '{family}'; choose one of {', '.join(FAMILIES)}")
            family = FAMILIES[family]
        g, geo = GROUNDS[family.ground], GEOPHONES[family.geophone]
        mic, clim = MICROPHONES[family.microphone], CLIMATES[family.climate]

        def u(r: tuple[float, float]) -> float:
            return float(rng.uniform(*r))

        def logu(r: tuple[float, float]) -> float:
            return float(np.exp(rng.uniform(np.log(r[0]), np.log(r[1]))))

        def db(r: tuple[float, float]) -> float:
            return float(10 ** (rng.uniform(*r) / 20))

        vs = u(g.vs)
        c_r = vs * u(RAYLEIGH_OVER_VS)
        density = u(g.density)
        return cls(acoustic_gain=db(mic.gain_db), seismic_gain=db(geo.gain_db), coupling=db(geo.coupling_db),
                   ground_q=0.05 * vs * u(g.q_factor), rayleigh_speed=c_r,
                   # a pressure p on the surface moves it at ~ p / (rho c): 1-5x that for grazing sound
                   air_to_ground=u((1.0, 5.0)) / (density * c_r),
                   wind_speed=float(rng.gamma(*clim.wind_gamma)), gustiness=u(clim.gustiness),
                   temperature_c=u(clim.temperature_c), humidity_pct=u(clim.humidity_pct),
                   ambient_pa=float(dsp.P_REF * 10 ** (u(clim.ambient_dba) / 20)),
                   microseismic=logu(clim.microseism), cultural=logu(clim.cultural),
                   mains_hz=float(rng.choice([50.0, 60.0])), mains_pa=logu((1e-4, 1e-3)),
                   geophone_hz=u(geo.natural_hz), geophone_damping=u(geo.damping), geophone_noise=logu(geo.noise),
                   mic_lowcut_hz=u(mic.lowcut_hz), mic_noise_dba=mic.noise_dba, mic_clip=u(mic.clip_pa),
                   wind_factor=u(mic.wind_factor), nontarget_per_min=u(clim.nontarget_per_min),
                   nontarget_mix=dict(clim.nontarget_mix), fleet=family.fleet, family=family.name, name=name)


def random_event(label: str, t_cpa: float, rng: np.random.Generator, fleet: str = DEFAULT_FLEET) -> Event:
    """An event of class ``label`` passing at ``t_cpa`` with physics drawn from ``fleet``'s ranges."""
    if label not in DETECTION_RANGE_M:
        raise EdgeRepError(f"event label '{label}' has no physics; use one of {', '.join(SOURCE_CLASSES)}")
    p = fleet_physics(fleet, label)
    ev = Event(label=label, t_cpa=float(t_cpa), speed=float(rng.uniform(*p["speed"])),
               cpa_distance=float(rng.uniform(*p["cpa"])), fleet=fleet, seed=int(rng.integers(2**31)))
    if label == "pedestrian":
        ev.cadence = float(rng.uniform(*p["cadence"]))
    else:
        ev.rpm = float(rng.uniform(*p["rpm"]))
        ev.cylinders = int(rng.choice(p["cylinders"]))
        ev.engine_level = float(rng.uniform(*p["engine"]))
    if label == "tracked":
        ev.track_pitch = float(rng.uniform(*p["pitch"]))
    return ev


def random_events(duration_s: float, rng: np.random.Generator, labels: tuple[str, ...] = SOURCE_CLASSES,
                  gap_s: tuple[float, float] = (3.0, 12.0), fleet: str = DEFAULT_FLEET) -> list[Event]:
    """Pass-bys one after another (their detection spans never overlap), separated by background gaps."""
    events, t = [], float(rng.uniform(0.0, gap_s[1]))
    while True:
        ev = random_event(str(rng.choice(labels)), 0.0, rng, fleet)
        t0, t1 = ev.in_range_span()
        half = max(t1 - ev.t_cpa, 1.0)
        ev.t_cpa = t + half
        if ev.t_cpa - half >= duration_s:
            return events
        events.append(ev)
        t = ev.t_cpa + half + float(rng.uniform(*gap_s))


def random_nontargets(site: Site, duration_s: float, rng: np.random.Generator,
                      kinds: tuple[str, ...] = NONTARGET_KINDS) -> list[NonTarget]:
    """Non-target events overlapping a recording: a Poisson number at the site's rate, kinds drawn from
    the site's mix restricted to ``kinds``."""
    weights = np.array([site.nontarget_mix.get(k, 0.0) for k in kinds], dtype=float)
    if not kinds or weights.sum() <= 0 or site.nontarget_per_min <= 0:
        return []
    count = int(rng.poisson(site.nontarget_per_min * duration_s / 60.0))
    picks = rng.choice(len(kinds), size=count, p=weights / weights.sum())
    return [random_nontarget(kinds[int(i)], duration_s, rng) for i in picks]


class _Scene:
    """Renders every source of one recording at one modality's sampling rate."""

    def __init__(self, modality: str, fs: float, n: int, site: Site):
        self.modality, self.fs, self.n, self.site = modality, fs, n, site
        self.t = np.arange(n) / fs
        self.ground = site.coupling * site.ground_gain      # ground-borne sources at this geophone

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
        s = self.site
        if self.acoustic:
            return dsp.air_absorption(f, r, s.temperature_c, s.humidity_pct)
        return dsp.ground_damping(f, r, s.ground_q, s.rayleigh_speed)

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
        p = fleet_physics(ev.fleet, ev.label)
        seg = np.zeros(len(t))
        if ev.label == "pedestrian":
            seg += self._footsteps(ev, p, t, r, rng)
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
        rpm = ev.rpm * (1 + ev.rpm_wander * dsp.smooth_noise(np.random.default_rng([ev.seed, 7]), t, 0.3))
        f0 = rpm / 60.0 * ev.cylinders / 2.0
        erng = np.random.default_rng([ev.seed, 3])   # same harmonic recipe for both modalities
        decay = erng.uniform(*p["decay_db"])
        orders = [k for k in range(1, p["harmonics"] + 1)]
        orders += [k + 0.5 for k in range(0, p["harmonics"]) if erng.random() < p["half_orders"]]
        amps = {k: 10 ** (-(k - 1) * decay / 20) * 10 ** (erng.normal(0, 3) / 20) for k in orders}
        phases = {k: np.exp(1j * erng.uniform(0, 2 * np.pi)) for k in orders}
        level = ev.engine_level if self.acoustic else ev.engine_level * SEIS_ENGINE * p["seis"] * self.ground
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
        step = max(1, int(self.fs / 100))
        if self.acoustic:
            # tyre/road noise: three bands, each absorbed by the air at its own rate
            out = np.zeros(n)
            for lo, hi, w in ((150, 600, 1.0), (600, 1500, 0.8), (1500, 3500, 0.4)):
                att = np.interp(t, t[::step], self._atten(np.sqrt(lo * hi), r[::step]))
                out += w * dsp.band_noise(rng, n, self.fs, lo, hi) * att
            return p["tyre"] * 0.4 * speed_gain * out * self._spread(r)
        # suspension band (heavier vehicles lower and stronger) plus random wheel impacts on road roughness
        lo, hi = (2.0, 15.0) if p["seis"] >= 3 else (4.0, 30.0)
        base = p["seis"] * SEIS_SUSPENSION * self.ground * np.sqrt(ev.speed / 10.0)
        out = base * dsp.band_noise(rng, n, self.fs, lo, hi) * self._atten(np.sqrt(lo * hi), r)
        rate = 0.6 * ev.speed
        times = np.cumsum(rng.exponential(1 / rate, int(rate * (t[-1] - t[0] + 1)) + 2))
        kern = dsp.ring(self.fs, [12.0, 23.0, 37.0], 0.05, rng)
        amps = base * 1.5 * rng.uniform(0.3, 1.0, len(times))
        out += dsp.impulses(n, self.fs, times, amps, kern) * self._atten(20.0, r)
        return out * self._spread(r)

    def _tracks(self, ev, p, t, r, rng) -> np.ndarray:
        # Each track block hits the ground at speed / pitch: a very regular impact train.
        rate = ev.speed / ev.track_pitch
        trng = np.random.default_rng([ev.seed, 5])
        n_hits = int(rate * (t[-1] - t[0])) + 2
        times = np.arange(n_hits) / rate + trng.normal(0, 0.03 / rate, n_hits)
        a = trng.uniform(0.7, 1.0, n_hits)
        if self.acoustic:
            kern = dsp.ring(self.fs, list(trng.uniform(400, 2500, 3)), 0.015, rng)
            lvl = trng.uniform(*p["clank"])
            att = self._atten(1000.0, r)
        else:
            kern = dsp.ring(self.fs, [rate, 2 * rate, 2.7 * rate], 0.03, rng)
            lvl = trng.uniform(*p["track_seis"]) * SEIS_TRACK * self.ground
            att = self._atten(rate, r)
        return dsp.impulses(len(t), self.fs, times, a * lvl, kern) * att * self._spread(r)

    def _footsteps(self, ev, p, t, r, rng) -> np.ndarray:
        frng = np.random.default_rng([ev.seed, 9])
        n_steps = int(ev.cadence * (t[-1] - t[0])) + 2
        times = (np.arange(n_steps) + frng.normal(0, 0.03, n_steps)) / ev.cadence
        side = np.where(np.arange(n_steps) % 2 == 0, 1.0, frng.uniform(*p["limp"]))   # left/right asymmetry
        a = side * frng.uniform(0.6, 1.0, n_steps)
        dur = frng.uniform(*p["step_s"])
        if self.acoustic:
            kern = dsp.burst(self.fs, 200.0, 3000.0, 0.03, rng)   # a scuff / heel click
            lvl, att = frng.uniform(*p["step_air"]), self._atten(1000.0, r)
        else:
            kern = dsp.burst(self.fs, 10.0, 90.0, dur, rng)
            lvl, att = frng.uniform(*p["step_seis"]) * self.ground, self._atten(30.0, r)
        # step times are relative to the span start; distance shapes each step through r(t)
        return dsp.impulses(len(t), self.fs, times, a * lvl, kern) * att * self._spread(r)

    def nontarget(self, nt: NonTarget, duration_s: float) -> np.ndarray:
        """A non-target event at this modality (a far vehicle is a pass-by beyond its detection range)."""
        if nt.kind == "far_vehicle":
            return self.event(far_vehicle(nt, self.site.fleet))
        return render(nt, self.acoustic, self.t, self.fs, self.site.air_to_ground, self.site.ground_gain)

    def noise(self, rng: np.random.Generator) -> np.ndarray:
        """Diffuse noise: wind, ambient sound and mains hum (acoustic); microseism, cultural noise and
        wind-rocked ground (seismic)."""
        s, n, t = self.site, self.n, self.t
        grng = np.random.default_rng(rng.integers(2**31))
        # Wind speed with gusts (log-normal around the mean), shared by both modalities via the seed.
        gust = s.wind_speed * np.exp(s.gustiness * dsp.smooth_noise(np.random.default_rng([int(s.wind_speed * 1e6), 1]),
                                                                     t, 0.15) - 0.5 * s.gustiness ** 2)
        if self.acoustic:
            # turbulent pressure at a windscreened microphone ~ 0.004 U^2 Pa (Strasberg 1988: ~ dynamic pressure),
            # mostly below 25 Hz and falling 12 dB per octave above (the windscreen averages out small eddies)
            wind = signal.sosfilt(signal.butter(2, 25.0, fs=self.fs, output="sos"), grng.standard_normal(n))
            wind *= 0.004 * s.wind_factor * gust ** 2 / (np.std(wind) + 1e-12)
            ambient = s.ambient_pa * dsp.band_noise(grng, n, self.fs, 100.0, 3000.0)
            hum = sum(s.mains_pa / k * np.sin(2 * np.pi * k * s.mains_hz * t + grng.uniform(0, 6.3))
                      for k in (1, 2, 3))
            return wind + ambient + hum
        micro = s.microseismic * dsp.band_noise(grng, n, self.fs, 0.1, 0.5)
        # distant sources arrive as waves: amplified by the soft soil ~ impedance ratio^1/2, not its compliance
        cultural = s.cultural * np.sqrt(s.ground_gain) * dsp.band_noise(grng, n, self.fs, 1.0, 40.0)
        wind_ground = 2e-9 * gust ** 2 * dsp.band_noise(grng, n, self.fs, 2.0, 20.0)   # trees and posts rocking
        out = micro + cultural + wind_ground
        if s.mains_hz < 0.45 * self.fs:
            out += 0.05 * s.cultural * np.sin(2 * np.pi * s.mains_hz * t)
        return out


def far_vehicle(nt: NonTarget, fleet: str) -> Event:
    """The pass-by behind a "far_vehicle" non-target event: closest at mid-span, 1.2-2x its class's
    detection range away, so it is heard (and felt) but labelled background."""
    rng = np.random.default_rng([nt.seed, 11])
    label = str(rng.choice(VEHICLES))
    ev = random_event(label, nt.start + nt.duration / 2, rng, fleet)
    ev.cpa_distance = DETECTION_RANGE_M[label] * float(rng.uniform(1.2, 2.0))
    return ev


def _sensor(x: np.ndarray, modality: str, fs: float, site: Site, rng: np.random.Generator) -> np.ndarray:
    """What the sensor chain makes of the physical signal: response, sensitivity error, self-noise, clipping."""
    n = len(x)
    if modality == "acoustic":
        x = site.acoustic_gain * dsp.highpass(x, fs, site.mic_lowcut_hz)
        # white self-noise of the datasheet's A-weighted level over 20 Hz-20 kHz, band-limited to Nyquist
        noise = dsp.P_REF * 10 ** (site.mic_noise_dba / 20) * np.sqrt(min(fs / 2, 20000.0) / 20000.0)
        x = x + noise * rng.standard_normal(n)
        return np.clip(x, -site.mic_clip, site.mic_clip)      # saturation on gusts, close engines, thunder
    x = site.seismic_gain * dsp.geophone_response(x, fs, site.geophone_hz, site.geophone_damping)
    return x + site.geophone_noise * rng.standard_normal(n)


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
               site: Site | None = None, nontarget: list[NonTarget] | None = None,
               nontarget_kinds: tuple[str, ...] = NONTARGET_KINDS) -> Recording:
    """A continuous recording of ``duration_s`` seconds: a random in-family site, pass-bys and non-target
    events (of ``nontarget_kinds``) unless given. ``metadata`` records the site and its family, the
    events, and ``nontarget``: ``[[start_s, end_s, kind], ...]`` clipped to the recording."""
    if not (np.isfinite(duration_s) and duration_s > 0):
        raise EdgeRepError(f"synthetic duration must be a positive number of seconds, got {duration_s!r}")
    if int(seed) != seed or seed < 0:
        raise EdgeRepError(f"synthetic seed must be a non-negative integer, got {seed!r}")
    unknown = [m for m in profile.modality_names if m not in ("acoustic", "seismic")]
    if unknown:
        raise EdgeRepError(f"profile '{profile.name}': the generator renders only acoustic and seismic, "
                           f"not {', '.join(unknown)}")
    bad = [k for k in nontarget_kinds if k not in NONTARGET_KINDS]
    if bad:
        raise EdgeRepError(f"non-target kind(s) {', '.join(bad)} unknown; use {', '.join(NONTARGET_KINDS)}")
    rng = np.random.default_rng(seed)
    site = site or Site.random(rng, name=f"site-{seed}")
    if events is None:
        events = random_events(duration_s, rng, fleet=site.fleet)
    for ev in events:
        if ev.label not in DETECTION_RANGE_M:
            raise EdgeRepError(f"event label '{ev.label}' is not a source class; use one of "
                               f"{', '.join(SOURCE_CLASSES)}")
    if nontarget is None:
        nontarget = random_nontargets(site, duration_s, rng, nontarget_kinds)
    mods: dict[str, Channels] = {}
    for spec in profile.modalities:
        n = int(round(duration_s * spec.sample_rate))
        scene = _Scene(spec.name, spec.sample_rate, n, site)
        srcs = sum((scene.event(ev) for ev in events), np.zeros(n))
        if spec.name == "seismic":
            # the ground also moves with the sound pressure above it (air-to-ground coupling)
            air = _Scene("acoustic", spec.sample_rate, n, site)
            srcs += site.air_to_ground * sum((air.event(ev) for ev in events), np.zeros(n))
        srcs += sum((scene.nontarget(nt, duration_s) for nt in nontarget), np.zeros(n))
        chans = []
        for ch in range(spec.channels):
            crng = np.random.default_rng([seed, profile.modality_names.index(spec.name), ch])
            chans.append(_sensor(srcs + scene.noise(crng), spec.name, spec.sample_rate, site, crng))
        mods[spec.name] = Channels(np.stack(chans).astype(np.float32), spec.sample_rate, 0.0, spec.units,
                                   {"name": "synthetic", "site": site.name, "family": site.family})
    listed = []
    for nt in nontarget:
        span = nt.span(duration_s)
        if span is not None:
            listed.append([span[0], span[1], nt.kind])
    return Recording(id=f"synth-{profile.name}-{seed}", modalities=mods, labels=_labels(events, duration_s),
                     start_time=0.0,
                     metadata={"generator": "edge_rep.synth", "generator_version": GENERATOR_VERSION, "seed": seed,
                               "family": site.family, "site": asdict(site),
                               "events": [asdict(e) for e in events],
                               "nontarget": listed,
                               "nontarget_events": [asdict(nt) for nt in nontarget]})


# The default benchmark: many short recordings, so each split holds many sites (8 per class in val and
# test), plus a foreign-family split of about the test split's size.
BENCHMARK_RECORDINGS = 300
BENCHMARK_DURATION_S = 24.0
SPLIT_KINDS: dict[str, tuple[str, ...]] = {"train": TRAIN_KINDS, "val": TRAIN_KINDS, "test": NONTARGET_KINDS,
                                           "foreign": NONTARGET_KINDS}


def benchmark_plan(n_recordings: int, seed: int, n_foreign: int | None = None) -> list[tuple[str, str, str]]:
    """(focus class, split, family) per recording. The first ``n_recordings`` are in-family: classes take
    turns, each class's recordings are split 70/15/15 into train/val/test (by recording, never by window)
    and cycle through ``IN_FAMILIES`` so every family is in every split. Then ``n_foreign`` (default: as
    many as test) recordings of ``FOREIGN_FAMILIES``, classes and families taking turns."""
    rng = np.random.default_rng([seed, 2024])
    plan: list[tuple[str, str, str] | None] = [None] * n_recordings
    n_fam = len(IN_FAMILIES)
    for ci, cls in enumerate(CLASSES):
        idx = [i for i in range(n_recordings) if i % len(CLASSES) == ci]
        rng.shuffle(idx)
        n_test = max(1, round(0.15 * len(idx))) if len(idx) >= 3 else 0
        n_val = max(1, round(0.15 * len(idx))) if len(idx) >= 3 else 0
        for j, i in enumerate(idx):
            split = "test" if j < n_test else "val" if j < n_test + n_val else "train"
            # position within its split, offset per class: each split cycles through the families
            k = j if j < n_test else j - n_test if j < n_test + n_val else j - n_test - n_val
            plan[i] = (cls, split, IN_FAMILIES[(k + ci) % n_fam].name)
    out: list[tuple[str, str, str]] = plan  # type: ignore[assignment]
    if n_foreign is None:
        n_foreign = sum(1 for _, s, _ in out if s == "test")
    for j in range(n_foreign):      # classes take turns; each class alternates between the foreign families
        out.append((CLASSES[j % len(CLASSES)], "foreign",
                    FOREIGN_FAMILIES[(j + j // len(CLASSES)) % len(FOREIGN_FAMILIES)].name))
    return out


def benchmark_recording(profile: Profile, duration_s: float, seed: int, focus: str, family: str | None = None,
                        nontarget_kinds: tuple[str, ...] = NONTARGET_KINDS) -> Recording:
    """One benchmark recording at a site of ``family`` (a random in-family one if None): pass-bys of
    ``focus`` with background gaps (none for "background"), plus non-target events of ``nontarget_kinds``."""
    rng = np.random.default_rng([seed, 1])
    site = Site.random(rng, name=f"site-{seed}", family=family)
    events = ([] if focus == "background" else
              random_events(duration_s, rng, labels=(focus,), gap_s=(3.0, 10.0), fleet=site.fleet))
    nontarget = random_nontargets(site, duration_s, rng, nontarget_kinds)
    rec = continuous(profile, duration_s, seed, events=events, site=site, nontarget=nontarget)
    rec.metadata["focus"] = focus
    return rec


# Background only (false alarms per hour, evaluate --detections): 60 recordings of 10 minutes = 10 hours.
BACKGROUND_RECORDINGS = 60
BACKGROUND_DURATION_S = 600.0


def background_plan(n_recordings: int, split: str = "test") -> list[tuple[str, str, str]]:
    """Background-only recordings, all in ``split``, the in-family site families taking turns."""
    return [("background", split, IN_FAMILIES[i % len(IN_FAMILIES)].name) for i in range(n_recordings)]


def make_benchmark(out_dir: str | os.PathLike, profile: Profile = MOD, seed: int = 0,
                   n_recordings: int = BENCHMARK_RECORDINGS, duration_s: float = BENCHMARK_DURATION_S,
                   progress: bool = True, force: bool = False, n_foreign: int | None = None,
                   background_only: bool = False, split: str = "test") -> Path:
    """Build the synthetic benchmark in the dataset format (edge_rep.dataset); returns its folder.
    ``n_recordings`` in-family recordings (train/val/test) plus ``n_foreign`` of the foreign families
    (default: as many as test). Train and val hold no ``HELD_OUT_KINDS`` of non-target event.
    ``background_only``: no pass-bys, every recording in ``split`` (``background_plan``; no foreign split)
    with that split's kinds of non-target event (``SPLIT_KINDS``: train and val never hold the held-out
    kinds, so a background made for training leaves them unseen).
    ``out_dir`` must be free, an empty folder or (with ``force``) a dataset to replace."""
    from tqdm import tqdm

    from .dataset import DATASET, write_dataset

    claim(out_dir, DATASET, force)        # before a minute of synthesis, not after
    if seed < 0:
        raise EdgeRepError(f"--seed {seed}: must be a non-negative integer")
    if n_recordings < len(CLASSES) and not background_only:
        raise EdgeRepError(f"--recordings {n_recordings}: need at least {len(CLASSES)} (one per class)")
    if n_foreign is not None and n_foreign < 0:
        raise EdgeRepError(f"--foreign {n_foreign}: must be 0 or more recordings")
    if duration_s < 2 * profile.window_s:
        raise EdgeRepError(f"--duration {duration_s:g}: need at least {2 * profile.window_s:g} s "
                           f"(two windows of profile '{profile.name}')")
    if split not in ("train", "val", "test"):
        raise EdgeRepError(f"--split {split}: use train, val or test")
    plan = (background_plan(n_recordings, split) if background_only
            else benchmark_plan(n_recordings, seed, n_foreign))

    def recordings() -> Iterator[tuple[Recording, str]]:
        bar = tqdm(plan, desc="synth", unit="rec", disable=not progress)
        for i, (focus, split, family) in enumerate(bar):
            rec_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
            rec = benchmark_recording(profile, duration_s, rec_seed, focus, family, SPLIT_KINDS[split])
            rec.id = f"synth-{profile.name}-s{seed}-{i:04d}-{focus}"
            yield rec, split

    return write_dataset(out_dir, recordings(), profile, force)

