"""The on-disk dataset format (see docs/data-format.md) and the window arrays training reads.

    DIR/manifest.json            format, version, profile, class list, one entry per recording
    DIR/recordings/<id>.npz      one file per recording: an array per modality, (channels, samples)
                                 float32, plus "meta": UTF-8 JSON (rates, start times, units, sensors,
                                 labels) stored as a uint8 array, so ``np.load(allow_pickle=False)`` reads it

Splits are per recording, never per window. A dataset is written into a temporary folder that is
renamed only when complete, so a failed build never leaves something that looks finished.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from .errors import EdgeRepError
from .inpaths import MANIFEST_MAX, input_file, read_input
from .outpaths import OutputKind, claim, json_file_has, staged_file, staged_folder
from .profiles import Profile
from .recording import Channels, LabelInterval, Recording, fields_equal

FORMAT = "edge-rep-dataset"
# Version 2 added the "foreign" split (recordings from families never used for train/val/test); version-1
# datasets read unchanged. A version-1 reader refuses a version-2 dataset rather than mislabel its splits.
FORMAT_VERSION = 2
SPLITS = ("train", "val", "test", "foreign")
# Modalities of one recording may end at slightly different times (separate clocks); more than this is a mistake.
MAX_SPAN_MISMATCH_S = 1.0


def _meta(rec: Recording) -> dict:
    return {"format_version": FORMAT_VERSION, "id": rec.id, "start_time": rec.start_time,
            "modalities": {name: {"sample_rate": ch.sample_rate, "start_time": ch.start_time, "units": ch.units,
                                  "sensor": ch.sensor} for name, ch in rec.modalities.items()},
            "labels": [[iv.start, iv.end, iv.label] for iv in rec.labels],
            "metadata": rec.metadata}


def check_spans(rec: Recording, where: str) -> None:
    """Modalities of one recording must cover the same time span (within ``MAX_SPAN_MISMATCH_S``)."""
    spans = {n: (ch.start_time, ch.end_time) for n, ch in rec.modalities.items()}
    if len(spans) > 1:
        ends = [e for _, e in spans.values()]
        starts = [s for s, _ in spans.values()]
        if max(ends) - min(ends) > MAX_SPAN_MISMATCH_S or max(starts) - min(starts) > MAX_SPAN_MISMATCH_S:
            desc = ", ".join(f"{n} {s:g}..{e:g} s" for n, (s, e) in spans.items())
            raise EdgeRepError(f"{where}: channels of different lengths ({desc}); trim them to a common span "
                               f"or pad the short one with NaN")


def write_recording(path: str | os.PathLike, rec: Recording) -> None:
    """Write one recording as an .npz file (no pickles)."""
    path = Path(path)
    if not rec.modalities:
        raise EdgeRepError(f"recording '{rec.id}': has no modalities; nothing to write")
    check_spans(rec, f"recording '{rec.id}'")
    arrays = {name: np.ascontiguousarray(ch.data, dtype=np.float32) for name, ch in rec.modalities.items()}
    if "meta" in arrays:
        raise EdgeRepError(f"recording '{rec.id}': a modality may not be called 'meta'; rename it")
    arrays["meta"] = np.frombuffer(json.dumps(_meta(rec)).encode(), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _parse(data: bytes | None, path: Path) -> Recording:
    try:
        with np.load(io.BytesIO(data) if data is not None else path, allow_pickle=False) as z:
            if "meta" not in z.files:
                raise EdgeRepError(f"{path}: no 'meta' entry; write it with edge_rep.dataset.write_recording")
            meta = json.loads(bytes(z["meta"]).decode())
            arrays = {k: z[k] for k in z.files if k != "meta"}
    except FileNotFoundError:
        raise EdgeRepError(f"{path}: file not found; check the path or rebuild the dataset") from None
    except EdgeRepError:
        raise
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError, UnicodeDecodeError) as e:
        raise EdgeRepError(f"{path}: truncated or corrupt recording file ({type(e).__name__}: {e}); "
                           f"re-copy or rebuild it") from None
    try:
        mods = {}
        for name, info in meta["modalities"].items():
            if name not in arrays:
                raise EdgeRepError(f"{path}: meta lists modality '{name}' but the file has no such array")
            mods[name] = Channels(arrays[name], float(info["sample_rate"]), float(info.get("start_time", 0.0)),
                                  str(info.get("units", "")), dict(info.get("sensor", {})))
        labels = [LabelInterval(float(a), float(b), str(lab)) for a, b, lab in meta.get("labels", [])]
        rec = Recording(id=str(meta["id"]), modalities=mods, labels=labels,
                        start_time=float(meta.get("start_time", 0.0)), metadata=dict(meta.get("metadata", {})))
    except EdgeRepError as e:
        msg = str(e)
        raise EdgeRepError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    except (KeyError, TypeError, ValueError) as e:
        raise EdgeRepError(f"{path}: bad metadata ({type(e).__name__}: {e}); see docs/data-format.md") from None
    check_spans(rec, str(path))
    return rec


def read_recording(path: str | os.PathLike) -> Recording:
    """Read a recording written by ``write_recording``; EdgeRepError names the file on any problem."""
    path = input_file(path, "recording file", missing="check the path or rebuild the dataset")
    return _parse(None, path)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _is_dataset(path: Path) -> bool:
    return json_file_has(path / "manifest.json", "format", FORMAT)


def _is_recording(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return "meta.npy" in z.namelist()


DATASET = OutputKind("dataset folder", folder=True, owned=_is_dataset)
RECORDING = OutputKind("recording file (.npz)", folder=False, owned=_is_recording)


def write_dataset(out_dir: str | os.PathLike, recordings_with_splits: Iterable[tuple[Recording, str]],
                  profile: Profile, force: bool = False) -> Path:
    """Write recordings (streamed one at a time) and the manifest; the folder appears only when complete.

    ``out_dir`` must be free, an empty folder, or (with ``force``) an edge-rep dataset, which is replaced
    only after the new dataset is fully written (``edge_rep.outpaths``); anything else is an EdgeRepError.
    """
    out = claim(out_dir, DATASET, force)
    with staged_folder(out) as tmp:
        entries, seen = [], set()
        for rec, split in recordings_with_splits:
            if split not in SPLITS:
                raise EdgeRepError(f"recording '{rec.id}': split '{split}' is not one of {', '.join(SPLITS)}")
            if rec.id in seen:
                raise EdgeRepError(f"recording id '{rec.id}' appears twice; recording ids must be unique")
            seen.add(rec.id)
            rec.validate(profile)
            rel = f"recordings/{_safe_name(rec.id)}.npz"
            write_recording(tmp / rel, rec)
            entries.append({"id": rec.id, "file": rel, "split": split, "sha256": _sha256(tmp / rel),
                            "duration_s": round(rec.duration, 6),
                            "labels": sorted({iv.label for iv in rec.labels})})
        if not entries:
            raise EdgeRepError(f"{out}: no recordings to write; check the source folder")
        manifest = {"format": FORMAT, "version": FORMAT_VERSION, "profile": profile.to_dict(),
                    "classes": list(profile.classes), "recordings": entries}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return out


def hash_split(rec_id: str) -> str:
    """The split ``append_recordings`` gives a new recording by default: from a hash of its id alone
    (15 % test, 15 % val, 70 % train), so adding recordings never moves another one."""
    u = int(hashlib.sha256(f"edge-rep-split:{rec_id}".encode()).hexdigest()[:8], 16) / 16**8
    return "test" if u < 0.15 else "val" if u < 0.30 else "train"


def append_recordings(root: str | os.PathLike, recordings_with_splits: list[tuple[Recording, str]]) -> list[dict]:
    """Add recordings to an existing dataset folder; returns their new manifest entries.

    Every recording is checked first (split, unique id and file name, the dataset's profile: rates,
    channels, units, classes); then each file lands atomically, and the manifest, rewritten atomically,
    last: a failure leaves the dataset as it was (files written so far are removed). Existing recordings
    and their splits are untouched. EdgeRepError on any problem, before anything is written."""
    ds = load_dataset(root)
    root = ds.root
    ids = {e["id"] for e in ds.entries}
    files = {e["file"] for e in ds.entries}
    plan = []
    for rec, split in recordings_with_splits:
        if split not in SPLITS:
            raise EdgeRepError(f"recording '{rec.id}': split '{split}' is not one of {', '.join(SPLITS)}")
        if rec.id in ids:
            raise EdgeRepError(f"recording id '{rec.id}' is already in {root / 'manifest.json'}; recording ids are "
                               f"unique: rename the log")
        rel = f"recordings/{_safe_name(rec.id)}.npz"
        if rel in files or os.path.lexists(root / rel):
            raise EdgeRepError(f"{root / rel}: already exists; rename the log (its file name gives the recording id)")
        ids.add(rec.id)
        files.add(rel)
        rec.validate(ds.profile)
        plan.append((rec, split, rel))
    if not plan:
        raise EdgeRepError("no recordings to add; name one or more sensor logs")
    written: list[Path] = []
    entries = []
    try:
        for rec, split, rel in plan:
            with staged_file(root / rel) as tmp:
                write_recording(tmp, rec)
            written.append(root / rel)
            entries.append({"id": rec.id, "file": rel, "split": split, "sha256": _sha256(root / rel),
                            "duration_s": round(rec.duration, 6), "labels": sorted({iv.label for iv in rec.labels})})
        manifest = dict(ds.manifest, recordings=[*ds.entries, *entries])
        with staged_file(root / "manifest.json") as tmp:
            tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    except BaseException:
        for path in written:                # only this call's own new files: the old manifest never named them
            path.unlink(missing_ok=True)
        raise
    return entries


def _safe_name(rec_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in rec_id)


def member_path(root: Path, entry: dict) -> Path:
    """The file of manifest ``entry``: its relative ``file`` path under ``root``. An absolute path, or one
    that leaves ``root`` once ``..`` and every symbolic link are resolved, is an EdgeRepError naming the
    entry: a dataset reads only what is inside its own folder."""
    name = entry["file"]
    if not isinstance(name, str) or not name or "\0" in name:
        raise EdgeRepError(f"recording '{entry.get('id')}': file {name!r} is not a relative file name; fix the "
                           f"manifest or rebuild the dataset")
    path = root / name
    try:
        inside = not Path(name).is_absolute() and path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):          # a symlink loop, a name too long
        inside = False
    if not inside:
        raise EdgeRepError(f"recording '{entry.get('id')}': file {name!r} is outside the dataset folder (a manifest "
                           f"names only files inside its own folder); fix the manifest or rebuild the dataset")
    return path


class Dataset:
    """A dataset folder: ``profile``, ``entries`` (manifest rows) and ``recordings(split)``."""

    def __init__(self, root: Path, manifest: dict, profile: Profile):
        self.root, self.manifest, self.profile = root, manifest, profile
        self.entries: list[dict] = manifest["recordings"]

    def splits(self) -> dict[str, int]:
        return {s: sum(e["split"] == s for e in self.entries) for s in SPLITS}

    def recordings(self, split: str | None = None, verify: bool = True) -> list[Recording]:
        """Recordings of ``split`` (all if None), checked against the manifest hash and the profile."""
        if split is not None and split not in SPLITS:
            raise EdgeRepError(f"split '{split}' is not one of {', '.join(SPLITS)}")
        out = []
        for e in self.entries:
            if split is not None and e["split"] != split:
                continue
            listed = self.root / "manifest.json"
            path = input_file(member_path(self.root, e), "recording file",
                              missing=f"it is listed in {listed}: re-copy the dataset or rebuild it")
            data = path.read_bytes()
            if verify and hashlib.sha256(data).hexdigest() != e["sha256"]:
                raise EdgeRepError(f"{path}: content does not match its sha256 in the manifest (truncated or "
                                   f"modified); re-copy or rebuild it")
            rec = _parse(data, path)
            try:
                rec.validate(self.profile)
            except EdgeRepError as err:
                raise EdgeRepError(f"{path}: {err}") from None
            out.append(rec)
        return out


def load_dataset(root: str | os.PathLike) -> Dataset:
    """Open a dataset folder; EdgeRepError names the file on any problem."""
    root = Path(root)
    mpath = root / "manifest.json"
    if not mpath.is_file():
        raise EdgeRepError(f"{mpath}: not found; '{root}' is not an edge-rep dataset: check the path, or build "
                           f"one in a new folder with 'edge-rep synth --out NEW_FOLDER' or 'edge-rep convert'")
    try:
        manifest = json.loads(read_input(mpath, "dataset manifest", max_bytes=MANIFEST_MAX))
        if manifest.get("format") != FORMAT:
            raise EdgeRepError(f"{mpath}: format is {manifest.get('format')!r}, expected '{FORMAT}'")
        if int(manifest.get("version", -1)) > FORMAT_VERSION:
            raise EdgeRepError(f"{mpath}: format version {manifest['version']} is newer than this edge-rep "
                               f"reads ({FORMAT_VERSION}); upgrade edge-rep")
        profile = Profile.from_dict(manifest["profile"])
        if list(manifest.get("classes", profile.classes)) != list(profile.classes):
            raise EdgeRepError(f"{mpath}: class list differs from the profile's; fix the manifest")
        for e in manifest["recordings"]:
            if e["split"] not in SPLITS:
                raise EdgeRepError(f"{mpath}: recording '{e['id']}' has split '{e['split']}', not one of "
                                   f"{', '.join(SPLITS)}")
            member_path(root, e)
            e["sha256"]  # presence check: a KeyError is reported below
    except EdgeRepError as err:
        msg = str(err)
        raise EdgeRepError(msg if msg.startswith(str(mpath)) else f"{mpath}: {msg}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise EdgeRepError(f"{mpath}: unreadable manifest ({type(e).__name__}: {e}); see docs/data-format.md") from None
    return Dataset(root, manifest, profile)


@dataclass
class WindowArrays:
    """Every window of some recordings, stacked for training."""

    x: dict[str, np.ndarray]   # modality -> (N, C, S) float32, missing samples set to 0
    present: np.ndarray        # (N, M) bool, modality order of the profile
    y: np.ndarray              # (N,) int64 class index, -1 when unlabelled
    rec: np.ndarray            # (N,) index into the recordings list
    start: np.ndarray          # (N,) window start, seconds from the recording start

    __eq__ = fields_equal

    def __len__(self) -> int:
        return len(self.y)


def window_arrays(recordings: list[Recording], profile: Profile) -> WindowArrays:
    """Cut every recording into the profile's windows (see ``Recording.windows``)."""
    names = profile.modality_names
    counts = [max(int(np.floor((r.duration - profile.window_s) / profile.hop_s + 1e-9)) + 1, 0) for r in recordings]
    n = sum(counts)
    x = {m.name: np.zeros((n, m.channels, profile.window_samples(m.name)), np.float32) for m in profile.modalities}
    present = np.zeros((n, len(names)), bool)
    y = np.full(n, -1, np.int64)
    rec_idx = np.zeros(n, np.int64)
    start = np.zeros(n, np.float64)
    i = 0
    for ri, r in enumerate(recordings):
        for w in r.windows(profile):
            for mi, name in enumerate(names):
                x[name][i] = w.data[name]
                present[i, mi] = w.present[name]
            if w.label is not None:
                if w.label not in profile.classes:
                    raise EdgeRepError(f"recording '{r.id}': label '{w.label}' is not in the class list "
                                       f"({', '.join(profile.classes)})")
                y[i] = profile.classes.index(w.label)
            rec_idx[i], start[i] = ri, w.start
            i += 1
    return WindowArrays(x=x, present=present, y=y, rec=rec_idx, start=start)
