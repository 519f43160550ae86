"""The link's accounting: its frames, failures and losses (from the decoder's link events), and its silence.

    link = LinkMonitor(th)
    link.on_event(item)              # FrameError, FramesLost (firmware_bridge.codec) or a valid message
    reasons = link.check()           # once per window: what degrades every channel over the last hop
    link.silence_due(host_time)      # host clock: no byte for link_timeout_s (PROTOCOL.md section 7)
    gap = link.arrived(host_time)    # bytes came: the silence they end, in seconds (None if none)

Counting follows the bytes, not their chunking: the decoder gives its events in stream order, between the
messages, so a live run and a playback of its log count the same at the same frame. The silence is the one
host-clock decision of the daemon: a sensor log keeps every chunk's receive time, so a playback finds the
same silences the live run found (``edge-rep replay`` feeds those times).
"""

from __future__ import annotations

from firmware_bridge.codec import FrameError, FramesLost

from ..config import HealthSection


class LinkMonitor:
    def __init__(self, th: HealthSection):
        self.th = th
        self.frames = 0                # valid frames (messages)
        self.frame_errors = 0          # runs that were not valid frames: CRC, COBS, length, version, payload
        self.crc_errors = 0            # of which the CRC did not match
        self.frames_lost = 0           # frames the board sent that never came
        self.silences = 0              # times the link fell silent
        self.silent = False            # no byte for link_timeout_s, and none since
        self.last_bytes: float | None = None   # host time of the latest bytes
        self._mark = (0, 0, 0)         # (frames, errors, lost) at the latest check

    # -- accounting -----------------------------------------------------------------------------
    def on_frame(self) -> None:
        self.frames += 1

    def on_event(self, ev) -> None:
        if isinstance(ev, FrameError):
            self.frame_errors += 1
            self.crc_errors += ev.reason == "crc"
        elif isinstance(ev, FramesLost):
            self.frames_lost += ev.count

    def check(self) -> list[str]:
        """Once per window (one hop of frames): a high share of failed frames or lost frames since the last
        check, as reasons that degrade every channel."""
        frames, errors, lost = self.frames, self.frame_errors, self.frames_lost
        d_frames, d_err, d_lost = (frames - self._mark[0], errors - self._mark[1], lost - self._mark[2])
        self._mark = (frames, errors, lost)
        reasons = []
        if d_err and d_err / max(d_frames + d_err, 1) > self.th.crc_error_rate:
            reasons.append(f"{d_err} of {d_frames + d_err} frames failed (CRC or framing)")
        if d_lost > self.th.max_seq_gap:
            reasons.append(f"{d_lost} frames lost (sequence gaps)")
        return reasons

    # -- silence (host clock) -------------------------------------------------------------------
    def silence_due(self, host_time: float, slack_s: float = 0.0) -> bool:
        """Whether the link has now been silent for longer than ``link_timeout_s`` (plus ``slack_s``) and is not
        known to be silent yet; it is then marked silent. Before the first bytes there is no silence to call."""
        if self.silent or self.last_bytes is None or host_time - self.last_bytes <= self.th.link_timeout_s + slack_s:
            return False
        self.silent = True
        self.silences += 1
        return True

    def arrived(self, host_time: float) -> float | None:
        """Bytes arrived at ``host_time``: the length of the silence they end (None if the link was not silent).
        Call ``silence_due(host_time)`` first, so a silence noticed only now is called too."""
        gap = host_time - self.last_bytes if self.silent and self.last_bytes is not None else None
        self.silent = False
        self.last_bytes = host_time     # not the max: a host clock stepped back must not hide a silence for long
        return gap
