"""Sensor logs: round trip, power cuts at every byte, damage, the bundled test logs and convert-log."""

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_rep.dataset import read_recording
from edge_rep.log_conversion import to_recording
from edge_rep.testlogs import make
from firmware_bridge import protocol as P
from firmware_bridge.codec import Decoder
from firmware_bridge.errors import BridgeError
from firmware_bridge.sensorlog import LogHeader, LogWriter, messages, read_log

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "tests" / "data" / "logs"
CHUNKS = [b"\x00abc", bytes(range(256)), b"\x00" * 7]


def small_log(path):
    with LogWriter(path, LogHeader(port="/dev/ttyX", baudrate=115200, start_time=1000.0)) as w:
        for i, c in enumerate(CHUNKS):
            w.write(c, host_time=1000.0 + i * 0.5)
    return path


def test_round_trip(tmp_path):
    log = read_log(small_log(tmp_path / "a.edgelog"))
    assert log.records == [(1000.0 + i * 0.5, c) for i, c in enumerate(CHUNKS)] and log.tail_bytes == 0
    assert (log.header.port, log.header.baudrate, log.header.start_time, log.header.input) == ("/dev/ttyX", 115200,
                                                                                              1000.0, "binary")
    with pytest.raises(BridgeError, match="already exists"):
        LogWriter(tmp_path / "a.edgelog", LogHeader())


def test_power_cut_at_every_byte_offset(tmp_path):
    full = small_log(tmp_path / "a.edgelog").read_bytes()
    sizes = [16 + len(c) for c in CHUNKS]
    data_start = len(full) - sum(sizes)
    cut = tmp_path / "cut.edgelog"
    for n in range(len(full) + 1):
        cut.write_bytes(full[:n])
        if n < data_start:
            with pytest.raises(BridgeError, match="not an edge-rep sensor log|header truncated"):
                read_log(cut)
            continue
        log = read_log(cut)
        complete = int(np.searchsorted(np.cumsum(sizes), n - data_start, side="right"))
        assert [c for _, c in log.records] == CHUNKS[:complete], n
        assert log.tail_bytes == n - data_start - sum(sizes[:complete])


def test_a_damaged_record_costs_only_itself(tmp_path):
    path = small_log(tmp_path / "a.edgelog")
    b = bytearray(path.read_bytes())
    b[-(16 + 7) - 20] ^= 0x40                      # inside the second record's payload
    path.write_bytes(bytes(b))
    log = read_log(path)
    # the reader scans past the damaged record to the next one whose header and CRC check
    assert [c for _, c in log.records] == [CHUNKS[0], CHUNKS[2]] and log.tail_bytes == 0
    assert log.damage == [(len(b) - (16 + 7) - (16 + 256), 16 + 256)] and log.skipped_bytes == 16 + 256
    (tmp_path / "x").write_bytes(b"hello world, not a log")
    with pytest.raises(BridgeError, match="not an edge-rep sensor log"):
        read_log(tmp_path / "x")
    with pytest.raises(BridgeError, match="not found"):
        read_log(tmp_path / "missing")


def decoded(name):
    log = read_log(LOGS / f"{name}.edgelog")
    dec = Decoder()
    rec = to_recording(log, dec)
    return log, dec, rec


def nan_span(x, rate):
    idx = np.flatnonzero(np.isnan(x))
    return (idx[0] / rate, (idx[-1] + 1) / rate) if idx.size else None


def test_bundled_logs_show_their_scenarios():
    _, dec, rec = decoded("clean")
    assert rec.modalities["acoustic"].data.shape == (1, 160000) and rec.modalities["seismic"].data.shape == (1, 2000)
    assert not np.isnan(rec.modalities["acoustic"].data).any() and dec.stats.crc_errors == 0

    _, dec, rec = decoded("acoustic_drop")
    assert nan_span(rec.modalities["acoustic"].data[0], 8000) == (6.0, 12.0)
    assert nan_span(rec.modalities["seismic"].data[0], 100) is None

    _, dec, rec = decoded("seismic_drop")
    assert nan_span(rec.modalities["seismic"].data[0], 100) == (8.0, 20.0)
    assert rec.modalities["seismic"].duration == rec.modalities["acoustic"].duration == 20.0

    log, dec, rec = decoded("corrupt_bytes")
    assert dec.stats.crc_errors > 0 and dec.stats.bytes_discarded > 0
    lost = np.flatnonzero(np.isnan(rec.modalities["acoustic"].data[0])) / 8000
    assert lost.size and np.all(((lost >= 4.95) & (lost < 7.0)) | ((lost >= 11.95) & (lost < 13.0)))

    log, dec, rec = decoded("board_reset")
    assert dec.stats.boards[1].resets == 1
    boots = [t - log.header.start_time for t, m in messages(log) if isinstance(m, P.Hello) and m.seq == 0]
    assert boots == pytest.approx([0.0, 10.0])
    assert not np.isnan(rec.modalities["acoustic"].data).any()      # the timeline stays continuous

    _, _, rec = decoded("labelled_passbys")
    assert {"car", "pedestrian", "truck", "background"} == {iv.label for iv in rec.labels}


def test_logs_regenerate_byte_for_byte(tmp_path):
    p = make("board_reset", tmp_path)
    assert p.read_bytes() == (LOGS / "board_reset.edgelog").read_bytes()
    assert Path(str(p) + ".labels.json").read_text() == (LOGS / "board_reset.edgelog.labels.json").read_text()


def cli(*args):
    return subprocess.run([sys.executable, "-m", "edge_rep.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True)


def test_convert_log_to_dataset_wav_and_mseed(tmp_path):
    src = LOGS / "acoustic_drop.edgelog"
    ref = to_recording(read_log(src))
    r = cli("convert-log", src, "--to", "dataset", "--out", tmp_path / "d.npz")
    assert r.returncode == 0, r.stderr
    rec = read_recording(tmp_path / "d.npz")
    np.testing.assert_array_equal(rec.modalities["acoustic"].data, ref.modalities["acoustic"].data)
    assert [iv.label for iv in rec.labels] == [iv.label for iv in ref.labels]
    assert rec.modalities["seismic"].sample_rate == 100

    assert cli("convert-log", src, "--to", "wav", "--out", tmp_path / "w.wav").returncode == 0
    from scipy.io import wavfile
    rate, a = wavfile.read(tmp_path / "w-acoustic.wav")
    assert rate == 8000 and a.dtype == np.float32 and len(a) == 160000
    np.testing.assert_array_equal(a, np.nan_to_num(ref.modalities["acoustic"].data[0]))

    assert cli("convert-log", src, "--to", "mseed", "--out", tmp_path / "m.mseed").returncode == 0
    import obspy
    st = obspy.read(str(tmp_path / "m.mseed"))
    gdf = st.select(channel="GDF")
    assert len(gdf) == 2 and len(st.select(channel="EHZ")) == 1     # the acoustic drop splits its trace
    assert gdf[1].stats.starttime - gdf[0].stats.starttime == pytest.approx(12.0)
    np.testing.assert_allclose(gdf[0].data, ref.modalities["acoustic"].data[0, :48000])

    r = cli("convert-log", tmp_path / "nope.edgelog", "--to", "wav", "--out", tmp_path / "x.wav")
    assert r.returncode == 2 and "not found" in r.stderr and r.stderr.count("\n") == 1


def test_record_cli_from_a_simulated_board(tmp_path):
    from edge_rep.recording import Channels, Recording
    from edge_rep.simulator import Scenario, Simulator, run_realtime
    from firmware_bridge.pty import PtyLink

    t = np.arange(8000) / 8000
    rec = Recording("tiny", {"acoustic": Channels(0.5 * np.sin(2 * np.pi * 440 * t), 8000.0, units="Pa"),
                             "seismic": Channels(1e-5 * np.sin(2 * np.pi * 7 * t[::80]), 100.0, units="m/s")})
    link = PtyLink()
    out = tmp_path / "r.edgelog"
    p = subprocess.Popen([sys.executable, "-m", "edge_rep.cli", "record", "--port", link.path, "--out", str(out),
                          "--quiet"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        import time
        end = time.monotonic() + 30
        while not out.exists() and time.monotonic() < end:
            time.sleep(0.05)
        time.sleep(0.3)
        sim = Simulator(rec, Scenario(), 0)
        sent = sim.stream()
        run_realtime(sim, link, speed=5.0, on_event=lambda s: None)   # paced, as a UART would
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)                                 # a service stop keeps every byte
        stdout, stderr = p.communicate(timeout=60)
    finally:
        p.kill()
        link.close()
    assert p.returncode == 0, stderr
    log = read_log(out)
    assert link.bytes_dropped == 0 and log.data == sent and log.header.port == link.path
    missing = cli("record", "--port", tmp_path / "ttyNONE", "--out", tmp_path / "y.edgelog")
    assert missing.returncode == 2 and "not found; is the board plugged in" in missing.stderr
    assert not (tmp_path / "y.edgelog").exists()


def test_csv_logs_carry_their_channel_map(tmp_path):
    from types import SimpleNamespace as NS

    from firmware_bridge.sensorlog import csv_header
    chans = [NS(name="mic", modality="acoustic", sample_rate=200.0, scale=0.5, units="Pa"),
             NS(name="geo", modality="seismic", sample_rate=200.0, scale=2.0, units="m/s")]
    path = tmp_path / "c.edgelog"
    with LogWriter(path, LogHeader(input="csv", start_time=50.0, extra=csv_header(chans, ","))) as w:
        w.write(b"".join(b"%d,%d\n" % (i, -i) for i in range(100)), host_time=50.5)
        w.write(b"oops\n" + b"".join(b"%d,%d\n" % (i, -i) for i in range(101, 200)), host_time=51.0)
    rec = to_recording(read_log(path))
    a, s = rec.modalities["acoustic"], rec.modalities["seismic"]
    assert a.sample_rate == 200.0 and a.units == "Pa" and s.data.shape == (1, 200)
    want = 0.5 * np.arange(200.0)
    want[100] = np.nan                                           # the bad line's sample slot
    np.testing.assert_array_equal(a.data[0], want)
    np.testing.assert_array_equal(s.data[0], -4 * want)
    path2 = tmp_path / "nomap.edgelog"
    with LogWriter(path2, LogHeader(input="csv")) as w:
        w.write(b"1,2\n")
    with pytest.raises(BridgeError, match="without its channel map"):
        to_recording(read_log(path2))


def test_simulate_cli_writes_a_log(tmp_path):
    out = tmp_path / "sim.edgelog"
    r = cli("simulate", "--duration", "2", "--seed", "3", "--fault", "drop:seismic@1", "--log", out)
    assert r.returncode == 0, r.stderr
    rec = to_recording(read_log(out))
    assert nan_span(rec.modalities["seismic"].data[0], 100) == (1.0, 2.0)
    assert not np.isnan(rec.modalities["acoustic"].data).any()
    r = cli("simulate", "--duration", "1", "--link", tmp_path / "no" / "such" / "dir" / "board")
    assert r.returncode == 2 and "cannot create it" in r.stderr


# -- damage, unknown header fields, bounded work, streaming (issue 13) ---------------------------------------

def raw_log(path, header: dict, records: list[tuple[int, bytes]]) -> bytes:
    """A v1 log written byte by byte from LOGFORMAT.md (independent of LogWriter)."""
    import json
    import struct

    from crc32c import crc32c
    meta = json.dumps(header).encode()
    out = b"EDGELOG\x00" + struct.pack("<HI", 1, len(meta)) + meta + struct.pack("<I", crc32c(meta))
    for ns, data in records:
        head = struct.pack("<qI", ns, len(data))
        out += head + data + struct.pack("<I", crc32c(data, crc32c(head)))
    path.write_bytes(out)
    return out


def test_unknown_header_fields_are_ignored_not_damage(tmp_path):
    p = tmp_path / "future.edgelog"
    raw_log(p, {"port": "/dev/ttyACM0", "baudrate": 115200, "start_time": 5.0, "input": "binary",
                "written_by_firmware": "2.1", "gps": {"lat": 1.0}}, [(5_000_000_000, b"\x00ab")])
    log = read_log(p)
    assert (log.header.port, log.header.baudrate, log.header.start_time) == ("/dev/ttyACM0", 115200, 5.0)
    assert log.records == [(5.0, b"\x00ab")] and not hasattr(log.header, "gps")


def test_one_flipped_bit_anywhere_costs_at_most_the_record_it_hit(tmp_path):
    rng = np.random.default_rng(3)
    chunks = [rng.integers(0, 256, int(n), dtype=np.uint8).tobytes() for n in rng.integers(1, 90, 12)]
    recs = [(1_767_225_600_000_000_000 + i * 10_000_000, c) for i, c in enumerate(chunks)]
    good = raw_log(tmp_path / "good.edgelog", {"port": "x"}, recs)
    starts = np.cumsum([len(good) - sum(16 + len(c) for c in chunks)] + [16 + len(c) for c in chunks])
    bad = tmp_path / "bad.edgelog"
    for pos in range(len(good)):
        b = bytearray(good)
        b[pos] ^= 1 << (pos % 8)
        bad.write_bytes(bytes(b))
        if pos < starts[0]:                          # the preamble or header: no data can be trusted
            with pytest.raises(BridgeError, match="corrupt header|not an edge-rep sensor log|format version|"
                                                  "header truncated"):
                read_log(bad)
            continue
        hit = int(np.searchsorted(starts, pos, side="right")) - 1
        log = read_log(bad)
        assert [c for _, c in log.records] == chunks[:hit] + chunks[hit + 1:], pos
        size = 16 + len(chunks[hit])
        if hit == len(chunks) - 1:                   # the last record: a damaged end, like a torn one
            assert log.tail_bytes == size and log.damage == [], pos
        else:
            assert log.damage == [(int(starts[hit]), size)] and log.tail_bytes == 0, pos


def test_a_flipped_bit_in_a_bundled_log_loses_one_record(tmp_path):
    src = LOGS / "acoustic_drop.edgelog"
    whole = read_log(src)
    b = bytearray(src.read_bytes())
    b[len(b) // 2] ^= 0x10
    (tmp_path / "flip.edgelog").write_bytes(bytes(b))
    log = read_log(tmp_path / "flip.edgelog")
    assert len(log.records) == len(whole.records) - 1 and len(log.damage) == 1
    assert log.skipped_bytes == 16 + len(next(c for (t, c) in whole.records if (t, c) not in log.records))


def test_the_scan_past_damage_does_bounded_work_whatever_the_bytes(tmp_path, monkeypatch):
    import firmware_bridge.sensorlog as sl
    # 64 KiB of damage crafted so that 3 of every 4 offsets look like a record header (lengths 1 MiB, 4 KiB
    # and 16 B, plausible times, a plausible record after each): a scan that CRC-checks every candidate
    # would hash about 48 GiB.
    junk = bytes([0x00, 0x00, 0x10, 0x00]) * (1 << 14)
    filler = bytes(1 << 20)
    p = tmp_path / "crafted.edgelog"
    good = raw_log(p, {"port": "x"}, [(1, b"first"), (2, filler), (3, b"last")])
    at = len(good) - (16 + 4) - (16 + len(filler))           # replace the middle record's start with junk
    p.write_bytes(good[:at] + junk + good[at + len(junk):])
    hashed = []
    real = sl.crc32c
    monkeypatch.setattr(sl, "crc32c", lambda data, value=0: hashed.append(len(data)) or real(data, value))
    log = read_log(p)
    assert [c for _, c in log.records] == [b"first", b"last"]
    assert log.damage == [(at, 16 + len(filler))]
    scanned = 16 + len(filler)
    assert sum(hashed) <= sl.RESYNC_BASE + sl.RESYNC_PER_BYTE * scanned + 4096, sum(hashed)


def test_log_playback_streams_the_log(tmp_path):
    from edge_rep.stream.sources import LogSource
    p = tmp_path / "big.edgelog"
    with LogWriter(p, LogHeader(port="x", start_time=1.0)) as w:
        for i in range(400):
            w.write(bytes([i % 251]) * 10_000, host_time=1.0 + i)
    src = LogSource(p)
    first = next(iter(src))
    assert first[0].data == bytes([0]) * 10_000
    assert src.reader._f.tell() < 2 * (1 << 20) < p.stat().st_size      # read ahead by its buffer only
    src.close()


def _frames_log(path, channels, blocks):
    """A log of one HELLO (``channels``: ChannelDescriptors) and DATA frames (``blocks``: SampleBlocks)."""
    from firmware_bridge.codec import encode
    with LogWriter(path, LogHeader(port="x", start_time=100.0)) as w:
        w.write(encode(P.Hello(board_uid=1, board_name="b", firmware="1", channels=channels, seq=0)),
                host_time=100.0)
        for i, b in enumerate(blocks):
            w.write(encode(P.Data(blocks=[b], seq=i + 1, timestamp_us=int(1e6 * i))), host_time=100.0 + i)
    return path


def test_convert_log_refuses_a_zero_rate_and_a_huge_index_jump_with_one_line(tmp_path):
    blk = P.SampleBlock(0, 0, P.FMT_INT16, P.samples_for(P.FMT_INT16, np.arange(100)))
    zero = _frames_log(tmp_path / "zero.edgelog",
                       [P.ChannelDescriptor(0, "seismic", 0.0, P.FMT_INT16, 1.0, "m/s")], [blk])
    r = cli("convert-log", zero, "--to", "dataset", "--out", tmp_path / "z.npz")
    assert r.returncode == 2 and r.stderr == (f"edge-rep: error: log {zero}: channel 0 (seismic) has a sample rate "
                                              f"of 0 Hz in its HELLO, so its samples have no times; fix the board's "
                                              f"firmware (PROTOCOL.md: HELLO)\n")
    jump = P.SampleBlock(0, 2**40, P.FMT_INT16, P.samples_for(P.FMT_INT16, np.arange(100)))
    huge = _frames_log(tmp_path / "jump.edgelog",
                       [P.ChannelDescriptor(0, "seismic", 100.0, P.FMT_INT16, 1.0, "m/s")], [blk, jump])
    r = cli("convert-log", huge, "--to", "dataset", "--out", tmp_path / "j.npz")
    assert r.returncode == 2 and r.stderr == (f"edge-rep: error: log {huge}: channel 0 has samples at 10995116278 s "
                                              f"on the log's timeline, but the log ends at 1 s (a jump in the "
                                              f"board's sample index); such a log cannot be placed on one timeline: "
                                              f"check the board's firmware (PROTOCOL.md: first_index)\n")
    assert not (tmp_path / "j.npz").exists()
