"""``edge-rep synth``: build the synthetic acoustic-seismic benchmark in the dataset format."""

from . import add_force

NAME = "synth"
HELP = "build the physics-based synthetic benchmark (pass-bys, wind, noise) as a dataset folder"
EXAMPLE = "edge-rep synth --out data/synth --profile mod --seed 0 --recordings 300 --duration 24"
ORDER = 10


def add_arguments(p) -> None:
    p.add_argument("--out", required=True, help="dataset folder to create (must not exist, or be empty)")
    add_force(p, "dataset folder")
    p.add_argument("--profile", default="mod",
                   help="sensor profile: mod (8 kHz + 100 Hz) or acids (1024 Hz); default mod")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives identical data (default 0)")
    p.add_argument("--recordings", type=int, default=None, help="number of recordings (default: the benchmark's 300)")
    p.add_argument("--duration", type=float, default=None, help="seconds per recording (default: the benchmark's 24)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from ..dataset import load_dataset
    from ..profiles import get_profile
    from ..synth import make_benchmark

    profile = get_profile(args.profile)
    size = {k: v for k, v in (("n_recordings", args.recordings), ("duration_s", args.duration)) if v is not None}
    out = make_benchmark(args.out, profile=profile, seed=args.seed, progress=not args.quiet, force=args.force, **size)
    splits = load_dataset(out).splits()
    print(f"wrote {out}: " + ", ".join(f"{n} {s}" for s, n in splits.items()) + f" recordings (profile {profile.name})")
    return 0
