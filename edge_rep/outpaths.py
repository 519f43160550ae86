"""Where a command may write: the one check every writer makes before it creates or replaces a path.

The rule: a command writes only to a path that does not exist yet, to an empty folder, or over its own
output of the same kind (a dataset folder with its manifest, a run folder with its checkpoints, an export
folder with its sidecar, a WAV file for a WAV output, ...), and over that only when the user says
``--force``. Anything else (a folder of the user's files, a file where a folder is wanted, a device node
such as /dev/null) is refused with one line and exit 2, ``--force`` or not. Replacement is atomic: the new
output is written beside the old one and takes its place only when complete.

Each writer module declares its kind next to the code that writes it, e.g. in ``edge_rep/dataset.py``::

    DATASET = OutputKind("dataset folder", folder=True, owned=_is_dataset)

    out = claim(args.out, DATASET, force=args.force)     # EdgeRepError unless free or (owned and force)
    with staged_folder(out) as tmp:                      # write into tmp; it becomes `out` on success
        ...
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import EdgeRepError


@dataclass(frozen=True)
class OutputKind:
    """A kind of output: ``noun`` names it in messages; ``owned(path)`` says whether an existing path is
    this kind's own output (it must never raise: any doubt is "not ours")."""

    noun: str
    folder: bool
    owned: Callable[[Path], bool]

    def is_own(self, path: Path) -> bool:
        try:
            kind_ok = path.is_dir() if self.folder else path.is_file()
            return kind_ok and not path.is_symlink() and bool(self.owned(path))
        except Exception:  # noqa: BLE001 - a recogniser that trips on odd content means "not ours"
            return False


def is_empty_folder(path: Path) -> bool:
    """A real (non-symlink) folder with nothing in it: writing there destroys nothing."""
    try:
        return path.is_dir() and not path.is_symlink() and next(os.scandir(path), None) is None
    except OSError:
        return False


def refuse_foreign(path: str | os.PathLike, kind: OutputKind, option: str = "--out") -> Path:
    """``path`` unless it exists and is neither an empty folder (for folder kinds) nor ``kind``'s own
    output; then EdgeRepError. For writers that add to their own output (a run folder, an export folder)."""
    p = Path(path)
    if not os.path.lexists(p) or (kind.folder and is_empty_folder(p)) or kind.is_own(p):
        return p
    what = ("a folder" if p.is_dir() else "a file" if p.is_file() and not p.is_symlink()
            else "a link" if p.is_symlink() else "a device or special file")
    raise EdgeRepError(f"{option} {p}: already exists and is {what}, not an edge-rep {kind.noun}; choose a new "
                       f"path (edge-rep replaces only its own {kind.noun}s)")


def claim(path: str | os.PathLike, kind: OutputKind, force: bool = False, option: str = "--out") -> Path:
    """``path`` as the destination of a new ``kind`` output. Free paths and empty folders are fine; an own
    output of the same kind only with ``force``; anything else never. Raises EdgeRepError (exit 2)."""
    p = refuse_foreign(path, kind, option)
    if os.path.lexists(p) and not (kind.folder and is_empty_folder(p)) and not force:
        raise EdgeRepError(f"{option} {p}: an edge-rep {kind.noun} is already there; pass --force to replace "
                           f"it, or choose a new path")
    check_writable_place(p, option)
    return p


def check_writable_place(p: Path, option: str) -> None:
    """The nearest existing folder above ``p`` is a folder this process may write into: refused now, in
    one line, rather than after the work (writing may still fail later, e.g. on a full disk)."""
    anc = p.parent
    while not os.path.lexists(anc) and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise EdgeRepError(f"{option} {p}: cannot create it, {anc} is not a folder; choose a path inside a folder")
    if not os.access(anc, os.W_OK | os.X_OK):        # also a read-only file system (EROFS)
        raise EdgeRepError(f"{option} {p}: cannot create it, {anc} is not writable (permission denied or "
                           f"read-only); choose a writable place")


def _parent(out: Path) -> Path:
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EdgeRepError(f"{out}: cannot create its folder {parent} ({e.strerror or e}); choose a writable "
                           f"place") from None
    return parent


@contextlib.contextmanager
def staged_folder(out: str | os.PathLike) -> Iterator[Path]:
    """Yield a new hidden folder beside ``out`` to write into; on success it takes ``out``'s place (an old
    ``out``, already passed through ``claim``, is removed only after the new one is in place). On any
    error the staging folder is removed and ``out`` is untouched."""
    out = Path(out)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=_parent(out)))
    except OSError as e:
        raise EdgeRepError(f"{out}: cannot write there ({e.strerror or e}); choose a writable folder") from None
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())            # mkdtemp makes it 0700; a finished output is shared
        if os.path.lexists(out) and not is_empty_folder(out):
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / out.name)          # the old output steps aside, then the new one lands
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)                     # onto nothing, or onto an empty folder
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise EdgeRepError(f"{out}: writing failed ({e.strerror or e}); check free space and permissions") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def staged_file(out: str | os.PathLike) -> Iterator[Path]:
    """Yield a path (not yet existing, in a new hidden folder beside ``out``) to write one file to; on
    success the file replaces ``out`` atomically (``os.replace``), on any error it is removed and ``out``
    is untouched. The staging folder is removed either way."""
    out = Path(out)
    try:
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=_parent(out)))
    except OSError as e:
        raise EdgeRepError(f"{out}: cannot write there ({e.strerror or e}); choose a writable folder") from None
    tmp = stage / out.name
    try:
        yield tmp
        os.replace(tmp, out)
    except OSError as e:
        raise EdgeRepError(f"{out}: writing failed ({e.strerror or e}); check free space and permissions") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Recognisers shared by several kinds. Each reads at most a few KiB.

def has_magic(path: Path, *magics: bytes, offset: int = 0) -> bool:
    """The file starts (at ``offset``) with one of ``magics``."""
    n = max(len(m) for m in magics)
    with open(path, "rb") as f:
        f.seek(offset)
        head = f.read(n)
    return any(head.startswith(m) for m in magics)


def json_file_has(path: Path, key: str, value=None, limit: int = 1 << 22) -> bool:
    """``path`` is a JSON object (at most ``limit`` bytes) holding ``key`` (equal to ``value`` if given)."""
    if path.stat().st_size > limit:
        return False
    try:
        d = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(d, dict) and key in d and (value is None or d[key] == value)


def is_wav(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(12)
    return head[:4] in (b"RIFF", b"RIFX") and head[8:12] == b"WAVE"


def is_miniseed(path: Path) -> bool:
    """A miniSEED file (ObsPy's own test when ObsPy is there; else the fixed header's data-quality byte)."""
    try:
        from obspy.io.mseed.core import _is_mseed
    except ImportError:
        with open(path, "rb") as f:
            head = f.read(8)
        return len(head) == 8 and head[:6].strip(b" ").isdigit() and head[6:7] in b"DRQM"
    return bool(_is_mseed(str(path)))


def is_edge_rep_safetensors(path: Path) -> bool:
    """A safetensors file whose header metadata says edge-rep wrote it (checkpoint.py sets format)."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return False
        n = int.from_bytes(head, "little")
        if not 2 <= n <= 1 << 24:
            return False
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return False
    return isinstance(header, dict) and (header.get("__metadata__") or {}).get("format") == "edge-rep"
