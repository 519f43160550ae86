"""From wire bytes to classification windows: decoder -> ring buffers -> health -> windows.

The assembler is the one place live streaming and log playback share: it is fed bytes (in any
chunking) and hands out, in board-time order, health events and ``WindowJob``s. Everything it decides
is a function of the decoded frames and their board times, never of the host clock, so the same bytes
always give the same windows, scenarios and events.

Board time: sample ``i`` of a channel was taken at ``i / sample_rate`` s after the board booted (see
firmware_bridge/PROTOCOL.md); frame headers carry the same clock in microseconds. A reboot (HELLO with
sequence 0, or the clock going backwards) starts a new ``boot``: windows that the old boot's data
could not complete are counted as lost, the rings are cleared, and windowing restarts on the new clock.

Windows start at multiples of the profile's hop (board time), so they do not depend on when the host
started listening. Window [t0, t1) is cut as soon as every channel still usable has samples up to t1;
a channel that stops is dropped by its health machine after ``data_timeout_s`` and stops holding the
window back.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace

import numpy as np

from firmware_bridge.codec import Decoder
from firmware_bridge.protocol import (CH_ADC_OVERRUN, CH_BUFFER_OVERFLOW, CH_CLIPPING, CH_SENSOR_DISCONNECTED,
                                      FULL_SCALE, BOARD_BUFFER_OVERFLOW, BOARD_CLOCK_FAULT, ChannelDescriptor,
                                      Data, Hello, Message, Status)

from ..config import HealthSection
from ..modelspec import scenario_name
from ..profiles import Profile
from ..recording import MIN_PRESENT_FRACTION, fields_equal
from .health import ChannelHealth, State
from .notices import Notice
from .ring import SampleRing

log = logging.getLogger("edge_rep.stream")

# Seconds of samples each ring keeps beyond one window: room for a late channel and the flat-line test.
RING_MARGIN_S = 4.0
# Board time leaping further than this past the next window skips windows (counted lost), not cuts them.
MAX_GAP_S = 60.0
# Largest integer factor a channel faster than the profile is decimated by (e.g. 96 kHz -> 100 Hz).
MAX_DECIMATION = 1024
# A frame timestamp this far behind the newest one means the board rebooted (its clock restarted).
CLOCK_BACKWARDS_S = 1.0


@dataclass
class WindowJob:
    """One window cut from the rings, ready for the model."""

    boot: int                         # reboots of the board seen so far (board time restarts at each)
    index: int                        # window number on this boot's clock: t0 = index * hop
    t0: float                         # board time of the first sample (s)
    t1: float                         # board time just after the last sample (s)
    data: dict[str, np.ndarray]       # modality -> (channels, samples) float32, physical units, lost -> 0
    present: dict[str, bool]          # modality -> given to the model as present
    coverage: dict[str, float]        # modality -> share of finite samples in the window
    health: dict[str, str]            # channel -> state when the window was cut
    healthy: dict[str, bool]          # modality -> all its channels "ok" (its buffers may be cached)
    host_time_ready: float = 0.0      # host clock when the last byte that completed it was fed

    __eq__ = fields_equal

    @property
    def scenario(self) -> str:
        return scenario_name(self.present)


@dataclass
class Channel:
    desc: ChannelDescriptor
    name: str                         # e.g. "acoustic0"
    rate: float                       # samples/s in the ring: the profile's rate
    ring: SampleRing                  # raw counts as float32 (exact up to 24 bits); x scale -> physical
    health: ChannelHealth
    decimator: object = None          # resample.Decimator: the board sends a multiple of the profile's rate

    @property
    def end_time(self) -> float:
        return self.ring.end / self.rate


@dataclass
class Counters:
    frames: int = 0
    windows: int = 0
    windows_lost: int = 0             # windows whose data was lost (board reboot mid-window)
    boots: int = 0
    hellos: int = 0
    unknown_channel_blocks: int = 0   # DATA for channels no HELLO described (e.g. before the first HELLO)
    rejected_channels: int = 0        # HELLO channels whose rate does not fit the model's profile
    crc_errors: int = 0
    frames_lost: int = 0
    bytes_discarded: int = 0
    bad_frames: int = 0               # decoded frames the assembler could not handle (logged)


class WindowAssembler:
    """Bytes in; health events and windows out. ``feed`` returns items in board-time order."""

    def __init__(self, profile: Profile, health: HealthSection | None = None, decoder=None):
        """``health``: the channel health thresholds (``Config.health``; None: the ``[health]`` defaults).
        ``decoder``: the binary protocol's ``Decoder`` (default), or another with the same ``feed``
        (``firmware_bridge.csv_input.CsvDecoder`` for boards that print CSV lines)."""
        self.profile, self.th = profile, health or HealthSection()
        self.decoder = decoder or Decoder()
        self._framed = isinstance(self.decoder, Decoder)
        self.counters = Counters()
        self.channels: dict[int, Channel] = {}
        self.by_modality: dict[str, list[Channel]] = {}
        self.hello: Hello | None = None
        self.boot = 0
        self.board_now = -math.inf           # newest board time seen on this boot
        self.next_index: int | None = None   # next window to cut on this boot's clock
        self._seen_data = False
        self._link_mark = (0, 0, 0)          # (frames, CRC errors, frames lost) when the last window was cut
        self._host_time = 0.0
        self._out: list = []

    # -- input ----------------------------------------------------------------------------------
    def feed(self, data: bytes, host_time: float = 0.0) -> list:
        """Feed received bytes; returns ``HealthEvent``s, ``Notice``s and ``WindowJob``s in order.

        Frames are decoded one at a time (split at the delimiter) so that decoder counters and health
        updates fall at the same frame whatever the chunking of the bytes was: live and playback agree."""
        self._host_time = host_time
        self._out = []
        if not self._framed:
            for msg in self.decoder.feed(data):
                self._safe_message(msg)
            self.counters.bytes_discarded = self.decoder.stats.bytes_discarded
            return self._out
        start = 0
        while start < len(data):
            lead = start
            while lead < len(data) and data[lead] == 0:    # a frame's opening delimiter goes with it
                lead += 1
            end = data.find(0, lead)
            piece = data[start:] if end < 0 else data[start:end + 1]
            start = len(data) if end < 0 else end + 1
            before = self._link_totals()
            msgs = self.decoder.feed(piece)
            self._link_changes(before)
            for msg in msgs:
                self._safe_message(msg)
        return self._out

    def finish(self) -> list:
        """End of input (log over, or shutting down): cut the windows the data received completes."""
        self._out = []
        self._flush_boot(final=True)
        return self._out

    # -- messages -------------------------------------------------------------------------------
    def _safe_message(self, msg: Message) -> None:
        """The daemon never dies on wire data: a frame this code cannot handle is logged and skipped."""
        try:
            self._message(msg)
        except Exception as e:
            self.counters.bad_frames += 1
            log.error("skipped a %s frame that could not be handled (%s: %s)", type(msg).__name__,
                      type(e).__name__, e, exc_info=log.isEnabledFor(logging.DEBUG))

    def _message(self, msg: Message) -> None:
        self.counters.frames += 1
        t = msg.timestamp_us / 1e6
        rebooted = (isinstance(msg, Hello) and msg.seq == 0 and self._seen_data) or \
                   (self._seen_data and t < self.board_now - CLOCK_BACKWARDS_S)
        if rebooted:
            self._flush_boot(final=False)
            self._new_boot(t)
        if isinstance(msg, Hello):
            self._hello(msg)
        elif isinstance(msg, Data):
            self._data(msg)
        elif isinstance(msg, Status):
            self._status(msg, t)
        self._advance(t)           # every frame (HEARTBEATs too) carries the board clock

    def _hello(self, h: Hello) -> None:
        self.counters.hellos += 1
        same = self.hello is not None and [vars(c) for c in self.hello.channels] == [vars(c) for c in h.channels]
        self.hello = h
        if same and self.channels:
            return            # a repeated HELLO on the same boot: keep the rings
        self.channels, self.by_modality = {}, {m: [] for m in self.profile.modality_names}
        for d in sorted(h.channels, key=lambda c: c.channel_id):
            if d.modality not in self.by_modality:
                self._notice("channel_ignored", f"channel {d.channel_id} is '{d.modality}', which the model "
                                                f"does not take ({', '.join(self.profile.modality_names)})")
                continue
            spec = self.profile.modality(d.modality)
            if len(self.by_modality[d.modality]) >= spec.channels:
                self._notice("channel_ignored", f"channel {d.channel_id}: the model takes {spec.channels} "
                                                f"{d.modality} channel(s); extra ones are ignored")
                continue
            ratio = d.sample_rate / spec.sample_rate
            decimator = None
            if 1.5 < ratio <= MAX_DECIMATION and abs(ratio - round(ratio)) < 1e-6 * ratio:
                from .resample import Decimator    # scipy.signal: imported only when a channel needs it
                decimator = Decimator(int(round(ratio)))
            elif abs(d.sample_rate - spec.sample_rate) > 1e-3 * spec.sample_rate:
                self.counters.rejected_channels += 1
                self._notice("channel_rejected", f"channel {d.channel_id} ({d.modality}) runs at "
                                                 f"{d.sample_rate:g} Hz but the model expects {spec.sample_rate:g} Hz; "
                                                 "it is treated as missing: fix the firmware or use a matching model",
                             level=logging.ERROR)
                continue
            name = f"{d.modality}{len(self.by_modality[d.modality])}"
            rate = spec.sample_rate
            cap = int(math.ceil((self.profile.window_s + self.profile.hop_s + RING_MARGIN_S) * rate))
            health = ChannelHealth(name, d.modality, rate, FULL_SCALE.get(d.fmt), self.th)
            ch = Channel(d, name, rate, SampleRing(cap), health, decimator)
            self.channels[d.channel_id] = ch
            self.by_modality[d.modality].append(ch)
        log.info("board %s (firmware %s): %s", h.board_name or h.board_uid, h.firmware,
                 ", ".join(f"{c.name}={c.desc.sample_rate:g}Hz"
                           + (f" (decimated to {c.rate:g} Hz)" if c.decimator else "")
                           for c in self.channels.values()) or "no usable channels")

    def _data(self, msg: Data) -> None:
        for b in msg.blocks:
            ch = self.channels.get(b.channel_id)
            if ch is None:
                if self.counters.unknown_channel_blocks == 0 and self.hello is None:
                    self._notice("waiting_for_hello", "samples arrive but no HELLO has described the channels yet; "
                                 "waiting for the board's next HELLO (boards repeat it every 10 s, PROTOCOL.md)")
                self.counters.unknown_channel_blocks += 1
                continue
            first, samples = b.first_index, b.samples
            if ch.decimator is not None:
                first, samples = ch.decimator.feed(first, samples)
            n = samples.size
            if n == 0:
                continue
            if first + n < ch.ring.end - ch.ring.capacity:
                continue      # older than anything we keep
            if not self._seen_data:
                self._seen_data = True
            ch.ring.write(first, samples)
            rate = ch.rate
            t_end = (first + n) / rate
            ch.health.on_block(t_end, samples, lambda k, ch=ch, end=first + n: ch.ring.read(end - k, k))
            self.board_now = max(self.board_now, t_end)
            self._collect(ch)
            if self.next_index is None:
                first_t = first / rate
                self.next_index = int(math.ceil(first_t / self.profile.hop_s - 1e-9))

    def _status(self, s: Status, t: float) -> None:
        board = [why for bit, why in ((BOARD_BUFFER_OVERFLOW, "board transmit buffer overflow"),
                                      (BOARD_CLOCK_FAULT, "board sampling clock fault")) if s.board_flags & bit]
        for cid, ch in self.channels.items():
            flags = s.channels.get(cid, 0)
            faults = board + [why for bit, why in ((CH_ADC_OVERRUN, "ADC overrun"),
                                                   (CH_BUFFER_OVERFLOW, "channel buffer overflow"),
                                                   (CH_CLIPPING, "board reports clipping")) if flags & bit]
            ch.health.on_status(t, bool(flags & CH_SENSOR_DISCONNECTED), faults)
            self._collect(ch)

    # -- clock and windows ----------------------------------------------------------------------
    def _advance(self, t: float) -> None:
        """Board time moved to ``t``: time-outs, then every window that is now complete."""
        self.board_now = max(self.board_now, t)
        for ch in self.channels.values():
            ch.health.tick(self.board_now)
            self._collect(ch)
        if self.next_index is not None and self.board_now - self._t1(self.next_index) > MAX_GAP_S:
            # The clock leapt (a long stall, or a bogus timestamp): the rings no longer hold those
            # windows' samples; count them as lost instead of cutting them one by one.
            start = int(math.floor((self.board_now - self.profile.window_s) / self.profile.hop_s)) - 1
            self.counters.windows_lost += start - self.next_index
            self.next_index = start
        while self.next_index is not None and self._ready(self._t1(self.next_index)):
            self._cut(self.next_index)
            self.next_index += 1

    def _t1(self, index: int) -> float:
        return index * self.profile.hop_s + self.profile.window_s

    def _ready(self, t1: float) -> bool:
        if self.board_now < t1:
            return False
        return all(ch.end_time >= t1 - 1e-9 for ch in self.channels.values() if ch.health.usable)

    def _cut(self, index: int) -> None:
        p = self.profile
        t0, t1 = index * p.hop_s, self._t1(index)
        self._link_check(t1)
        data, present, coverage, health, healthy = {}, {}, {}, {}, {}
        for spec in p.modalities:
            n = p.window_samples(spec.name)
            chans = self.by_modality.get(spec.name, [])
            seg = np.full((spec.channels, n), np.nan, dtype=np.float32)
            for c, ch in enumerate(chans):
                seg[c] = ch.ring.read(int(round(t0 * spec.sample_rate)), n) * np.float32(ch.desc.scale)
            finite = np.isfinite(seg)
            cov = float(finite.mean())
            for c, ch in enumerate(chans):
                ch.health.on_window(t0, t1, bool(finite[c].all()))
                self._collect(ch)
                health[ch.name] = ch.health.state.value
            usable = len(chans) == spec.channels and all(ch.health.usable for ch in chans)
            present[spec.name] = bool(usable and cov >= MIN_PRESENT_FRACTION)
            healthy[spec.name] = bool(usable and all(ch.health.state is State.OK for ch in chans))
            coverage[spec.name] = round(cov, 4)
            data[spec.name] = np.where(finite, seg, 0.0).astype(np.float32)
        self.counters.windows += 1
        self._out.append(WindowJob(self.boot, index, t0, t1, data, present, coverage, health, healthy,
                                   self._host_time))

    def _flush_boot(self, final: bool) -> None:
        """Cut every window the received data completes; count the rest of this boot's windows as lost."""
        if self.next_index is None:
            return
        data_end = max((ch.end_time for ch in self.channels.values()), default=-math.inf)
        while self._t1(self.next_index) <= data_end + 1e-9:
            self._cut(self.next_index)     # presence from what arrived: no more samples are coming
            self.next_index += 1
        if not final:
            # Windows the old clock had started but whose samples never came: lost with the reboot.
            started = math.ceil(data_end / self.profile.hop_s - 1e-9) if data_end > -math.inf else self.next_index
            self.counters.windows_lost += max(0, int(started) - self.next_index)

    def _new_boot(self, t: float) -> None:
        self.boot += 1
        self.counters.boots += 1
        self._notice("board_reset", f"the board rebooted after {self.board_now:.3f} s of board time; its "
                                    "rings are cleared and windowing restarts on the new clock",
                     level=logging.WARNING, board_time=t)
        for ch in self.channels.values():
            ch.ring.reset()
            ch.health.restart(t, "the board rebooted")
            self._collect(ch)
        self.board_now = -math.inf
        self.next_index = None
        self._seen_data = False

    # -- link statistics ----------------------------------------------------------------------
    def _link_totals(self) -> tuple[int, int, int]:
        s = self.decoder.stats
        if not self._framed:           # CSV lines: no frames, CRC or sequence numbers (bad lines are gaps)
            return s.lines, 0, 0
        return s.frames, s.crc_errors, sum(b.frames_lost for b in s.boards.values())

    def _link_changes(self, before: tuple[int, int, int]) -> None:
        _, crc, lost = self._link_totals()
        self.counters.crc_errors += crc - before[1]
        self.counters.frames_lost += lost - before[2]
        self.counters.bytes_discarded = self.decoder.stats.bytes_discarded

    def _link_check(self, t1: float) -> None:
        """Once per window (one hop of frames): a high CRC error rate or lost frames degrade every channel."""
        frames, crc, lost = self._link_totals()
        d_frames, d_crc, d_lost = frames - self._link_mark[0], crc - self._link_mark[1], lost - self._link_mark[2]
        self._link_mark = (frames, crc, lost)
        reasons = []
        if d_crc and d_crc / max(d_frames + d_crc, 1) > self.th.crc_error_rate:
            reasons.append(f"{d_crc} of {d_frames + d_crc} frames failed CRC")
        if d_lost > self.th.max_seq_gap:
            reasons.append(f"{d_lost} frames lost (sequence gaps)")
        if reasons:
            for ch in self.channels.values():
                ch.health.on_issue(t1, "; ".join(reasons))
                self._collect(ch)

    # -- output helpers -------------------------------------------------------------------------
    def _collect(self, ch: Channel) -> None:
        if ch.health.events:
            self._out += [replace(ev, boot=self.boot) for ev in ch.health.take_events()]

    def _notice(self, kind: str, message: str, level: int = logging.WARNING, board_time: float | None = None) -> None:
        log.log(level, message)
        if board_time is None and self.board_now > -math.inf:
            board_time = self.board_now
        self._out.append(Notice(kind, self.boot, board_time, message))

    def channel_states(self) -> dict[str, State]:
        return {ch.name: ch.health.state for ch in self.channels.values()}
