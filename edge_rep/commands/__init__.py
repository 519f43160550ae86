"""One module per subcommand; see edge_rep/cli.py for the contract.

Argument types shared by the subcommands. argparse calls them on an option's text, so a number out of
range or an impossible path is refused (one line, exit 2, see ``edge_rep.cli``) before any work starts::

    p.add_argument("--batch-size", type=number(int, ge=1, le=65536))
    p.add_argument("--speed", type=number(float, gt=0, le=1e6))
    p.add_argument("--baud", type=config_number(SerialSection, "baud"))   # the config schema's bounds
    p.add_argument("--out", type=path_arg)

Every number has both bounds: an absurd value (a 10^300 s hold-over, 10^9 epochs) is an error, not a
silent hang. Seeds share ``SEED``.
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import fields
from typing import Callable

# Linux limits (limits.h): a longer path or name fails in the kernel with ENAMETOOLONG anyway
PATH_MAX = 4096
NAME_MAX = 255


_WHAT = {int: "a whole number", float: "a number"}


def _fmt(v: float) -> str:
    return str(v) if isinstance(v, int) else f"{v:g}"


def _range_text(kind: type, ge, gt, le) -> str:
    what = _WHAT[kind]
    low = f"from {_fmt(ge)}" if ge is not None else f"above {_fmt(gt)}" if gt is not None else ""
    if low and le is not None:
        return f"{what} {low} {'to' if ge is not None else 'and at most'} {_fmt(le)}"
    return f"{what} {low}".strip() if low else f"{what} up to {_fmt(le)}"


def number(kind: type, *, ge: float | None = None, gt: float | None = None,
           le: float | None = None) -> Callable[[str], int | float]:
    """An argparse type: the text as ``kind`` (int or float), finite and within the bounds, else an
    ``argparse.ArgumentTypeError`` naming the allowed range."""
    if kind not in (int, float):
        raise TypeError("number() takes int or float")
    allowed = _range_text(kind, ge, gt, le)

    def convert(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {_WHAT[kind]}; use {allowed}") from None
        if kind is float and not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"{text} is not a finite number; use {allowed}")
        if (ge is not None and v < ge) or (gt is not None and not v > gt) or (le is not None and v > le):
            raise argparse.ArgumentTypeError(f"{text} is out of range; use {allowed}")
        return v

    convert.__name__ = kind.__name__         # argparse names the type in its own messages
    return convert


def config_number(section: type, key: str) -> Callable[[str], int | float]:
    """A ``number`` type with the bounds of ``edge-rep.toml``'s ``key`` in ``section`` (a config dataclass),
    so an option that overrides a config key accepts exactly what the file does."""
    f = {f.name: f for f in fields(section)}[key]
    kind = type(f.default)
    return number(kind, ge=f.metadata["ge"], gt=f.metadata["gt"], le=f.metadata["le"])


SEED = number(int, ge=0, le=2**32 - 1)        # numpy and torch both take any seed in this range
THREADS = number(int, ge=1, le=1024)
EPOCHS = number(int, ge=1, le=100_000)


def path_arg(text: str) -> str:
    """An argparse type for a path: non-empty and within the system's length limits (checked here, so a
    5,000-character path is refused at once rather than deep inside a command)."""
    if not text:
        raise argparse.ArgumentTypeError("the path is empty; give a file or folder")
    n = len(os.fsencode(text))
    if n >= PATH_MAX:
        raise argparse.ArgumentTypeError(f"a path of {n:,} bytes is longer than the system allows ({PATH_MAX - 1:,}); "
                                         f"use a shorter path")
    long = next((part for part in text.split(os.sep) if len(os.fsencode(part)) > NAME_MAX), None)
    if long is not None:
        raise argparse.ArgumentTypeError(f"the name {long[:20]}... ({len(os.fsencode(long)):,} bytes) is longer "
                                         f"than a file name can be ({NAME_MAX}); use a shorter name")
    return text


def add_force(p, what: str) -> None:
    """The one ``--force`` of every writer: replace an existing ``what`` (only edge-rep's own output of
    that kind; anything else at the path is refused either way, see ``edge_rep.outpaths``)."""
    p.add_argument("--force", action="store_true",
                   help=f"replace an existing {what} at --out (never anything else: other paths are refused)")
