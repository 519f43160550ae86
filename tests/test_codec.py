"""The Python codec: round trips, error counting, resynchronisation, bounded memory (incl. a hypothesis fuzz)."""

import numpy as np
import pytest
from cobs import cobs
from crc32c import crc32c
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.codec import BoardReboot, Decoder, FrameError, FramesLost, encode
from firmware_bridge.errors import BridgeError
from firmware_bridge.protocol import (
    FMT_FLOAT32,
    FMT_INT16,
    FMT_INT24,
    FMT_INT32,
    MAX_ENCODED,
    ChannelDescriptor,
    Data,
    Heartbeat,
    Hello,
    SampleBlock,
    Status,
)


def hello(seq=0, board=3):
    return Hello(board_id=board, seq=seq, timestamp_us=5, board_uid=2**64 - 1, board_name="node-é", firmware="1.2.3",
                 channels=[ChannelDescriptor(0, "acoustic", 8000.0, FMT_INT16, 20 / 32768, "Pa", "ICS-40180"),
                           ChannelDescriptor(1, "seismic", 1025.6, FMT_INT24, float(np.float32(1.0348e-8)), "m/s",
                                             "SM-24")])


def data(seq, board=3, n=40):
    rng = np.random.default_rng(seq)
    return Data(board_id=board, seq=seq, timestamp_us=seq * 50_000, blocks=[
        SampleBlock(0, seq * n, FMT_INT16, rng.integers(-2**15, 2**15, n)),
        SampleBlock(1, seq, FMT_INT24, rng.integers(-2**23, 2**23, 3))])


def test_round_trip_every_type_and_format():
    extremes = {FMT_INT16: [-2**15, 2**15 - 1, 0, -1], FMT_INT24: [-2**23, 2**23 - 1, 0, -1],
                FMT_INT32: [-2**31, 2**31 - 1, 0, -1], FMT_FLOAT32: [-1.5, 3.25e-9, 0.0, np.inf]}
    msgs = [hello(), Data(board_id=3, seq=1, timestamp_us=2**64 - 1, blocks=[
        SampleBlock(ch, 2**64 - 1 - ch, fmt, np.array(v, dtype=np.float32 if fmt == FMT_FLOAT32 else np.int64))
        for ch, (fmt, v) in enumerate(extremes.items())]),
        Heartbeat(board_id=3, seq=2, frames_dropped=7), Status(board_id=3, seq=3, board_flags=1, channels={0: 2, 1: 5})]
    out = Decoder().feed(b"".join(encode(m) for m in msgs))
    assert len(out) == 4 and out == msgs          # samples compared by value
    h = out[0]
    assert h.channels[1].sample_rate == 1025.6 and h.board_name == "node-é"
    assert h.channels[0].to_physical(np.array([32767]))[0] == pytest.approx(20 * 32767 / 32768, rel=1e-6)
    assert out[1].blocks[0].samples.dtype == np.int32 and out[1].blocks[3].samples.dtype == np.float32


def test_byte_by_byte_feeding_equals_one_chunk():
    stream = b"".join(encode(m) for m in [hello()] + [data(i) for i in range(1, 6)])
    dec = Decoder()
    got = [m for i in range(len(stream)) for m in dec.feed(stream[i:i + 1])]
    assert [m.seq for m in got] == [0, 1, 2, 3, 4, 5]
    assert dec.stats.bytes_discarded == 0 and dec.stats.frames == 6


def test_bit_flip_is_a_crc_error_and_the_next_frame_survives():
    f1, f2 = bytearray(encode(data(1))), encode(data(2))
    f1[30] ^= 0x10
    dec = Decoder()
    got = dec.feed(bytes(f1) + f2)
    assert [m.seq for m in got] == [2]
    assert dec.stats.crc_errors + dec.stats.cobs_errors == 1 and dec.stats.bytes_discarded > 0


def test_crc_errors_and_discards_are_charged_to_the_last_board():
    bad = bytearray(encode(data(2, board=9)))
    bad[-5] ^= 0x01
    dec = Decoder()
    dec.feed(encode(data(1, board=9)) + bytes(bad))
    b = dec.stats.boards[9]
    assert b.crc_errors + dec.stats.cobs_errors == 1 and b.bytes_discarded == len(bad) - 2


def test_sequence_gaps_late_frames_resets_and_wraparound():
    """PROTOCOL.md section 7: a skipped number is lost once 16 newer frames came without it; a late frame fills
    its gap; boots are told by the clock and the boot HELLO, never by a wrapped sequence number alone."""
    dec = Decoder()
    hb = [encode(Heartbeat(board_id=1, seq=s, timestamp_us=s * 100_000)) for s in range(40)]
    got = dec.decode(b"".join(hb[i] for i in [0, 1, 2, 5, 3, *range(6, 20)]))   # 3 comes late, 4 never
    b = dec.stats.boards[1]
    assert (b.seq_gaps, b.frames_late, b.frames_lost, b.resets) == (1, 1, 0, 0)    # 4 may still come
    got += dec.decode(hb[20] + hb[21])
    assert (b.frames_lost, b.missing) == (1, set())                                 # 21 - 4 > 16: lost
    lost = [g for g in got if isinstance(g, FramesLost)]
    assert lost == [FramesLost(1, 1)] and got.index(lost[0]) == len(got) - 2       # announced at frame 21
    # A reboot: the clock goes back by more than 1 s (its HELLO was lost) ...
    got = dec.decode(encode(Heartbeat(board_id=1, seq=3, timestamp_us=0)))
    assert got[0] == BoardReboot(1, 3, 0) and b.resets == 1
    # ... or the boot HELLO (seq 0, stamped under 1 s after boot) after other frames of the board.
    got = dec.decode(encode(hello(seq=0, board=1)))
    assert isinstance(got[0], BoardReboot) and b.resets == 2
    # The sequence number wraps: a periodic HELLO on seq 0 years into a boot is not a reboot.
    year_us = 365 * 86400 * 10**6
    late = [Heartbeat(board_id=2, seq=2**32 - 2, timestamp_us=year_us), Heartbeat(board_id=2, seq=2**32 - 1,
                                                                                    timestamp_us=year_us + 1)]
    dec.decode(b"".join(encode(m) for m in late) + encode(Hello(board_id=2, seq=0, timestamp_us=year_us + 2))
               + encode(Heartbeat(board_id=2, seq=1, timestamp_us=year_us + 3)))
    b2 = dec.stats.boards[2]
    assert (b2.seq_gaps, b2.frames_lost, b2.resets, b2.frames) == (0, 0, 0, 4)
    # A repeated frame is stale, neither lost nor late.
    dec.decode(encode(Heartbeat(board_id=2, seq=0, timestamp_us=year_us + 2)))
    assert (b2.frames_stale, b2.frames_late, b2.resets) == (1, 0, 0)


def test_link_events_come_in_stream_order_whatever_the_chunking():
    bad = bytearray(encode(data(2)))
    bad[20] ^= 0x40
    stream = encode(hello()) + encode(data(1)) + b"\x00\xff\x01\x00" + bytes(bad) + encode(data(3))
    whole = Decoder().decode(stream)
    assert [type(x).__name__ for x in whole] == ["Hello", "Data", "FrameError", "FrameError", "Data"]
    assert [x.reason for x in whole if isinstance(x, FrameError)] == ["cobs", "crc"]
    dec = Decoder()
    bytewise = [x for i in range(len(stream)) for x in dec.decode(stream[i:i + 1])]
    assert bytewise == whole and dec.stats.frame_errors == 2


def _raw_frame(major=1, minor=0, mtype=3, payload=b"\x00\x00\x00\x00", seq=0):
    raw = bytes([major, minor, mtype, 0]) + (1).to_bytes(2, "little") + seq.to_bytes(4, "little") + bytes(8) + payload
    return b"\x00" + cobs.encode(raw + crc32c(raw).to_bytes(4, "little")) + b"\x00"


def test_unknown_types_newer_minor_and_other_major():
    dec = Decoder()
    got = dec.feed(_raw_frame(mtype=0x7E, payload=b"future")
                   + _raw_frame(minor=3, payload=b"\x05\x00\x00\x00extra", seq=1)
                   + _raw_frame(major=2, seq=2) + _raw_frame(mtype=2, payload=b"\x01\x00\x01", seq=3))
    assert len(got) == 1 and isinstance(got[0], Heartbeat) and got[0].frames_dropped == 5   # minor 3: extra ignored
    s = dec.stats
    assert (s.unknown_type, s.unsupported_version, s.malformed) == (1, 1, 1)


def test_garbage_truncation_and_oversize_runs_resynchronise_with_bounded_buffer():
    f = encode(data(1))
    dec = Decoder()
    got = dec.feed(f[: len(f) // 2])                     # cut mid-frame
    got += dec.feed(b"\xff" * (3 * MAX_ENCODED))         # a run longer than any frame
    assert len(dec._buf) <= MAX_ENCODED
    got += dec.feed(encode(data(2)) + b"garbage" + encode(data(3)))
    assert [m.seq for m in got] == [2, 3]
    assert dec.stats.oversize == 1 and dec.stats.bytes_discarded >= 3 * MAX_ENCODED + len(b"garbage")


def test_status_state_is_appended_in_1_1_and_absent_from_1_0():
    from firmware_bridge.protocol import CH_CLIPPING, CH_SENSOR_DISCONNECTED
    st = Status(board_id=1, seq=4, channels={0: CH_SENSOR_DISCONNECTED | CH_CLIPPING, 3: CH_SENSOR_DISCONNECTED},
                state={3: CH_SENSOR_DISCONNECTED})              # channel 0 is back, channel 3 still disconnected
    (new,) = Decoder().feed(encode(st))
    assert new == st
    (old,) = Decoder().feed(encode(st, minor=0))                # a 1.0 board: latched flags only
    assert old.state is None and old.channels == st.channels
    raw_new, raw_old = cobs.decode(encode(st)[1:-1]), cobs.decode(encode(st, minor=0)[1:-1])
    assert (raw_new[1], raw_old[1]) == (1, 0)
    assert raw_new[18:-4] == raw_old[18:-4] + bytes([0, 0, CH_SENSOR_DISCONNECTED, 0])   # appended: u16 per channel
    with pytest.raises(BridgeError, match="state names channels"):
        encode(Status(channels={0: 0}, state={1: CH_SENSOR_DISCONNECTED}))
    with pytest.raises(BridgeError, match="writes 1.0 to 1.1"):
        encode(st, minor=2)


def test_encoder_refuses_bad_messages():
    with pytest.raises(BridgeError, match="exceeds"):
        encode(Data(blocks=[SampleBlock(0, 0, FMT_INT16, np.zeros(3000))]))
    with pytest.raises(BridgeError, match="out of range"):
        encode(Data(blocks=[SampleBlock(0, 0, FMT_INT24, np.array([2**23]))]))
    with pytest.raises(BridgeError, match="out of range"):
        encode(Heartbeat(board_id=70000))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=6000), st.lists(st.integers(1, 700), max_size=20))
def test_fuzz_random_bytes_never_raise_and_stay_bounded(blob, cuts):
    dec = Decoder()
    pos = 0
    for c in cuts + [len(blob)]:
        dec.feed(blob[pos:pos + c])
        pos += c
        assert len(dec._buf) <= MAX_ENCODED
    assert dec.stats.bytes_in == len(blob) and dec.stats.bytes_discarded <= len(blob)


mutation = st.one_of(st.none(), st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 7)),
                     st.tuples(st.just("cut"), st.integers(0, 10**6)))


@settings(max_examples=120, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=300), mutation, st.booleans()), min_size=1, max_size=12),
       st.integers(1, 5000))
def test_fuzz_every_untouched_frame_is_recovered(plan, chunk):
    frames = [encode(hello(seq=0) if i == 0 else data(i, n=5 + 37 * i) if big else Heartbeat(board_id=3, seq=i))
              for i, (_, _, big) in enumerate(plan)]
    stream, intact = b"", []
    for i, ((garbage, mut, _), f) in enumerate(zip(plan, frames)):
        if mut is not None and mut[0] == "flip":
            b = bytearray(f)
            b[mut[1] % len(b)] ^= 1 << mut[2]
            f = bytes(b)
        elif mut is not None:
            f = f[:mut[1] % len(f)]
        else:
            intact.append(i)
        stream += garbage + f
    dec = Decoder()
    got = []
    for p in range(0, len(stream), chunk):
        got += dec.feed(stream[p:p + chunk])
        assert len(dec._buf) <= MAX_ENCODED
    got_seqs = [m.seq for m in got if m.board_id == 3]
    it = iter(got_seqs)
    assert all(any(s == i for s in it) for i in intact), (intact, got_seqs)   # in order, none missing
