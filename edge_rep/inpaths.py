"""What a command may read: the check every reader makes before it opens a path the user named.

A named pipe (FIFO) blocks ``open`` until some writer comes; a device such as /dev/zero never ends; a
directory or a socket is not a file. Each is refused from ``os.stat`` alone, before anything is opened,
with one line (``EdgeRepError``, exit 2). A file of a small kind (a config, a manifest, a scenario) is
also refused when it is larger than that kind can be, so no reader runs out of memory on a wrong path::

    path = input_file(args.log, "sensor log", option="LOG")          # a regular file, or EdgeRepError
    text = read_input(args.config, "config file", max_bytes=CONFIG_MAX)   # its bytes, at most max_bytes
    root = input_folder(args.data, "dataset folder", option="--data")

Symlinks are followed (a /dev/serial/by-id style link to a regular file is fine); what they point at is
what is checked.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .errors import EdgeRepError

# Largest small inputs: generous for real files, far below what hurts a Jetson's memory.
CONFIG_MAX = 1 << 20          # edge-rep.toml, scenario files, labels
MANIFEST_MAX = 64 << 20       # a dataset manifest (about 300 bytes per recording)

_SPECIAL = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
            (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _label(path, option: str | None) -> str:
    return f"{option} {path}" if option else str(path)


def _stat(path: Path, what: str, option: str | None, missing: str | None) -> os.stat_result:
    label = _label(path, option)
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise EdgeRepError(f"{label}: {what} not found; {missing or 'check the path'}") from None
    except NotADirectoryError:
        raise EdgeRepError(f"{label}: {what} not found (a part of the path is a file, not a folder); "
                           f"check the path") from None
    except PermissionError:
        raise EdgeRepError(f"{label}: permission denied; make it readable by this user") from None
    except OSError as e:
        if e.errno == errno.ENAMETOOLONG:
            raise EdgeRepError(f"{_label(str(path)[:40] + '...', option)}: the path is longer than the system "
                               f"allows; use a shorter path") from None
        if e.errno == errno.ELOOP:
            raise EdgeRepError(f"{label}: a loop of symbolic links; fix the link") from None
        raise EdgeRepError(f"{label}: cannot look at it ({e.strerror or e}); check the path") from None


def input_file(path: str | os.PathLike, what: str = "file", *, option: str | None = None,
               max_bytes: int | None = None, missing: str | None = None) -> Path:
    """``path`` as a Path when it is a regular file (of at most ``max_bytes``), else EdgeRepError naming
    ``option`` (e.g. "--config") and the path. ``missing`` is the advice when it does not exist.
    Never opens the file."""
    p = Path(path)
    st = _stat(p, what, option, missing)
    label = _label(p, option)
    if stat.S_ISDIR(st.st_mode):
        raise EdgeRepError(f"{label}: is a directory, not a {what}; give the {what}'s path")
    for test, kind in _SPECIAL:
        if test(st.st_mode):
            raise EdgeRepError(f"{label}: is {kind}, not a {what}; give a regular file")
    if max_bytes is not None and st.st_size > max_bytes:
        raise EdgeRepError(f"{label}: {st.st_size:,} bytes is more than a {what} can be ({max_bytes:,} at most); "
                           f"check the path")
    return p


def read_input(path: str | os.PathLike, what: str = "file", *, option: str | None = None,
               max_bytes: int = CONFIG_MAX, missing: str | None = None) -> bytes:
    """The bytes of a small regular file (``input_file``), at most ``max_bytes`` even if it grows meanwhile."""
    p = input_file(path, what, option=option, max_bytes=max_bytes, missing=missing)
    try:
        with open(p, "rb") as f:
            data = f.read(max_bytes + 1)
    except PermissionError:
        raise EdgeRepError(f"{_label(p, option)}: permission denied reading the {what}; make it readable "
                           f"(chmod 644)") from None
    except OSError as e:
        raise EdgeRepError(f"{_label(p, option)}: cannot read the {what} ({e.strerror or e}); check the file "
                           f"and its disk") from None
    if len(data) > max_bytes:
        raise EdgeRepError(f"{_label(p, option)}: more than a {what} can be ({max_bytes:,} bytes at most); "
                           f"check the path")
    return data


def input_folder(path: str | os.PathLike, what: str = "folder", *, option: str | None = None,
                 missing: str | None = None) -> Path:
    """``path`` as a Path when it is a directory, else EdgeRepError."""
    p = Path(path)
    st = _stat(p, what, option, missing)
    if not stat.S_ISDIR(st.st_mode):
        raise EdgeRepError(f"{_label(p, option)}: is a file, not a {what}; give the {what}'s path"
                           if stat.S_ISREG(st.st_mode) else f"{_label(p, option)}: is not a {what}; give a folder")
    return p
