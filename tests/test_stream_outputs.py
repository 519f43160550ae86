"""Outputs: JSON lines (flushed per line, rotation), MQTT against a real Mosquitto broker, sd_notify."""

import json
import socket
import time
from pathlib import Path

import pytest
from mqtt_broker import Broker, free_port, subscribe

from edge_rep.errors import EdgeRepError
from edge_rep.stream.outputs import JsonlSink, MqttSink, StatusLine
from edge_rep.stream.sdnotify import Notifier


def test_jsonl_lines_are_flushed_one_by_one(tmp_path):
    p = tmp_path / "out" / "res.jsonl"
    sink = JsonlSink(p)
    sink.write({"type": "window", "label": "car"})
    # Readable by another process before close: flushed per line.
    assert json.loads(p.read_text().splitlines()[0]) == {"type": "window", "label": "car"}
    sink.write({"type": "health", "to": "dropped"})
    assert len(p.read_text().splitlines()) == 2
    sink.close()


def test_jsonl_rotation_keeps_n_files(tmp_path):
    p = tmp_path / "r.jsonl"
    sink = JsonlSink(p, rotate_mb=0.0002, keep_files=2)      # 200 bytes
    for i in range(40):
        sink.write({"i": i, "pad": "x" * 30})
    sink.close()
    files = sorted(x.name for x in tmp_path.iterdir())
    assert files == ["r.jsonl", "r.jsonl.1", "r.jsonl.2"]
    rows = [json.loads(line)["i"] for f in ("r.jsonl.2", "r.jsonl.1", "r.jsonl")
            for line in (tmp_path / f).read_text().splitlines()]
    assert rows == sorted(rows) and rows[-1] == 39


def test_jsonl_unwritable_path_is_one_line_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(EdgeRepError, match="output file .*/afile/sub.jsonl: cannot create it, .*/afile is not a "
                                           "folder"):
        JsonlSink(tmp_path / "afile" / "sub.jsonl")


def test_status_line_plain_stream_prints_at_interval():
    import io
    buf = io.StringIO()
    st = StatusLine("auto", buf, every_s=10)
    assert not st.live
    st.update("a", 0.0)
    st.update("b", 5.0)
    st.update("c", 10.0)
    st.clear()                           # a plain stream has no live line to erase
    assert buf.getvalue() == "a\nc\n"
    live = io.StringIO()
    st = StatusLine("on", live)
    st.update("x", 0.0)
    st.update("y", 0.1)                  # too soon: not redrawn
    st.clear()                           # another output comes: the row is erased first ...
    st.clear()                           # ... once
    st.update("z", 0.3)                  # and drawn again by the next update
    st.close()                           # nothing of it is left on the terminal at exit
    assert live.getvalue() == "\r\x1b[2Kx\r\x1b[2K\r\x1b[2Kz\r\x1b[2K"


# -- sd_notify ----------------------------------------------------------------------------------------

def test_sd_notify_ready_and_watchdog(tmp_path):
    path = str(tmp_path / "notify.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(path)
    srv.settimeout(2)
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})
    assert n.enabled and n.watchdog_s == 1.0
    n.ready("reading /dev/x")
    assert srv.recv(100) == b"READY=1\nSTATUS=reading /dev/x"
    n.watchdog(100.0)
    n.watchdog(100.5)           # too soon: no second ping
    n.watchdog(101.0)
    assert srv.recv(100) == b"WATCHDOG=1"
    assert srv.recv(100) == b"WATCHDOG=1"
    srv.settimeout(0.2)
    with pytest.raises(socket.timeout):
        srv.recv(100)
    n.close()
    srv.close()
    off = Notifier({})
    assert not off.enabled and off.notify("READY=1") is False
    # WATCHDOG_PID naming another process: the watchdog is not ours to ping.
    assert Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"}).watchdog_s is None


# -- MQTT against a real broker -----------------------------------------------------------------------

@pytest.fixture
def broker(tmp_path):
    b = Broker(free_port(), tmp_path)
    yield b.port
    b.stop()


def test_mqtt_sink_publishes_windows_and_events(broker):
    sub, got = subscribe(broker, "edge-rep/n1/#")
    sink = MqttSink("127.0.0.1", broker, topic="edge-rep/{node}", node="n1", qos=1)
    sink.write({"type": "window", "label": "truck", "board_time": 3.0})
    sink.write({"type": "health", "channel": "acoustic0", "to": "dropped"})
    deadline = time.time() + 5
    while len(got) < 2 and time.time() < deadline:
        time.sleep(0.02)
    sink.close()
    sub.loop_stop()
    sub.disconnect()
    assert got == [("edge-rep/n1/window", {"type": "window", "label": "truck", "board_time": 3.0}),
                   ("edge-rep/n1/event", {"type": "health", "channel": "acoustic0", "to": "dropped"})]


def test_playback_publishes_every_line_to_mqtt(broker, tmp_path, stream_model):
    from edge_rep.config import load_config
    from edge_rep.stream.daemon import run_playback
    sub, got = subscribe(broker, "fleet/node-7/#")
    cfg = load_config(None)
    cfg.mqtt.enabled, cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.qos = True, "127.0.0.1", broker, 1
    cfg.mqtt.topic, cfg.node.id = "fleet/{node}", "node-7"
    cfg.model.path = stream_model
    cfg.output.jsonl, cfg.output.status_line = str(tmp_path / "out.jsonl"), "off"
    log = Path(__file__).parent / "data" / "logs" / "acoustic_drop.edgelog"
    runner = run_playback(cfg, str(log))
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    deadline = time.time() + 10
    while len(got) < len(lines) and time.time() < deadline:
        time.sleep(0.05)
    sub.loop_stop()
    sub.disconnect()
    assert runner.stats.windows == 19
    assert [p for _, p in got] == lines                       # the same lines, in order
    assert {t for t, p in got if p["type"] == "window"} == {"fleet/node-7/window"}
    assert {t for t, p in got if p["type"] == "detection"} == {"fleet/node-7/detection"}
    assert {t for t, p in got if p["type"] not in ("window", "detection")} == {"fleet/node-7/event"}
