"""Fault injection through the assembler (and the runner where it decides): every fault the board, the line or
the link can make, and the exact health event or notice the daemon answers with.

Board faults come from the simulator; frame-level faults (reordering, noise, a sequence wrap, a changed HELLO)
are made from its frames with the codec. Chunks are fed at their host receive times, with the ticks a live
loop makes between reads, so the link's silence time-out is exercised as live and as in playback."""

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from edge_rep.profiles import MOD, ModalitySpec, Profile
from edge_rep.simulator import Scenario, Simulator, write_log
from edge_rep.stream.assembler import WindowAssembler
from edge_rep.stream.classifier import BufferReplayClassifier
from edge_rep.stream.health import HealthEvent, State
from edge_rep.stream.notices import Notice
from edge_rep.stream.outputs import ListSink
from edge_rep.stream.runner import Chunk, StreamRunner
from edge_rep.stream.windows import WindowJob
from firmware_bridge import protocol as P
from firmware_bridge.codec import Decoder, encode

SECONDS = 9.0
T0 = 1_767_225_600.0          # host time of board time 0 (the simulator's logs use the same)
FIRMWARE = Path(__file__).resolve().parents[1] / "firmware_bridge" / "firmware"


def feed_live(asm, items, tick_every=0.2, start=T0):
    """Feed (t, bytes) items as the live loop does: each chunk at its receive time, and a tick every
    ``tick_every`` s of host time while nothing arrives. Returns everything the assembler gave."""
    out, last = [], None
    for t, chunk in items:
        if not chunk:
            continue
        h = start + t
        while last is not None and last + tick_every < h:
            last += tick_every
            out += asm.tick(last)
        out += asm.feed(chunk, h)
        last = h
    return out + asm.finish()


def run(faults, seed=1, seconds=SECONDS, skip_until=None, **sim):
    s = Simulator.synthetic(MOD, seconds, seed, Scenario.parse(faults), **sim)
    asm = WindowAssembler(MOD)
    out = feed_live(asm, [(t, c) for t, c in s.frames() if skip_until is None or t >= skip_until])
    return asm, [o for o in out if isinstance(o, HealthEvent)], [o for o in out if isinstance(o, WindowJob)], out


def first(evs, channel, to):
    return next((e for e in evs if e.channel == channel and e.new.value == to), None)


def notices(out, event=None):
    return [o for o in out if isinstance(o, Notice) and (event is None or o.event == event)]


def trail(out):
    """What a reader sees of the events: (kind, what, board time) per health event and notice."""
    return [(o.channel, o.new.value, round(o.board_time, 6), o.reason) if isinstance(o, HealthEvent) else
            (o.event, round(o.board_time, 6) if o.board_time is not None else None) for o in out
            if isinstance(o, (HealthEvent, Notice))]


# -- channel faults ----------------------------------------------------------------------------------

@pytest.mark.parametrize("fault,reason", [("flatline:seismic@3", "flat line"), ("drop:seismic@3", "disconnected")])
def test_dead_sensor_dropped_at_its_last_good_sample(fault, reason):
    _, evs, ws, _ = run([fault])
    e = first(evs, "seismic0", "dropped")
    # At the last good sample: for a flat line, its start as the flat-line test places it (to one 50 ms block).
    assert e is not None and reason in e.reason and abs(e.board_time - 3.0) <= 0.05 + 1e-9
    assert first(evs, "acoustic0", "dropped") is None
    assert all(w.present["seismic"] is False for w in ws if w.t0 >= 4.0)


def test_saturation_degrades_and_recovers():
    _, evs, ws, _ = run(["saturate:acoustic@2-3=1000"])
    e = first(evs, "acoustic0", "degraded")
    assert e is not None and "clipping" in e.reason and 2.0 <= e.board_time <= 3.1
    assert first(evs, "acoustic0", "dropped") is None
    ok = [x for x in evs if x.channel == "acoustic0" and x.new.value == "ok" and x.board_time > e.board_time]
    assert ok                                     # clean windows after the burst restore ok
    assert all(w.present["acoustic"] for w in ws)  # a clipped microphone still counts as present


# -- gaps and silences -------------------------------------------------------------------------------

def test_a_stall_is_a_drop_dated_at_the_last_good_sample_not_when_data_resumes():
    _, evs, ws, _ = run(["stall@3-5"])
    for ch in ("acoustic0", "seismic0"):
        d, r = first(evs, ch, "dropped"), first(evs, ch, "recovering")
        assert d.board_time == pytest.approx(3.0) and d.reason == "no data for 2.00 s"   # noticed at 5.0 s
        assert r.board_time == pytest.approx(5.05)
    # The windows that span the stall lack their samples: all missing, but none is lost.
    assert [w.index for w in ws] == list(range(len(ws))) and len(ws) == 8
    assert any(w.scenario == "all_missing" for w in ws)


def test_the_end_of_a_stall_completes_windows_at_once_and_none_is_skipped(backend):
    """A stall's end completes several windows in one batch of fresh bytes: the live loop classifies all of
    them (it skips only by time behind), and gives exactly what a playback of the same bytes gives."""
    s = Simulator.synthetic(MOD, SECONDS, 1, Scenario.parse(["stall@3-5.5"]))
    items = [(t, c) for t, c in s.frames() if c]
    results = {}
    for live in (True, False):
        sink = ListSink()
        runner = StreamRunner(WindowAssembler(MOD), BufferReplayClassifier(backend), [sink], "n", live=live)
        # Everything after the stall arrives in one batch, received just now: the live loop sees it at once.
        now = time.time()
        batches = [[Chunk(now, c)] for t, c in items if t < 5.5] + [[Chunk(now, c) for t, c in items if t >= 5.5]]
        runner.run(batches)
        results[live] = [r for r in sink.records if r["type"] in ("window", "notice")]
        assert runner.stats.skipped == 0
    assert not [r for r in results[True] if r.get("event") == "window_skipped"]
    ws = [r["window"] for r in results[True] if r["type"] == "window"]
    assert ws == list(range(len(ws))) and len(ws) == 8
    assert ws == [r["window"] for r in results[False] if r["type"] == "window"]


def test_a_silent_link_reports_link_silent_drops_every_channel_and_recovers():
    """The board stops sending for 4 s (hung MCU, cut TX wire) while the port stays open: board time stands
    still, so only the host clock can tell. After link_timeout_s (3 s) of no byte: one link_silent notice
    and every channel dropped at its last good sample; when bytes return, link_resumed and recovery."""
    asm, evs, ws, out = run(["stall@5-9"], seconds=14.0)
    silent = notices(out, "link_silent")
    assert len(silent) == 1 and silent[0].board_time == pytest.approx(5.0) and silent[0].boot == 0
    assert silent[0].message == ("no byte from the board for 3 s (link_timeout_s): its channels are dropped until "
                                 "data comes again")
    i = out.index(silent[0])
    dropped = out[i + 1:i + 3]
    assert [(e.channel, e.old, e.new, e.reason) for e in dropped] == [
        ("acoustic0", State.OK, State.DROPPED, "link silent for 3 s"),
        ("seismic0", State.OK, State.DROPPED, "link silent for 3 s")]
    assert all(e.board_time == pytest.approx(5.0) for e in dropped)
    (back,) = notices(out, "link_resumed")
    assert back.message.startswith("bytes again after 4.") and back.message.endswith(" s of silence")
    assert out.index(back) > i + 2
    for ch in ("acoustic0", "seismic0"):
        assert first(evs, ch, "recovering").board_time == pytest.approx(9.05)
        assert [e for e in evs if e.channel == ch and e.new is State.OK][-1].board_time > 9.05
    assert asm.counters.link_silences == 1
    # A shorter silence (2 s) is below the time-out: no link notice, the stall is a data gap.
    _, _, _, out2 = run(["stall@5-7"], seconds=10.0)
    assert not notices(out2, "link_silent") and not notices(out2, "link_resumed")


def test_a_silence_in_a_sensor_log_replays_to_the_same_notices_and_drops(tmp_path, backend):
    """The log keeps each chunk's receive time: its playback finds the silence the live loop found."""
    from edge_rep.config import load_config
    from edge_rep.stream.daemon import playback_records
    s = Simulator.synthetic(MOD, 14.0, 1, Scenario.parse(["stall@5-9"]))
    write_log(s, tmp_path / "silence.edgelog")
    _, _, _, live = run(["stall@5-9"], seconds=14.0)
    cfg = load_config(None)
    cfg.output.status_line = "off"
    recs = playback_records(cfg, str(tmp_path / "silence.edgelog"), backend)
    played = [(r["channel"], r["to"], r["board_time"], r["reason"]) if r["type"] == "health" else
              (r["event"], r["board_time"]) for r in recs if r["type"] in ("health", "notice")]
    assert played == trail(live)
    assert ("link_silent", 5.0) in played


def test_a_board_time_leap_is_a_windows_lost_notice():
    chans = [P.ChannelDescriptor(0, "acoustic", 8000.0, P.FMT_INT16, 1e-4),
             P.ChannelDescriptor(1, "seismic", 100.0, P.FMT_INT24, 1e-9)]
    rng = np.random.default_rng(0)
    frames = [encode(P.Hello(channels=chans, seq=0))]
    for k, first_i in enumerate([0, 400, 800, 8000 * 100, 8000 * 100 + 400]):
        blocks = [P.SampleBlock(0, first_i, P.FMT_INT16, rng.integers(-999, 999, 400).astype(np.int32)),
                  P.SampleBlock(1, first_i // 80, P.FMT_INT24, rng.integers(-999, 999, 5).astype(np.int32))]
        frames.append(encode(P.Data(blocks=blocks, seq=k + 1, timestamp_us=int((first_i + 400) / 8000 * 1e6))))
    asm = WindowAssembler(MOD)
    out = asm.feed(b"".join(frames), T0) + asm.finish()
    (n,) = notices(out, "windows_lost")
    assert n.message == ("board time leapt from 0.000 s to 100.050 s: 97 windows there have no samples left and "
                         "are not output")
    assert asm.counters.windows_lost == 97


# -- the frames --------------------------------------------------------------------------------------

def resequence(wire: bytes, change) -> list[bytes]:
    """The frames of ``wire``, decoded, changed by ``change(list of messages)``, encoded again."""
    msgs = Decoder().feed(wire)
    return [encode(m) for m in change(msgs)]


def test_one_frame_out_of_order_is_late_not_lost_and_degrades_nothing():
    s = Simulator.synthetic(MOD, SECONDS, 1)

    def swap(msgs):
        k = next(i for i, m in enumerate(msgs) if isinstance(m, P.Data) and m.timestamp_us == 4_000_000)
        msgs[k], msgs[k + 1] = msgs[k + 1], msgs[k]
        return msgs
    asm = WindowAssembler(MOD)
    out = feed_live(asm, [(0.0, b"".join(resequence(s.stream(), swap)))])
    b = asm.decoder.stats.boards[1]
    assert (b.seq_gaps, b.frames_lost, b.frames_late, b.resets) == (1, 0, 1, 0)
    assert asm.counters.frames_lost == 0
    assert not [e for e in out if isinstance(e, HealthEvent) and e.new is not State.OK]    # only "first data"
    assert all(w.present == {"acoustic": True, "seismic": True} for w in out if isinstance(w, WindowJob))


def test_lost_frames_degrade_through_sequence_gaps():
    asm, evs, ws, _ = run(["lose@3-4=0.002"])
    assert asm.counters.frames_lost > 0 and first(evs, "acoustic0", "degraded") is not None
    assert [w.index for w in ws] == list(range(8))
    # One HEARTBEAT that never comes (no samples missing): lost once 16 newer frames arrived, and it degrades.
    s = Simulator.synthetic(MOD, SECONDS, 1)
    frames = resequence(s.stream(), lambda ms: [m for m in ms if not (isinstance(m, P.Heartbeat)
                                                                      and m.timestamp_us == 3_000_000)])
    asm = WindowAssembler(MOD)
    out = feed_live(asm, [(0.0, b"".join(frames))])
    assert asm.counters.frames_lost == 1
    e = first([o for o in out if isinstance(o, HealthEvent)], "acoustic0", "degraded")
    assert e.reason == "1 frames lost (sequence gaps)" and e.board_time == 4.0   # the hop the loss was known in


def test_a_periodic_hello_on_sequence_zero_after_the_wrap_is_not_a_reboot():
    s = Simulator.synthetic(MOD, SECONDS, 1)

    def wrap(msgs):   # a board that has sent ~2^32 frames: the HELLO at board time 2 s lands on seq 0
        k = next(i for i, m in enumerate(msgs) if isinstance(m, P.Hello) and m.timestamp_us == 2_000_000)
        for m in msgs:
            m.seq = (m.seq - msgs[k].seq) & 0xFFFFFFFF if m is not msgs[k] else m.seq
        msgs[k].seq = 0
        return msgs
    frames = resequence(s.stream(), wrap)
    assert Decoder().feed(frames[0])[0].seq > 2**32 - 100
    asm = WindowAssembler(MOD)
    out = feed_live(asm, [(0.0, b"".join(frames))])
    assert not notices(out, "board_reset") and asm.counters.boots == 0 and asm.counters.frames_lost == 0
    ws = [o for o in out if isinstance(o, WindowJob)]
    assert [w.index for w in ws] == list(range(8)) and all(w.scenario == "complete" for w in ws)
    assert [(e.channel, e.new) for e in out if isinstance(e, HealthEvent)] == [("acoustic0", State.OK),
                                                                              ("seismic0", State.OK)]


def test_a_reboot_is_told_by_the_clock_and_the_boot_hello():
    _, _, ws, out = run(["reset@5"])
    (n,) = notices(out, "board_reset")
    assert n.boot == 1 and n.board_time == 0.0
    assert n.message.startswith("the board rebooted after 5.000 s of board time")
    assert [w.boot for w in ws][-1] == 1
    # A reboot whose HELLO is lost: the clock going back by more than 1 s tells it.
    s = Simulator.synthetic(MOD, SECONDS, 1, Scenario.parse(["reset@5"]))
    frames = resequence(s.stream(), lambda ms: [m for m in ms if not (isinstance(m, P.Hello) and m.seq == 0
                                                                       and m.timestamp_us == 0 and m is not ms[0])])
    asm = WindowAssembler(MOD)
    out2 = feed_live(asm, [(0.0, b"".join(frames))])
    assert [n.boot for n in notices(out2, "board_reset")] == [1] and asm.counters.boots == 1


def test_line_noise_that_breaks_framing_counts_toward_the_error_rate():
    """Runs between delimiters whose COBS encoding is broken are failed frames, like CRC errors: enough of
    them in a hop degrade every channel with the error-rate reason."""
    s = Simulator.synthetic(MOD, SECONDS, 1)
    noise = b"\x00\xff\x01\x02\x00" * 12            # 12 runs announcing 254 bytes and holding 2: broken COBS
    items = [(t, c + noise if 3.0 <= t < 3.2 else c) for t, c in s.frames() if c]
    asm = WindowAssembler(MOD)
    out = feed_live(asm, items)
    noisy = sum(3.0 <= t < 3.2 for t, _ in items)                 # chunks with noise: 4 DATA, HEARTBEAT, STATUS, HELLO
    assert asm.decoder.stats.cobs_errors == 12 * noisy == 84 and asm.counters.crc_errors == 0
    assert asm.counters.frame_errors == 84
    e = first([o for o in out if isinstance(o, HealthEvent)], "acoustic0", "degraded")
    # Counted over the hop the window ending at 4 s closes: its 23 frames and the 84 failed runs.
    assert e is not None and e.reason == "84 of 107 frames failed (CRC or framing)" and e.board_time == 4.0


def test_a_raw_frame_over_4096_bytes_is_refused_even_when_it_encodes_short_enough():
    from cobs import cobs
    from crc32c import crc32c
    raw = bytes([1, 1, P.MSG_HEARTBEAT, 0, 1, 0, 7, 0, 0, 0]) + bytes(8) + bytes(4100 - 18 - 4)
    raw += crc32c(raw).to_bytes(4, "little")
    enc = cobs.encode(raw)
    assert len(raw) == 4100 > P.MAX_FRAME and len(enc) <= P.MAX_ENCODED
    dec = Decoder()
    items = dec.decode(b"\x00" + enc + b"\x00" + encode(P.Heartbeat(board_id=1, seq=8)))
    assert [type(i).__name__ for i in items] == ["FrameError", "Heartbeat"] and items[0].reason == "oversize"
    assert dec.stats.oversize == 1 and dec.stats.frames == 1


# -- the HELLO ---------------------------------------------------------------------------------------

def _hello_frames(layouts, seconds=8.0):
    """A board whose channel list changes: ``layouts`` maps a board time to the HELLO's channels from then on.
    Every channel streams noise on the common timeline; HELLO every second and at each change."""
    rng = np.random.default_rng(3)
    frames, seq, layout = [], 0, None
    for k in range(int(seconds / 0.05)):
        t0, t1 = k * 0.05, (k + 1) * 0.05
        new = layouts.get(round(t0, 2))
        if new is not None or k % 20 == 0:
            layout = new or layout
            frames.append((t0, encode(P.Hello(seq=seq, timestamp_us=int(round(t0 * 1e6)), channels=layout))))
            seq += 1
        blocks = []
        for c in layout:
            i0, i1 = int(round(t0 * c.sample_rate)), int(round(t1 * c.sample_rate))
            blocks.append(P.SampleBlock(c.channel_id, i0, c.fmt, rng.integers(-9000, 9000, i1 - i0).astype(np.int32)))
        frames.append((t1, encode(P.Data(seq=seq, timestamp_us=int(round(t1 * 1e6)), blocks=blocks))))
        seq += 1
    return frames


MIC = P.ChannelDescriptor(0, "acoustic", 8000.0, P.FMT_INT16, 1e-4, "Pa", "mic")
GEO = P.ChannelDescriptor(1, "seismic", 100.0, P.FMT_INT24, 1e-9, "m/s", "geo")
GEO2 = P.ChannelDescriptor(4, "seismic", 100.0, P.FMT_INT24, 2e-9, "m/s", "geo-2")


def test_a_changed_channel_list_keeps_unchanged_channels_and_reports_removed_ones():
    """At 3 s the geophone on channel 1 is replaced by one on channel 4 (hot-plugged, numbering its samples
    on the common timeline): the microphone keeps every sample and window; channel 1 gets its event."""
    asm = WindowAssembler(MOD)
    out = feed_live(asm, _hello_frames({0.0: [MIC, GEO], 3.0: [MIC, GEO2]}))
    ws = [o for o in out if isinstance(o, WindowJob)]
    assert [w.index for w in ws] == list(range(7))
    assert all(w.present["acoustic"] and w.coverage["acoustic"] == 1.0 for w in ws)     # no ring was cleared
    evs = [(e.channel, e.old.value, e.new.value, e.reason, e.board_time) for e in out if isinstance(e, HealthEvent)]
    assert ("seismic0", "ok", "dropped", "channel 1 is no longer in the board's HELLO", 3.0) in evs
    assert [e for e in evs if e[0] == "acoustic0"] == [("acoustic0", "dropped", "ok", "first data", 0.05)]
    # The new geophone takes the free place (seismic0) from its first data; its windows are complete from 3 s.
    assert ("seismic0", "dropped", "ok", "first data", 3.05) in evs
    assert all(w.coverage["seismic"] == 1.0 for w in ws if w.t0 >= 3.0)
    assert asm.board.channels[4].name == "seismic0" and 1 not in asm.board.channels
    # The same id with a new description (another scale) is a removal and a new channel, with its event.
    geo_rescaled = P.ChannelDescriptor(1, "seismic", 100.0, P.FMT_INT24, 5e-9, "m/s", "geo")
    out = feed_live(WindowAssembler(MOD), _hello_frames({0.0: [MIC, GEO], 3.0: [MIC, geo_rescaled]}))
    reasons = [e.reason for e in out if isinstance(e, HealthEvent) and e.new is State.DROPPED]
    assert reasons == ["channel 1 has a new description in the board's HELLO"]


def test_duplicate_channel_ids_extra_channels_and_wrong_formats_are_notices():
    mic2 = P.ChannelDescriptor(2, "acoustic", 8000.0, P.FMT_INT16, 1e-4)
    dup = P.ChannelDescriptor(1, "acoustic", 8000.0, P.FMT_INT16, 1e-4)
    asm = WindowAssembler(MOD)
    hello = encode(P.Hello(seq=0, channels=[MIC, GEO, mic2, dup]))
    wrong = encode(P.Data(seq=1, timestamp_us=50_000, blocks=[
        P.SampleBlock(0, 0, P.FMT_INT32, np.arange(400, dtype=np.int32)),     # the HELLO says int16
        P.SampleBlock(1, 0, P.FMT_INT24, np.arange(5, dtype=np.int32)),
        P.SampleBlock(0, 400, P.FMT_INT16, np.zeros(0, np.int32))]))          # a zero-sample block: nothing
    out = asm.feed(hello + wrong, T0)
    msgs = [(n.event, n.message) for n in notices(out)]
    assert msgs == [
        ("channel_ignored", "channel 1 is described twice in the HELLO; the first description is used "
                            "(PROTOCOL.md section 5)"),
        ("channel_ignored", "channel 2: the model takes 1 acoustic channel(s); extra ones are ignored"),
        ("format_mismatch", "channel 0 (acoustic0) sends int32 samples but its HELLO says int16; those blocks "
                            "are dropped (PROTOCOL.md section 6): fix the firmware")]
    assert asm.counters.format_mismatches == 1 and asm.board.channels[0].ring.end == 0
    assert asm.board.channels[1].health.state is State.OK


def test_rates_must_match_the_model_to_the_millihertz_and_fractional_rates_work():
    prof = Profile("frac", (ModalitySpec("acoustic", 8000.0), ModalitySpec("seismic", 1025.6)))
    geo = P.ChannelDescriptor(1, "seismic", 1025.6, P.FMT_INT24, 1e-9)
    asm = WindowAssembler(prof)
    out = feed_live(asm, _hello_frames({0.0: [MIC, geo]}, seconds=5.0))
    ws = [o for o in out if isinstance(o, WindowJob)]
    assert not notices(out) and len(ws) == 4
    assert all(w.data["seismic"].shape == (1, 2051) and w.coverage["seismic"] == 1.0 for w in ws)
    near = P.ChannelDescriptor(1, "seismic", 100.001, P.FMT_INT24, 1e-9)      # 1 mHz off the model's 100 Hz
    out = WindowAssembler(MOD).feed(encode(P.Hello(seq=0, channels=[MIC, near])), T0)
    assert [n.event for n in notices(out)] == ["channel_rejected"]


# -- STATUS ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("minor", [0, 1])
def test_a_latched_disconnect_does_not_drop_a_channel_again_after_it_came_back(minor):
    """The microphone is unplugged 3.0-4.3 s. A 1.0 board's STATUS at 5.0 s still has the flag latched (it
    was disconnected since the STATUS of 4.0 s); a 1.1 board also says it is back. Either way: one drop,
    at the last good sample, one recovery, no second drop."""
    _, evs, _, _ = run(["drop:acoustic@3-4.3"], protocol_minor=minor)
    mic = [(e.old.value, e.new.value, round(e.board_time, 3)) for e in evs if e.channel == "acoustic0"]
    assert mic[:3] == [("dropped", "ok", 0.05), ("ok", "dropped", 3.0), ("dropped", "recovering", 4.35)]
    assert [m for m in mic if m[1] == "dropped"] == [("ok", "dropped", 3.0)]
    assert mic[-1][1] == "ok"


@pytest.fixture(scope="module")
def firmware(tmp_path_factory) -> Path:
    assert shutil.which("make") and shutil.which("gcc"), "gcc and make are needed (make system-deps installs them)"
    out = tmp_path_factory.mktemp("fw")
    r = subprocess.run(["make", "-s", "-C", str(FIRMWARE), f"BUILD={out}", "CC=gcc"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


def test_the_c_firmware_says_still_disconnected_and_back(firmware):
    """The reference firmware (1.1) with its microphone unplugged 1.02-2.31 s: STATUS at once with the state,
    the host drops the channel once and never again."""
    env = dict(os.environ, EDGE_HOST_SECONDS="6", EDGE_HOST_MIC_OFF="1.02-2.31")
    wire = subprocess.run([firmware / "app_host"], capture_output=True, env=env, check=True).stdout
    statuses = [(m.timestamp_us, m.channels[0], m.state) for m in Decoder().feed(wire) if isinstance(m, P.Status)]
    assert (1_050_000, P.CH_SENSOR_DISCONNECTED, {0: P.CH_SENSOR_DISCONNECTED}) in statuses   # at once: still out
    assert (2_350_000, P.CH_SENSOR_DISCONNECTED, {}) in statuses                            # at once: back
    asm = WindowAssembler(MOD)
    out = asm.feed(wire, T0) + asm.finish()
    mic = [(e.new.value, round(e.board_time, 3), e.reason) for e in out
           if isinstance(e, HealthEvent) and e.channel == "acoustic0"]
    assert mic[:3] == [("ok", 0.05, "first data"), ("dropped", 1.0, "board reports the sensor disconnected"),
                       ("recovering", 2.35, "good samples again")]
    assert sum(m[0] == "dropped" for m in mic) == 1 and mic[-1][0] == "ok"


# -- attaching to a running board --------------------------------------------------------------------

@pytest.mark.parametrize("attach", [2.0, 2.37, 2.96, 5.51])
def test_attaching_mid_stream_gives_the_first_window_within_window_hop_and_a_second(attach):
    """The daemon starts while the board runs (no host->board traffic): its first window comes within one
    window + one hop + 1 s of attaching (4 s), thanks to the HELLO every second and the samples kept until it."""
    asm, _, ws, out = run([], seconds=14.0, skip_until=attach)
    assert notices(out)[0].event == "waiting_for_hello"
    assert ws and ws[0].t1 - attach <= MOD.window_s + MOD.hop_s + 1.0
    assert ws[0].t1 - attach <= MOD.window_s + MOD.hop_s       # the kept samples make it one second better
    assert ws[0].present == {"acoustic": True, "seismic": True}
    assert [w.index for w in ws] == list(range(ws[0].index, ws[0].index + len(ws)))


def test_attaching_to_the_c_firmware_mid_stream(firmware):
    env = dict(os.environ, EDGE_HOST_SECONDS="8")
    wire = subprocess.run([firmware / "app_host"], capture_output=True, env=env, check=True).stdout
    frame_at = {}                                       # byte offset of each frame -> its board time
    pos = 0
    for m in Decoder().feed(wire):
        pos = wire.index(b"\x00", wire.index(encode(m)[1:-1], pos))
        frame_at[pos] = m.timestamp_us / 1e6
    for cut in (len(wire) // 4, len(wire) // 3 + 17, len(wire) // 2):
        asm = WindowAssembler(MOD)
        out = asm.feed(wire[cut:], T0)
        attach = min(t for p, t in frame_at.items() if p >= cut) - 0.05
        ws = [o for o in out if isinstance(o, WindowJob)]
        assert ws and ws[0].t1 - attach <= MOD.window_s + MOD.hop_s + 1.0, (cut, attach, ws[0].t1)
