"""Outputs lose nothing silently (issue 13, section 4): JSON lines on a full disk, in a read-only folder, on
a full device, with a failing close; MQTT with a broker that is down or unresolvable at start, restarts,
a full QoS 1 queue, and paho-mqtt 1.x; a sink that raises never stops classification.

Full disks are a file size limit (RLIMIT_FSIZE) in a forked child or a device node made in a temporary
folder; permissions are checked as user nobody (root ignores them). No test touches a system path."""

import json
import logging
import os
import re
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from mqtt_broker import Broker, free_port, subscribe, wait_for
from unprivileged import NOBODY, as_nobody, in_child

from edge_rep.errors import EdgeRepError
from edge_rep.stream import outputs
from edge_rep.stream.outputs import JsonlSink, ListSink, MqttSink

ROOT = Path(__file__).resolve().parent.parent
LOG = ROOT / "tests" / "data" / "logs" / "acoustic_drop.edgelog"


def record(i: int) -> dict:
    return {"type": "window", "i": i, "pad": "x" * 40}


class Collect(logging.Handler):
    """The messages of the edge_rep loggers (in a forked child, where caplog cannot see)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []
        logging.getLogger("edge_rep").addHandler(self)
        logging.getLogger("edge_rep").setLevel(logging.DEBUG)

    def emit(self, rec):
        self.messages.append(f"{rec.levelname} {rec.getMessage()}")


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "edge_rep.cli", *map(str, args)], cwd=ROOT, text=True,
                          capture_output="stdout" not in kw, **kw)


# -- JSON lines ------------------------------------------------------------------------------------------

def test_a_full_disk_leaves_whole_lines_keeps_going_and_says_so_once(tmp_path):
    def fill():
        logs = Collect()
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)          # a write past the limit fails with EFBIG
        hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
        resource.setrlimit(resource.RLIMIT_FSIZE, (2000, hard))  # the disk is full at 2000 bytes
        sink = JsonlSink("out.jsonl")
        for i in range(40):
            sink.write(record(i))
        down = sink.take_notices()
        lost = sink.lost
        resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))   # room again
        sink.write(record(40))
        up = sink.take_notices()
        sink.close()
        return {"lines": sink.lines, "lost": lost, "down": down, "up": up, "logs": logs.messages}

    got = in_child(fill, cwd=tmp_path)
    text = (tmp_path / "out.jsonl").read_text()
    assert text.endswith("\n")                                   # never a torn line
    lines = [json.loads(line) for line in text.splitlines()]
    rows = [x["i"] for x in lines if x["type"] == "window"]
    n = len(rows) - 1
    assert rows == list(range(n)) + [40] and 0 < n < 40 and got["lines"] == n + 1 and got["lost"] == 40 - n
    # the gap is explained in place: the output_up notice is the line before the first record after it
    assert lines[n]["type"] == "notice" and [lines[n]["event"], lines[n]["message"]] == got["up"][0]
    down = "JSON lines out.jsonl: cannot write (File too large); records are lost until it works again"
    assert got["down"] == [["output_down", down]]
    assert len(got["up"]) == 1 and re.fullmatch(
        rf"JSON lines out\.jsonl: works again after \d+\.\d s; {40 - n} records were lost \(cannot write \(File "
        r"too large\)\)", got["up"][0][1]) and got["up"][0][0] == "output_up"
    errors = [m for m in got["logs"] if m.startswith("ERROR")]
    assert errors == [f"ERROR output {down}"]                    # one error line for 40 - n failed records


def test_a_torn_last_line_is_cut_back_at_the_next_start(tmp_path, caplog):
    p = tmp_path / "out.jsonl"
    p.write_text('{"type":"window","i":0}\n{"type":"window","i":1}\n{"type":"win')
    sink = JsonlSink(p)
    sink.write({"type": "window", "i": 2})
    sink.close()
    assert [json.loads(x)["i"] for x in p.read_text().splitlines()] == [0, 1, 2]
    assert (f"output {p}: removed 12 bytes of a torn last line (the disk was full or the power was cut); "
            f"appending after the last whole line") in caplog.text
    only = tmp_path / "only.jsonl"
    only.write_text('{"type":"window","i"')                     # the first line itself was torn: still ours
    JsonlSink(only).close()
    assert only.read_bytes() == b""
    (tmp_path / "notes.txt").write_text("my notes, no newline")
    with pytest.raises(EdgeRepError, match="not an edge-rep JSON lines output"):
        JsonlSink(tmp_path / "notes.txt")                      # not ours: never cut


def test_a_failed_rotation_keeps_appending_and_rotates_once_it_can(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    os.chown(folder, NOBODY, NOBODY)

    def run():
        logs = Collect()
        sink = JsonlSink("out.jsonl", rotate_mb=0.0002, keep_files=2)     # rotate at 200 bytes
        for i in range(3):
            sink.write(record(i))
        os.chmod(".", 0o555)                                   # the folder turns read-only
        for i in range(3, 10):
            sink.write(record(i))
        stuck = sorted(os.listdir("."))
        os.chmod(".", 0o755)
        outputs.ROTATE_RETRY_S = 0.0                            # do not wait a minute for the retry
        sink._rotate_after = 0.0
        sink.write(record(10))
        sink.close()
        return {"stuck": stuck, "after": sorted(os.listdir(".")), "lost": sink.lost, "logs": logs.messages}

    got = as_nobody(run, cwd=folder)
    assert got["stuck"] == ["out.jsonl", "out.jsonl.1"] and got["lost"] == 0
    assert got["after"] == ["out.jsonl", "out.jsonl.1", "out.jsonl.2"]
    rows = [json.loads(line)["i"] for f in ("out.jsonl.2", "out.jsonl.1", "out.jsonl")
            for line in (folder / f).read_text().splitlines()]
    assert rows == list(range(11))                             # nothing lost, nothing twice
    assert [m for m in got["logs"] if m.startswith("ERROR")] == [
        "ERROR output out.jsonl: cannot rotate (Permission denied); appending to it, trying again in 60 s"]


def test_stdout_on_a_full_device_is_one_error_and_the_run_goes_on(tmp_path):
    full = tmp_path / "full"
    try:
        os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))   # a /dev/full of our own
    except OSError as e:
        pytest.skip(f"cannot make a device node in the temporary folder ({e.strerror})")
    with open(full, "wb") as out:
        r = cli("replay", LOG, "--out", "-", stdout=out, stderr=subprocess.PIPE)
    err = r.stderr.splitlines()
    assert r.returncode == 0, r.stderr
    assert [x for x in err if "ERROR" in x] == [
        "edge-rep ERROR: output JSON lines stdout: cannot write (No space left on device); records are lost until "
        "it works again"]
    (summary,) = [x for x in err if x.startswith("edge-rep replay: 19 windows")]    # the log's labels' table follows
    assert re.search(r"; JSON lines stdout: \d+ records lost$", summary)
    r = cli("replay", LOG, "--out", full)                       # as a file path: a device is never our output
    assert r.returncode == 2 and r.stderr.splitlines()[-1] == (
        f"edge-rep: error: output file {full}: already exists and is a device or special file, not an edge-rep JSON "
        f"lines output; choose a new path (edge-rep replaces only its own JSON lines outputs)")


def test_close_errors_do_not_escape(tmp_path, monkeypatch, caplog):
    sink = JsonlSink(tmp_path / "out.jsonl")
    sink.write(record(0))
    fd, real_close = sink._fd, os.close

    def failing_close(n):
        real_close(n)
        if n == fd:
            raise OSError(5, "Input/output error")
    monkeypatch.setattr(outputs.os, "close", failing_close)
    sink.close()
    assert (f"output {tmp_path / 'out.jsonl'}: closing failed (Input/output error); lines written before were "
            f"already handed to the system") in caplog.text


class Broken:
    """A sink that raises on every record."""

    def write(self, rec):
        raise RuntimeError("boom")

    def close(self):
        raise RuntimeError("boom at close")


def test_a_sink_that_raises_never_stops_classification(stream_model, caplog):
    from edge_rep.config import load_config
    from edge_rep.stream.daemon import run_playback
    cfg = load_config(None)
    cfg.model.path, cfg.output.status_line = stream_model, "off"
    keep = ListSink()
    runner = run_playback(cfg, str(LOG), sinks=[Broken(), keep])
    assert runner.stats.windows == 19 and sum(r["type"] == "window" for r in keep.records) == 19
    notes = [r for r in keep.records if r["type"] == "notice"]
    assert [(r["event"], r["message"]) for r in notes] == [
        ("output_down", "Broken: RuntimeError: boom; records are lost until it works again")]
    assert runner.lost_records()["Broken"] == len(keep.records)
    assert "output Broken: closing failed (RuntimeError: boom at close)" in caplog.text


# -- MQTT ------------------------------------------------------------------------------------------------

def test_a_broker_down_at_start_is_waited_for_and_every_unsent_record_counted(tmp_path, caplog):
    caplog.set_level(logging.INFO, "edge_rep")
    port = free_port()
    sink = MqttSink("127.0.0.1", port, node="n1", qos=0, reconnect_s=(0.1, 0.5))
    down = (f"MQTT broker 127.0.0.1:{port}: cannot connect (Connection refused); reconnecting every 0.1 to 0.5 s; "
            f"meanwhile records are dropped (QoS 0)")
    assert sink.take_notices() == [("output_down", down)]
    for i in range(3):
        sink.write(record(i))
    assert (sink.unsent, sink.sent) == (3, 0)
    broker = Broker(port, tmp_path)
    try:
        assert wait_for(lambda: sink._connected.is_set(), 5)        # within the back-off, not paho's 120 s
        (event, text), = sink.take_notices()
        assert event == "output_up" and re.fullmatch(
            rf"MQTT broker 127\.0\.0\.1:{port}: works again after \d+\.\d s; 3 records were lost \(cannot connect "
            r"\(Connection refused\)\)", text)
        sub, got = subscribe(port, "edge-rep/n1/#")
        sink.write(record(3))
        assert wait_for(lambda: got)
        assert got == [("edge-rep/n1/window", record(3))] and sink.sent == 1
        broker.stop()                                                # the broker goes away mid-run
        assert wait_for(lambda: not sink._connected.is_set(), 5)
        sink.write(record(4))
        assert sink.unsent == 4
        (event, text), = sink.take_notices()
        assert event == "output_down" and text.startswith(f"MQTT broker 127.0.0.1:{port}: connection lost (")
        sink.close()
        sub.loop_stop()
    finally:
        broker.stop()
    assert ("MQTT: publishing to 127.0.0.1:%d topic edge-rep/n1/{window,detection,event}; QoS 0, at most once: "
            "records made while the broker is unreachable are dropped (and counted); records in flight when a "
            "connection breaks can be lost unnoticed" % port) in caplog.text
    assert f"MQTT: connected to 127.0.0.1:{port}" in caplog.text
    assert f"MQTT broker 127.0.0.1:{port}: 4 records were not sent and 0 not confirmed at exit (QoS 0)" in caplog.text


def test_a_broker_name_that_does_not_resolve_yet_is_not_an_error():
    sink = MqttSink("edge-rep-broker.invalid", 1883, node="n1", reconnect_s=(0.5, 1.0))
    (event, text), = sink.take_notices()
    assert event == "output_down" and re.fullmatch(
        r"MQTT broker edge-rep-broker\.invalid:1883: cannot connect \([^)]+\); reconnecting every 0\.5 to 1 s; "
        r"meanwhile records are dropped \(QoS 0\)", text)
    sink.write(record(0))
    assert sink.unsent == 1
    sink.close()


def test_qos1_records_made_while_the_broker_was_down_arrive_and_the_queue_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "MQTT_MAX_QUEUED", 3)
    port = free_port()
    broker = Broker(port, tmp_path, persistence=True)
    sub, got = subscribe(port, "edge-rep/n1/#", client_id="test-durable", clean=False)
    sub.disconnect()                            # away: the broker keeps its session and queues for it
    sub.loop_stop()
    broker.stop()
    sink = MqttSink("127.0.0.1", port, node="n1", qos=1, reconnect_s=(0.1, 0.5))
    try:
        for i in range(5):
            sink.write(record(i))
        assert sink.unsent == 2 and sink.pending == 3                 # 3 queued, 2 refused: the queue is full
        broker.start()
        assert wait_for(lambda: sink.sent == 3, 10)
        (_, down), (_, up) = sink.take_notices()
        assert up.endswith("; 2 records were lost (cannot connect (Connection refused)); queued records are "
                           "being sent")
        sink.close()
        sub, got = subscribe(port, "edge-rep/n1/#", client_id="test-durable", clean=False)
        assert wait_for(lambda: len(got) == 3)
        assert [p["i"] for _, p in got] == [0, 1, 2]
        sub.loop_stop()
        sub.disconnect()
    finally:
        broker.stop()


def _fake_paho_1x(folder: Path) -> Path:
    """A paho-mqtt 1.6.1 as Ubuntu's python3-paho-mqtt would show it through --system-site-packages."""
    pkg = folder / "paho" / "mqtt"
    pkg.mkdir(parents=True)
    (folder / "paho" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text('__version__ = "1.6.1"\n')
    (pkg / "client.py").write_text("class Client:\n    def __init__(self, client_id='', clean_session=None):\n"
                                   "        pass\n")
    return folder


def test_paho_1x_gives_the_install_hint_not_an_internal_error(tmp_path):
    fake = _fake_paho_1x(tmp_path / "site")
    conf = tmp_path / "mqtt.toml"
    conf.write_text("[mqtt]\nenabled = true\nhost = \"127.0.0.1\"\n")
    env = {**os.environ, "PYTHONPATH": str(fake)}
    r = cli("replay", LOG, "--config", conf, "--out", tmp_path / "o.jsonl", env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.splitlines()[-1] == (
        f"edge-rep: error: MQTT output needs paho-mqtt 2.0 or newer, but 1.6.1 is installed "
        f"({fake / 'paho' / 'mqtt'}); pip install 'edge-rep[mqtt]' (paho-mqtt>=2.0) in edge-rep's environment, "
        f"or set [mqtt] enabled = false")


def test_replay_with_the_broker_down_runs_and_the_lines_say_what_mqtt_lost(tmp_path):
    port = free_port()
    conf = tmp_path / "mqtt.toml"
    conf.write_text(f"[mqtt]\nenabled = true\nhost = \"127.0.0.1\"\nport = {port}\n[node]\nid = \"n1\"\n")
    out = tmp_path / "o.jsonl"
    r = cli("replay", LOG, "--config", conf, "--out", out)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    notes = [(x["event"], x["message"]) for x in lines if x["type"] == "notice"]
    assert notes[0] == ("output_down", f"MQTT broker 127.0.0.1:{port}: cannot connect (Connection refused); "
                                       f"reconnecting every 0.5 to 10 s; meanwhile records are dropped (QoS 0)")
    n = len(lines)
    (summary,) = [x for x in r.stderr.splitlines() if x.startswith("edge-rep replay: ") and " windows (" in x]
    assert summary.endswith(f"; MQTT broker 127.0.0.1:{port}: {n} records lost")


def test_a_jsonl_gap_is_explained_in_place_and_in_the_other_outputs(tmp_path, stream_model):
    from edge_rep.config import load_config
    from edge_rep.stream.daemon import run_playback
    cfg = load_config(None)
    cfg.model.path, cfg.output.status_line = stream_model, "off"
    out = tmp_path / "out.jsonl"
    sink, other = JsonlSink(out), ListSink()
    real, calls = sink._write_fd, []

    def full_for_a_while(fd, data, regular):          # the disk is full for the 5th to 10th write
        calls.append(1)
        if 5 <= len(calls) < 11:
            raise OSError(28, "No space left on device")
        real(fd, data, regular)
    sink._write_fd = full_for_a_while
    run_playback(cfg, str(LOG), sinks=[sink, other])
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    ours = [(x["event"], x["message"]) for x in lines if x["type"] == "notice" and x["event"].startswith("output")]
    theirs = [(x["event"], x["message"]) for x in other.records if x["type"] == "notice"]
    assert [e for e, _ in theirs] == ["output_down", "output_up"] and ours == theirs[1:]     # once each, no echo
    assert theirs[0][1] == (f"JSON lines {out}: cannot write (No space left on device); records are lost until it "
                            f"works again")
    assert re.fullmatch(rf"JSON lines {re.escape(str(out))}: works again after \d+\.\d s; 6 records were lost "
                        r"\(cannot write \(No space left on device\)\)", theirs[1][1])
    # the JSON lines hold everything but the 6 records that failed, with the output_up line at the gap
    keep = [r for r in other.records if r.get("event") != "output_up"]
    assert [x for x in lines if x.get("event") != "output_up"] == keep[:4] + keep[10:]
    assert lines[4]["event"] == "output_up"
