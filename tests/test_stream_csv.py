"""Hobby boards printing CSV lines: decimation of fast columns to the profile's rate, and a CSV log
played back through the daemon's path."""

import numpy as np

from edge_rep.config import load_config
from edge_rep.stream.daemon import link_header, playback_records
from edge_rep.stream.resample import Decimator
from firmware_bridge.sensorlog import LogHeader, LogWriter, csv_header, decoder_for, messages, read_log


def test_decimator_keeps_time_and_the_passband():
    rate, k = 8000.0, 80
    n = np.arange(int(4 * rate))
    x = np.sin(2 * np.pi * 5.0 * n / rate) + 0.5 * np.sin(2 * np.pi * 1000.0 * n / rate)   # 1 kHz must go
    d = Decimator(k)
    outs = []
    for i in range(0, n.size, 37):                       # odd block sizes: phase kept across blocks
        first, y = d.feed(i, x[i:i + 37])
        outs.append((first, y))
    idx = np.concatenate([np.arange(f, f + y.size) for f, y in outs])
    y = np.concatenate([y for _, y in outs])
    assert np.array_equal(idx, np.arange(idx[0], idx[0] + idx.size))      # contiguous output indices
    want = np.sin(2 * np.pi * 5.0 * idx * k / rate)                        # the 5 Hz tone at those times
    steady = idx >= 10
    assert np.max(np.abs(y[steady] - want[steady])) < 0.02
    # A gap restarts the filter: no output for times before the restart, indices still follow the input's.
    start = n.size + 801
    first, y2 = d.feed(start, x[:800])
    assert first * k >= start > (first - 1) * k and y2.size == (start + 800 - d.delay - first * k - 1) // k + 1


def test_csv_log_plays_back_with_the_geophone_decimated(tmp_path, backend):
    cfg = load_config(None)
    cfg.output.status_line, cfg.node.id = "off", "csv-board"
    chans = cfg.csv.channels                    # default: mic and geophone columns at 8000 lines/s
    assert [c.modality for c in chans] == ["acoustic", "seismic"] and chans[1].sample_rate == 8000.0
    rng = np.random.default_rng(0)
    seconds, rate = 4, int(chans[0].sample_rate)
    mic = 0.05 * rng.standard_normal(seconds * rate)
    geo = 1e-6 * np.sin(2 * np.pi * 12 * np.arange(seconds * rate) / rate)
    lines = "".join(f"{a:.5f},{g:.4e}\n" for a, g in zip(mic, geo))
    lines = lines.replace("\n", "\nnot,a,sample\n", 1)          # a bad line is a one-sample gap, not a crash
    path = tmp_path / "csv.edgelog"
    with LogWriter(path, LogHeader(port="/dev/ttyACM0", baudrate=115200, input="csv",
                                   extra=csv_header(chans, cfg.csv.separator))) as w:
        data = lines.encode()
        for i in range(0, len(data), 4096):
            w.write(data[i:i + 4096], host_time=1000.0 + i / 1e5)
    recs = playback_records(cfg, str(path), backend)
    ws = [r for r in recs if r["type"] == "window"]
    assert [w["window_start"] for w in ws] == [0.0, 1.0, 2.0]
    assert all(w["scenario"] == "complete" and w["label"] in backend.meta.classes for w in ws)
    assert not any(r["type"] == "notice" and r["event"] == "channel_rejected" for r in recs)


def test_decimator_restart_state_is_scipys_steady_state():
    from scipy import signal
    d = Decimator(8)
    np.testing.assert_allclose(d._zi_unit, signal.lfilter_zi(d.taps, 1.0), atol=1e-12)
    # after a gap the filter restarts as if steady at the first new sample: a constant stays constant
    d.feed(0, np.ones(100))
    _, y = d.feed(1000, np.full(400, 3.0))
    np.testing.assert_allclose(y, 3.0, rtol=1e-6)


def test_live_and_log_playback_build_the_same_decoder(tmp_path):
    """One factory (sensorlog.decoder_for) from one link description (daemon.link_header): a CSV link's
    --record log decodes, played back, to exactly the messages the live decoder gave."""
    cfg = load_config(None)
    cfg.serial.format = "csv"
    header = link_header(cfg)
    assert header.input == "csv" and header.extra == csv_header(cfg.csv.channels, cfg.csv.separator)
    chunks = [b"0.01,1e-6\n0.02,2e-6\nnot a line\n0.0", b"3,3e-6\n0.04,4e-6\n"]
    path = tmp_path / "rec.edgelog"
    with LogWriter(path, header) as w:
        for i, c in enumerate(chunks):
            w.write(c, host_time=10.0 + i)
    live_dec = decoder_for(header)
    live = [m for c in chunks for m in live_dec.feed(c)]
    played = [m for _, m in messages(read_log(path))]

    def plain(msgs):
        return [(type(m).__name__, m.seq, [(b.channel_id, b.first_index, b.samples.tolist())
                                           for b in getattr(m, "blocks", [])]) for m in msgs]

    assert plain(live) == plain(played) and [name for name, _, _ in plain(live)] == ["Hello", "Data", "Data"]
    channel, first, samples = plain(played)[2][2][0]
    assert (channel, first) == (0, 3) and np.allclose(samples, [0.03, 0.04])   # the bad line left a one-sample gap
    cfg.serial.format = "binary"
    assert type(decoder_for(link_header(cfg))).__name__ == "Decoder"
