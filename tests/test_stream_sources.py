"""Transient faults never stop the service (issue 13, sections 2-4): the reader's queue is bounded in bytes
and reports every drop; a busy port is waited for; systemd hears READY and the watchdog while the port is
missing; `--record` logs rotate, are pruned, pause on a short or failing disk and resume, never stopping
the stream."""

import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from unprivileged import in_child

from edge_rep.config import RecordSection
from edge_rep.errors import EdgeRepError
from edge_rep.stream import recorder as recorder_mod
from edge_rep.stream.notices import LinkChange
from edge_rep.stream.recorder import LogRecorder
from edge_rep.stream.runner import Chunk
from edge_rep.stream.sources import ChunkQueue, SerialSource
from firmware_bridge.port import PortError, PortErrorKind, open_port
from firmware_bridge.pty import PtyLink
from firmware_bridge.sensorlog import LogHeader, LogReader, read_log

ROOT = Path(__file__).resolve().parent.parent


def wait_for(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


# -- the queue between the reader thread and the main loop ------------------------------------------------

def test_the_queue_is_bounded_in_bytes_and_reports_every_drop():
    q = ChunkQueue(max_bytes=1000)
    for i in range(10):
        q.put(Chunk(100.0 + i, bytes(300)), 300, 100.0 + i)
    assert (q.dropped_bytes, q.dropped_chunks) == (2100, 7)
    batch = q.get_batch(0)
    assert [type(x) for x in batch] == [Chunk] * 3 + [LinkChange]      # the drop comes after what was kept
    assert batch[-1] == LinkChange("queue_overflow", "the main loop fell behind: 2100 bytes in 7 reads received over "
                                                     "6.0 s were dropped (the queue holds 0.001 MB); 2100 bytes "
                                                     "dropped in total")
    assert q.get_batch(0) == []                                         # reported once
    q.put(Chunk(0.0, bytes(1000)), 1000)
    assert q.get_batch(0)[0].data == bytes(1000) and q.dropped_bytes == 2100      # room again after the drain
    for _ in range(100):                                                # link changes have a reserve
        assert q.put(LinkChange("link_down", "x" * 50), 50) or q.dropped_chunks
    assert q.put(LinkChange("link_down", "x" * 50), 50)


def test_a_stalled_main_loop_loses_only_what_does_not_fit_and_is_told(tmp_path):
    link = PtyLink()
    src = SerialSource(link.path, reconnect_s=(0.05, 0.2), open_timeout_s=5, queue_bytes=4096)
    try:
        src.start()
        for _ in range(20):                          # 20 KB while nobody drains the queue (the model is busy)
            link.write(bytes(range(256)) * 4)
            time.sleep(0.01)
        assert wait_for(lambda: src.q.dropped_bytes > 0)
        time.sleep(0.1)
        batch = src.q.get_batch(0)
    finally:
        src.close()
        link.close()
    got = sum(len(c.data) for c in batch if isinstance(c, Chunk))
    notes = [c for c in batch if isinstance(c, LinkChange) and c.event == "queue_overflow"]
    assert got <= 4096 and len(notes) == 1 and got + src.q.dropped_bytes == 20 * 1024
    assert re.fullmatch(rf"the main loop fell behind: {src.q.dropped_bytes} bytes in \d+ reads received over "
                        rf"\d+\.\d s were dropped \(the queue holds 0\.004096 MB\); {src.q.dropped_bytes} bytes "
                        rf"dropped in total", notes[0].message)


# -- a busy port is waited for -------------------------------------------------------------------------------

def test_a_port_briefly_held_by_another_program_is_waited_for():
    link = PtyLink()
    other = open_port(link.path)                      # ModemManager probing the new port
    src = SerialSource(link.path, reconnect_s=(0.05, 0.1), open_timeout_s=10)
    threading.Timer(0.5, other.close).start()
    try:
        t = time.monotonic()
        src.start()
        assert src.reader.connected.is_set() and time.monotonic() - t >= 0.4
        events, deadline = [], time.monotonic() + 5.0
        while not any(e == "link_up" for e, _ in events) and time.monotonic() < deadline:
            # the reader queues link_up just after it sets `connected`: collect until it is there
            events += [(c.event, c.message) for c in src.q.get_batch(0.1)]
    finally:
        src.close()
        link.close()
    assert events == [("link_wait", f"waiting: port {link.path}: busy, another program has it open; stop it "
                                    f"(fuser {link.path})"),
                      ("link_up", f"connected: {link.path}")]


def test_a_port_busy_past_the_open_timeout_is_the_one_line_error(tmp_path, stream_model):
    link = PtyLink()
    other = open_port(link.path)
    conf = tmp_path / "c.toml"
    conf.write_text("[serial]\nopen_timeout_s = 0.5\nreconnect_min_s = 0.05\n")
    try:
        t = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "edge_rep.cli", "stream", "--port", link.path, "--config", conf,
                            "--model", stream_model, "--out", tmp_path / "o.jsonl"], capture_output=True, text=True,
                           timeout=60)
        waited = time.monotonic() - t
    finally:
        other.close()
        link.close()
    assert r.returncode == 2 and waited >= 0.5 and "Traceback" not in r.stderr
    assert r.stderr.splitlines()[-1] == (f"edge-rep: error: port {link.path}: busy, another program has it open; "
                                         f"stop it (fuser {link.path})")


def test_settings_the_port_refuses_fail_at_once_and_the_reader_does_not_die():
    link = PtyLink()
    src = SerialSource(link.path, baud=9223372036854775807, reconnect_s=(1e300, 1e300), open_timeout_s=0)
    try:
        with pytest.raises(PortError) as e:
            src.start()
        assert e.value.kind == PortErrorKind.BAD_SETTINGS
    finally:
        link.close()
    assert not src.reader.is_alive()                  # stopped by close(), not killed by the overflow


# -- systemd: READY once the model is loaded, the watchdog while the port is missing ------------------------

def test_ready_and_watchdog_while_waiting_for_the_port(tmp_path, stream_model):
    notify = tmp_path / "notify.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(str(notify))
    srv.settimeout(30)
    port = tmp_path / "board"                         # not plugged in yet
    conf = tmp_path / "c.toml"
    conf.write_text("[serial]\nopen_timeout_s = 0\nreconnect_min_s = 0.05\nreconnect_max_s = 0.2\n")
    env = {**os.environ, "NOTIFY_SOCKET": str(notify), "WATCHDOG_USEC": "200000"}
    cmd = [sys.executable, "-m", "edge_rep.cli", "stream", "--port", str(port), "--config", str(conf), "--model",
           stream_model, "--out", str(tmp_path / "o.jsonl")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    link = None
    try:
        assert srv.recv(200) == f"READY=1\nSTATUS=waiting for {port}".encode()
        pings = [srv.recv(200) for _ in range(3)]    # every 0.1 s while the port is missing
        assert pings == [b"WATCHDOG=1"] * 3
        link = PtyLink(port)                          # the board is plugged in
        seen = []
        while f"STATUS=reading connected: {port}".encode() not in seen:
            seen.append(srv.recv(200))
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        if link is not None:
            link.close()
        srv.close()
    assert proc.returncode == 0, err
    lines = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [(x["event"], x["message"]) for x in lines[:2]] == [
        ("link_wait", f"waiting: port {port}: not found; is the board plugged in? (see ls /dev/serial/by-id)"),
        ("link_up", f"connected: {port}")]


# -- --record: rotation, pruning, pausing -----------------------------------------------------------------------

def section(**kw) -> RecordSection:
    return RecordSection(**{"dir": "", "rotate_mb": 0.0, "keep_mb": 0.0, "min_free_mb": 0.0, **kw})


def test_record_logs_rotate_and_the_oldest_go_beyond_keep_mb(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")                            # not ours: never touched
    (folder / "n1-20200101T000000Z.edgelog").write_bytes(b"not a log")  # our name, not our magic: kept
    rec = LogRecorder(folder, "n1", LogHeader(port="x"), section(rotate_mb=0.002, keep_mb=0.006))
    chunks = [bytes([i]) * 500 for i in range(40)]
    for i, c in enumerate(chunks):
        rec.write(c, 1000.0 + i)
    rec.close()
    logs = [p for p in rec.paths if p.exists()]                      # in the order they were written
    assert len(rec.paths) >= 10 and rec.deleted and set(rec.deleted) | set(logs) == set(rec.paths)
    assert rec.deleted == rec.paths[:len(rec.deleted)]                 # the oldest went first
    assert sum(p.stat().st_size for p in logs) <= 6000 + 2600                  # keep_mb, give or take one log
    assert all(p.stat().st_size < 2000 + 600 for p in logs)                    # rotate_mb, plus the last record
    kept = [c for p in logs for _, c in read_log(p).records]
    assert kept == chunks[-len(kept):]                                         # the newest, in order, whole
    assert (folder / "notes.txt").read_text() == "mine" and (folder / "n1-20200101T000000Z.edgelog").exists()


def test_recording_pauses_when_the_disk_runs_short_and_resumes_with_notices(tmp_path, monkeypatch):
    monkeypatch.setattr(recorder_mod, "RETRY_S", 0.0)
    monkeypatch.setattr(recorder_mod, "CHECK_S", 0.0)
    free = {"bytes": 5_000_000_000}
    rec = LogRecorder(tmp_path, "n1", LogHeader(port="x"), section(min_free_mb=1024),
                      free=lambda path: free["bytes"])
    rec.write(b"a" * 100, 1.0)
    free["bytes"] = 300_000_000                         # the JSON lines' disk runs short
    rec.write(b"b" * 100, 2.0)                          # recorded, then the check pauses
    rec.write(b"c" * 100, 3.0)
    rec.write(b"d" * 100, 4.0)
    free["bytes"] = 5_000_000_000
    rec.write(b"e" * 100, 5.0)
    rec.close()
    (down, down_text), (up, up_text) = rec.take_notices()
    assert (down, up) == ("output_down", "output_up")
    assert down_text == (f"recording paused: 300 MB free on the disk of {tmp_path}, less than [record] min_free_mb "
                         f"1024; the stream goes on, bytes are not recorded until there is room")
    assert re.fullmatch(rf"recording resumed in {re.escape(str(rec.paths[1]))} after \d+ s; 200 bytes received "
                        rf"meanwhile were not recorded \(300 MB free on the disk of {re.escape(str(tmp_path))}, less "
                        rf"than \[record\] min_free_mb 1024\)", up_text)
    assert rec.unrecorded == 200 and len(rec.paths) == 2
    assert [c for p in rec.paths for _, c in read_log(p).records] == [b"a" * 100, b"b" * 100, b"e" * 100]


def test_a_failing_disk_pauses_recording_without_raising(tmp_path):
    def fill():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
        rec = LogRecorder(".", "n1", LogHeader(port="x"), section())
        rec.write(bytes([0]) * 300, 10.0)                                             # the log starts
        resource.setrlimit(resource.RLIMIT_FSIZE, (rec.writer.size + 700, hard))      # the disk fills up
        for i in range(1, 10):
            rec.write(bytes([i]) * 300, 10.0 + i)
        rec.close()
        return {"notices": rec.take_notices(), "unrecorded": rec.unrecorded, "path": str(rec.paths[0])}

    got = in_child(fill, cwd=tmp_path)
    assert got["notices"] == [["output_down", f"recording paused: writing {got['path']} failed (File too large); "
                                              f"the stream goes on, bytes are not recorded until there is room"]]
    with LogReader(tmp_path / got["path"]) as r:
        recs = list(r)
    assert [c for _, c in recs] == [bytes([i]) * 300 for i in range(3)] and r.tail_bytes > 0   # torn, not lost
    assert got["unrecorded"] == 7 * 300


def test_a_record_folder_that_cannot_be_made_is_a_setup_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(EdgeRepError, match=r"record dir .*/file/logs: cannot create it, .*/file is not a folder; "
                                           r"choose a path inside a folder"):
        LogRecorder(tmp_path / "file" / "logs", "n1", LogHeader(), section())


def test_old_logs_are_deleted_for_room_only_when_that_makes_room(tmp_path, monkeypatch):
    monkeypatch.setattr(recorder_mod, "CHECK_S", 0.0)
    from firmware_bridge.sensorlog import LogWriter
    old = []
    for name in ("n1-20200101T000000Z.edgelog", "n1-20200102T000000Z.edgelog"):
        with LogWriter(tmp_path / name, LogHeader(port="x")) as w:
            w.write(bytes(400_000), 1.0)
        old.append(tmp_path / name)
    sizes = {p: p.stat().st_size for p in old}
    base = {"bytes": 10**10}

    def free(path):                          # deleting a log frees its size
        return base["bytes"] + sum(n for p, n in sizes.items() if not p.exists())

    rec = LogRecorder(tmp_path, "n1", LogHeader(port="x"), section(min_free_mb=1.0), free=free)
    rec.write(b"a", 1.0)
    base["bytes"] = 1_000_000 - 300_000      # 300 kB short: the oldest log makes up for it
    rec.write(b"b", 2.0)
    assert rec.deleted == [old[0]] and old[1].exists() and rec.take_notices() == []
    base["bytes"] = 0                        # 1 MB short: both old logs would not do; keep them, pause
    rec.write(b"c", 3.0)
    assert old[1].exists() and rec.deleted == [old[0]]
    assert [e for e, _ in rec.take_notices()] == ["output_down"]
    rec.close()
