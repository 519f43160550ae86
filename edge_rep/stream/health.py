"""Channel health: one small state machine per channel, driven by board time only.

    ok ──issue──> degraded ──recovery_windows clean windows──> ok
    ok / degraded / recovering ──no good sample for data_timeout_s──> dropped
    any ──board STATUS: sensor disconnected──> dropped
    any ──the link fell silent (host clock, link_timeout_s)──> dropped
    dropped ──good samples again──> recovering ──recovery_windows clean windows──> ok

"Good" samples were received, are finite and are not part of a flat line (std over
``flatline_window_s`` at most ``flatline_rel_std`` of full scale). Issues degrade without dropping:
a data gap longer than ``degraded_after_s``, some non-finite samples, clipping (more than
``saturation_fraction`` of a block at ``clip_level`` of full scale), more than ``max_seq_gap``
frames lost or more than ``crc_error_rate`` of frames failing CRC over a hop, board STATUS faults.
A clean window has every sample of the channel and no issue inside it.

A drop is dated at the end of the channel's last good sample, the moment its modality went missing,
however late it was noticed (a time-out, a board stall noticed when data resumed, the link time-out).

The thresholds are the ``[health]`` section of edge-rep.toml, ``edge_rep.config.HealthSection``: its
defaults, bounds and documentation are defined there once and the machine reads them as they are. Every
input carries a board time (seconds), never the host clock, so playing a log back gives the
transitions the live stream gave. Only ``dropped`` makes a modality missing for the model. Every input
returns the ``HealthEvent``s it caused, in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from ..config import HealthSection


class State(str, Enum):
    OK = "ok"
    DEGRADED = "degraded"
    DROPPED = "dropped"
    RECOVERING = "recovering"


@dataclass(frozen=True)
class HealthEvent:
    """A state change of one channel, at a board time."""

    channel: str
    modality: str
    board_time: float
    old: State
    new: State
    reason: str
    boot: int = 0        # the board's boot whose clock board_time is on (the assembler hands out copies with it)

    def to_dict(self) -> dict:
        return {"type": "health", "channel": self.channel, "modality": self.modality,
                "board_time": round(self.board_time, 6), "from": self.old.value, "to": self.new.value,
                "reason": self.reason}


class ChannelHealth:
    """The state machine of one channel. Feed it blocks, STATUS faults, link problems, ticks, windows; each
    returns the transitions it caused."""

    def __init__(self, channel: str, modality: str, sample_rate: float, full_scale: float | None,
                 th: HealthSection | None = None):
        """``th``: the thresholds (``Config.health``); None takes the ``[health]`` defaults."""
        self.channel, self.modality = channel, modality
        self.rate, self.full_scale = float(sample_rate), full_scale
        self.th = th or HealthSection()
        self.state = State.DROPPED            # nothing seen yet: missing until its data arrives
        self.started = False                  # has had good data once (the first data makes it ok directly)
        self._events: list[HealthEvent] = []  # transitions of the input being handled
        self._clear()

    def _clear(self) -> None:
        self.last_data: float | None = None   # board time just after the last received sample
        self.last_good: float | None = None   # board time just after the last good sample
        self.flat_since: float | None = None  # start of the current flat line
        self.bad_reason = "no data"           # why the latest samples did not count as good
        self.fault = ""                       # STATUS fault holding the channel dropped
        self.fault_time: float | None = None  # board time of that STATUS
        self.resumed_at: float | None = None  # start of the latest block that followed missing samples
        self.last_event = -np.inf             # board time of the latest transition (events never go back)
        self.last_issue = -np.inf             # board time of the latest issue
        self.issue_reason = ""
        self.clean_windows = 0

    # -- inputs --------------------------------------------------------------------------------
    def on_block(self, t_end: float, raw: np.ndarray, recent=None) -> list[HealthEvent]:
        """Raw samples (any numeric dtype) ending at board time ``t_end``. ``recent(k)``: the channel's latest ``k`` raw
        samples including these (NaN where lost), for the flat-line test; None skips that test."""
        n = raw.size
        if n == 0:
            return []
        self._block(t_end, raw, n, recent)
        return self._take()

    def _block(self, t_end: float, raw: np.ndarray, n: int, recent) -> None:
        t_start = t_end - n / self.rate
        self._tick(t_start)     # a silence noticed only now (the board stalled): still a drop, dated at its start
        if self.fault and self.fault_time is not None and t_start >= self.fault_time:
            self.fault = ""     # the board sends no blocks for a disconnected sensor: this one is back
        if self.last_data is None or t_start > self.last_data + 0.5 / self.rate:
            self.resumed_at = t_start
        if self.last_data is not None and t_start - self.last_data > self.th.degraded_after_s + 1e-9:
            self._issue(t_start, f"data gap of {t_start - self.last_data:.2f} s")
        self.last_data = t_end if self.last_data is None else max(self.last_data, t_end)
        if raw.dtype.kind == "f":             # only float formats can carry NaN or inf
            finite = np.isfinite(raw)
            n_finite = int(np.count_nonzero(finite))
            if n_finite == 0:
                self.bad_reason = "non-finite samples"
                return self._tick(t_end)
            if n_finite < n:
                self._issue(t_end, f"{n - n_finite} non-finite samples")
                raw = raw[finite]
        lo, hi = float(raw.min()), float(raw.max())
        if self.full_scale and max(hi, -lo) >= self.th.clip_level * self.full_scale:
            clipped = np.count_nonzero(np.abs(raw) >= self.th.clip_level * self.full_scale) / raw.size
            if clipped > self.th.saturation_fraction:
                self._issue(t_end, f"clipping ({100 * clipped:.0f}% of a block at full scale)")
        if self._is_flat(hi - lo, raw.size, recent):
            if self.flat_since is None:
                self.flat_since = t_end - self.th.flatline_window_s
                # The flat line began before it could be told apart: those samples were not good after all.
                if self.last_good is not None:
                    self.last_good = min(self.last_good, self.flat_since)
            self.bad_reason = "flat line"
            return self._tick(t_end)
        self.flat_since = None
        self.last_good = t_end if self.last_good is None else max(self.last_good, t_end)
        if self.state is State.DROPPED and not self.fault:
            if self.started:
                self._go(State.RECOVERING, t_end, "good samples again")
            else:
                self._go(State.OK, t_end, "first data")
        self.started = True
        self._tick(t_end)

    def on_status(self, board_time: float, disconnected: bool, faults: list[str], now: bool | None = None,
                  since: float | None = None) -> list[HealthEvent]:
        """The board's STATUS for this channel at ``board_time``. ``disconnected``: its latched flag (the
        sensor was disconnected at some time since the previous STATUS, at board time ``since``; None:
        unknown, the flag is taken as the state); ``now``: the state a 1.1 board adds (still disconnected
        or back), None from a 1.0 board. Disconnected now drops the channel at once, until a STATUS says
        it is back or samples taken after that STATUS arrive (a board sends no blocks for a disconnected
        sensor). A 1.0 board's latched flag counts as "now" unless the channel's samples resumed after
        ``since``: that disconnection is over, and re-dropping the channel for it would be wrong. Other
        faults degrade."""
        if now is None:
            resumed = self.resumed_at is not None and since is not None and self.resumed_at > since
            now = disconnected and not resumed
        if now:
            self.fault_time = board_time
            if not self.fault:
                self.fault = "board reports the sensor disconnected"
                self._drop(self.fault)
        else:
            self.fault = ""
        if faults:
            self._issue(board_time, ", ".join(faults))
        return self._take()

    def on_issue(self, board_time: float, reason: str) -> list[HealthEvent]:
        """A problem that degrades without dropping (link errors, clipping found in a window)."""
        self._issue(board_time, reason)
        return self._take()

    def on_link_silent(self, reason: str) -> list[HealthEvent]:
        """No byte has come over the link for the host's link time-out: the channel is dropped (dated at its
        last good sample) until good samples come again."""
        if self.state is not State.DROPPED:
            self._drop(reason)
        return self._take()

    def tick(self, board_now: float) -> list[HealthEvent]:
        """Board time is now ``board_now``: declare a drop once good samples stopped for the time-out."""
        self._tick(board_now)
        return self._take()

    def _tick(self, board_now: float) -> None:
        if self.state is State.DROPPED or self.last_good is None:
            return
        silent = board_now - self.last_good
        if silent > self.th.data_timeout_s + 1e-9:
            why = self.bad_reason if self.last_data is not None and self.last_data > self.last_good else "no data"
            self._drop(f"{why} for {silent:.2f} s")

    def on_window(self, t0: float, t1: float, complete: bool) -> list[HealthEvent]:
        """Window [t0, t1) was cut. ``complete``: every sample of this channel in it is there and finite."""
        if self.state not in (State.DEGRADED, State.RECOVERING):
            return []
        clean = complete and self.last_issue < t0 and self.flat_since is None and not self.fault
        self.clean_windows = self.clean_windows + 1 if clean else 0
        if self.clean_windows >= self.th.recovery_windows:
            self._go(State.OK, t1, f"{self.clean_windows} clean windows")
            self.clean_windows = 0
        return self._take()

    def restart(self, board_time: float, reason: str) -> list[HealthEvent]:
        """The board's clock restarted (reboot) at ``board_time`` of its new boot: forget timers; dropped
        until its data flows again."""
        self._go(State.DROPPED, board_time, reason, monotonic=False)   # a new clock: earlier times are fine
        self._clear()
        return self._take()

    # -- helpers -------------------------------------------------------------------------------
    @property
    def usable(self) -> bool:
        """Whether this channel's samples may be given to the model."""
        return self.state is not State.DROPPED

    def _take(self) -> list[HealthEvent]:
        ev, self._events = self._events, []
        return ev

    def _is_flat(self, block_ptp: float, block_n: int, recent) -> bool:
        if recent is None or not self.full_scale:
            return False
        limit = self.th.flatline_rel_std * self.full_scale
        if block_n > 1 and block_ptp > 8 * limit:
            return False    # this block alone varies too much (cheap test first: it is the usual case)
        need = int(round(self.th.flatline_window_s * self.rate))
        x = recent(need)
        x = x[np.isfinite(x)]
        if need < 2 or x.size < max(2, need // 2):
            return False    # too little data to call it flat (a gap is not a flat line)
        return float(x.std()) <= limit

    def _issue(self, t: float, reason: str) -> None:
        self.last_issue = max(self.last_issue, t)
        self.issue_reason = reason
        self.clean_windows = 0
        if self.state is State.OK:
            self._go(State.DEGRADED, t, reason)

    def _drop(self, reason: str) -> None:
        """Dropped, dated at the end of the last good sample (when the modality went missing)."""
        t = self.last_good if self.last_good is not None else self.last_data
        self._go(State.DROPPED, t if t is not None else self.last_event, reason)
        self.clean_windows = 0

    def _go(self, new: State, t: float, reason: str, monotonic: bool = True) -> None:
        if new is self.state:
            return
        if monotonic:
            t = max(t, self.last_event)
        self.last_event = t
        self._events.append(HealthEvent(self.channel, self.modality, t, self.state, new, reason))
        self.state = new
