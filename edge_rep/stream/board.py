"""The board as the host knows it: its channels (from HELLO), its boots, its STATUS, and its samples.

    board = Board(profile, th)
    items = board.hello(msg)         # channels set up, or changed in place by a new channel list
    items = board.data(msg)          # samples into each channel's ring; its health sees them
    items = board.status(msg)        # STATUS faults (PROTOCOL.md section 5) to the channels' health
    items = board.reboot(t)          # a new boot (the decoder's BoardReboot): rings cleared, all dropped

Every method returns the ``HealthEvent``s and ``Notice``s it caused, in order, stamped with the boot.

Channels: one per usable HELLO channel, up to the model profile's count per modality (ascending channel
id), at the profile's rate (a channel at an integer multiple of it is decimated; other rates are
refused). A channel's name is its modality and its place among that modality's channels (``acoustic0``);
it keeps name, ring and health for as long as the board describes it unchanged, across repeated and
changed HELLOs alike, so a new channel list never costs another channel's samples.

DATA that arrives before the boot's first HELLO (the daemon started while the board was running) is kept,
up to one window and hop of board time, and placed when the HELLO comes: the first window can then start
at the first hop after the daemon attached.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, replace

from firmware_bridge.protocol import (BOARD_BUFFER_OVERFLOW, BOARD_CLOCK_FAULT, CH_ADC_OVERRUN, CH_BUFFER_OVERFLOW,
                                      CH_CLIPPING, CH_SENSOR_DISCONNECTED, FULL_SCALE, HEARTBEAT_PERIOD_S,
                                      SAMPLE_FORMATS, ChannelDescriptor, Data, Hello, Status)

from ..config import HealthSection
from ..profiles import Profile
from .health import ChannelHealth, HealthEvent, State
from .notices import SHOWN, Notice
from .ring import SampleRing

log = logging.getLogger("edge_rep.stream")

# Seconds of samples each ring keeps beyond one window: room for a late channel and the flat-line test.
RING_MARGIN_S = 4.0
# Largest integer factor a channel faster than the profile is decimated by (e.g. 96 kHz -> 100 Hz).
MAX_DECIMATION = 1024
# DATA frames kept while waiting for a boot's first HELLO (20 a second for 50 ms frames).
MAX_EARLY_FRAMES = 256


@dataclass
class Channel:
    desc: ChannelDescriptor
    name: str                         # e.g. "acoustic0": modality and place among its channels
    slot: int                         # that place: its row in the window's data of the modality
    rate: float                       # samples/s in the ring: the profile's rate
    ring: SampleRing                  # raw counts as float32 (exact up to 24 bits); x scale -> physical
    health: ChannelHealth
    decimator: object = None          # resample.Decimator: the board sends a multiple of the profile's rate
    format_noticed: bool = False      # a block in another format than the HELLO's was reported

    @property
    def end_time(self) -> float:
        return self.ring.end / self.rate


def _rate_mhz(hz: float) -> int:
    """A rate as the protocol carries it: whole millihertz."""
    return int(round(hz * 1000))


class Board:
    """The board's channels, boot, clock and STATUS; see the module docstring."""

    def __init__(self, profile: Profile, th: HealthSection):
        self.profile, self.th = profile, th
        self.channels: dict[int, Channel] = {}      # channel id -> channel in use
        self.latest_hello: Hello | None = None       # the latest HELLO of this boot
        self.boot = 0
        self.board_now = -math.inf                   # newest board time seen on this boot
        self.first_sample: float | None = None       # board time of this boot's first sample (windows start there)
        self.boots = self.hellos = self.unknown_channel_blocks = self.rejected_channels = 0
        self.format_mismatches = 0                   # blocks dropped: their format is not the HELLO's
        self._unused: set[int] = set()               # channel ids the HELLO described that are not used
        self._early: deque[Data] = deque(maxlen=MAX_EARLY_FRAMES)
        self._status_time: float | None = None       # board time of this boot's previous STATUS

    # -- what the board says ----------------------------------------------------------------------
    def hello(self, h: Hello) -> list:
        """A HELLO: set up the channels, or change them in place (same id and description: kept)."""
        self.hellos += 1
        first = self.latest_hello is None
        self.latest_hello = h
        out: list = []
        wanted: dict[int, ChannelDescriptor] = {}
        for d in sorted(h.channels, key=lambda c: c.channel_id):
            if d.channel_id in wanted:
                out += self._notice("channel_ignored", f"channel {d.channel_id} is described twice in the HELLO; "
                                                       "the first description is used (PROTOCOL.md section 5)")
                continue
            wanted[d.channel_id] = d
        changed = False
        t = max(h.timestamp_us / 1e6, self.board_now)
        for cid, ch in list(self.channels.items()):      # channels that went or changed: removed, with an event
            if cid not in wanted or vars(wanted[cid]) != vars(ch.desc):
                out += self._remove(ch, t, "is no longer in the board's HELLO" if cid not in wanted else
                                    "has a new description in the board's HELLO")
                changed = True
        self._unused = set()
        for cid, d in wanted.items():
            if cid in self.channels:
                continue
            ch, notes = self._channel(d)
            out += notes
            if ch is None:
                self._unused.add(cid)
                continue
            self.channels[cid] = ch
            changed = True
        if first or changed:
            log.info("board %s (firmware %s): %s", h.board_name or h.board_uid, h.firmware,
                     ", ".join(f"{c.name}={c.desc.sample_rate:g}Hz"
                               + (f" (decimated to {c.rate:g} Hz)" if c.decimator else "")
                               for c in self.channels.values()) or "no usable channels")
        if first:
            for msg in self._early:                       # DATA that came before this boot's first HELLO
                out += self.data(msg)
            self._early.clear()
        return out

    def data(self, msg: Data) -> list:
        """A DATA frame: each block into its channel's ring (where its sample index says), health sees it."""
        if self.latest_hello is None:
            if not self._early:
                out = self._notice("waiting_for_hello", "samples arrive but no HELLO has described the channels "
                                   "yet; they are kept until it comes (boards repeat it every second, PROTOCOL.md)")
            else:
                out = []
            self.unknown_channel_blocks += len(msg.blocks)
            self._early.append(msg)
            keep = self.profile.window_s + self.profile.hop_s    # older samples could not start the first window
            while self._early and self._early[0].timestamp_us / 1e6 < msg.timestamp_us / 1e6 - keep:
                self._early.popleft()
            return out
        out = []
        for b in msg.blocks:
            ch = self.channels.get(b.channel_id)
            if ch is None:
                if b.channel_id not in self._unused:      # ignored or refused channels' blocks are expected
                    self.unknown_channel_blocks += 1
                continue
            if b.fmt != ch.desc.fmt:
                self.format_mismatches += 1
                if not ch.format_noticed:
                    ch.format_noticed = True
                    out += self._notice("format_mismatch", f"channel {b.channel_id} ({ch.name}) sends "
                                        f"{SAMPLE_FORMATS.get(b.fmt, ('format ' + str(b.fmt),))[0]} samples but its "
                                        f"HELLO says {SAMPLE_FORMATS[ch.desc.fmt][0]}; those blocks are dropped "
                                        "(PROTOCOL.md section 6): fix the firmware", level=logging.ERROR)
                continue
            first, samples = b.first_index, b.samples
            if ch.decimator is not None:
                first, samples = ch.decimator.feed(first, samples)
            n = samples.size
            if n == 0:
                continue          # a zero-sample block (or one the decimator holds): nothing to place
            if first + n < ch.ring.end - ch.ring.capacity:
                continue          # older than anything we keep
            ch.ring.write(first, samples)
            t_end = (first + n) / ch.rate
            recent = lambda k, ch=ch, end=first + n: ch.ring.read(end - k, k)    # noqa: E731 (the flat-line test)
            out += self.stamp(ch.health.on_block(t_end, samples, recent))
            self.board_now = max(self.board_now, t_end)
            if self.first_sample is None:
                self.first_sample = first / ch.rate
        return out

    def status(self, s: Status) -> list:
        """A STATUS: board-wide and per-channel faults to the channels' health (PROTOCOL.md section 5)."""
        t = s.timestamp_us / 1e6
        board = [why for bit, why in ((BOARD_BUFFER_OVERFLOW, "board transmit buffer overflow"),
                                      (BOARD_CLOCK_FAULT, "board sampling clock fault")) if s.board_flags & bit]
        # The previous STATUS; the first one seen on a boot covers at most a heartbeat period (PROTOCOL.md).
        since = self._status_time if self._status_time is not None else t - HEARTBEAT_PERIOD_S
        out = []
        for cid, ch in self.channels.items():
            flags = s.channels.get(cid, 0)
            faults = board + [why for bit, why in ((CH_ADC_OVERRUN, "ADC overrun"),
                                                   (CH_BUFFER_OVERFLOW, "channel buffer overflow"),
                                                   (CH_CLIPPING, "board reports clipping")) if flags & bit]
            now = None if s.state is None else bool(s.state.get(cid, 0) & CH_SENSOR_DISCONNECTED)
            out += self.stamp(ch.health.on_status(t, bool(flags & CH_SENSOR_DISCONNECTED), faults, now=now,
                                                  since=since))
        self._status_time = t
        return out

    def reboot(self, t: float) -> list:
        """The board rebooted (the decoder's ``BoardReboot``); ``t``: the new boot's clock at its first frame.
        Rings cleared, every channel dropped until its data flows again; the HELLO is expected again."""
        old = self.board_now
        self.boot += 1
        self.boots += 1
        out = self._notice("board_reset", f"the board rebooted after {old:.3f} s of board time; its rings are cleared "
                           "and windowing restarts on the new clock", board_time=t)
        for ch in self.channels.values():
            ch.ring.reset()
            out += self.stamp(ch.health.restart(t, "the board rebooted"))
        self.board_now = -math.inf
        self.first_sample = None
        self._status_time = None
        self._early.clear()
        return out

    # -- what the host decides --------------------------------------------------------------------
    def advance(self, t: float) -> list:
        """Board time moved to ``t`` (every frame carries the board clock): health time-outs."""
        self.board_now = max(self.board_now, t)
        out = []
        for ch in self.channels.values():
            out += self.stamp(ch.health.tick(self.board_now))
        return out

    def issue(self, t: float, reason: str) -> list:
        """A link problem (frame errors, lost frames) degrades every channel."""
        out = []
        for ch in self.channels.values():
            out += self.stamp(ch.health.on_issue(t, reason))
        return out

    def link_silent(self, reason: str) -> list:
        """The link fell silent (host clock): every channel dropped at its last good sample."""
        out = []
        for ch in self.channels.values():
            out += self.stamp(ch.health.on_link_silent(reason))
        return out

    def by_modality(self, modality: str) -> list[Channel]:
        """The modality's channels in use, in slot order."""
        return sorted((c for c in self.channels.values() if c.desc.modality == modality), key=lambda c: c.slot)

    @property
    def data_end(self) -> float:
        """Board time up to which the channel furthest along has samples."""
        return max((ch.end_time for ch in self.channels.values()), default=-math.inf)

    # -- helpers --------------------------------------------------------------------------------
    def _channel(self, d: ChannelDescriptor) -> tuple[Channel | None, list]:
        """A channel for descriptor ``d``, or None (with the notice saying why) when the model cannot use it."""
        if d.modality not in self.profile.modality_names:
            return None, self._notice("channel_ignored", f"channel {d.channel_id} is '{d.modality}', which the model "
                                      f"does not take ({', '.join(self.profile.modality_names)})")
        spec = self.profile.modality(d.modality)
        taken = {c.slot for c in self.channels.values() if c.desc.modality == d.modality}
        slot = next((k for k in range(spec.channels) if k not in taken), None)
        if slot is None:
            return None, self._notice("channel_ignored", f"channel {d.channel_id}: the model takes {spec.channels} "
                                      f"{d.modality} channel(s); extra ones are ignored")
        ratio = d.sample_rate / spec.sample_rate
        decimator = None
        if 1.5 < ratio <= MAX_DECIMATION and abs(ratio - round(ratio)) < 1e-6 * ratio:
            from .resample import Decimator    # scipy.signal: imported only when a channel needs it
            decimator = Decimator(int(round(ratio)))
        elif _rate_mhz(d.sample_rate) != _rate_mhz(spec.sample_rate):
            self.rejected_channels += 1
            return None, self._notice("channel_rejected", f"channel {d.channel_id} ({d.modality}) runs at "
                                      f"{d.sample_rate:g} Hz but the model expects {spec.sample_rate:g} Hz; it is "
                                      "treated as missing: fix the firmware or use a matching model",
                                      level=logging.ERROR)
        if d.fmt not in SAMPLE_FORMATS:
            return None, self._notice("channel_ignored", f"channel {d.channel_id}: sample format {d.fmt} is unknown "
                                      "(PROTOCOL.md section 6)")
        name = f"{d.modality}{slot}"
        rate = spec.sample_rate
        cap = int(math.ceil((self.profile.window_s + self.profile.hop_s + RING_MARGIN_S) * rate))
        health = ChannelHealth(name, d.modality, rate, FULL_SCALE.get(d.fmt), self.th)
        return Channel(d, name, slot, rate, SampleRing(cap), health, decimator), []

    def _remove(self, ch: Channel, t: float, why: str) -> list:
        """The board no longer describes ``ch`` as it was: its last event says so (to dropped, even from dropped)."""
        del self.channels[ch.desc.channel_id]
        reason = f"channel {ch.desc.channel_id} {why}"
        log.warning("%s: %s", ch.name, reason, extra=SHOWN)
        return self.stamp([HealthEvent(ch.name, ch.desc.modality, t, ch.health.state, State.DROPPED, reason)])

    def stamp(self, events: list[HealthEvent]) -> list[HealthEvent]:
        return [replace(ev, boot=self.boot) for ev in events] if events else events

    def _notice(self, kind: str, message: str, level: int = logging.WARNING,
                board_time: float | None = None) -> list[Notice]:
        log.log(level, message, extra=SHOWN)
        if board_time is None and self.board_now > -math.inf:
            board_time = self.board_now
        return [Notice(kind, self.boot, board_time, message)]

