"""The per-channel health state machine and the sample ring, driven directly (board time only)."""

import numpy as np
import pytest

from edge_rep.config import Config, HealthSection
from edge_rep.stream.health import ChannelHealth, State
from edge_rep.stream.ring import SampleRing

RATE = 100.0          # samples/s
BLOCK = 5             # 50 ms blocks, like the board's DATA frames
FS = 2**23 - 1        # int24 full scale (flat-line limit 1e-6 of it: 8 counts)


def make(**kw) -> ChannelHealth:
    return ChannelHealth("seismic0", "seismic", RATE, FS, HealthSection(**kw))


class Feeder:
    """Feeds a channel the way the assembler does: blocks into a ring, health sees them."""

    def __init__(self, h: ChannelHealth, seed: int = 0):
        self.h, self.ring, self.idx = h, SampleRing(2000), 0
        self.rng = np.random.default_rng(seed)
        self.events = []                  # every transition the machine returned, in order

    @property
    def t(self) -> float:
        return self.idx / RATE

    def block(self, kind: str = "noise") -> None:
        if kind == "noise":
            x = self.rng.normal(0, 1e5, BLOCK).astype(np.int32)
        elif kind == "flat":
            x = np.full(BLOCK, 1234, np.int32)
        elif kind == "clip":
            x = np.full(BLOCK, FS, np.int32)
            x[::2] = -FS
        elif kind == "nan":
            x = np.full(BLOCK, np.nan, np.float32)
        else:
            raise ValueError(kind)
        self.ring.write(self.idx, x)
        end = self.idx + BLOCK
        self.idx = end
        self.events += self.h.on_block(self.t, x, lambda k: self.ring.read(end - k, k))

    def run(self, seconds: float, kind: str = "noise") -> None:
        for _ in range(int(round(seconds * RATE / BLOCK))):
            self.block(kind)

    def silence(self, seconds: float) -> None:
        """No samples arrive; board time still advances (other channels, heartbeats)."""
        steps = int(round(seconds * RATE / BLOCK))
        for _ in range(steps):
            self.idx += BLOCK
            self.events += self.h.tick(self.t)

    def windows(self, t0: float, t1: float, hop: float = 1.0, win: float = 2.0):
        t = t0
        while t + win <= t1 + 1e-9:
            seg = self.ring.read(int(round(t * RATE)), int(round(win * RATE)))
            self.events += self.h.on_window(t, t + win, bool(np.isfinite(seg).all()))
            t += hop

    def take(self):
        ev, self.events = self.events, []
        return ev


def transitions(events):
    return [(e.old.value, e.new.value) for e in events]


def test_thresholds_follow_the_config_section():
    cfg = HealthSection()
    th = ChannelHealth("seismic0", "seismic", RATE, FS).th
    assert th.data_timeout_s == cfg.data_timeout_s and th.recovery_windows == cfg.recovery_windows
    section = Config.from_dict({"health": {"data_timeout_s": 0.25, "recovery_windows": 3}}).health
    th2 = ChannelHealth("seismic0", "seismic", RATE, FS, section).th
    assert th2.data_timeout_s == 0.25 and th2.recovery_windows == 3 and th2.flatline_window_s == 0.5


def test_first_data_makes_a_channel_ok():
    h = make()
    assert h.state is State.DROPPED and not h.usable
    f = Feeder(h)
    f.block()
    assert h.state is State.OK and h.usable
    assert transitions(f.take()) == [("dropped", "ok")]


@pytest.mark.parametrize("timeout", [0.2, 0.5, 0.8])
def test_silence_drops_after_the_timeout_dated_at_the_last_good_sample(timeout):
    h = make(data_timeout_s=timeout)
    f = Feeder(h)
    f.run(3.0)
    f.take()
    last_good = f.t
    for _ in range(40):
        f.silence(BLOCK / RATE)
        if h.state is State.DROPPED:
            break
    ev = f.take()
    assert [(e.old, e.new) for e in ev] == [(State.OK, State.DROPPED)]
    # Noticed once the time-out passed (at most one block later) ...
    noticed = f.t - last_good
    assert timeout < noticed <= timeout + BLOCK / RATE + 1e-9 and noticed <= 1.0
    # ... and dated when the channel went missing: the end of its last good sample.
    assert ev[0].board_time == pytest.approx(last_good)
    assert "no data" in ev[0].reason


def test_flat_line_counts_as_no_good_samples_dated_at_its_start():
    h = make()
    f = Feeder(h)
    f.run(2.0)
    f.take()
    flat_start = f.t
    f.run(2.0, "flat")
    ev = f.take()
    assert [(e.old, e.new) for e in ev] == [(State.OK, State.DROPPED)]
    assert "flat line" in ev[0].reason
    assert 0 <= ev[0].board_time - flat_start <= BLOCK / RATE + 1e-9
    # A quiet but living signal (noise of a few tens of counts) is not a flat line.
    h2 = make()
    f2 = Feeder(h2)
    f2.rng = np.random.default_rng(1)
    for _ in range(80):
        x = f2.rng.normal(0, 30, BLOCK).astype(np.int32)
        f2.ring.write(f2.idx, x)
        f2.idx += BLOCK
        end = f2.idx
        h2.on_block(f2.t, x, lambda k, end=end: f2.ring.read(end - k, k))
    assert h2.state is State.OK


def test_non_finite_samples_drop_like_silence_and_partial_ones_degrade():
    h = make()
    f = Feeder(h)
    f.run(2.0)
    f.run(1.0, "nan")
    assert h.state is State.DROPPED and "non-finite" in f.events[-1].reason
    assert f.events[-1].board_time == pytest.approx(2.0)        # the last good sample
    h2 = make()
    f2 = Feeder(h2)
    f2.run(1.0)
    x = f2.rng.normal(0, 1e5, BLOCK).astype(np.float32)
    x[2] = np.inf
    f2.ring.write(f2.idx, x)
    f2.idx += BLOCK
    ev = h2.on_block(f2.t, x, None)
    assert h2.state is State.DEGRADED and "non-finite" in ev[-1].reason


def test_clipping_degrades_and_clean_windows_restore_ok():
    h = make(recovery_windows=2)
    f = Feeder(h)
    f.run(3.0)
    f.run(0.5, "clip")
    assert h.state is State.DEGRADED and "clipping" in f.events[-1].reason
    t_clip = f.t
    f.run(6.0)
    # The first windows still contain clipped blocks: not clean. Two clean ones after it restore ok.
    f.windows(0.0, f.t)
    assert transitions(f.take()) == [("dropped", "ok"), ("ok", "degraded"), ("degraded", "ok")]
    assert h.state is State.OK
    assert t_clip < 8.0


def test_recovery_needs_n_clean_windows_after_a_drop():
    for n in (1, 2, 3):
        h = make(recovery_windows=n)
        f = Feeder(h)
        f.run(4.0)
        f.silence(2.0)
        assert h.state is State.DROPPED
        back = f.t
        f.run(8.0)
        assert h.state is State.RECOVERING and h.usable
        # Windows from the return on: the first one starting at `back` has an issue (the gap) at its
        # start, so clean windows begin one hop later.
        t = back
        ok_at = None
        while t + 2.0 <= f.t + 1e-9:
            seg = f.ring.read(int(round(t * RATE)), 200)
            h.on_window(t, t + 2.0, bool(np.isfinite(seg).all()))
            if h.state is State.OK and ok_at is None:
                ok_at = t + 2.0
            t += 1.0
        assert ok_at == pytest.approx(back + 1.0 + 2.0 + (n - 1) * 1.0)


def test_a_drop_during_recovery_goes_back_to_dropped():
    h = make()
    f = Feeder(h)
    f.run(2.0)
    f.silence(1.0)
    f.run(0.5)
    assert h.state is State.RECOVERING
    f.silence(1.0)
    assert h.state is State.DROPPED
    ev = f.take()
    assert transitions(ev)[-3:] == [("ok", "dropped"), ("dropped", "recovering"), ("recovering", "dropped")]
    assert [e.board_time for e in ev[-3:]] == pytest.approx([2.0, 3.05, 3.5])   # each drop at its last good sample


def test_a_short_gap_degrades_but_does_not_drop():
    h = make(degraded_after_s=0.2, data_timeout_s=0.5)
    f = Feeder(h)
    f.run(2.0)
    f.silence(0.3)
    f.run(1.0)
    assert transitions(f.take())[-1] == ("ok", "degraded")
    assert h.state is State.DEGRADED and "gap" in h.issue_reason


def test_status_disconnected_drops_at_once_and_recovers_when_samples_return():
    h = make()
    f = Feeder(h)
    f.run(2.0)
    f.take()
    ev = h.on_status(f.t, True, [])
    assert h.state is State.DROPPED and "disconnected" in ev[-1].reason
    assert h.tick(f.t + 0.3) == []            # no blocks while disconnected: stays dropped
    assert h.state is State.DROPPED
    assert h.on_status(f.t + 0.3, True, []) == []  # repeated STATUS: no new event
    assert transitions(ev) == [("ok", "dropped")]
    # The board sends no blocks for a disconnected sensor, so samples taken after the STATUS mean it is back.
    f.idx += 40
    f.run(0.1)
    assert h.state is State.RECOVERING
    assert transitions(f.take()) == [("dropped", "recovering")]


def test_a_latched_disconnect_does_not_redrop_a_channel_that_came_back():
    """PROTOCOL.md: STATUS flags say what happened since the previous STATUS. A sensor back at 5.3 s is
    still flagged in the STATUS of 6.0 s (it was disconnected in 5.0..6.0): that flag must not drop it again.
    A 1.1 board says so itself (state: connected); for a 1.0 board the host sees the samples resumed after
    the previous STATUS."""
    for now in (None, False):                  # 1.0 board (no state), 1.1 board (state: back)
        h = make()
        f = Feeder(h)
        f.run(4.0)
        h.on_status(4.0, True, [], now=None if now is None else True, since=3.0)     # unplugged at 4.0
        f.idx += int(1.3 * RATE)                                                      # no blocks 4.0..5.3
        f.run(0.7)                                                                    # back: samples 5.3..6.0
        assert h.state is State.RECOVERING
        f.take()
        assert h.on_status(6.0, True, [], now=now, since=5.0) == [] and h.state is State.RECOVERING
        f.run(6.0)
        f.windows(6.0, f.t)
        assert transitions(f.take()) == [("recovering", "ok")]
    # A 1.1 board that says "still disconnected" drops it (e.g. the sensor flapped again).
    h = make()
    f = Feeder(h)
    f.run(4.0)
    ev = h.on_status(4.2, True, [], now=True, since=3.0)
    assert transitions(ev) == [("ok", "dropped")] and ev[0].board_time == pytest.approx(4.0)
    assert h.on_status(5.0, False, [], now=False, since=4.2) == [] and not h.fault     # "back", per the board
    # A 1.0 board's latched flag with no samples since the previous STATUS: still disconnected.
    h = make()
    f = Feeder(h)
    f.run(4.0)
    assert transitions(h.on_status(4.5, True, [], now=None, since=4.0)) == [("ok", "dropped")]


def test_a_stall_longer_than_the_timeout_is_a_drop_noticed_late_but_dated_at_its_start():
    h = make()
    f = Feeder(h)
    f.run(2.0)
    f.idx += int(2.0 * RATE)          # the board sent nothing for 2 s (board time did not advance here)
    f.block()
    ev = f.take()
    assert transitions(ev)[-2:] == [("ok", "dropped"), ("dropped", "recovering")]
    assert ev[-2].board_time == pytest.approx(2.0) and ev[-1].board_time == pytest.approx(4.05)


def test_link_silence_drops_at_the_last_good_sample():
    h = make()
    f = Feeder(h)
    f.run(2.0)
    ev = h.on_link_silent("link silent for 3 s")
    assert transitions(ev) == [("ok", "dropped")] and ev[0].board_time == pytest.approx(2.0)
    assert ev[0].reason == "link silent for 3 s" and h.on_link_silent("again") == []
    f.run(0.5)                        # bytes back, samples continue where they were: recovering
    assert transitions(f.take())[-1] == ("dropped", "recovering")


def test_status_faults_and_link_issues_degrade():
    h = make()
    f = Feeder(h)
    f.run(1.0)
    ev = h.on_status(f.t, False, ["ADC overrun"])
    assert h.state is State.DEGRADED and ev[-1].reason == "ADC overrun"
    h2 = make()
    Feeder(h2).run(1.0)
    h2.on_issue(1.0, "5 of 20 frames failed CRC")
    assert h2.state is State.DEGRADED


def test_restart_after_reboot_drops_then_recovers():
    h = make()
    f = Feeder(h)
    f.run(2.0)
    ev = h.restart(0.0, "the board rebooted")
    assert h.state is State.DROPPED and transitions(ev) == [("ok", "dropped")] and ev[0].board_time == 0.0
    f2 = Feeder(h)
    f2.run(0.5)
    assert h.state is State.RECOVERING
    assert transitions(f2.take()) == [("dropped", "recovering")]


def test_event_record_has_the_schema_fields():
    h = make()
    f = Feeder(h)
    f.run(0.1)
    d = f.take()[0].to_dict()
    assert d == {"type": "health", "channel": "seismic0", "modality": "seismic", "board_time": 0.05,
                 "from": "dropped", "to": "ok", "reason": "first data"}


# -- ring -----------------------------------------------------------------------------------------

def test_ring_keeps_gaps_as_nan_and_never_shifts_time():
    r = SampleRing(100)
    r.write(0, np.arange(10))
    r.write(20, np.arange(20, 30))          # 10..19 lost
    x = r.read(0, 30)
    assert np.array_equal(x[:10], np.arange(10)) and np.isnan(x[10:20]).all()
    assert np.array_equal(x[20:], np.arange(20, 30))
    r.write(10, np.arange(10, 20))          # a late block fills its own place
    assert np.array_equal(r.read(0, 30), np.arange(30))


def test_ring_wraps_forgets_and_is_bounded():
    r = SampleRing(50)
    for i in range(0, 1000, 7):
        r.write(i, np.arange(i, i + 7))
    assert r.end == 1001 and r.start == 951
    x = r.read(940, 61)
    assert np.isnan(x[:11]).all() and np.array_equal(x[11:], np.arange(951, 1001))
    assert r._buf.size == 50
    r.write(5000, np.arange(3))             # a jump far ahead clears everything in between
    assert np.isnan(r.read(4950, 50)).all() and np.array_equal(r.read(5000, 3), [0, 1, 2])
    r.write(10, np.ones(5))                 # too old: ignored
    assert np.isnan(r.read(4953, 47)).all()
