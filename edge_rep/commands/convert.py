"""``edge-rep convert``: turn a public dataset or plain files into an edge-rep dataset folder."""

from . import SEED, add_force, path_arg

NAME = "convert"
HELP = "convert MOD CSVs/.pt, ACIDS .mat, WAV or miniSEED files into an edge-rep dataset (split by recording)"
EXAMPLE = "edge-rep convert mod-csv ~/Parkland/raw --out data/mod --profile mod"
ORDER = 11

FORMAT_NAMES = ("mod-csv", "mod-pt", "acids", "wav", "mseed")


def add_arguments(p) -> None:
    p.add_argument("format", choices=FORMAT_NAMES, help="input format")
    p.add_argument("src", type=path_arg, help="source file or folder")
    p.add_argument("--out", required=True, type=path_arg,
                   help="dataset folder to create (appears only when complete; must not exist, or be empty)")
    add_force(p, "dataset folder")
    p.add_argument("--label", help="class of every recording (default: from the data or the folder names)")
    p.add_argument("--profile", help="sensor profile (default: acids for acids, else mod)")
    p.add_argument("--modality", choices=("acoustic", "seismic"),
                   help="wav/mseed: which modality the files hold (default: acoustic for wav, seismic for mseed)")
    p.add_argument("--channel", help="wav: channel index; mseed: channel code (e.g. EHZ)")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the train/val/test assignment (default 0)")


def run(args) -> int:
    from pathlib import Path

    from ..dataset import DATASET, load_dataset, write_dataset
    from ..errors import EdgeRepError, warn
    from ..inpaths import input_file
    from ..outpaths import claim
    from ..profiles import get_profile

    claim(args.out, DATASET, args.force)   # before reading the source, which can take long
    src = Path(args.src).expanduser()
    if not src.is_dir():                   # a file, then; a FIFO or a device is refused unread
        input_file(src, "source file or folder", option="SRC")
    profile = get_profile(args.profile or ("acids" if args.format == "acids" else "mod"))

    from ..loaders import assign_splits, loader     # SciPy: a second or more

    mod = loader(args.format)
    kwargs = {}
    if args.format in ("wav", "mseed"):
        kwargs["modality"] = args.modality or ("acoustic" if args.format == "wav" else "seismic")
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
    group = getattr(mod, "group_of", lambda r: r.id)
    out = write_dataset(args.out, assign_splits(recs, seed=args.seed, group=group), profile, args.force)
    splits = load_dataset(out).splits()
    print(f"wrote {out}: " + ", ".join(f"{n} {s}" for s, n in splits.items()) + f" recordings (profile {profile.name})")
    if not splits["val"] and not splits["test"]:
        warn(f"{out}: every recording is in the train split (splits are by recording, per class), so 'edge-rep "
             f"evaluate' has no test split to score; convert more recordings: 4 or more per class")
    return 0
