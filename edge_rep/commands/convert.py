"""``edge-rep convert``: turn a public dataset or plain files into an edge-rep dataset folder, in physical
units (edge_rep/calibration.py: counts or digital full scale without a calibration are refused)."""

import argparse

from . import SEED, add_force, number, path_arg

NAME = "convert"
HELP = "convert MOD CSVs/.pt, ACIDS .mat, WAV or miniSEED files into an edge-rep dataset (split by recording)"
EXAMPLE = ("edge-rep convert mseed shake.ms --channel EHZ --sensitivity 3.99e8 --label background --out data/shake"
           "   |   edge-rep convert mod-csv ~/Parkland/raw --units counts --out data/mod")
ORDER = 11

FORMAT_NAMES = ("mod-csv", "mod-pt", "acids", "wav", "mseed")
SINGLE = ("wav", "mseed")                    # one modality per file: a bare --sensitivity / --units is its
MODALITY_NAMES = ("acoustic", "seismic")
UNIT_NAMES = ("counts", "FS", "Pa", "m/s")   # --units: a raw unit kept on purpose, or the profile's (declared)

# counts per unit: a 24-bit ADC behind a high-gain geophone is about 1e10 counts per m/s; 1e18 is absurd
SENSITIVITY = number(float, gt=0, le=1e18)
FULL_SCALE_VALUE = number(float, gt=0, le=1e12)     # e.g. 20 Pa for a MEMS microphone
PRE_FILT_HZ = number(float, gt=0, le=1e7)


def _keyed(convert_value, what: str):
    """An argparse type for ``[MODALITY=]VALUE``: (modality or None, value)."""

    def convert(text: str):
        key, sep, value = text.rpartition("=")
        if sep and key not in MODALITY_NAMES:
            raise argparse.ArgumentTypeError(f"{key!r} is not a modality; write {what} as VALUE or MODALITY=VALUE "
                                             f"with MODALITY one of {', '.join(MODALITY_NAMES)}")
        return (key or None, convert_value(value))

    convert.__name__ = what
    return convert


def _unit(text: str) -> str:
    if text not in UNIT_NAMES:
        raise argparse.ArgumentTypeError(f"unit {text!r}: use one of {', '.join(UNIT_NAMES)}")
    return text


def add_arguments(p) -> None:
    p.add_argument("format", choices=FORMAT_NAMES, help="input format")
    p.add_argument("src", type=path_arg, help="source file or folder")
    p.add_argument("--out", required=True, type=path_arg,
                   help="dataset folder to create (appears only when complete; must not exist, or be empty)")
    add_force(p, "dataset folder")
    p.add_argument("--label", help="class of every recording (default: from the data or the folder names)")
    p.add_argument("--profile", help="sensor profile (default: acids for acids, else mod)")
    p.add_argument("--modality", choices=MODALITY_NAMES,
                   help="wav/mseed: which modality the files hold (default: a WAV sidecar's, else acoustic for wav; "
                        "seismic for mseed)")
    p.add_argument("--channel", help="wav: channel index; mseed: channel code (e.g. EHZ)")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the train/val/test assignment (default 0)")
    cal = p.add_argument_group("units (docs/data-format.md): data in counts or digital full scale needs one of these")
    cal.add_argument("--sensitivity", type=_keyed(SENSITIVITY, "--sensitivity"), action="append", default=[],
                     metavar="[MODALITY=]COUNTS_PER_UNIT",
                     help="counts per physical unit (per m/s for seismic, per Pa for acoustic; the seismological "
                          "convention, e.g. 3.99e8 for a Raspberry Shake RS4D geophone); mod-csv, mod-pt and acids "
                          "take one per modality, e.g. --sensitivity seismic=3.99e8; not for wav")
    cal.add_argument("--full-scale", type=FULL_SCALE_VALUE, default=None, metavar="VALUE",
                     help="wav only: the physical value (Pa for acoustic, m/s for seismic) at digital full scale")
    cal.add_argument("--inventory", type=path_arg, default=None, metavar="STATIONXML",
                     help="mseed only: FDSN StationXML with the channel's response; its sensitivity is removed "
                          "(ObsPy remove_sensitivity). Default: FILE.xml beside each miniSEED file, if there")
    cal.add_argument("--remove-response", action="store_true",
                     help="mseed: deconvolve the StationXML's full response (ObsPy remove_response, output VEL for "
                          "seismic, DEF for acoustic) instead of dividing by its sensitivity")
    cal.add_argument("--pre-filt", type=PRE_FILT_HZ, nargs=4, default=None, metavar=("F1", "F2", "F3", "F4"),
                     help="with --remove-response: the pre-filter's corners in Hz (default: rate/200, rate/100, "
                          "0.4 x rate, 0.45 x rate; 0.5, 1, 40, 45 Hz at 100 Hz)")
    cal.add_argument("--units", type=_keyed(_unit, "--units"), action="append", default=[],
                     metavar="[MODALITY=]UNIT",
                     help="keep the samples as they are, in UNIT, on purpose: counts (mseed, mod-csv, mod-pt, acids) "
                          "or FS (wav); the dataset's profile then records that unit. Or the profile's own unit "
                          "(Pa, m/s) for data already calibrated")


def calibration_of(args):
    """The ``Calibration`` the options describe; EdgeRepError for a combination that cannot be meant."""
    from ..calibration import Calibration
    from ..errors import EdgeRepError

    fmt = args.format
    single = fmt in SINGLE
    sens: dict = {}
    for key, value in args.sensitivity:
        if key in sens:
            raise EdgeRepError(f"--sensitivity {'for ' + key if key else ''}: given twice; give it once")
        sens[key] = value
    units: dict = {}
    for key, value in args.units:
        if key in units:
            raise EdgeRepError(f"--units {'for ' + key if key else ''}: given twice; give it once")
        units[key] = value
    if fmt == "wav" and sens:
        raise EdgeRepError("--sensitivity: a WAV holds digital full scale, not counts; give --full-scale VALUE (the "
                           "physical value at full scale) instead")
    if fmt != "wav" and args.full_scale is not None:
        raise EdgeRepError(f"--full-scale: applies to wav only; {fmt} holds counts: give --sensitivity "
                           f"COUNTS_PER_UNIT instead")
    if fmt != "mseed" and (args.inventory or args.remove_response or args.pre_filt):
        raise EdgeRepError(f"--inventory/--remove-response/--pre-filt apply to mseed only, not {fmt}")
    if args.pre_filt and not args.remove_response:
        raise EdgeRepError("--pre-filt: applies with --remove-response only; add it, or drop --pre-filt")
    if args.pre_filt and list(args.pre_filt) != sorted(args.pre_filt):
        raise EdgeRepError(f"--pre-filt {' '.join(f'{f:g}' for f in args.pre_filt)}: corners must rise, "
                           f"F1 <= F2 <= F3 <= F4 (Hz)")
    if single:
        if any(k is not None for k in (*sens, *units)):
            raise EdgeRepError(f"{fmt} files hold one modality: give --sensitivity/--units without MODALITY= "
                               f"(choose the modality with --modality)")
        given = [o for o, v in (("--inventory", args.inventory), ("--sensitivity", sens),
                                ("--full-scale", args.full_scale is not None), ("--units", units)) if v]
        if len(given) > 1:
            raise EdgeRepError(f"{' and '.join(given)}: give one way to calibrate the data, not several")
    else:
        if None in sens:
            raise EdgeRepError(f"--sensitivity: {fmt} holds two modalities with different sensitivities; name "
                               f"one: --sensitivity seismic=COUNTS_PER_UNIT (per m/s) or acoustic=... (per Pa)")
        both = sorted(set(sens) & set(units))
        if both:
            raise EdgeRepError(f"--sensitivity and --units for {', '.join(both)}: give one of them")
    for key, unit in units.items():
        mod = key or args.modality or ("seismic" if fmt == "mseed" else "acoustic" if single else None)
        raw = "FS" if fmt == "wav" else "counts"
        if unit in ("counts", "FS") and unit != raw:
            raise EdgeRepError(f"--units {unit}: {fmt} samples are in {raw}; use --units {(key + '=') if key else ''}"
                               f"{raw} to keep them on purpose")
        if unit in ("Pa", "m/s") and mod is None:
            raise EdgeRepError(f"--units {unit}: {fmt} holds two modalities; name the one already in {unit}, e.g. "
                               f"--units {'acoustic' if unit == 'Pa' else 'seismic'}={unit}")
        if unit in ("Pa", "m/s") and mod is not None and unit != {"acoustic": "Pa", "seismic": "m/s"}[mod]:
            raise EdgeRepError(f"--units {unit}: {mod} data cannot be in {unit}; use {raw}, or the {mod} unit")
    return Calibration(sensitivity=sens, full_scale=args.full_scale, units=units, inventory=args.inventory,
                       remove_response=args.remove_response,
                       pre_filt=tuple(args.pre_filt) if args.pre_filt else None)


def run(args) -> int:
    from pathlib import Path

    from ..dataset import DATASET, load_dataset, write_dataset
    from ..errors import EdgeRepError, warn
    from ..inpaths import input_file
    from ..outpaths import claim
    from ..profiles import get_profile

    cal = calibration_of(args)               # option combinations first: nothing read or written yet
    claim(args.out, DATASET, args.force)   # before reading the source, which can take long
    src = Path(args.src).expanduser()
    if not src.is_dir():                   # a file, then; a FIFO or a device is refused unread
        input_file(src, "source file or folder", option="SRC")
    if cal.inventory is not None:
        input_file(cal.inventory, "StationXML", option="--inventory")
    profile = get_profile(args.profile or ("acids" if args.format == "acids" else "mod"))

    from ..loaders import assign_splits, loader     # SciPy: a second or more

    mod = loader(args.format)
    kwargs = {"calibration": cal}
    if args.format in SINGLE:
        kwargs["modality"] = args.modality or ("seismic" if args.format == "mseed" else None)
        if args.channel is not None:
            if args.format == "wav":
                try:
                    kwargs["channel"] = int(args.channel)
                except ValueError:
                    raise EdgeRepError(f"--channel {args.channel}: a WAV channel is an index (0, 1, ...)") from None
            else:
                kwargs["channel"] = args.channel
    elif args.modality or args.channel is not None:
        raise EdgeRepError(f"--modality/--channel apply to wav and mseed only, not {args.format}")
    recs = mod.load(src, profile, label=args.label, **kwargs)
    if not recs:
        raise EdgeRepError(f"{src}: nothing to convert; check the folder")
    # the units the user kept on purpose (--units counts) become the dataset profile's, for the modalities held
    held = tuple(sorted({m for r in recs for m in r.modalities}))
    profile = cal.profile(profile, held)
    group = getattr(mod, "group_of", lambda r: r.id)
    out = write_dataset(args.out, assign_splits(recs, seed=args.seed, group=group), profile, args.force)
    splits = load_dataset(out).splits()
    units = ", ".join(f"{m.name} in {m.units}" for m in profile.modalities if m.name in held)
    print(f"wrote {out}: " + ", ".join(f"{n} {s}" for s, n in splits.items())
          + f" recordings (profile {profile.name}; {units})")
    if not splits["val"] and not splits["test"]:
        warn(f"{out}: every recording is in the train split (splits are by recording, per class), so 'edge-rep "
             f"evaluate' has no test split to score; convert more recordings: 4 or more per class")
    return 0
