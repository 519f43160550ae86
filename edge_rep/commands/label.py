"""``edge-rep label``: set the class of a stretch of a sensor log (its ``<log>.labels.json``)."""

import argparse

from . import number, path_arg

NAME = "label"
HELP = "label a stretch of a sensor log (seconds from its start) in LOG.labels.json; other stretches keep theirs"
EXAMPLE = "edge-rep label data/logs/car1.edgelog 0 12.5 background"
ORDER = 43

_SECONDS = number(float, ge=0, le=366 * 86400)


def _end(text: str) -> float | None:
    """END: seconds, or 'end' for the log's last record."""
    if text == "end":
        return None
    try:
        return _SECONDS(text)
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"{e} (or 'end')") from None


def add_arguments(p) -> None:
    p.add_argument("log", metavar="LOG", type=path_arg, help="sensor log (from 'edge-rep record' or 'simulate --log')")
    p.add_argument("start", metavar="START", type=_SECONDS, help="start of the stretch, seconds from the log's start")
    p.add_argument("end", metavar="END", type=_end, help="end of the stretch, seconds from the log's start, or 'end'")
    p.add_argument("label", metavar="CLASS", help="one of the model's classes")
    p.add_argument("--model", metavar="FILE", type=path_arg, default=None,
                   help="the model whose classes CLASS must name (default: the bundled model)")


def run(args) -> int:
    from firmware_bridge.sensorlog import read_log

    from ..errors import EdgeRepError
    from ..inpaths import input_file
    from ..log_conversion import (check_class, check_labels, labels_path, log_duration, read_labels, set_stretch,
                                  write_labels)
    from ..modelinfo import model_info

    classes = model_info(args.model)["classes"]
    check_class(args.label, classes, where="CLASS")
    duration = log_duration(read_log(input_file(args.log, "sensor log", option="LOG")))
    old = read_labels(args.log)
    # 'end': the log's last record, or the end of a label already reaching past it (record --label rounds)
    end = max([round(duration, 3), *(iv.end for iv in old)]) if args.end is None else args.end
    if not end > args.start:
        raise EdgeRepError(f"START {args.start:g} s, END {end:g} s: the stretch is empty; give START < END")
    where = str(labels_path(args.log))
    new = set_stretch(old, args.start, end, args.label)
    check_labels(new, classes, duration, where=where)      # the file as it would be: nothing written otherwise
    path = write_labels(args.log, new)
    print(f"wrote {path}: " + ", ".join(f"{iv.start:g}..{iv.end:g} s {iv.label}" for iv in new))
    return 0
