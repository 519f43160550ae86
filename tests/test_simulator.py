"""The board simulator: exact samples, deterministic bytes, every fault kind, scenario files, the pty and the CLI."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edge_rep.errors import EdgeRepError
from edge_rep.recording import Channels, Recording
from edge_rep.simulator import DEFAULT_FORMATS, Scenario, Simulator, run_realtime
from firmware_bridge import protocol as P
from firmware_bridge.codec import Decoder
from firmware_bridge.port import PortProtocol, PortReader
from firmware_bridge.pty import PtyLink

ROOT = Path(__file__).resolve().parents[1]


class Collect(PortProtocol):
    """Gathers what a PortReader reads into ``got``."""

    def __init__(self, got: bytearray):
        self.got = got

    def data_received(self, data, host_time):
        self.got.extend(data)


def tiny(seconds=3.0) -> Recording:
    ta, ts = np.arange(int(8000 * seconds)) / 8000, np.arange(int(100 * seconds)) / 100
    return Recording("tiny", {"acoustic": Channels(0.5 * np.sin(2 * np.pi * 440 * ta), 8000.0, units="Pa"),
                              "seismic": Channels(1e-5 * np.sin(2 * np.pi * 7 * ts), 100.0, units="m/s")})


def run(faults=(), seed=0, seconds=3.0, **kw):
    sim = Simulator(tiny(seconds), Scenario.parse(list(faults)), seed, **kw)
    items = list(sim.frames())
    dec = Decoder()
    msgs = [(t, m) for t, c in items if c for m in dec.feed(c)]
    return sim, items, msgs, dec


def blocks(msgs, ch):
    return [(t, m, b) for t, m in msgs if isinstance(m, P.Data) for b in m.blocks if b.channel_id == ch]


def test_clean_stream_carries_the_recording_exactly():
    sim, items, msgs, dec = run()
    assert isinstance(msgs[0][1], P.Hello) and [c.modality for c in msgs[0][1].channels] == ["acoustic", "seismic"]
    assert [c.fmt for c in msgs[0][1].channels] == [P.FMT_INT16, P.FMT_INT24]
    rec = tiny()
    for ch, name in ((0, "acoustic"), (1, "seismic")):
        bl = blocks(msgs, ch)
        assert [b.first_index for _, _, b in bl] == list(np.cumsum([0] + [len(b.samples) for _, _, b in bl[:-1]]))
        x = np.concatenate([sim.channels[ch].to_physical(b.samples) for _, _, b in bl])
        scale = DEFAULT_FORMATS[name][1]
        np.testing.assert_allclose(x, rec.modalities[name].data[0], atol=scale * 0.51)
    assert sum(isinstance(m, P.Heartbeat) for _, m in msgs) == 3
    assert dec.stats.crc_errors == 0 and dec.stats.boards[1].seq_gaps == 0
    assert [t for t, _ in items] == sorted(t for t, _ in items)
    ts = [(t, m.timestamp_us) for t, m in msgs if isinstance(m, P.Data)]
    assert all(abs(t * 1e6 - us) < 1 for t, us in ts)              # board clock = sim time (no reset)


def test_deterministic_bytes_and_seed_matters():
    a = Simulator(tiny(), Scenario.parse(["corrupt@1-2=0.01", "noise@0.5-1"]), 3).stream()
    assert a == Simulator(tiny(), Scenario.parse(["corrupt@1-2=0.01", "noise@0.5-1"]), 3).stream()
    assert a != Simulator(tiny(), Scenario.parse(["corrupt@1-2=0.01", "noise@0.5-1"]), 4).stream()


def test_drop_and_recover_a_channel():
    _, _, msgs, _ = run(["drop:acoustic@1-2"])
    ac = [(round(t, 2), b.first_index) for t, _, b in blocks(msgs, 0)]
    assert not any(1.0 < t <= 2.0 for t, _ in ac) and any(t > 2.0 for t, _ in ac)
    assert dict(ac)[2.05] == 16000                                  # the index kept running while dropped
    assert len(blocks(msgs, 1)) == 60                                # seismic untouched
    st = [m for _, m in msgs if isinstance(m, P.Status) and m.channels.get(0, 0) & P.CH_SENSOR_DISCONNECTED]
    assert st and not any(m.channels[1] for m in st)


def test_flatline_saturate_and_noise_change_the_samples():
    def acoustic(faults):
        _, _, msgs, _ = run(faults)
        return np.concatenate([b.samples for _, _, b in blocks(msgs, 0)]), msgs
    clean, _ = acoustic([])
    flat, _ = acoustic(["flatline:acoustic@1-2"])
    assert np.ptp(flat[8000:16000]) == 0 and np.array_equal(flat[:8000], clean[:8000])
    sat, msgs = acoustic(["saturate:acoustic@1-2=100"])
    assert np.mean(np.abs(sat[8000:16000]) >= 32767) > 0.5
    assert any(isinstance(m, P.Status) and m.channels[0] & P.CH_CLIPPING for _, m in msgs)
    noisy, _ = acoustic(["noise@1-2=0.2"])
    assert np.std(noisy[8000:16000] - clean[8000:16000]) == pytest.approx(0.2 * 32767, rel=0.05)
    assert np.array_equal(noisy[16000:], clean[16000:])


def test_stall_loses_samples_and_reports_overflow():
    _, items, msgs, _ = run(["stall@1-1.5"])
    assert not any(1.0 < t <= 1.5 for t, c in items)
    ac = blocks(msgs, 0)
    jumps = [(b.first_index - (p.first_index + len(p.samples))) for (_, _, p), (_, _, b) in zip(ac, ac[1:])]
    assert sorted(jumps)[-1] == 4000 and sorted(jumps)[-2] == 0      # 0.5 s of 8 kHz lost, nothing else
    st = [m for _, m in msgs if isinstance(m, P.Status) and m.board_flags & P.BOARD_BUFFER_OVERFLOW]
    assert st and st[0].channels[0] & P.CH_BUFFER_OVERFLOW


def test_reset_restarts_hello_sequence_indices_and_clock():
    _, _, msgs, dec = run(["reset@1.5"])
    boots = [(t, m) for t, m in msgs if isinstance(m, P.Hello) and m.seq == 0]
    assert [(t, m.seq, m.timestamp_us) for t, m in boots] == [(0.0, 0, 0), (1.5, 0, 0)]
    # Between them, the HELLO is repeated every second of board time (PROTOCOL.md 1.1).
    assert [(t, m.timestamp_us) for t, m in msgs if isinstance(m, P.Hello) and m.seq] == [(1.0, 1_000_000),
                                                                                            (2.5, 1_000_000)]
    after = [b for t, _, b in blocks(msgs, 0) if t > 1.5]
    assert after[0].first_index == 0
    assert dec.stats.boards[1].resets == 1 and dec.stats.boards[1].seq_gaps == 0


def test_disconnect_and_reappear():
    _, items, msgs, dec = run(["disconnect@1-2"])
    downs = [t for t, c in items if c is None]
    assert downs == [1.0] and not any(1.0 < t < 2.0 for t, c in items if c)
    boots = [t for t, m in msgs if isinstance(m, P.Hello) and m.seq == 0]
    assert boots == [0.0, 2.0] and dec.stats.boards[1].resets == 1


def test_corrupt_and_lose_hit_only_their_span():
    _, _, msgs, dec = run(["corrupt@1-1.5=0.01", "lose@2-2.5=0.01"])
    assert dec.stats.crc_errors + dec.stats.cobs_errors > 0 and dec.stats.bytes_discarded > 0
    times = {round(t, 2) for t, _, _ in blocks(msgs, 0)}
    expected = {round(0.05 * k, 2) for k in range(1, 61)}
    lost = expected - times
    assert lost and all(1.0 <= t < 1.5 or 2.0 <= t < 2.5 for t in lost)   # bytes sent in those spans


def test_scenario_files_and_specs(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text('[[faults]]\nkind = "drop"\nchannel = "seismic"\nat = 1.0\nuntil = 2.0\n\n'
                    '[[faults]]\nkind = "reset"\nat = 5\n')
    js = tmp_path / "s.json"
    js.write_text(json.dumps({"faults": [{"kind": "corrupt", "at": 1, "until": 2, "level": 0.5}]}))
    assert [(f.kind, f.channel, f.at, f.until) for f in Scenario.load(toml).faults] == [
        ("drop", "seismic", 1.0, 2.0), ("reset", "all", 5.0, None)]
    assert Scenario.load(js).faults[0].level == 0.5
    assert Scenario.parse(["noise:acoustic@3-4=0.5"]).faults[0].level == 0.5
    assert Scenario.parse(["corrupt@3"]).faults[0].level == 0.01
    for bad, msg in [(["drop@x"], "not understood"), (["boom@1"], "unknown"), (["drop@5-2"], "forward interval"),
                     (["disconnect@3"], "reappears")]:
        with pytest.raises(EdgeRepError, match=msg):
            Scenario.parse(bad)
    (tmp_path / "bad.json").write_text('{"faults": [{"kind": "drop", "when": 1}]}')
    with pytest.raises(EdgeRepError, match="not a valid scenario"):
        Scenario.load(tmp_path / "bad.json")
    with pytest.raises(EdgeRepError, match="cannot read"):
        Scenario.load(tmp_path / "missing.toml")
    with pytest.raises(EdgeRepError, match="no modality 'radar'"):
        Simulator(tiny(), Scenario.parse(["drop:radar@1"]))


def test_realtime_on_a_pty_delivers_every_byte():
    sim = Simulator(tiny(1.0), Scenario(), 0)
    link = PtyLink()
    got = bytearray()
    reader = PortReader(link.path, Collect(got))
    reader.start()
    try:
        assert reader.connected.wait(5)
        t0 = time.monotonic()
        run_realtime(sim, link, speed=4.0, on_event=lambda s: None)
        assert time.monotonic() - t0 >= 0.2                         # paced: 1 s of signal at 4x
        end = time.monotonic() + 5
        while len(got) < len(sim.stream()) and time.monotonic() < end:
            time.sleep(0.02)
    finally:
        reader.stop()
        link.close()
    assert bytes(got) == sim.stream() and link.bytes_dropped == 0


def test_cli_streams_on_a_pty_link(tmp_path):
    sym = tmp_path / "board"
    p = subprocess.Popen([sys.executable, "-m", "edge_rep.cli", "simulate", "--duration", "2", "--speed", "4",
                          "--link", str(sym), "--fault", "reset@1"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("simulated board on /dev/") and sym.is_symlink()
        got = bytearray()
        reader = PortReader(str(sym), Collect(got))
        reader.start()
        assert p.wait(60) == 0
        time.sleep(0.2)
        reader.stop()
    finally:
        p.kill()
    msgs = Decoder().feed(bytes(got))
    assert sum(isinstance(m, P.Hello) and m.seq == 0 for m in msgs) >= 1
    assert sum(isinstance(m, P.Data) for m in msgs) >= 10
    assert not sym.exists()                                         # the link goes with the board


def test_cli_bad_fault_is_one_line():
    env = dict(os.environ)
    r = subprocess.run([sys.executable, "-m", "edge_rep.cli", "simulate", "--fault", "drop@9-3"], cwd=ROOT,
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "forward interval" in r.stderr
