"""Families of sites and sources for the synthetic generator (domain randomisation).

A family is a named combination of five catalogue entries: a ground (propagation and ground response),
a geophone, a microphone, a fleet (source parameters of every class) and a climate (wind, air,
ambient noise and the non-target events it brings). Each recording's site is drawn from one family.
Every range below is documented with its source in docs/synthetic.md ("Families"); ranges marked
"assumed" there have none.

``IN_FAMILIES`` build train/val/test; ``FOREIGN_FAMILIES`` are never used for them: they make the
benchmark's "foreign" split. Both lists are frozen: changing them changes what the foreign split
measures, so it needs a new GENERATOR_VERSION and a note in docs/synthetic.md.
"""

from __future__ import annotations

from dataclasses import dataclass

Range = tuple[float, float]

C_REF = 250.0          # m/s: Rayleigh speed of the reference (stiff) soil, where ground_gain = 1
RAYLEIGH_OVER_VS = (0.92, 0.95)    # Rayleigh / shear-wave speed for Poisson's ratio 0.25-0.45


@dataclass(frozen=True)
class Ground:
    """Near-surface ground: shear-wave speed (NEHRP site classes), attenuation, density."""

    name: str
    vs: Range                # m/s shear-wave speed of the top ~30 m
    q_factor: Range          # Q_s / (0.05 Vs[m/s]): scatter around Olsen et al.'s Q_s = 50 Vs[km/s]
    density: Range           # kg/m^3
    description: str = ""


@dataclass(frozen=True)
class Geophone:
    """A moving-coil geophone and its digitiser, scaled to m/s by the nominal (shunted) sensitivity."""

    name: str
    natural_hz: Range
    damping: Range           # fraction of critical
    gain_db: Range           # sensitivity error of sensor and digitiser
    noise: Range             # m/s rms self-noise (electronics), white to Nyquist
    coupling_db: Range       # planting / ground-coupling spread
    description: str = ""


@dataclass(frozen=True)
class Microphone:
    """A microphone chain: sensitivity spread, self-noise, low-frequency roll-off, clipping, windscreen."""

    name: str
    gain_db: Range
    noise_dba: float         # equivalent input noise, dB(A) SPL over 20 Hz-20 kHz (94 dB - datasheet SNR)
    lowcut_hz: Range         # first-order high-pass corner
    clip_pa: Range           # Pa at which the chain saturates
    wind_factor: Range       # wind-noise amplitude relative to a foam-windscreened microphone
    description: str = ""


@dataclass(frozen=True)
class Climate:
    """Weather and surroundings: wind at the microphone, air for ISO 9613-1 absorption, ambient noise in
    both modalities, and the mean rate and mix of non-target events."""

    name: str
    wind_gamma: tuple[float, float]   # shape, scale (m/s) of the mean wind speed at ~1 m
    gustiness: Range
    temperature_c: Range
    humidity_pct: Range
    ambient_dba: Range               # diffuse ambient sound (distant traffic, vegetation), dB(A)
    cultural: Range                  # m/s rms ground noise 1-40 Hz on the reference soil
    microseism: Range                # m/s rms 0.1-0.5 Hz
    nontarget_per_min: Range         # mean non-target events per minute, all kinds
    nontarget_mix: tuple[tuple[str, float], ...]   # kind -> relative weight
    description: str = ""


GROUNDS: dict[str, Ground] = {g.name: g for g in (
    Ground("soft-clay", (100.0, 180.0), (0.6, 1.6), (1500.0, 1800.0), "NEHRP class E: soft clay, loose silt"),
    Ground("stiff-soil", (180.0, 360.0), (0.6, 1.6), (1700.0, 2000.0), "NEHRP class D: stiff soil, loam, till"),
    Ground("dense-gravel", (360.0, 500.0), (0.6, 1.6), (1900.0, 2100.0), "NEHRP class C (lower half): dense gravel"),
    # foreign only
    Ground("rock", (760.0, 1500.0), (0.6, 1.6), (2300.0, 2700.0), "NEHRP class B: weathered to firm rock"),
    Ground("peat", (40.0, 90.0), (0.6, 1.6), (1000.0, 1200.0), "peat and organic soil, below NEHRP E"),
)}

GEOPHONES: dict[str, Geophone] = {g.name: g for g in (
    Geophone("sm24", (9.75, 10.25), (0.686, 0.72), (-1.0, 1.0), (2e-9, 1e-8), (-6.0, 6.0),
             "SM-24, 10 Hz, shunted to 0.686 damping (datasheet), spiked"),
    Geophone("4.5hz", (4.3, 4.7), (0.56, 0.71), (-1.0, 1.0), (3e-9, 1.5e-8), (-6.0, 6.0),
             "4.5 Hz geophone as in the Raspberry Shake RS4D, spiked"),
    # foreign only: the SM-24 without its damping shunt, scaled by the shunted sensitivity
    Geophone("sm24-open", (9.75, 10.25), (0.22, 0.28), (1.8, 3.8), (2e-9, 1e-8), (-6.0, 6.0),
             "SM-24 with no shunt: open-circuit damping 0.25 and 28.8 instead of 20.9 V/(m/s)"),
)}

MICROPHONES: dict[str, Microphone] = {m.name: m for m in (
    Microphone("mems", (-1.0, 1.0), 29.0, (50.0, 70.0), (18.0, 20.0), (1.0, 1.0),
               "digital MEMS (ICS-43434 class): -26 dBFS +-1 dB, SNR 65 dB(A), AOP 120 dB SPL, foam windscreen"),
    Microphone("electret", (-3.0, 3.0), 34.0, (15.0, 25.0), (1.0, 3.0), (1.0, 1.0),
               "analog electret (CMA-4544 class): -44 dBV/Pa +-3 dB, SNR 60 dB(A), preamp clips at 1-3 Pa, "
               "foam windscreen"),
    # foreign only
    Microphone("electret-bare", (-3.0, 3.0), 34.0, (15.0, 25.0), (1.0, 3.0), (2.0, 4.0),
               "the same electret with no windscreen: 6-12 dB more wind noise"),
)}

# Source physics per class: ranges drawn uniformly per event; levels at 1 m (Pa, and m/s on the
# reference soil). FLEETS override these per family.
BASE_FLEET: dict[str, dict] = {
    "pedestrian": dict(speed=(1.0, 1.8), cpa=(1.5, 9.0), cadence=(1.45, 2.0), step_s=(0.12, 0.17),
                       step_seis=(1.5e-5, 4e-5), step_air=(0.004, 0.012), limp=(0.6, 1.0)),
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

FLEETS: dict[str, dict[str, dict]] = {
    "mixed": {},                                   # BASE_FLEET as it is
    "light": {                                     # trail bikes, small 3-4 cylinder cars, medium trucks, APCs
        "motorcycle": dict(rpm=(3000.0, 6500.0), cylinders=(1, 2)),
        "car": dict(rpm=(1800.0, 4000.0), cylinders=(3, 4)),
        "truck": dict(rpm=(1000.0, 1800.0), cylinders=(4, 6), seis=3.5),
        "tracked": dict(pitch=(0.14, 0.17), speed=(3.0, 8.0)),
    },
    # foreign only: V-twin cruisers, V6/V8 cars, V8 diesel trucks, heavy dozers, joggers
    "foreign": {
        "motorcycle": dict(rpm=(1800.0, 3000.0), cylinders=(2,), decay_db=(2.0, 3.5)),
        "car": dict(rpm=(1200.0, 2600.0), cylinders=(6, 8)),
        "truck": dict(rpm=(1000.0, 1700.0), cylinders=(8,)),
        "tracked": dict(pitch=(0.21, 0.26), speed=(1.5, 3.5), track_seis=(8.0, 16.0)),
        "pedestrian": dict(speed=(2.5, 4.0), cadence=(2.4, 3.0), step_s=(0.08, 0.12), step_seis=(3e-5, 8e-5)),
    },
}


def fleet_physics(fleet: str, label: str) -> dict:
    """Source parameters of class ``label`` in ``fleet`` (``BASE_FLEET`` with the fleet's overrides)."""
    return {**BASE_FLEET[label], **FLEETS[fleet].get(label, {})}


# Non-target event mixes (relative weights of each kind); edge_rep.synth_nontarget renders the kinds.
_QUIET_MIX = (("earthquake_local", 1.0), ("earthquake_regional", 1.0), ("aircraft", 1.5), ("helicopter", 0.8),
              ("machinery", 1.0), ("far_vehicle", 1.5), ("birds", 1.0), ("rain", 0.5), ("thunder", 0.5))
_STORMY_MIX = (("earthquake_local", 1.0), ("earthquake_regional", 1.0), ("aircraft", 0.5), ("helicopter", 0.3),
               ("machinery", 0.7), ("far_vehicle", 1.0), ("birds", 0.3), ("rain", 2.5), ("thunder", 2.0))

CLIMATES: dict[str, Climate] = {c.name: c for c in (
    Climate("calm-rural", (2.0, 0.8), (0.2, 0.5), (0.0, 25.0), (50.0, 95.0), (28.0, 40.0), (2e-8, 1e-7),
            (1e-7, 6e-7), (2.0, 4.0), _QUIET_MIX, "light wind, quiet countryside"),
    Climate("temperate", (2.0, 1.5), (0.2, 0.8), (5.0, 25.0), (40.0, 90.0), (32.0, 45.0), (4e-8, 3e-7),
            (2e-7, 1e-6), (2.0, 4.0), _QUIET_MIX, "moderate wind, farmland near roads"),
    Climate("windy-plain", (3.0, 2.2), (0.3, 0.8), (0.0, 30.0), (30.0, 80.0), (32.0, 45.0), (3e-8, 2e-7),
            (2e-7, 1.5e-6), (2.0, 4.0), _QUIET_MIX, "open plain, strong gusty wind"),
    Climate("stormy", (2.5, 2.0), (0.3, 0.8), (10.0, 30.0), (70.0, 98.0), (35.0, 48.0), (4e-8, 3e-7),
            (3e-7, 1.5e-6), (3.0, 5.0), _STORMY_MIX, "convective weather: rain and thunder common"),
    # foreign only
    Climate("cold-dry", (2.5, 2.0), (0.3, 0.9), (-25.0, -5.0), (15.0, 45.0), (25.0, 38.0), (1e-8, 6e-8),
            (3e-7, 2e-6), (2.0, 4.0), _QUIET_MIX, "winter upland: cold dry air, strong wind, very quiet ground"),
)}


@dataclass(frozen=True)
class Family:
    """One family of sites and sources: the catalogue entries a recording's site is drawn from."""

    name: str
    ground: str
    geophone: str
    microphone: str
    fleet: str
    climate: str


IN_FAMILIES: tuple[Family, ...] = (
    Family("loam-farm", "stiff-soil", "sm24", "electret", "mixed", "temperate"),
    Family("clay-plain", "soft-clay", "sm24", "mems", "mixed", "windy-plain"),
    Family("gravel-track", "dense-gravel", "4.5hz", "electret", "light", "temperate"),
    Family("river-clay", "soft-clay", "4.5hz", "electret", "light", "stormy"),
    Family("gravel-scrub", "dense-gravel", "sm24", "mems", "mixed", "calm-rural"),
    Family("village-loam", "stiff-soil", "4.5hz", "mems", "light", "calm-rural"),
)

# Frozen before any model selection (generator version 2); see docs/synthetic.md "Foreign families".
FOREIGN_FAMILIES: tuple[Family, ...] = (
    Family("upland-rock", "rock", "sm24-open", "mems", "foreign", "cold-dry"),
    Family("peat-bog", "peat", "4.5hz", "electret-bare", "foreign", "temperate"),
)

FAMILIES: dict[str, Family] = {f.name: f for f in IN_FAMILIES + FOREIGN_FAMILIES}
