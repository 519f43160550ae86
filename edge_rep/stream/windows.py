"""Windowing: cutting the board's channels into ``WindowJob``s for the model, on the board clock.

Windows start at multiples of the profile's hop (board time), so they do not depend on when the host
started listening: the first is the first hop at or after the boot's first sample. Window [t0, t1) is
cut as soon as every channel still usable has samples up to t1; a channel that stops is dropped by its
health machine and stops holding the window back. A modality is present when its channels are not
dropped and at least 90 % of its samples arrived; missing samples are zero-filled, as in training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..modelspec import scenario_name
from ..profiles import Profile
from ..recording import MIN_PRESENT_FRACTION, fields_equal
from .board import Board
from .health import State
from .link import LinkMonitor
from .notices import Notice

# Board time leaping further than this past the next window skips windows (counted lost, with a notice),
# rather than cutting them one by one: the rings no longer hold their samples anyway.
MAX_GAP_S = 60.0


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
    host_time_ready: float = 0.0      # host clock when the bytes that completed it were received (a log's
                                      # receive time in playback)

    __eq__ = fields_equal

    @property
    def scenario(self) -> str:
        return scenario_name(self.present)


class Windower:
    """Cuts the board's windows as board time and the channels' samples allow; counts what it cuts and loses."""

    def __init__(self, profile: Profile, board: Board, link: LinkMonitor):
        self.profile, self.board, self.link = profile, board, link
        self.next_index: int | None = None     # next window to cut on this boot's clock
        self.windows = 0
        self.windows_lost = 0                  # windows whose data was lost (reboot mid-window, clock leap)

    def advance(self, host_time: float) -> list:
        """Every window that is now complete (health events and notices of its cut come before it)."""
        b = self.board
        if self.next_index is None:
            if b.first_sample is None:
                return []
            self.next_index = int(math.ceil(b.first_sample / self.profile.hop_s - 1e-9))
        out: list = []
        if b.board_now - self._t1(self.next_index) > MAX_GAP_S:
            # The clock leapt (a long stall, or a bogus timestamp): the rings no longer hold those
            # windows' samples; count them as lost instead of cutting them one by one.
            start = int(math.floor((b.board_now - self.profile.window_s) / self.profile.hop_s)) - 1
            lost = start - self.next_index
            self.windows_lost += lost
            out.append(Notice("windows_lost", b.boot, b.board_now,
                              f"board time leapt from {self._t1(self.next_index) - self.profile.window_s:.3f} s to "
                              f"{b.board_now:.3f} s: {lost} windows there have no samples left and are not output"))
            self.next_index = start
        while self._ready(self._t1(self.next_index)):
            out += self._cut(self.next_index, host_time)
            self.next_index += 1
        return out

    def flush(self, host_time: float, final: bool) -> list:
        """Cut every window the received data completes; unless ``final`` (the board rebooted), count the
        windows the boot had started but will never complete as lost."""
        if self.next_index is None:
            return []
        out: list = []
        data_end = self.board.data_end
        while self._t1(self.next_index) <= data_end + 1e-9:
            out += self._cut(self.next_index, host_time)    # presence from what arrived: no more samples are coming
            self.next_index += 1
        if not final:
            started = math.ceil(data_end / self.profile.hop_s - 1e-9) if data_end > -math.inf else self.next_index
            self.windows_lost += max(0, int(started) - self.next_index)
            self.next_index = None                           # the new boot's clock starts its own windows
        return out

    def _t1(self, index: int) -> float:
        return index * self.profile.hop_s + self.profile.window_s

    def _ready(self, t1: float) -> bool:
        if self.board.board_now < t1:
            return False
        return all(ch.end_time >= t1 - 1e-9 for ch in self.board.channels.values() if ch.health.usable)

    def _cut(self, index: int, host_time: float) -> list:
        p, b = self.profile, self.board
        t0, t1 = index * p.hop_s, self._t1(index)
        out: list = []
        reasons = self.link.check()
        if reasons:
            out += b.issue(t1, "; ".join(reasons))
        data, present, coverage, health, healthy = {}, {}, {}, {}, {}
        for spec in p.modalities:
            n = p.window_samples(spec.name)
            chans = [c for c in b.by_modality(spec.name) if c.slot < spec.channels]
            seg = np.full((spec.channels, n), np.nan, dtype=np.float32)
            start = int(round(t0 * spec.sample_rate))
            for ch in chans:
                seg[ch.slot] = ch.ring.read(start, n) * np.float32(ch.desc.scale)
            finite = np.isfinite(seg)
            cov = float(finite.mean())
            for ch in chans:
                out += b.stamp(ch.health.on_window(t0, t1, bool(finite[ch.slot].all())))
                health[ch.name] = ch.health.state.value
            usable = len(chans) == spec.channels and all(ch.health.usable for ch in chans)
            present[spec.name] = bool(usable and cov >= MIN_PRESENT_FRACTION)
            healthy[spec.name] = bool(usable and all(ch.health.state is State.OK for ch in chans))
            coverage[spec.name] = round(cov, 4)
            data[spec.name] = np.where(finite, seg, 0.0).astype(np.float32)
        self.windows += 1
        out.append(WindowJob(b.boot, index, t0, t1, data, present, coverage, health, healthy, host_time))
        return out
