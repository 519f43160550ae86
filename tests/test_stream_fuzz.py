"""The daemon never dies on wire data: valid frames with arbitrary contents, garbage and cuts."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_rep.profiles import MOD
from edge_rep.stream.assembler import WindowAssembler
from edge_rep.stream.windows import WindowJob
from firmware_bridge.codec import encode
from firmware_bridge.protocol import (FMT_FLOAT32, FMT_INT16, FMT_INT24, FMT_INT32, FULL_SCALE, ChannelDescriptor,
                                      Data, Heartbeat, Hello, SampleBlock, Status)

FMTS = [FMT_INT16, FMT_INT24, FMT_INT32, FMT_FLOAT32]
rates = st.sampled_from([8000.0, 100.0, 16000.0, 1e6, 0.001, 4e6, 800.0, 44100.0])
desc = st.builds(ChannelDescriptor, st.integers(0, 3), st.sampled_from(["acoustic", "seismic", "unknown"]), rates,
                 st.sampled_from(FMTS), st.floats(-1e3, 1e3, allow_nan=False), st.just("u"), st.just("s"))


@st.composite
def block(draw):
    fmt = draw(st.sampled_from(FMTS))
    n = draw(st.integers(0, 300))
    if fmt == FMT_FLOAT32:
        vals = draw(st.lists(st.sampled_from([0.0, 1.5, -2.0, np.nan, np.inf, -np.inf, 3e38]), min_size=n, max_size=n))
    else:
        fs = FULL_SCALE[fmt]
        vals = draw(st.lists(st.sampled_from([0, 1, -1, fs, -fs - 1, 12345 % fs]), min_size=n, max_size=n))
    first = draw(st.sampled_from([0, 1, 399, 400, 10**6, 2**40, 2**63]))
    return SampleBlock(draw(st.integers(0, 4)), first + draw(st.integers(0, 5000)), fmt,
                       np.asarray(vals, np.float32 if fmt == FMT_FLOAT32 else np.int32))


def message(draw_seq):
    ts = st.sampled_from([0, 50_000, 10**6, 10**9, 2**50, 2**63])
    return st.one_of(
        st.builds(lambda c, s, t: Hello(channels=c, seq=s, timestamp_us=t), st.lists(desc, max_size=4),
                  st.integers(0, 3), ts),
        st.builds(lambda b, s, t: Data(blocks=b, seq=s, timestamp_us=t), st.lists(block(), max_size=3),
                  st.integers(0, 2**32 - 1), ts),
        st.builds(lambda s, t: Heartbeat(seq=s, timestamp_us=t), st.integers(0, 2**32 - 1), ts),
        st.builds(lambda f, c, t: Status(board_flags=f, channels=c, timestamp_us=t), st.integers(0, 2**32 - 1),
                  st.dictionaries(st.integers(0, 4), st.integers(0, 255), max_size=4), ts),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(message(None), st.binary(max_size=64)), max_size=25), st.integers(1, 200))
def test_arbitrary_valid_frames_and_garbage_never_crash(items, chunk):
    wire = b"".join(encode(i) if not isinstance(i, bytes) else i for i in items)
    asm = WindowAssembler(MOD)
    out = []
    for k in range(0, len(wire), chunk):
        out += asm.feed(wire[k:k + chunk])
    out += asm.finish()
    assert asm.counters.bad_frames == 0            # nothing needed the last-resort guard
    for ch in asm.board.channels.values():
        assert ch.ring._buf.size <= (MOD.window_s + MOD.hop_s + 4.0) * MOD.modality(ch.desc.modality).sample_rate + 1
    for j in out:
        if isinstance(j, WindowJob):
            for m, x in j.data.items():
                assert x.shape == (1, MOD.window_samples(m)) and np.isfinite(x).all()


def test_a_leap_of_the_board_clock_is_skipped_not_cut_window_by_window():
    chans = [ChannelDescriptor(0, "acoustic", 8000.0, FMT_INT16, 1e-4), ChannelDescriptor(1, "seismic", 100.0,
                                                                                          FMT_INT24, 1e-9)]
    rng = np.random.default_rng(0)
    frames = [encode(Hello(channels=chans, seq=0))]
    for k, first in enumerate([0, 400, 800, 2**50, 2**50 + 400]):
        blocks = [SampleBlock(0, first, FMT_INT16, rng.integers(-999, 999, 400).astype(np.int32)),
                  SampleBlock(1, first // 80, FMT_INT24, rng.integers(-999, 999, 5).astype(np.int32))]
        frames.append(encode(Data(blocks=blocks, seq=k + 1, timestamp_us=int((first + 400) / 8000 * 1e6))))
    asm = WindowAssembler(MOD)
    out = asm.feed(b"".join(frames)) + asm.finish()
    assert sum(isinstance(o, WindowJob) for o in out) < 10
    assert asm.counters.windows_lost > 10**11      # 2**50 samples at 8 kHz: 1.4e11 s of windows
