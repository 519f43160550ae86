"""The C reference firmware, built with gcc into a temporary folder: its unit tests pass, its frames equal
the Python encoder's byte for byte and decode in Python, and the example application streams gap-free."""

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from firmware_bridge import protocol as P
from firmware_bridge.codec import Decoder, encode
from firmware_bridge.protocol import (
    FMT_FLOAT32,
    FMT_INT16,
    FMT_INT24,
    FMT_INT32,
    MODALITY_CODES,
    ChannelDescriptor,
    Data,
    Heartbeat,
    Hello,
    SampleBlock,
    Status,
)

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware_bridge" / "firmware"


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    assert shutil.which("make") and shutil.which("gcc"), "gcc and make are needed (make system-deps installs them)"
    out = tmp_path_factory.mktemp("fw")
    r = subprocess.run(["make", "-s", "-C", str(FIRMWARE), f"BUILD={out}", "CC=gcc"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


def test_c_unit_tests_pass(build):
    r = subprocess.run([build / "test_edge_proto"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "passed" in r.stdout


def _s(x: str) -> str:
    return x or "-"


def _command(m) -> str:
    """The edge_frame tool's input line for message m."""
    h = f"{m.board_id} {m.seq} {m.timestamp_us}"
    if isinstance(m, Hello):
        chans = " ".join(f"{c.channel_id} {MODALITY_CODES[c.modality]} {c.fmt} {int(round(c.sample_rate * 1000))} "
                         f"{c.scale!r} {_s(c.units)} {_s(c.sensor)}" for c in m.channels)
        return f"hello {h} {m.board_uid} {_s(m.board_name)} {_s(m.firmware)} {len(m.channels)} {chans}"
    if isinstance(m, Data):
        blocks = " ".join(f"{b.channel_id} {b.fmt} {b.first_index} {len(b.samples)} "
                          + " ".join(repr(float(v)) if b.fmt == FMT_FLOAT32 else str(int(v)) for v in b.samples)
                          for b in m.blocks)
        return f"data {h} {len(m.blocks)} {blocks}"
    if isinstance(m, Heartbeat):
        return f"heartbeat {h} {m.frames_dropped}"
    return f"status {h} {m.board_flags} {len(m.channels)} " + " ".join(
        f"{c} {f} {m.state.get(c, 0)}" for c, f in sorted(m.channels.items()))


def _random_messages(seed: int, n: int) -> list:
    rng = np.random.default_rng(seed)
    lims = {FMT_INT16: 2**15, FMT_INT24: 2**23, FMT_INT32: 2**31}
    out = []
    for i in range(n):
        hdr = dict(board_id=int(rng.integers(0, 2**16)), seq=int(rng.integers(0, 2**32)),
                   timestamp_us=int(rng.integers(0, 2**63)))
        kind = i % 4
        if kind == 0:
            chans = [ChannelDescriptor(int(c), ["acoustic", "seismic"][c % 2], float(rng.choice([8000, 100, 1025.6])),
                                       int(rng.integers(1, 5)), float(rng.uniform(1e-9, 1e-3)), "Pa", f"s{c}")
                     for c in range(int(rng.integers(0, 4)))]
            out.append(Hello(board_uid=int(rng.integers(0, 2**63)), board_name=f"b{i}", firmware="", channels=chans,
                             **hdr))
        elif kind == 1:
            blocks = []
            for c in range(int(rng.integers(0, 4))):
                fmt = int(rng.integers(1, 5))
                # long runs of non-zero bytes exercise COBS groups of 254
                n_s = int(rng.integers(0, 300))
                v = (rng.normal(0, 1e3, n_s).astype(np.float32) if fmt == FMT_FLOAT32
                     else rng.integers(-lims[fmt], lims[fmt], n_s))
                blocks.append(SampleBlock(c, int(rng.integers(0, 2**64, dtype=np.uint64)), fmt, v))
            out.append(Data(blocks=blocks, **hdr))
        elif kind == 2:
            out.append(Heartbeat(frames_dropped=int(rng.integers(0, 2**32)), **hdr))
        else:
            chans = {int(c): int(rng.integers(0, 16)) for c in range(int(rng.integers(0, 5)))}
            out.append(Status(board_flags=int(rng.integers(0, 4)), channels=chans,
                              state={c: P.CH_SENSOR_DISCONNECTED for c in chans if rng.integers(0, 2)}, **hdr))
    return out


def test_c_and_python_encoders_agree_byte_for_byte_and_c_frames_decode(build):
    msgs = _random_messages(1, 40)
    r = subprocess.run([build / "edge_frame"], input="\n".join(_command(m) for m in msgs), capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    c_frames = [bytes.fromhex(line) for line in r.stdout.split()]
    assert len(c_frames) == len(msgs)
    for m, cf in zip(msgs, c_frames):
        assert cf == encode(m), type(m).__name__
    dec = Decoder()
    got = dec.feed(b"".join(c_frames))
    assert len(got) == len(msgs) and dec.stats.crc_errors == 0 and dec.stats.bytes_discarded == 0
    assert [type(g) for g in got] == [type(m) for m in msgs]


def test_example_application_streams_gap_free_known_samples(build):
    env = dict(os.environ, EDGE_HOST_SECONDS="3")
    wire = subprocess.run([build / "app_host"], capture_output=True, env=env, check=True).stdout
    dec = Decoder()
    msgs = dec.feed(wire)
    assert isinstance(msgs[0], Hello) and msgs[0].seq == 0
    assert [(c.modality, c.sample_rate, c.fmt) for c in msgs[0].channels] == [("acoustic", 8000.0, FMT_INT16),
                                                                               ("seismic", 100.0, FMT_INT24)]
    b = dec.stats.boards[1]
    assert (b.seq_gaps, b.resets, dec.stats.crc_errors, dec.stats.bytes_discarded) == (0, 0, 0, 0)
    data = [m for m in msgs if isinstance(m, Data)]
    assert len(data) == 60                                              # one frame per 50 ms
    assert all([b.channel_id for b in m.blocks] == [0, 1]
               and m.blocks[0].first_index / 8000 == m.blocks[1].first_index / 100
               for m in data)                                           # both blocks cover the same span
    samples = {0: [], 1: []}
    for m in msgs:
        if isinstance(m, Data):
            for blk in m.blocks:
                assert blk.first_index == sum(map(len, samples[blk.channel_id]))    # contiguous, nothing lost
                samples[blk.channel_id].append(blk.samples)
    mic, geo = np.concatenate(samples[0]), np.concatenate(samples[1])
    assert len(mic) >= 3 * 8000 - 400 and len(geo) >= 3 * 100 - 5
    i, j = np.arange(len(mic)), np.arange(len(geo))
    assert np.array_equal(mic, (i * 37) % 20001 - 10000)          # the host HAL's known patterns
    assert np.array_equal(geo, (j * 1009) % 2000001 - 1000000)
    assert sum(isinstance(m, Heartbeat) for m in msgs) == 3 and sum(isinstance(m, Status) for m in msgs) == 3
    assert all(m.board_flags == 0 and not any(m.channels.values()) for m in msgs if isinstance(m, Status))
