"""A simulated sensor board: a recording (synthetic or real) in, protocol bytes out, with faults.

    sim = Simulator(recording, Scenario.parse(["drop:acoustic@5-8", "reset@12"]), seed=0)
    for t, chunk in sim.frames():      # t: seconds since the simulation started
        ...                            # chunk: bytes to write at t, or None: the link goes down at t
                                       # (it comes back, with a fresh board, at the next item's t)

Byte generation is a pure function of (recording, scenario, seed, options): no clocks, no I/O, so
tests and logs are reproducible. ``run_realtime`` puts it on a pseudo-terminal
(``firmware_bridge.pty.PtyLink``) in real time (``edge-rep simulate``); ``write_log`` makes a sensor log.

Faults (``Fault.kind``; times in seconds from the start; ``channel`` is a modality name or "all"):

    drop        the channel's sensor is disconnected in [at, until): no blocks, STATUS says so
    flatline    the channel's value sticks at its value at ``at``
    saturate    the signal is amplified ``level`` times (default 100) and clips at full scale
    noise       a noise burst of ``level`` x full scale RMS (default 0.1)
    corrupt     each byte on the wire has a bit flipped with probability ``level`` (default 0.01)
    lose        each byte on the wire is lost with probability ``level`` (default 0.01)
    stall       the board sends nothing in [at, until); its buffers overflow and those samples are lost
    disconnect  the link goes down at ``at`` and a freshly booted board reappears at ``until``
    reset       the board reboots at ``at``: new HELLO, sequence, sample indices and clock restart at 0

Scenario files (TOML or JSON): ``{"faults": [{"kind": "drop", "channel": "acoustic", "at": 5, "until": 8}]}``;
on the command line the same fault is ``drop:acoustic@5-8`` (``KIND[:CHANNEL][@AT[-UNTIL]][=LEVEL]``).
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from firmware_bridge.codec import encode
from firmware_bridge.protocol import (
    BOARD_BUFFER_OVERFLOW,
    HEARTBEAT_PERIOD_S,
    HELLO_PERIOD_S,
    VERSION_MINOR,
    CH_BUFFER_OVERFLOW,
    CH_CLIPPING,
    CH_SENSOR_DISCONNECTED,
    FMT_FLOAT32,
    FMT_INT16,
    FMT_INT24,
    FULL_SCALE,
    ChannelDescriptor,
    Data,
    Heartbeat,
    Hello,
    SampleBlock,
    Status,
    samples_for,
)
from firmware_bridge.pty import PtyLink
from firmware_bridge.sensorlog import LogHeader, LogWriter

from .errors import EdgeRepError
from .log_conversion import write_labels
from .profiles import Profile
from .recording import Recording

FAULT_KINDS = ("drop", "flatline", "saturate", "noise", "corrupt", "lose", "stall", "disconnect", "reset")
_CHANNEL_FAULTS = ("drop", "flatline", "saturate", "noise")
_DEFAULT_LEVEL = {"saturate": 100.0, "noise": 0.1, "corrupt": 0.01, "lose": 0.01}
# What each level means, and its range: a probability, a gain, a share of full scale
_LEVEL_RANGE = {"saturate": ("a gain", 1.0, 1e6), "noise": ("an RMS in full scales", 0.0, 100.0),
                "corrupt": ("a probability per byte", 0.0, 1.0), "lose": ("a probability per byte", 0.0, 1.0)}

# Wire format and physical units per count for each modality: 4 Pa full scale on int16 (above the
# microphone's clipping point, LSB below its self-noise); 8.4 mm/s full scale on int24 for the geophone.
DEFAULT_FORMATS = {"acoustic": (FMT_INT16, 4.0 / 32768), "seismic": (FMT_INT24, 1e-9)}


@dataclass
class Fault:
    kind: str
    at: float = 0.0
    until: float | None = None     # None: to the end (instantaneous for "reset")
    channel: str = "all"
    level: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise EdgeRepError(f"fault kind '{self.kind}' is unknown; use one of {', '.join(FAULT_KINDS)}")
        if not (np.isfinite(self.at) and self.at >= 0) or (self.until is not None and not self.until > self.at):
            raise EdgeRepError(f"fault '{self.kind}': times {self.at}..{self.until} are not a forward interval "
                               f"from 0; write AT-UNTIL with UNTIL > AT")
        if self.kind == "disconnect" and self.until is None:
            raise EdgeRepError("fault 'disconnect' needs the time the board reappears: disconnect@AT-UNTIL")
        if self.level is None:
            self.level = _DEFAULT_LEVEL.get(self.kind)
        elif self.kind in _LEVEL_RANGE:
            what, lo, hi = _LEVEL_RANGE[self.kind]
            if not lo <= self.level <= hi:           # also refuses NaN
                raise EdgeRepError(f"fault '{self.kind}': level {self.level:g} is out of range; it is {what}, "
                                   f"{lo:g} to {hi:g}")

    def active(self, t: float) -> bool:
        return self.at <= t < (self.until if self.until is not None else np.inf)

    def applies_to(self, modality: str) -> bool:
        return self.channel in ("all", modality)

    @property
    def spec(self) -> str:
        """The command-line form, ``KIND[:CHANNEL][@AT[-UNTIL]][=LEVEL]`` (``Scenario.parse`` reads it back)."""
        return (self.kind + (f":{self.channel}" if self.channel != "all" else "") + f"@{self.at:g}"
                + (f"-{self.until:g}" if self.until is not None else "")
                + (f"={self.level:g}" if self.level is not None and self.kind in _DEFAULT_LEVEL else ""))


_SPEC = re.compile(r"^(?P<kind>[a-z]+)(?::(?P<ch>[a-z0-9_]+))?(?:@(?P<at>[0-9.]+)(?:-(?P<until>[0-9.]+))?)?"
                   r"(?:=(?P<level>[0-9.eE+-]+))?$")


@dataclass
class Scenario:
    faults: list[Fault] = field(default_factory=list)

    @classmethod
    def parse(cls, specs: list[str]) -> Scenario:
        """From command-line specs ``KIND[:CHANNEL][@AT[-UNTIL]][=LEVEL]``, e.g. ``drop:acoustic@5-8``."""
        faults = []
        for s in specs:
            m = _SPEC.match(s.strip())
            if not m:
                raise EdgeRepError(f"fault '{s}': not understood; write KIND[:CHANNEL][@AT[-UNTIL]][=LEVEL], "
                                   f"e.g. drop:acoustic@5-8 or corrupt@10-12=0.01")
            try:
                faults.append(Fault(m["kind"], float(m["at"] or 0.0), float(m["until"]) if m["until"] else None,
                                    m["ch"] or "all", float(m["level"]) if m["level"] else None))
            except ValueError:
                raise EdgeRepError(f"fault '{s}': a time or level is not a number") from None
        return cls(faults)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Scenario:
        """From a TOML or JSON file holding a list ``faults`` of tables with kind, at, until, channel, level."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as e:
            raise EdgeRepError(f"scenario {path}: cannot read it ({e.strerror}); check the path") from None
        try:
            if path.suffix.lower() == ".toml":
                try:
                    import tomllib
                except ImportError:          # Python 3.10
                    import tomli as tomllib
                doc = tomllib.loads(text)
            else:
                doc = json.loads(text)
            return cls([Fault(**f) for f in doc.get("faults", [])])
        except EdgeRepError as e:
            raise EdgeRepError(f"scenario {path}: {e}") from None
        except (ValueError, TypeError, AttributeError) as e:   # tomllib/json errors are ValueErrors
            raise EdgeRepError(f"scenario {path}: not a valid scenario ({e}); expected a list 'faults' of "
                               f"{{kind, at, until, channel, level}}") from None

    def of(self, *kinds: str) -> list[Fault]:
        return [f for f in self.faults if f.kind in kinds]

    def marks(self) -> list[tuple[float, str]]:
        """(time, text) of each fault's start and end, in time order, for a running board to announce; a
        disconnect is announced by the link itself (``run_realtime``), a reset is one instant."""
        out = []
        for f in self.faults:
            if f.kind == "reset":
                out.append((f.at, f"fault {f.spec}: the board reboots"))
            elif f.kind != "disconnect":
                out.append((f.at, f"fault {f.spec} starts"))
                if f.until is not None:
                    out.append((f.until, f"fault {f.spec} ends"))
        return sorted(out, key=lambda m: m[0])


class Simulator:
    """Turns a recording into the byte stream of a board running the reference firmware.

    ``protocol_minor``: the protocol version 1.x the board speaks; 0 makes the bytes of a 1.0 board (STATUS
    without its current state; give ``hello_every_s=10`` too, the 1.0 firmware's HELLO period)."""

    def __init__(self, recording: Recording, scenario: Scenario | None = None, seed: int = 0, *,
                 packet_s: float = 0.05, board_id: int = 1, heartbeat_s: float = HEARTBEAT_PERIOD_S,
                 hello_every_s: float = HELLO_PERIOD_S, formats: dict[str, tuple[int, float]] | None = None,
                 board_name: str = "edge-rep-sim", protocol_minor: int = VERSION_MINOR):
        if not recording.modalities:
            raise EdgeRepError(f"recording '{recording.id}': has no channels to simulate")
        if not 0.001 <= packet_s <= 1.0:
            raise EdgeRepError(f"packet length {packet_s} s: use 0.001..1 s (50 ms is typical)")
        self.recording, self.scenario, self.seed = recording, scenario or Scenario(), seed
        self.packet_s, self.board_id = packet_s, board_id
        self.heartbeat_s, self.hello_every_s = heartbeat_s, hello_every_s
        self.board_name = board_name
        if not 0 <= protocol_minor <= VERSION_MINOR:
            raise EdgeRepError(f"protocol version 1.{protocol_minor}: the simulator speaks 1.0 to 1.{VERSION_MINOR}")
        self.protocol_minor = protocol_minor
        for f in self.scenario.faults:
            if f.kind in _CHANNEL_FAULTS and f.channel != "all" and f.channel not in recording.modalities:
                raise EdgeRepError(f"fault '{f.kind}:{f.channel}': the recording has no modality '{f.channel}'; "
                                   f"it has {', '.join(recording.modalities)}")
        fmts = {**DEFAULT_FORMATS, **(formats or {})}
        self.channels: list[ChannelDescriptor] = []
        self._counts: list[np.ndarray] = []          # raw counts per channel, faults applied
        rng = np.random.default_rng([seed, 1])
        for name, ch in recording.modalities.items():
            fmt, scale = fmts.get(name, (FMT_FLOAT32, 1.0))
            for row in ch.data:
                cid = len(self.channels)
                self.channels.append(ChannelDescriptor(cid, name, ch.sample_rate, fmt, float(np.float32(scale)),
                                                       ch.units, str(ch.sensor.get("name", ""))))
                self._counts.append(self._quantise(self._apply_signal_faults(row, name, ch.sample_rate, fmt, scale,
                                                                             rng), fmt, scale))
        self.duration = recording.duration

    def _apply_signal_faults(self, x: np.ndarray, name: str, rate: float, fmt: int, scale: float,
                             rng: np.random.Generator) -> np.ndarray:
        x = np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0)
        full = FULL_SCALE.get(fmt, 1.0) * scale
        for f in self.scenario.of("flatline", "saturate", "noise"):
            if not f.applies_to(name):
                continue
            i0 = min(int(round(f.at * rate)), len(x))
            i1 = len(x) if f.until is None else min(int(round(f.until * rate)), len(x))
            if f.kind == "flatline":
                x[i0:i1] = x[i0] if i0 < len(x) else 0.0
            elif f.kind == "saturate":
                x[i0:i1] *= f.level
            else:
                x[i0:i1] += f.level * full * rng.standard_normal(i1 - i0)
        return x

    @staticmethod
    def _quantise(x: np.ndarray, fmt: int, scale: float) -> np.ndarray:
        if fmt == FMT_FLOAT32:
            return (x / scale).astype(np.float32)
        fs = FULL_SCALE[fmt]
        return np.clip(np.round(x / scale), -fs - 1, fs).astype(np.int32)

    def hello(self, seq: int, board_t: float) -> Hello:
        return Hello(board_id=self.board_id, seq=seq, timestamp_us=int(round(board_t * 1e6)),
                     board_uid=0x5EED0000 + self.seed, board_name=self.board_name, firmware="sim-1.0",
                     channels=self.channels)

    def frames(self) -> Iterator[tuple[float, bytes | None]]:
        """(time, bytes) in time order; (time, None) when the link goes down. Deterministic."""
        rng = np.random.default_rng([self.seed, 2])
        boots = sorted([0.0] + [f.at for f in self.scenario.of("reset")] +
                       [f.until for f in self.scenario.of("disconnect")])
        downs = self.scenario.of("disconnect")
        n_packets = int(np.floor(self.duration / self.packet_s + 1e-9))
        boot, seq, next_hb, next_hello = None, 0, 0.0, 0.0
        flags_sent: tuple | None = None
        pending = {c.channel_id: 0 for c in self.channels}        # CH_* flags since the last STATUS
        state = {c.channel_id: 0 for c in self.channels}          # CH_SENSOR_DISCONNECTED while unplugged
        state_sent = dict(state)
        board_pending = 0
        link_up = True
        bi = 0

        def emit(t: float, msg) -> tuple[float, bytes | None]:
            return t, self._wire(encode(msg, self.protocol_minor), t, rng)

        for p in range(n_packets):
            t0, t1 = p * self.packet_s, (p + 1) * self.packet_s
            down = next((f for f in downs if f.active(t0)), None)
            if down is not None:
                if link_up:
                    link_up = False
                    yield down.at, None
                continue
            link_up = True
            if bi < len(boots) and boots[bi] <= t0 + 1e-9:       # (re)boot: HELLO, seq and indices from 0
                while bi < len(boots) and boots[bi] <= t0 + 1e-9:
                    bi += 1
                boot, seq, flags_sent = t0, 0, None
                state = {k: 0 for k in state}
                state_sent = dict(state)
                next_hb, next_hello = t0 + self.heartbeat_s, t0 + self.hello_every_s
                yield emit(t0, self.hello(seq, 0.0))
                seq += 1
            if any(f.active(t0) for f in self.scenario.of("stall")):
                for c in self.channels:
                    pending[c.channel_id] |= CH_BUFFER_OVERFLOW
                board_pending |= BOARD_BUFFER_OVERFLOW
                continue
            blocks = []
            for c, counts in zip(self.channels, self._counts):
                unplugged = any(f.active(t0) and f.applies_to(c.modality) for f in self.scenario.of("drop"))
                state[c.channel_id] = CH_SENSOR_DISCONNECTED if unplugged else 0
                if unplugged:
                    pending[c.channel_id] |= CH_SENSOR_DISCONNECTED
                    continue
                k0, k1 = int(round(t0 * c.sample_rate)), int(round(t1 * c.sample_rate))
                kb = int(round(boot * c.sample_rate))
                s = counts[k0:k1]
                if s.size == 0:
                    continue
                if c.fmt in FULL_SCALE and np.any(np.abs(s) >= FULL_SCALE[c.fmt]):
                    pending[c.channel_id] |= CH_CLIPPING
                blocks.append(SampleBlock(c.channel_id, k0 - kb, c.fmt, samples_for(c.fmt, s)))
            bt = t1 - boot
            yield emit(t1, Data(board_id=self.board_id, seq=seq, timestamp_us=int(round(bt * 1e6)), blocks=blocks))
            seq += 1
            now_flags = (board_pending, tuple(sorted(pending.items())))
            # A STATUS each heartbeat, and at once when a fault appears (1.1: or a sensor comes back).
            changed = ((now_flags != flags_sent and (board_pending or any(pending.values())))
                       or (self.protocol_minor >= 1 and state != state_sent))
            if t1 >= next_hb - 1e-9 or changed:
                if t1 >= next_hb - 1e-9:
                    yield emit(t1, Heartbeat(board_id=self.board_id, seq=seq, timestamp_us=int(round(bt * 1e6))))
                    seq += 1
                    next_hb += self.heartbeat_s
                yield emit(t1, Status(board_id=self.board_id, seq=seq, timestamp_us=int(round(bt * 1e6)),
                                      board_flags=board_pending, channels=dict(pending),
                                      state={k: v for k, v in state.items() if v}))
                seq += 1
                flags_sent, state_sent = now_flags, dict(state)
                pending = {k: 0 for k in pending}
                board_pending = 0
            if t1 >= next_hello - 1e-9:
                yield emit(t1, self.hello(seq, bt))
                seq += 1
                next_hello += self.hello_every_s

    def _wire(self, frame: bytes, t: float, rng: np.random.Generator) -> bytes:
        """The line's faults: bit flips and lost bytes."""
        for f in self.scenario.of("corrupt", "lose"):
            if not f.active(t):
                continue
            hit = rng.random(len(frame)) < f.level
            if not hit.any():
                continue
            b = np.frombuffer(frame, np.uint8).copy()
            if f.kind == "corrupt":
                b[hit] ^= (1 << rng.integers(0, 8, int(hit.sum()))).astype(np.uint8)
            else:
                b = b[~hit]
            frame = b.tobytes()
        return frame

    def stream(self) -> bytes:
        """Every byte the board sends, concatenated (link-down markers dropped)."""
        return b"".join(chunk for _, chunk in self.frames() if chunk)

    @classmethod
    def synthetic(cls, profile: Profile, duration_s: float, seed: int = 0, scenario: Scenario | None = None,
                  **kw) -> Simulator:
        """A board streaming ``edge_rep.synth.continuous(profile, duration_s, seed)``."""
        from . import synth
        return cls(synth.continuous(profile, duration_s, seed), scenario, seed, **kw)


CLOCK_TICK_S = 0.2     # while the wire is silent (a stall, a disconnect), the clock still moves this often


def run_realtime(sim: Simulator, link: PtyLink, speed: float = 1.0, on_event=print, on_clock=None) -> None:
    """Write the simulator's bytes to ``link`` paced to real time (``speed`` x faster), until the end of
    its signal. ``on_event(text)`` is told each fault as it starts and ends and the link going down and up
    (``t=12.00s: ...``, board seconds since the start); ``on_clock(t)`` is given the board's time after
    each write and, while nothing is written, every ``CLOCK_TICK_S``."""
    start = time.monotonic()
    marks, m = sim.scenario.marks(), 0

    def advance(t: float) -> None:
        nonlocal m
        while True:
            delay = start + t / speed - time.monotonic()
            if delay > 0:
                time.sleep(min(delay, CLOCK_TICK_S))
            now = t if delay <= CLOCK_TICK_S else min(t, (time.monotonic() - start) * speed)
            while m < len(marks) and marks[m][0] <= now + 1e-9:
                on_event(f"t={marks[m][0]:.2f}s: {marks[m][1]}")
                m += 1
            if on_clock is not None:
                on_clock(now)
            if delay <= CLOCK_TICK_S:
                return

    for t, chunk in sim.frames():
        advance(t)
        if chunk is None:
            link.close()
            on_event(f"t={t:.2f}s: board disconnected")
            continue
        if link.master < 0:
            on_event(f"t={t:.2f}s: board reappeared on {link.open()}")
        link.write(chunk)
    advance(sim.duration)


def write_log(sim: Simulator, path: str | os.PathLike, start_time: float = 1_767_225_600.0) -> LogWriter:
    """The simulator's bytes as a sensor log with simulated host times (start_time + t; default
    2026-01-01 UTC, fixed so logs are reproducible), and its labels beside it. No pty, no waiting."""
    header = LogHeader(port="simulator", baudrate=921600, start_time=start_time, host="simulator",
                       tool="edge-rep simulate",
                       extra={"recording": sim.recording.id, "seed": sim.seed,
                              "faults": [asdict(f) for f in sim.scenario.faults]})
    with LogWriter(path, header) as w:
        for t, chunk in sim.frames():
            if chunk:
                w.write(chunk, host_time=start_time + t)
    write_labels(path, sim.recording.labels)
    return w
