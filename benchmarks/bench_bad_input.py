"""The command line's bad-input sweep: every case runs ``edge-rep ...`` as a subprocess and must exit 2
with exactly one line, ``edge-rep: error: ...``, in well under a second (target < 1 s each).

Cases: numbers out of range for every kind of option (epochs, batch size, threads, baud, seeds,
durations, speeds, fault probabilities), absurd config values (a 2**63 baud, a 1e300 s back-off, a
10 MB node.id), inputs that are not regular files (a FIFO, a device node like /dev/zero, a directory),
paths longer than the system allows, outputs in unwritable places or over a user's file, serial ports
that exist but are no device, dataset manifests naming files outside their folder, and the own-site
commands' (a label the model lacks, dataset add onto a folder that is not a dataset or in other units).

Everything the cases need (FIFOs, device nodes, folders, datasets) is made inside one temporary folder;
no case touches a system path. ``tests/test_bad_input.py`` runs the same cases and asserts the exit code
and the line, never the time.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import resource
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

TITLE = "CLI bad input: exit code, one error line, seconds per case (target: 2, yes, < 1 s)"
LOGS = Path(__file__).resolve().parent.parent / "tests" / "data" / "logs"
TIMEOUT_S = 60.0          # a case that blocks (a FIFO read) or reads without end fails, it never hangs the run


@dataclass
class Case:
    """One bad invocation: ``argv`` after ``edge-rep``; the error line must contain ``expect``."""

    name: str
    argv: list[str]
    expect: str
    preexec: Callable[[], None] | None = field(default=None, repr=False)   # runs in the child before exec
    skip: str = ""                                                           # why this machine cannot run it


def edge_rep_command() -> list[str]:
    """The ``edge-rep`` console script of this Python environment."""
    script = Path(sys.executable).with_name("edge-rep")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from edge_rep.cli import main; sys.exit(main())"]


def _limit_memory() -> None:
    """For cases that could read without end (a device node): stop at 2 GiB rather than fill the machine."""
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def _drop_file_override() -> None:
    """Root without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH: file modes apply to it, so a 0555 folder is
    unwritable even though the tests run as root (dropped from the bounding set, kept across exec)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):                                      # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:               # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")
    _limit_memory()


def _can_drop_file_override() -> str:
    try:
        subprocess.run([sys.executable, "-c", "pass"], preexec_fn=_drop_file_override, check=True)
    except (OSError, subprocess.SubprocessError) as e:
        return f"cannot drop CAP_DAC_OVERRIDE here ({e})"
    return ""


def _write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def _datasets(tmp: Path) -> dict[str, str]:
    """Dataset folders whose manifest names a real, hash-correct recording outside the folder: by ``../``,
    by an absolute path and through a symbolic link (without the check, train would read it); and "good",
    the same recording inside its folder."""
    import numpy as np

    from edge_rep.dataset import FORMAT, FORMAT_VERSION, write_recording
    from edge_rep.profiles import get_profile
    from edge_rep.recording import Channels, LabelInterval, Recording

    profile = get_profile("mod")
    rng = np.random.default_rng(0)
    rec = Recording("outside", {"acoustic": Channels(rng.standard_normal(8000 * 4) * 0.1, 8000.0, units="Pa"),
                                "seismic": Channels(rng.standard_normal(100 * 4) * 1e-6, 100.0, units="m/s")},
                    [LabelInterval(0.0, 4.0, "car")])
    outside = tmp / "elsewhere" / "outside.npz"
    write_recording(outside, rec)
    digest = hashlib.sha256(outside.read_bytes()).hexdigest()
    out = {}
    for name, file in (("dotdot", "../../elsewhere/outside.npz"), ("absolute", str(outside)),
                       ("symlink", "recordings/outside.npz"), ("good", "recordings/inside.npz")):
        root = tmp / "datasets" / name
        (root / "recordings").mkdir(parents=True)
        if name == "symlink":
            (root / "recordings" / "outside.npz").symlink_to(outside)
        if name == "good":
            (root / "recordings" / "inside.npz").write_bytes(outside.read_bytes())
        manifest = {"format": FORMAT, "version": FORMAT_VERSION, "profile": profile.to_dict(),
                    "classes": list(profile.classes),
                    "recordings": [{"id": "outside", "file": file, "split": "train", "sha256": digest,
                                    "duration_s": 4.0, "labels": ["car"]}]}
        (root / "manifest.json").write_text(json.dumps(manifest))
        out[name] = str(root)
    return out


CASES = LOGS.parent / "cases"


def _units_inputs(tmp: Path) -> dict[str, str]:
    """For the units cases: StationXML files that lack car_mixed.mseed's channel (XX.NODE..EHZ) or its time
    span, a dataset in counts, and a dataset that mixes units (a counts recording under a profile in m/s,
    as a hand-made manifest could; write_dataset refuses to write one)."""
    from dataclasses import replace

    import numpy as np

    from edge_rep.dataset import FORMAT, FORMAT_VERSION, write_dataset, write_recording
    from edge_rep.profiles import get_profile
    from edge_rep.recording import Channels, LabelInterval, Recording

    out = {}
    try:
        from obspy import UTCDateTime
        from obspy.core.inventory import Channel, InstrumentSensitivity, Inventory, Network, Response, Station
    except ImportError:
        out["no_obspy"] = "obspy (the seismic extra) is not installed"
    else:
        for name, code, start in (("other_channel", "BHZ", "2024-05-01"), ("other_span", "EHZ", "2020-01-01")):
            resp = Response(instrument_sensitivity=InstrumentSensitivity(4e8, 1.0, "M/S", "COUNTS"))
            cha = Channel(code, "", 0.0, 0.0, 0.0, 0.0, sample_rate=200.0, start_date=UTCDateTime(start),
                          end_date=UTCDateTime(start) + 3600, response=resp)
            inv = Inventory([Network("XX", [Station("NODE", 0.0, 0.0, 0.0, channels=[cha])])], source="a user")
            out[name] = str(tmp / f"{name}.xml")
            inv.write(out[name], format="STATIONXML")
    mod = get_profile("mod")
    counts = replace(mod, modalities=(mod.modalities[0], replace(mod.modalities[1], units="counts")))
    rec = Recording("quiet", {"seismic": Channels(np.random.default_rng(0).normal(0, 50, 100 * 8), 100.0,
                                                  units="counts")}, [LabelInterval(0.0, 8.0, "background")])
    out["counts"] = str(write_dataset(tmp / "datasets" / "counts", [(rec, "test")], counts))
    root = tmp / "datasets" / "mixed"
    write_recording(root / "recordings" / "quiet.npz", rec)
    digest = hashlib.sha256((root / "recordings" / "quiet.npz").read_bytes()).hexdigest()
    (root / "manifest.json").write_text(json.dumps(
        {"format": FORMAT, "version": FORMAT_VERSION, "profile": mod.to_dict(), "classes": list(mod.classes),
         "recordings": [{"id": "quiet", "file": "recordings/quiet.npz", "split": "test", "sha256": digest,
                         "duration_s": 8.0, "labels": ["background"]}]}))
    out["mixed"] = str(root)
    return out


def build_cases(tmp: Path) -> list[Case]:
    """The sweep, with everything it needs made inside ``tmp`` (an empty folder)."""
    tmp = Path(tmp)
    d, o = str(tmp / "no-dataset"), str(tmp / "run")
    fifo = tmp / "fifo"
    os.mkfifo(fifo)
    fifo = str(fifo)
    zero, zero_skip = tmp / "zero", ""
    try:
        os.mknod(zero, 0o600 | stat.S_IFCHR, os.makedev(1, 5))    # the same device as /dev/zero, made here
    except OSError as e:
        zero_skip = f"cannot make a device node here ({e.strerror}; needs root)"
    zero = str(zero)
    folder = tmp / "folder"
    folder.mkdir()
    a_file = _write(tmp / "notes.txt", "a user's file\n")          # each case that might write gets its own
    port_file = _write(tmp / "port.txt", "not a tty\n")
    user_file = _write(tmp / "results.txt", "a user's results\n")
    below_file = _write(tmp / "list.txt", "a user's list\n")
    readonly = tmp / "readonly"
    readonly.mkdir(mode=0o555)
    log = str(tmp / "sim.edgelog")
    long_path = (str(tmp) + ("/" + "p" * 250) * 20)[:5000]
    long_name = str(tmp / ("n" * 300))
    big_baud = _write(tmp / "baud.toml", "[serial]\nbaud = 9223372036854775807\n")
    forever = _write(tmp / "backoff.toml", "[serial]\nreconnect_min_s = 1e300\nreconnect_max_s = 1e300\n")
    open_http = _write(tmp / "http.toml", '[http]\naddress = "0.0.0.0:8080"\n')
    node_10mb = _write(tmp / "node10mb.toml", "[node]\nid = '" + "n" * 10_000_000 + "'\n")
    node_100k = _write(tmp / "node100k.toml", "[node]\nid = '" + "n" * 100_000 + "'\n")
    ds = _datasets(tmp)
    man_fifo = tmp / "datasets" / "fifo-manifest"
    man_fifo.mkdir(parents=True)
    os.mkfifo(man_fifo / "manifest.json")
    drop_skip = _can_drop_file_override()
    units = _units_inputs(tmp)
    mseed = str(CASES / "car_mixed.mseed")         # int32 counts, channel XX.NODE..EHZ
    site_log = str(tmp / "site.edgelog")           # a copy: a case never writes beside the bundled logs
    for suffix in ("", ".labels.json"):
        (tmp / f"site.edgelog{suffix}").write_bytes((LOGS / f"clean.edgelog{suffix}").read_bytes())
    mine = tmp / "mine"
    mine.mkdir()
    _write(mine / "notes.txt", "a user's notes\n")
    no_obspy = units.get("no_obspy", "")

    out = "out of range"
    cases = [
        # numbers
        Case("train --stage1-epochs 0", ["train", "--data", d, "--out", o, "--stage1-epochs", "0"], out),
        Case("train --stage1-epochs -1", ["train", "--data", d, "--out", o, "--stage1-epochs", "-1"], out),
        Case("train --stage2-epochs abc", ["train", "--data", d, "--out", o, "--stage2-epochs", "abc"],
             "not a whole number"),
        Case("train --batch-size 0", ["train", "--data", d, "--out", o, "--batch-size", "0"], out),
        Case("train --batch-size -4", ["train", "--data", d, "--out", o, "--batch-size", "-4"], out),
        Case("train --threads 0", ["train", "--data", d, "--out", o, "--threads", "0"], out),
        Case("train --eta 150", ["train", "--data", d, "--out", o, "--eta", "150"], out),
        Case("train --width 10^9", ["train", "--data", d, "--out", o, "--width", "1000000000"], out),
        Case("train --seed -1", ["train", "--data", d, "--out", o, "--seed", "-1"], out),
        Case("evaluate --threads -2", ["evaluate", "--data", d, "--out", o, "--threads", "-2"], out),
        Case("evaluate --eta nan", ["evaluate", "--data", d, "--out", o, "--eta", "50", "nan"], "not a finite number"),
        Case("evaluate --stage2-epochs 0", ["evaluate", "--data", d, "--out", o, "--stage2-epochs", "0"], out),
        Case("export --batch 0", ["export", "--checkpoint", a_file, "--out", o, "--batch", "0"], out),
        Case("export --workspace -1", ["export", "--checkpoint", a_file, "--out", o, "--workspace", "-1"], out),
        Case("export --tolerance 0", ["export", "--checkpoint", a_file, "--out", o, "--tolerance", "0"], out),
        Case("record --baud -1", ["record", "--port", str(tmp / "tty"), "--out", log, "--baud", "-1"], out),
        Case("record --seconds -5", ["record", "--port", str(tmp / "tty"), "--out", log, "--seconds", "-5"], out),
        Case("stream --baud 2^63-1", ["stream", "--port", str(tmp / "tty"), "--baud", "9223372036854775807"], out),
        Case("stream --holdover 1e300", ["stream", "--port", str(tmp / "tty"), "--holdover", "1e300"], out),
        Case("replay --holdover -1", ["replay", log, "--holdover", "-1"], out),
        Case("simulate fault probability 5", ["simulate", "--fault", "corrupt@1-2=5", "--log", log],
             "level 5 is out of range"),
        Case("simulate --duration 0", ["simulate", "--duration", "0", "--log", log], out),
        Case("simulate --speed 0", ["simulate", "--speed", "0", "--link", str(tmp / "board")], out),
        Case("simulate --speed inf", ["simulate", "--speed", "inf", "--link", str(tmp / "board")],
             "not a finite number"),
        Case("simulate --packet-ms 0", ["simulate", "--packet-ms", "0", "--log", log], out),
        Case("simulate --board-id 70000", ["simulate", "--board-id", "70000", "--log", log], out),
        Case("simulate --seed 2^40", ["simulate", "--seed", str(2**40), "--log", log], out),
        Case("synth --recordings 0", ["synth", "--out", o, "--recordings", "0"], out),
        Case("synth --duration 1e300", ["synth", "--out", o, "--duration", "1e300"], out),
        Case("demo --seconds 1", ["demo", "--seconds", "1"], out),
        Case("demo --holdover -1", ["demo", "--holdover", "-1"], out),
        Case("convert --seed -5", ["convert", "wav", folder.as_posix(), "--out", o, "--seed", "-5"], out),
        # config values that pass a type check but no device can use
        Case("config baud = 2^63-1", ["config", "--check", big_baud], "serial.baud: must be <= 20000000"),
        Case("config reconnect_min_s = 1e300", ["config", "--check", forever],
             "serial.reconnect_min_s: must be <= 3600"),
        Case("config node.id of 100 kB", ["config", "--check", node_100k], "node.id: is 100000 characters long"),
        Case("config node.id of 10 MB", ["config", "--check", node_10mb], "more than a config file can be"),
        Case("stream --config with a 2^63 baud", ["stream", "--config", big_baud], "serial.baud"),
        # the live web view: the page has no authentication, so a non-loopback address must be asked for
        Case("stream --http 0.0.0.0:8080", ["stream", "--port", str(tmp / "tty"), "--http", "0.0.0.0:8080"],
             "--http: 0.0.0.0 is not a local (loopback) address"),
        Case("replay --http on a LAN address", ["replay", str(LOGS / "clean.edgelog"), "--http", "192.168.1.20:8080"],
             "--http: 192.168.1.20 is not a local"),
        Case("demo --http host name", ["demo", "--http", "myhost:8080"], "--http: myhost is not a local"),
        Case("stream --http port 70000", ["stream", "--port", str(tmp / "tty"), "--http", "127.0.0.1:70000"],
             "has no valid port"),
        Case("config [http] address 0.0.0.0", ["config", "--check", open_http], "http.address: 0.0.0.0 is not a local"),
        # inputs that are not regular files
        Case("config --check FIFO", ["config", "--check", fifo], "is a named pipe (FIFO)"),
        Case("stream --config FIFO", ["stream", "--config", fifo], "is a named pipe (FIFO)"),
        Case("stream --config device node (/dev/zero)", ["stream", "--config", zero], "is a character device",
             preexec=_limit_memory, skip=zero_skip),
        Case("record --config device node (/dev/zero)", ["record", "--port", str(tmp / "tty"), "--out", log,
                                                         "--format", "csv", "--config", zero],
             "is a character device", preexec=_limit_memory, skip=zero_skip),
        Case("config --check folder", ["config", "--check", str(folder)], "is a directory"),
        Case("replay FIFO", ["replay", fifo], "is a named pipe (FIFO)"),
        Case("replay device node", ["replay", zero], "is a character device", preexec=_limit_memory, skip=zero_skip),
        Case("convert-log FIFO", ["convert-log", fifo, "--to", "wav", "--out", str(tmp / "x.wav")], "is a named pipe"),
        Case("convert SRC FIFO", ["convert", "wav", fifo, "--out", o], "is a named pipe (FIFO)"),
        Case("convert SRC device node", ["convert", "mseed", zero, "--out", o], "is a character device",
             preexec=_limit_memory, skip=zero_skip),
        Case("simulate --scenario FIFO", ["simulate", "--scenario", fifo, "--log", log], "is a named pipe (FIFO)"),
        Case("simulate --recording device node", ["simulate", "--recording", zero, "--log", log],
             "is a character device", preexec=_limit_memory, skip=zero_skip),
        Case("stream --model FIFO", ["stream", "--port", str(tmp / "tty"), "--model", fifo], "is a named pipe"),
        Case("evaluate --backbone FIFO", ["evaluate", "--data", ds["good"], "--out", o, "--backbone", fifo],
             "is a named pipe (FIFO)"),
        Case("train --data whose manifest is a FIFO", ["train", "--data", str(man_fifo), "--out", o], "manifest.json"),
        # paths the system cannot have
        Case("config --check 5000-character path", ["config", "--check", long_path], "longer than the system allows"),
        Case("train --data 5000-character path", ["train", "--data", long_path, "--out", o],
             "longer than the system allows"),
        Case("synth --out 5000-character path", ["synth", "--out", long_path], "longer than the system allows"),
        Case("stream --port 5000-character path", ["stream", "--port", long_path], "longer than the system allows"),
        Case("synth --out 300-character name", ["synth", "--out", long_name], "longer than a file name can be"),
        # outputs in unwritable places or over what is not edge-rep's
        Case("synth --out below a file", ["synth", "--out", str(Path(below_file) / "ds"), "--recordings", "6",
                                          "--duration", "4", "--quiet"], "cannot create"),
        Case("synth --out in a read-only folder", ["synth", "--out", str(readonly / "ds"), "--recordings", "6",
                                                   "--duration", "4", "--quiet"], "not writable",
             preexec=_drop_file_override, skip=drop_skip),
        Case("convert --out in a read-only folder", ["convert", "wav", str(folder), "--out", str(readonly / "ds")],
             "not writable", preexec=_drop_file_override, skip=drop_skip),
        Case("convert-log --out below a file", ["convert-log", str(LOGS / "clean.edgelog"), "--to", "wav", "--out",
                                                str(Path(below_file) / "x.wav")], "is not a folder"),
        Case("synth --out an existing file", ["synth", "--out", user_file, "--recordings", "6", "--duration", "4",
                                              "--quiet"], "already exists"),
        # serial ports that exist but are no device
        Case("stream --port a folder", ["stream", "--port", str(folder)], "is a directory, not a serial device"),
        Case("stream --port a regular file", ["stream", "--port", port_file], "is a regular file, not a serial device"),
        Case("record --port a FIFO", ["record", "--port", fifo, "--out", log], "is a named pipe (FIFO), not a serial"),
        # dataset manifests naming files outside their folder
        Case("train, manifest file '../'", ["train", "--data", ds["dotdot"], "--out", o], "outside the dataset folder"),
        Case("train, manifest file absolute", ["train", "--data", ds["absolute"], "--out", o],
             "outside the dataset folder"),
        Case("train, manifest file a symlink out", ["train", "--data", ds["symlink"], "--out", o],
             "outside the dataset folder"),
        Case("evaluate, manifest file '../'", ["evaluate", "--data", ds["dotdot"], "--out", o],
             "outside the dataset folder"),
        # units (docs/data-format.md): counts never pass for Pa or m/s
        Case("convert mseed in counts without calibration", ["convert", "mseed", mseed, "--out", o],
             "--sensitivity COUNTS_PER_UNIT", skip=no_obspy),
        Case("convert --sensitivity 0", ["convert", "mseed", mseed, "--out", o, "--sensitivity", "0"], out),
        Case("convert --sensitivity -4e8", ["convert", "mseed", mseed, "--out", o, "--sensitivity", "-400000000"], out),
        Case("convert --sensitivity nan", ["convert", "mseed", mseed, "--out", o, "--sensitivity", "nan"],
             "not a finite number"),
        Case("convert --sensitivity inf", ["convert", "mseed", mseed, "--out", o, "--sensitivity", "inf"],
             "not a finite number"),
        Case("convert --sensitivity abc", ["convert", "mseed", mseed, "--out", o, "--sensitivity", "abc"],
             "is not a number"),
        Case("convert --sensitivity seismic=0", ["convert", "mod-csv", str(folder), "--out", o, "--sensitivity",
                                                 "seismic=0"], out),
        Case("convert --full-scale 0", ["convert", "wav", str(folder), "--out", o, "--full-scale", "0"], out),
        Case("convert wav --sensitivity", ["convert", "wav", str(folder), "--out", o, "--sensitivity", "100"],
             "give --full-scale VALUE"),
        Case("convert --inventory lacking the channel", ["convert", "mseed", mseed, "--out", o, "--inventory",
                                                         units.get("other_channel", a_file)],
             "other_channel.xml has no channel XX.NODE..EHZ", skip=no_obspy),
        Case("convert --inventory lacking the time span", ["convert", "mseed", mseed, "--out", o, "--inventory",
                                                           units.get("other_span", a_file)],
             "but not for its time span", skip=no_obspy),
        Case("convert --inventory not a StationXML", ["convert", "mseed", mseed, "--out", o, "--inventory", a_file],
             "notes.txt: not a readable StationXML", skip=no_obspy),
        Case("evaluate --model in m/s on data in counts", ["evaluate", "--model", "default", "--data",
                                                            units["counts"], "--out", o],
             "seismic is in counts, but"),
        Case("evaluate --model on a dataset mixing units", ["evaluate", "--model", "default", "--data",
                                                            units["mixed"], "--out", o],
             "a dataset never mixes units"),
        # own site (issue 14): a class the model lacks, a folder that is not a dataset, a log in other units
        Case("record --label not a class", ["record", "--port", port_file, "--out", str(tmp / "lab.edgelog"),
                                            "--label", "lorry"], "--label: 'lorry' is not one of the model's classes"),
        Case("label with a class the model lacks", ["label", site_log, "0", "1", "lorry"], "CLASS: 'lorry'"),
        Case("dataset add onto a folder that is not a dataset", ["dataset", "add", site_log, "--to", str(mine)],
             "is not an edge-rep dataset"),
        Case("dataset add a log in other units", ["dataset", "add", site_log, "--to", units["counts"]],
             "seismic is in m/s"),
    ]
    return cases


@dataclass
class Result:
    case: Case
    returncode: int | None          # None: killed after TIMEOUT_S
    stdout: str
    stderr: str
    seconds: float

    @property
    def one_line(self) -> bool:
        """stderr is exactly one ``edge-rep: error:`` line naming what was expected, and stdout is empty."""
        return (self.stderr.count("\n") == 1 and self.stderr.startswith("edge-rep: error: ")
                and self.case.expect in self.stderr and not self.stdout)


def run_case(case: Case, cwd: Path, timeout: float = TIMEOUT_S) -> Result:
    t0 = time.perf_counter()
    try:
        r = subprocess.run(edge_rep_command() + case.argv, cwd=cwd, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL, preexec_fn=case.preexec,
                           errors="replace")
        return Result(case, r.returncode, r.stdout, r.stderr, time.perf_counter() - t0)
    except subprocess.TimeoutExpired as e:
        return Result(case, None, str(e.stdout or ""), str(e.stderr or ""), time.perf_counter() - t0)


def run(quick: bool) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="edge-rep-bad-input-") as tmp:
        for case in build_cases(Path(tmp)):
            if case.skip:
                rows.append({"case": case.name, "exit": "skipped", "one line": "-", "seconds": "-", "note": case.skip})
                continue
            r = run_case(case, Path(tmp))
            rows.append({"case": case.name, "exit": r.returncode if r.returncode is not None else "timeout",
                         "one line": "yes" if r.one_line else "NO", "seconds": round(r.seconds, 3),
                         "note": "" if r.one_line else (r.stderr.strip().splitlines() or ["(nothing)"])[-1][:100]})
    ran = [r for r in rows if r["exit"] != "skipped"]
    ok = [r for r in ran if r["exit"] == 2 and r["one line"] == "yes"]
    secs = sorted(r["seconds"] for r in ran)
    rows.append({"case": f"ALL ({len(ok)}/{len(ran)} exit 2 with one line)", "exit": "", "one line": "",
                 "seconds": secs[-1] if secs else "",
                 "note": f"slowest; median {secs[len(secs) // 2]:.3f} s" if secs else ""})
    return rows


if __name__ == "__main__":
    from run import print_table      # benchmarks/run.py, beside this file

    print_table(TITLE, run(quick=False))
