"""``edge-rep simulate``: a simulated sensor board on a pseudo-terminal (or into a sensor log)."""

from pathlib import Path

from ..outpaths import OutputKind, has_magic, json_file_has
from . import SEED, number, path_arg

NAME = "simulate"
HELP = "simulate a sensor board: stream synthetic or recorded signals per the wire protocol, with faults"
EXAMPLE = "edge-rep simulate --link /tmp/edge-board --fault drop:acoustic@10-20 --fault reset@40 --duration 60"
ORDER = 40
CLOCK_EVERY_S = 5.0      # board seconds between two clock lines when stdout is not a terminal


def _is_sensor_log(path: Path) -> bool:
    from firmware_bridge.sensorlog import MAGIC
    return has_magic(path, MAGIC)


SENSOR_LOG = OutputKind("sensor log", folder=False, owned=_is_sensor_log)
LOG_LABELS = OutputKind("labels file", folder=False, owned=lambda p: json_file_has(p, "labels"))


def add_arguments(p) -> None:
    p.add_argument("--profile", default="mod", help="sensor profile of the synthetic signals (default mod)")
    p.add_argument("--duration", type=number(float, gt=0, le=86400), default=60.0,
                   help="seconds of signal to stream (default 60)")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the signals and of random faults (default 0)")
    p.add_argument("--recording", type=path_arg,
                   help="stream this recording (.npz, the dataset format) instead of synthetic signals")
    p.add_argument("--scenario", type=path_arg, help="faults from a TOML or JSON file (see edge_rep/simulator.py)")
    p.add_argument("--fault", action="append", default=[], metavar="SPEC",
                   help="a fault KIND[:CHANNEL][@AT[-UNTIL]][=LEVEL], repeatable; kinds: drop, flatline, saturate, "
                        "noise, corrupt, lose, stall, disconnect, reset (e.g. drop:acoustic@10-20, corrupt@5-6=0.01)")
    p.add_argument("--link", type=path_arg,
                   help="keep this symlink pointing at the current pty (follows disconnect/reappear)")
    p.add_argument("--packet-ms", type=number(float, ge=1, le=1000), default=50.0,
                   help="samples per DATA frame, in ms (default 50)")
    p.add_argument("--board-id", type=number(int, ge=0, le=0xFFFF), default=1,
                   help="board id in the frame headers (default 1)")
    p.add_argument("--speed", type=number(float, gt=0, le=1000), default=1.0,
                   help="play this many times faster than real time (default 1)")
    p.add_argument("--log", type=path_arg,
                   help="write a sensor log (simulated host times, no pty, no waiting) instead of a pty")
    p.add_argument("--force", action="store_true",
                   help="with --log: replace an existing sensor log (and its labels); nothing else is replaced")
    p.add_argument("--quiet", action="store_true",
                   help="no clock and no fault lines while it runs (the pty line and the end line only)")


def run(args) -> int:
    import math
    import os
    import sys

    from firmware_bridge.pty import PtyLink

    from ..inpaths import CONFIG_MAX, input_file
    from ..log_conversion import labels_path
    from ..outpaths import claim, staged_file
    from ..profiles import get_profile
    from ..simulator import Scenario, Simulator, run_realtime, write_log
    from ..stream.outputs import StatusLine

    if args.scenario:                                  # a FIFO or a device is refused unread
        input_file(args.scenario, "scenario file", option="--scenario", max_bytes=CONFIG_MAX)
    if args.recording:
        input_file(args.recording, "recording file", option="--recording")
    scenario = Scenario.load(args.scenario) if args.scenario else Scenario()
    scenario.faults += Scenario.parse(args.fault).faults
    profile = get_profile(args.profile)
    kw = dict(packet_s=args.packet_ms / 1000, board_id=args.board_id)

    def board():
        if args.recording:
            from ..dataset import read_recording
            return Simulator(read_recording(args.recording), scenario, args.seed, **kw)
        return Simulator.synthetic(profile, args.duration, args.seed, scenario, **kw)

    if args.log:
        log = claim(args.log, SENSOR_LOG, args.force, "--log")
        claim(labels_path(log), LOG_LABELS, args.force, "--log's labels file")
        sim = board()
        with staged_file(log) as tmp:
            w = write_log(sim, tmp)
            os.replace(labels_path(tmp), labels_path(log))
        print(f"wrote {args.log}: {w.bytes} bytes in {w.records} records, {sim.duration:.1f} s")
        return 0
    link = PtyLink(args.link)          # first, so a bad --link fails before the signals are rendered
    # its clock: a live line on a terminal, else a line every CLOCK_EVERY_S board seconds; faults on lines
    clock = StatusLine("auto", sys.stdout, every_s=CLOCK_EVERY_S)

    def event(text: str) -> None:
        clock.clear()
        print(text, flush=True)

    def tick(t: float) -> None:
        if not clock.live:          # a line at each multiple of CLOCK_EVERY_S
            t = math.floor(t / CLOCK_EVERY_S + 1e-9) * CLOCK_EVERY_S
        clock.update(f"t={t:.1f}s of {sim.duration:g}s", t)

    try:
        sim = board()
        print(f"simulated board on {link.path}" + (f" (link {args.link})" if args.link else ""), flush=True)
        if args.quiet:
            run_realtime(sim, link, args.speed, on_event=lambda text: None)
        else:
            run_realtime(sim, link, args.speed, on_event=event, on_clock=tick)
        clock.close()
        print(f"t={sim.duration:.2f}s: the board stopped (end of the signal)", flush=True)
    finally:
        link.close()
    return 0
