"""``edge-rep dataset add LOGS... --to DIR``: append labelled sensor logs to a dataset folder."""

import argparse

from . import path_arg

NAME = "dataset"
HELP = "add sensor logs (with their LOG.labels.json) as recordings to a dataset folder (a new one, or one to extend)"
EXAMPLE = "edge-rep dataset add data/logs/car1.edgelog data/logs/quiet1.edgelog --to data/site"
ORDER = 44

SPLIT_CHOICES = ("auto", "train", "val", "test")


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="append sensor logs as recordings (split by recording; manifest rewritten "
                                     "atomically)",
                         epilog=f"example:\n  {EXAMPLE}", formatter_class=argparse.RawDescriptionHelpFormatter,
                         description="Convert each sensor log (labels from LOG.labels.json) and append it to the "
                                     "dataset DIR as one recording; a new path (or an empty folder) becomes a new "
                                     "dataset of --profile. Existing recordings and their splits stay as they are; "
                                     "all logs are checked before anything is written.")
    add.add_argument("logs", nargs="+", type=path_arg, metavar="LOG", help="sensor logs (edge-rep record)")
    add.add_argument("--to", required=True, type=path_arg, metavar="DIR",
                     help="an edge-rep dataset folder (with its manifest.json), or a new path / empty folder for a "
                          "new dataset")
    add.add_argument("--profile", default="mod",
                     help="sensor profile of a new dataset (default mod); an existing dataset keeps its own")
    add.add_argument("--split", choices=SPLIT_CHOICES, default="auto",
                     help="split of the new recordings: auto (default: from a hash of each recording's id, 70 %% "
                          "train, 15 %% val, 15 %% test, so adding never moves another recording), or train, val or "
                          "test for all of them")


def run(args) -> int:
    from firmware_bridge.sensorlog import read_log

    import os
    from pathlib import Path

    from ..dataset import DATASET, append_recordings, hash_split, load_dataset, write_dataset
    from ..errors import EdgeRepError
    from ..inpaths import input_file
    from ..log_conversion import check_labels, labels_path, to_recording
    from ..outpaths import claim, is_empty_folder
    from ..profiles import get_profile

    new = not os.path.lexists(args.to) or is_empty_folder(Path(args.to))
    if new:
        claim(args.to, DATASET, option="--to")
        profile = get_profile(args.profile)
    else:
        profile = load_dataset(args.to).profile      # not a dataset: one line, before any log is read
    recs = []
    for log_path in args.logs:
        log = read_log(input_file(log_path, "sensor log", option="LOG"))
        rec = to_recording(log)
        if not rec.labels:                # its windows would be skipped by training and scoring alike
            raise EdgeRepError(f"{log_path}: has no labels ({labels_path(log_path)} is missing); label it first, "
                               f"e.g. 'edge-rep label {log_path} 0 end CLASS'")
        try:
            check_labels(rec.labels, profile.classes, rec.duration, where=str(labels_path(log_path)))
            rec.validate(profile)
        except EdgeRepError as e:
            raise EdgeRepError(f"{log_path}: does not fit dataset {args.to} (profile '{profile.name}'): "
                               f"{e}") from None
        recs.append((rec, hash_split(rec.id) if args.split == "auto" else args.split))
    if new:
        write_dataset(args.to, recs, profile)
        entries = load_dataset(args.to).entries
    else:
        entries = append_recordings(args.to, recs)
    for e in entries:
        print(f"added {e['id']} ({e['duration_s']:.1f} s, {', '.join(e['labels'])}) to {args.to} as {e['split']}")
    splits = load_dataset(args.to).splits()
    print(f"{args.to}: " + ", ".join(f"{n} {s}" for s, n in splits.items()) + " recordings")
    return 0
