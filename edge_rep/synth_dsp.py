"""Signal building blocks of the synthetic generator (``edge_rep.synth``): band-limited noise, impact
trains, propagation losses (ISO 9613-1 air absorption, anelastic ground damping), sensor responses
and level measures. numpy/scipy only; every function is deterministic given its Generator.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal

P_REF = 2e-5            # Pa, reference of sound pressure level (dB SPL)


@lru_cache(maxsize=512)
def _bandpass(lo: float, hi: float, fs: float) -> np.ndarray:
    return signal.butter(2, [lo, hi], btype="bandpass", fs=fs, output="sos")


def band_noise(rng: np.random.Generator, n: int, fs: float, lo: float, hi: float) -> np.ndarray:
    """Unit-rms Gaussian noise in [lo, hi] Hz (clamped below Nyquist); zeros if the band is out of reach."""
    hi = min(hi, 0.45 * fs)
    if n == 0 or hi <= lo:
        return np.zeros(n)
    x = signal.sosfilt(_bandpass(float(lo), float(hi), float(fs)), rng.standard_normal(n + 256))[256:]
    return x / (np.std(x) + 1e-12)


def smooth_noise(rng: np.random.Generator, t: np.ndarray, corner_hz: float) -> np.ndarray:
    """A slowly wandering unit-rms process sampled at times ``t`` (for RPM drift and gusts)."""
    dt = 1.0 / (8 * corner_hz)
    n = int(np.ceil((t[-1] - t[0]) / dt)) + 4 if len(t) else 4
    x = signal.sosfiltfilt(signal.butter(2, corner_hz, fs=1 / dt, output="sos"), rng.standard_normal(n + 32))[16:-16]
    x /= np.std(x) + 1e-12
    return np.interp(t, t[0] + dt * np.arange(len(x)) if len(t) else [0.0], x)


def impulses(n: int, fs: float, times: np.ndarray, amps: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """A train of ``kernel``-shaped impacts at ``times`` (s, relative to sample 0) with ``amps``."""
    spikes = np.zeros(n)
    idx = np.round(times * fs).astype(int)
    ok = (idx >= 0) & (idx < n)
    np.add.at(spikes, idx[ok], amps[ok])
    return signal.fftconvolve(spikes, kernel)[:n]


def ring(fs: float, freqs: list[float], decay_s: float, rng: np.random.Generator) -> np.ndarray:
    """A peak-normalised damped ring: the response of a struck plate, track block or ground patch."""
    t = np.arange(int(max(4 * decay_s * fs, 2))) / fs
    k = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in freqs if f < 0.45 * fs)
    if np.isscalar(k):   # every mode above Nyquist: the sensor sees a one-sample jolt
        k = np.zeros_like(t)
        k[0] = 1.0
    k = k * np.exp(-t / decay_s)
    return k / (np.max(np.abs(k)) + 1e-12)


def burst(fs: float, lo: float, hi: float, dur_s: float, rng: np.random.Generator) -> np.ndarray:
    """A peak-normalised band-limited noise burst with a Hann envelope (a footstep's ground response)."""
    n = max(int(dur_s * fs), 3)
    x = band_noise(rng, n, fs, lo, hi) if min(hi, 0.45 * fs) > lo else rng.standard_normal(n)
    x = x * np.hanning(n)
    return x / (np.max(np.abs(x)) + 1e-12)


def air_absorption_db_per_m(f: np.ndarray | float, temperature_c: float = 20.0, humidity_pct: float = 70.0,
                            pressure_kpa: float = 101.325) -> np.ndarray:
    """Pure-tone atmospheric absorption coefficient (dB/m) of ISO 9613-1:1993, equations (3) to (5)
    with the saturation vapour pressure of its Annex B. About 5 dB/km at 1 kHz, 20 degC, 70 % RH."""
    f = np.asarray(f, dtype=float)
    T, T0, T01 = temperature_c + 273.15, 293.15, 273.16
    pa = pressure_kpa / 101.325                          # pressure relative to the reference atmosphere
    psat = 10 ** (-6.8346 * (T01 / T) ** 1.261 + 4.6151)     # saturation vapour pressure / reference
    h = humidity_pct * psat / pa                          # molar concentration of water vapour, %
    fr_o = pa * (24 + 4.04e4 * h * (0.02 + h) / (0.391 + h))
    fr_n = pa * (T / T0) ** -0.5 * (9 + 280 * h * np.exp(-4.170 * ((T / T0) ** (-1 / 3) - 1)))
    return 8.686 * f ** 2 * (1.84e-11 / pa * (T / T0) ** 0.5 + (T / T0) ** -2.5 * (
        0.01275 * np.exp(-2239.1 / T) / (fr_o + f ** 2 / fr_o) + 0.1068 * np.exp(-3352.0 / T) / (fr_n + f ** 2 / fr_n)))


def air_absorption(f: np.ndarray | float, r: np.ndarray, temperature_c: float = 20.0,
                   humidity_pct: float = 70.0) -> np.ndarray:
    """Amplitude factor of air absorption over ``r`` metres at frequency ``f`` (ISO 9613-1)."""
    return 10 ** (-air_absorption_db_per_m(f, temperature_c, humidity_pct) * np.asarray(r) / 20)


def ground_damping(f: np.ndarray | float, r: np.ndarray, q: float, c: float) -> np.ndarray:
    """Anelastic loss of a surface wave of speed ``c`` (m/s) and quality factor ``q`` over ``r`` metres."""
    return np.exp(-np.pi * np.asarray(f) * r / (q * c))


def geophone_response(x: np.ndarray, fs: float, natural_hz: float, damping: float) -> np.ndarray:
    """Velocity through a moving-coil geophone (2nd-order high-pass s^2 / (s^2 + 2 zeta w0 s + w0^2)),
    scaled by its nominal flat sensitivity as ``remove_sensitivity`` does: below the natural frequency
    the output falls 12 dB per octave; with little damping it peaks at the natural frequency."""
    w0 = 2 * np.pi * natural_hz
    b, a = signal.bilinear([1.0, 0.0, 0.0], [1.0, 2 * damping * w0, w0 * w0], fs)
    return signal.lfilter(b, a, x)


def highpass(x: np.ndarray, fs: float, corner_hz: float, order: int = 1) -> np.ndarray:
    """Butterworth high-pass (a microphone's low-frequency roll-off, an AC-coupling capacitor)."""
    if corner_hz <= 0:
        return x
    return signal.sosfilt(signal.butter(order, corner_hz, btype="highpass", fs=fs, output="sos"), x)


def a_weighting_db(f: np.ndarray | float) -> np.ndarray:
    """A-weighting (dB) of IEC 61672-1:2013, equation (E.6); 0 dB at 1 kHz."""
    f2 = np.maximum(np.asarray(f, dtype=float), 1e-6) ** 2
    ra = 12194.0 ** 2 * f2 ** 2 / ((f2 + 20.6 ** 2) * np.sqrt((f2 + 107.7 ** 2) * (f2 + 737.9 ** 2))
                                   * (f2 + 12194.0 ** 2))
    return 20 * np.log10(ra) + 2.0


def spl_db(p: np.ndarray, fs: float, a_weighted: bool = False) -> float:
    """Sound pressure level (dB re 20 uPa) of pressure samples ``p`` (Pa), mean removed; A-weighted
    in the frequency domain when asked."""
    x = np.asarray(p, dtype=float)
    spec = np.fft.rfft(x - x.mean())
    if a_weighted:
        spec = spec * 10 ** (a_weighting_db(np.fft.rfftfreq(len(x), 1 / fs)) / 20)
    power = 2 * np.sum(np.abs(spec) ** 2) / len(x) ** 2
    return float(10 * np.log10(power / P_REF ** 2 + 1e-30))


def band_rms(x: np.ndarray, fs: float, lo: float, hi: float) -> float:
    """Rms of ``x`` in [lo, hi] Hz (4th-order zero-phase Butterworth; ``hi`` clamped below Nyquist)."""
    hi = min(hi, 0.49 * fs)
    sos = signal.butter(4, [lo, hi], btype="bandpass", fs=fs, output="sos")
    return float(np.std(signal.sosfiltfilt(sos, np.asarray(x, dtype=float))))
