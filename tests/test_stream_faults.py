"""Each fault the board simulator can inject, through the assembler: the health machine's answer."""

import pytest

from edge_rep.profiles import MOD
from edge_rep.simulator import Scenario, Simulator
from edge_rep.stream.assembler import WindowAssembler
from edge_rep.stream.windows import WindowJob
from edge_rep.stream.health import HealthEvent
from edge_rep.stream.notices import Notice

SECONDS = 9.0


def run(faults, seed=1, skip_until=None):
    sim = Simulator.synthetic(MOD, SECONDS, seed, Scenario.parse(faults))
    asm, out = WindowAssembler(MOD), []
    for t, chunk in sim.frames():
        if chunk and (skip_until is None or t >= skip_until):
            out += asm.feed(chunk)
    out += asm.finish()
    evs = [o for o in out if isinstance(o, HealthEvent)]
    ws = [o for o in out if isinstance(o, WindowJob)]
    return asm, evs, ws


def first(evs, channel, to):
    return next((e for e in evs if e.channel == channel and e.new.value == to), None)


@pytest.mark.parametrize("fault,reason", [("flatline:seismic@3", "flat line"), ("drop:seismic@3", "disconnected")])
def test_dead_sensor_dropped_within_one_second(fault, reason):
    _, evs, ws = run([fault])
    e = first(evs, "seismic0", "dropped")
    assert e is not None and reason in e.reason and 3.0 <= e.board_time <= 4.0
    assert first(evs, "acoustic0", "dropped") is None
    assert all(w.present["seismic"] is False for w in ws if w.t0 >= 4.0)


def test_saturation_degrades_and_recovers():
    _, evs, ws = run(["saturate:acoustic@2-3=1000"])
    e = first(evs, "acoustic0", "degraded")
    assert e is not None and "clipping" in e.reason and 2.0 <= e.board_time <= 3.1
    assert first(evs, "acoustic0", "dropped") is None
    ok = [x for x in evs if x.channel == "acoustic0" and x.new.value == "ok" and x.board_time > e.board_time]
    assert ok                                     # clean windows after the burst restore ok
    assert all(w.present["acoustic"] for w in ws)  # a clipped microphone still counts as present


def test_stall_is_a_drop_noticed_when_data_resumes():
    _, evs, ws = run(["stall@3-5"])
    for ch in ("acoustic0", "seismic0"):
        d, r = first(evs, ch, "dropped"), first(evs, ch, "recovering")
        assert d is not None and r is not None and d.board_time <= r.board_time
    # The windows that span the stall lack their samples: all missing, but none is lost.
    assert [w.index for w in ws] == list(range(len(ws))) and len(ws) == 8
    assert any(w.scenario == "all_missing" for w in ws)


def test_lost_bytes_degrade_through_sequence_gaps():
    asm, evs, ws = run(["lose@3-4=0.002"])
    assert asm.counters.frames_lost > 0
    assert first(evs, "acoustic0", "degraded") is not None
    assert [w.index for w in ws] == list(range(8))


def test_started_after_the_hello_waits_for_the_next_one():
    sim_seconds = 14.0
    sim = Simulator.synthetic(MOD, sim_seconds, 2)
    asm, out = WindowAssembler(MOD), []
    for t, chunk in sim.frames():
        if chunk and t >= 2.0:                     # the daemon started 2 s after the board
            out += asm.feed(chunk)
    notices = [o for o in out if isinstance(o, Notice)]
    ws = [o for o in out if isinstance(o, WindowJob)]
    assert notices and notices[0].event == "waiting_for_hello"
    assert asm.counters.unknown_channel_blocks > 0
    assert ws and ws[0].t0 >= 10.0                 # the board repeats its HELLO every 10 s
