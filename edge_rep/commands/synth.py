"""``edge-rep synth``: build the synthetic acoustic-seismic benchmark in the dataset format."""

from . import SEED, add_force, number, path_arg

NAME = "synth"
HELP = ("build the physics-based synthetic benchmark (families of sites and sources, pass-bys, non-target events) "
        "as a dataset folder")
EXAMPLE = "edge-rep synth --out data/synth --profile mod --seed 0 --recordings 300 --duration 24"
ORDER = 10


def add_arguments(p) -> None:
    p.add_argument("--out", required=True, type=path_arg, help="dataset folder to create (must not exist, or be empty)")
    add_force(p, "dataset folder")
    p.add_argument("--profile", default="mod",
                   help="sensor profile: mod (8 kHz + 100 Hz) or acids (1024 Hz); default mod")
    p.add_argument("--seed", type=SEED, default=0, help="random seed; the same seed gives identical data (default 0)")
    p.add_argument("--recordings", type=number(int, ge=1, le=100_000), default=None,
                   help="in-family recordings, split train/val/test (default: the benchmark's 300)")
    p.add_argument("--duration", type=number(float, gt=0, le=3600), default=None,
                   help="seconds per recording (default: the benchmark's 24)")
    p.add_argument("--foreign", type=number(int, ge=0, le=100_000), default=None,
                   help="recordings of the foreign families (split 'foreign', never in train/val/test; default: "
                        "as many as the test split, 48 for the default benchmark)")
    p.add_argument("--background-only", action="store_true",
                   help="only background (no pass-bys; every kind of non-target event), all in the test split: "
                        "false alarms per hour for evaluate --detections --background; default 60 recordings of "
                        "600 s (10 hours)")
    p.add_argument("--split", choices=("train", "val", "test"), default=None,
                   help="with --background-only: the split of every recording (default test). train and val "
                        "hold only the kinds of non-target event a model may be fitted on (never thunder or "
                        "helicopter): background to add to training with 'edge-rep train --add-train'")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from ..dataset import DATASET, load_dataset
    from ..errors import EdgeRepError
    from ..outpaths import claim
    from ..profiles import get_profile

    claim(args.out, DATASET, args.force)       # before the generator's imports (SciPy: a second or more)
    from ..synth import BACKGROUND_DURATION_S, BACKGROUND_RECORDINGS, make_benchmark

    profile = get_profile(args.profile)
    if args.split is not None and not args.background_only:
        raise EdgeRepError(f"--split {args.split}: only with --background-only (the benchmark splits itself "
                           f"70/15/15)")
    if args.background_only:
        args.recordings = args.recordings or BACKGROUND_RECORDINGS
        args.duration = args.duration or BACKGROUND_DURATION_S
    size = {k: v for k, v in (("n_recordings", args.recordings), ("duration_s", args.duration),
                              ("n_foreign", args.foreign)) if v is not None}
    out = make_benchmark(args.out, profile=profile, seed=args.seed, progress=not args.quiet, force=args.force,
                         background_only=args.background_only, split=args.split or "test", **size)
    splits = load_dataset(out).splits()
    print(f"wrote {out}: " + ", ".join(f"{n} {s}" for s, n in splits.items()) + f" recordings (profile {profile.name})")
    return 0
