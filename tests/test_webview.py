"""The live web view (edge_rep/stream/webview.py, webstate.py): the address check, the page's state, the HTTP
endpoints (page, /state.json, /events as Server-Sent Events), bounded buffers, dropped clients, an address in
use retried in the background, and the daemon's commands with --http. The page in a real browser:
test_webview_browser.py."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edge_rep.config import Config, http_endpoint, load_config
from edge_rep.errors import EdgeRepError
from edge_rep.stream.webstate import HISTORY_WINDOWS, PageState, SpectrumBands
from edge_rep.stream.webview import PAGE_FILES, Broadcast, WebView, page_file

ROOT = Path(__file__).resolve().parent.parent
LOG = ROOT / "tests" / "data" / "logs" / "acoustic_drop.edgelog"


def until(cond, timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        time.sleep(0.02)


def window(meta, i: int, label: str = "car", replay=(), modalities=("acoustic", "seismic"), boot: int = 0) -> dict:
    classes = list(meta.classes)
    probs = {c: (0.9 if c == label else 0.1 / (len(classes) - 1)) for c in classes}
    scenario = "complete" if len(modalities) == 2 else f"{({'acoustic', 'seismic'} - set(modalities)).pop()}_missing"
    return {"type": "window", "schema": 1, "node": "t", "boot": boot, "window": i, "board_time": i + 2.0,
            "window_start": float(i), "host_time": time.time(), "label": label, "confidence": 0.9, "probs": probs,
            "modalities": list(modalities), "scenario": scenario, "replay": list(replay),
            "buffer_age_s": {m: 1.0 for m in replay}, "coverage": {"acoustic": 1.0, "seismic": 1.0},
            "health": {"acoustic0": "ok" if "acoustic" in modalities else "dropped", "seismic0": "ok"},
            "level_flags": {}, "latency_ms": 3.0, "backend_ms": 2.0, "model": meta.model_id}


def samples(meta, seed: int = 0, tone_hz: float = 440.0) -> dict:
    rng = np.random.default_rng(seed)
    out = {}
    for m in meta.profile.modalities:
        n = meta.profile.window_samples(m.name)
        t = np.arange(n) / m.sample_rate
        x = 1e-3 * rng.standard_normal(n) + (0.1 * np.sin(2 * np.pi * tone_hz * t) if m.name == "acoustic" else 0)
        out[m.name] = x[None].astype(np.float32)
    return out


HEALTH = {"type": "health", "channel": "acoustic0", "modality": "acoustic", "board_time": 5.05, "from": "ok",
          "to": "dropped", "reason": "board reports the sensor disconnected", "schema": 1, "node": "t", "boot": 0,
          "host_time": 0.0}
DETECTION = {"type": "detection", "label": "car", "start": 3.0, "end": 9.0, "schema": 1, "node": "t", "boot": 0}
UNKNOWN = {"type": "something_new", "message": "a record type this version does not know", "boot": 0}


# --- the address: one check for the config file and the command line ---------------------------------------

@pytest.mark.parametrize("text, want", [("127.0.0.1:8080", ("127.0.0.1", 8080)), ("8080", ("127.0.0.1", 8080)),
                                        ("localhost:0", ("localhost", 0)), ("[::1]:9000", ("::1", 9000)),
                                        ("127.0.0.2:1", ("127.0.0.2", 1))])
def test_local_addresses_are_accepted(text, want):
    assert http_endpoint(text, public=False) == want


@pytest.mark.parametrize("text", ["0.0.0.0:8080", "192.168.1.5:80", "[::]:8080", "myhost:8080", "example.org:1"])
def test_a_non_local_address_needs_public(text):
    with pytest.raises(EdgeRepError) as e:
        http_endpoint(text, public=False)
    msg = str(e.value)
    assert msg.startswith("--http: ") and "not a local (loopback) address" in msg and "--http-public" in msg
    assert "\n" not in msg
    assert http_endpoint(text, public=True)[1] == int(text.rsplit(":", 1)[1])


@pytest.mark.parametrize("text", ["127.0.0.1:http", "127.0.0.1:65536", ":8080", "127.0.0.1:", "a b:80", "-1"])
def test_a_malformed_address_is_one_line(text):
    with pytest.raises(EdgeRepError) as e:
        http_endpoint(text, public=True)
    assert str(e.value).startswith("--http: ") and "HOST:PORT" in str(e.value)


def test_the_config_file_is_checked_by_the_same_rule(tmp_path):
    p = tmp_path / "edge-rep.toml"
    p.write_text('[http]\naddress = "0.0.0.0:8080"\n')
    with pytest.raises(EdgeRepError) as e:
        load_config(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}: http.address: 0.0.0.0 is not a local") and "http.public = true" in msg
    p.write_text('[http]\naddress = "0.0.0.0:8080"\npublic = true\n')
    assert load_config(p).http.address == "0.0.0.0:8080"
    assert load_config(None).http.address == ""            # off by default
    p.write_text('[http]\naddress = 8080\n')
    with pytest.raises(EdgeRepError, match="http.address: expected a string"):
        load_config(p)


@pytest.mark.parametrize("command", [["stream", "--port", "/dev/null-not-there"], ["replay", str(LOG)], ["demo"]])
def test_commands_refuse_a_public_address_without_the_flag(command, capsys):
    from edge_rep.cli import main
    assert main([*command, "--http", "0.0.0.0:8080"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("edge-rep: error: --http: 0.0.0.0 is not a local")


# --- the page's state ------------------------------------------------------------------------------------

def test_a_spectrum_column_puts_a_tone_in_its_band():
    bands = SpectrumBands(8000.0, 16000)
    t = np.arange(16000) / 8000.0
    db = np.array(bands(np.sin(2 * np.pi * 1000.0 * t)[None] + 1e-4 * np.random.default_rng(0).standard_normal(16000)))
    k = int(db.argmax())
    assert bands.edges_hz[k] <= 1000.0 < bands.edges_hz[k + 1]
    assert db[k] - np.median(db) > 40
    assert bands(np.zeros((1, 16000))) is None                 # a zero-filled (missing) modality: no column
    white = np.array(bands(np.random.default_rng(1).standard_normal((1, 16000))))
    assert abs(np.mean(white) - 10 * np.log10(2 / 8000.0)) < 1.0   # PSD of unit white noise, one-sided: 2/fs
    assert len(SpectrumBands(100.0, 200).edges_hz) == 33       # the geophone's short windows: fewer bands


def test_page_state_follows_windows_events_and_unknown_records(backend):
    meta = backend.meta
    st = PageState(meta, "n1")
    msg = st.add(window(meta, 0), samples(meta))
    assert msg["seq"] == 1 and msg["record"]["label"] == "car"
    col = msg["columns"]["acoustic"]
    assert col["present"] and len(col["db"]) == len(st.bands["acoustic"].edges_hz) - 1
    assert col["level_db"] == pytest.approx(10 * np.log10(0.1 ** 2 / 2 + 1e-6), abs=0.5)   # tone + noise
    st.add(HEALTH)
    st.add(window(meta, 1, "truck", replay=["acoustic"], modalities=["seismic"]), samples(meta))
    st.add(DETECTION)
    st.add(UNKNOWN)
    snap = st.snapshot()
    assert snap["seq"] == 5 and snap["node"] == "n1" and snap["classes"] == list(meta.classes)
    assert snap["latest"]["label"] == "truck" and snap["latest"]["replay"] == ["acoustic"]
    assert snap["health"] == {"acoustic0": "dropped", "seismic0": "ok"}
    assert [e["type"] for e in snap["events"]] == ["health", "detection", "something_new"]
    a = snap["columns"]["acoustic"]
    assert [c["present"] for c in a] == [True, False] and a[1]["db"] is None and a[1]["replay"]
    assert snap["columns"]["seismic"][1]["db"] is not None
    assert json.loads(json.dumps(snap)) == snap                # plain JSON


def test_page_state_is_bounded(backend):
    meta = backend.meta
    st = PageState(meta, "n1")
    for i in range(HISTORY_WINDOWS + 40):
        st.add(window(meta, i), samples(meta, i))
        st.add({**HEALTH, "board_time": float(i)})
    snap = st.snapshot()
    assert len(snap["windows"]) == HISTORY_WINDOWS and snap["windows"][0]["window"] == 40
    assert all(len(c) == HISTORY_WINDOWS for c in snap["columns"].values())
    assert len(snap["events"]) == 50 and snap["events"][-1]["board_time"] == HISTORY_WINDOWS + 39


# --- serving ---------------------------------------------------------------------------------------------

@pytest.fixture
def view(backend):
    v = WebView("127.0.0.1", 0, backend.meta, "n1", retry_s=(0.05, 0.2))
    yield v
    v.close()


def get(view_or_port, path: str, host: str | None = None) -> tuple[int, dict, bytes]:
    port = view_or_port if isinstance(view_or_port, int) else view_or_port.port
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path, headers={"Host": host} if host else {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, dict(r.getheaders()), body


class SseClient:
    """A raw socket reading /events: ``events()`` parses what has arrived."""

    def __init__(self, port: int, rcvbuf: int | None = None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self.buf = b""

    def read_events(self, n: int, timeout: float = 10.0) -> list[tuple[str, int, dict]]:
        """(event name, id, data) of the first ``n`` events after the headers."""
        self.sock.settimeout(timeout)
        while b"\r\n\r\n" not in self.buf or self.buf.split(b"\r\n\r\n", 1)[1].count(b"\n\n") < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                break
            self.buf += chunk
        head, body = self.buf.split(b"\r\n\r\n", 1)
        assert b"200" in head.split(b"\r\n")[0] and b"text/event-stream" in head
        out = []
        for block in body.split(b"\n\n")[:n]:
            fields = dict(line.split(b": ", 1) for line in block.split(b"\n") if not line.startswith(b":"))
            out.append((fields.get(b"event", b"message").decode(), int(fields[b"id"]), json.loads(fields[b"data"])))
        return out

    def close(self) -> None:
        self.sock.close()


def test_page_files_are_served_and_unknown_paths_are_404(view):
    assert view.url == f"http://127.0.0.1:{view.port}/" and view.port > 0
    status, headers, body = get(view, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and body == page_file("index.html")
    assert b'id="label"' in body and b'src="app.js"' in body
    for name in PAGE_FILES:
        assert get(view, f"/{name}")[0] == 200
    assert b"EventSource" in page_file("app.js")
    assert get(view, "/../pyproject.toml")[0] == 404 and get(view, "/nothing")[0] == 404
    assert "default-src 'self'" in headers["Content-Security-Policy"]


def test_a_loopback_view_refuses_other_hosts(view):
    """DNS rebinding: a page elsewhere that resolves its own name to 127.0.0.1 gets nothing."""
    assert get(view, "/state.json", host="evil.example:80")[0] == 403
    assert get(view, "/state.json", host=f"localhost:{view.port}")[0] == 200


def test_state_json_holds_the_latest_window_health_and_events(view, backend):
    meta = backend.meta
    view.write(HEALTH)
    view.write_window(window(meta, 7, "truck", replay=["acoustic"], modalities=["seismic"]), samples(meta))
    view.write(UNKNOWN)
    until(lambda: view.page.seq == 3, what="the publisher")
    status, headers, body = get(view, "/state.json")
    snap = json.loads(body)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert snap["seq"] == 3 and snap["latest"]["window"] == 7 and snap["latest"]["label"] == "truck"
    assert snap["latest"]["probs"]["truck"] == 0.9 and snap["latest"]["scenario"] == "acoustic_missing"
    assert snap["health"] == {"acoustic0": "dropped", "seismic0": "ok"}
    assert [e["type"] for e in snap["events"]] == ["health", "something_new"]
    assert snap["columns"]["seismic"][0]["db"] and snap["columns"]["acoustic"][0]["db"] is None
    assert snap["clients"] == 0 and snap["lost"] == 0


def test_events_stream_a_snapshot_then_each_record_in_order(view, backend):
    meta = backend.meta
    view.write_window(window(meta, 0), samples(meta))
    until(lambda: view.page.seq == 1)
    c = SseClient(view.port)
    try:
        until(lambda: view.connected == 1, what="the client")
        view.write(HEALTH)
        view.write_window(window(meta, 1, "pedestrian"), samples(meta, 1))
        view.write(DETECTION)
        ev = c.read_events(4)
    finally:
        c.close()
    assert ev[0][0] == "snapshot" and ev[0][1] == 1 and ev[0][2]["latest"]["window"] == 0
    assert [(name, i) for name, i, _ in ev[1:]] == [("message", 2), ("message", 3), ("message", 4)]
    assert ev[1][2]["record"] == HEALTH
    assert ev[2][2]["record"]["label"] == "pedestrian" and set(ev[2][2]["columns"]) == {"acoustic", "seismic"}
    assert ev[3][2]["record"]["type"] == "detection"
    until(lambda: view.connected == 0, what="the server to notice the client left")


def test_a_full_inbox_drops_the_oldest_and_never_blocks_the_writer(backend):
    """The runner's thread only appends: while the page's thread is held up, records beyond the inbox are
    dropped (counted as lost for the page) and write() still returns."""
    meta = backend.meta
    v = WebView("127.0.0.1", 0, meta, "n1", inbox=4)
    try:
        with v.broadcast.cond:                # the publisher cannot publish while this is held
            v.write(HEALTH)
            until(lambda: len(v._inbox) == 0, what="the publisher to take the first record")
            done = threading.Event()

            def writer():
                for i in range(10):
                    v.write_window(window(meta, i), samples(meta, i))
                done.set()

            threading.Thread(target=writer, daemon=True).start()
            assert done.wait(10), "write() blocked while the page's thread was busy"
            assert len(v._inbox) == 4 and v.lost == 6
        until(lambda: v.page.seq == 5, what="the publisher to catch up")
        assert [w["window"] for w in v.page.windows] == [6, 7, 8, 9]
    finally:
        v.close()


def test_a_stuck_client_is_dropped_and_the_others_keep_getting_records(backend):
    """A client that stops reading fills its small socket buffers; past send_timeout_s it is dropped (the ring
    holds every message here, so it is the time-out that drops it). Meanwhile a reading client gets every record."""
    meta = backend.meta
    v = WebView("127.0.0.1", 0, meta, "n1", send_timeout_s=0.5, ring=64)
    stuck = SseClient(v.port, rcvbuf=4096)
    good = SseClient(v.port)
    try:
        until(lambda: v.connected == 2, what="both clients")
        big = {"type": "notice", "event": "x", "message": "m" * 20_000, "boot": 0}
        got: list = []
        reader = threading.Thread(target=lambda: got.extend(good.read_events(1 + 60, timeout=30)), daemon=True)
        reader.start()
        for i in range(60):
            v.write({**big, "n": i})
            time.sleep(0.01)                  # the publisher keeps pace: only the stuck client falls behind
        until(lambda: v.dropped == 1, timeout=20, what="the stuck client to be dropped")
        reader.join(timeout=30)
        assert [e[2]["record"]["n"] for e in got[1:]] == list(range(60))
        assert v.connected == 1 and v.page.seq == 60
    finally:
        stuck.close()
        good.close()
        v.close()


def test_a_client_that_falls_out_of_the_ring_is_told_so():
    b = Broadcast(size=4)
    with b.cond:
        for i in range(1, 11):
            b.publish(i, b"%d" % i)
    assert b.after(2, 0.0) is None                                   # 3..6 are gone: dropped
    assert [s for s, _ in b.after(6, 0.0)] == [7, 8, 9, 10]          # still in the ring
    assert b.after(10, 0.01) == []                                   # nothing new
    b.close()
    assert b.after(10, 0.0) is None


def test_more_clients_than_allowed_get_503(backend):
    v = WebView("127.0.0.1", 0, backend.meta, "n1", max_clients=1)
    c = SseClient(v.port)
    try:
        until(lambda: v.connected == 1)
        assert get(v, "/events")[0] == 503
        assert get(v, "/state.json")[0] == 200          # the page and its state are still served
    finally:
        c.close()
        v.close()


def busy_port() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s


def test_an_address_in_use_is_retried_in_the_background(backend):
    blocker = busy_port()
    port = blocker.getsockname()[1]
    v = WebView("127.0.0.1", port, backend.meta, "n1", retry_s=(0.05, 0.2))
    try:
        assert v.url is None
        (down,) = v.take_notices()
        assert down[0] == "output_down" and "address already in use" in down[1].lower()
        assert "retrying" in down[1] and "classification goes on" in down[1]
        v.write(HEALTH)                                  # records are taken meanwhile
        blocker.close()
        until(lambda: v.url is not None, what="the retry to bind")
        (up,) = v.take_notices()
        assert up[0] == "output_up" and f"serving http://127.0.0.1:{port}/" in up[1]
        until(lambda: v.page.seq == 1)
        assert json.loads(get(port, "/state.json")[2])["events"] == [HEALTH]
    finally:
        blocker.close()
        v.close()


def test_a_playback_with_its_address_in_use_classifies_everything_and_says_so(backend, stream_model, tmp_path):
    from edge_rep.stream.daemon import playback_records
    blocker = busy_port()
    try:
        cfg = load_config(None)
        cfg.model.path, cfg.model.backend = stream_model, "onnxruntime"
        cfg.http.address = f"127.0.0.1:{blocker.getsockname()[1]}"
        recs = playback_records(cfg, str(LOG), backend)
    finally:
        blocker.close()
    assert sum(r["type"] == "window" for r in recs) == 19
    downs = [r for r in recs if r.get("event") == "output_down"]
    assert len(downs) == 1 and "web view 127.0.0.1" in downs[0]["message"]


def test_stream_never_exits_2_for_an_address_in_use(tmp_path, stream_model):
    """The CLI: a replay with --http on a busy address runs to the end, exit 0, the warning on stderr."""
    import subprocess
    import sys
    blocker = busy_port()
    try:
        r = subprocess.run([sys.executable, "-m", "edge_rep.cli", "replay", str(LOG), "--model", stream_model,
                            "--http", f"127.0.0.1:{blocker.getsockname()[1]}", "--out", str(tmp_path / "o.jsonl")],
                           capture_output=True, text=True, timeout=120, cwd=ROOT)
    finally:
        blocker.close()
    assert r.returncode == 0, r.stderr
    assert "address already in use" in r.stderr.lower() and "Traceback" not in r.stderr
    lines = (tmp_path / "o.jsonl").read_text().splitlines()
    assert sum('"type":"window"' in line for line in lines) == 19
    assert any('"event":"output_down"' in line for line in lines)


def test_a_playback_serves_the_page_while_it_runs(backend, stream_model):
    """The view through the daemon's own wiring (build_runner): every window reaches the page's state."""
    from edge_rep.stream.daemon import run_playback
    from edge_rep.stream.outputs import ListSink
    cfg = Config()
    cfg.model.path, cfg.model.backend, cfg.output.status_line = stream_model, "onnxruntime", "off"
    cfg.http.address = "127.0.0.1:0"
    sink = ListSink()
    runner = run_playback(cfg, str(LOG), "max", backend, sinks=[sink])
    (view,) = [s for s in runner.sinks if isinstance(s, WebView)]
    assert view.url is None                                  # closed with the run
    windows = [r for r in sink.records if r["type"] == "window"]
    assert [w["window"] for w in view.page.windows] == [w["window"] for w in windows]
    assert view.page.latest == windows[-1] and view.lost == 0
    assert any(c["replay"] for c in view.page.columns["acoustic"])      # the drop replayed acoustic buffers


def test_a_public_view_binds_every_interface_and_answers_any_host(backend):
    v = WebView("0.0.0.0", 0, backend.meta, "n1", public=True)
    try:
        assert get(v.port, "/state.json", host="node-7.example:80")[0] == 200
    finally:
        v.close()


def test_demo_serves_its_page_while_it_runs(stream_model):
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, "-m", "edge_rep.cli", "demo", "--seconds", "8", "--model", stream_model,
                             "--http", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        url = None
        for line in proc.stdout:
            if "follow it live on " in line:
                url = line.split("follow it live on ", 1)[1].strip()
                break
        assert url and url.startswith("http://127.0.0.1:") and not url.endswith(":0/")
        port = int(url.rsplit(":", 1)[1].strip("/"))
        snap: dict = {}

        def has_window() -> bool:
            try:                                      # the URL is printed just before the page is served
                snap.update(json.loads(get(port, "/state.json")[2]))
            except ConnectionRefusedError:
                return False
            return snap["latest"] is not None

        until(has_window, timeout=30, what="a window on the demo's page")
        assert snap["node"] == "demo" and snap["latest"]["label"] in snap["classes"]
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_a_request_that_fails_is_one_log_line_not_a_traceback(view, monkeypatch, capfd, caplog):
    def broken():
        raise ValueError("a bug in the state")

    monkeypatch.setattr(view, "snapshot", broken)
    with pytest.raises((http.client.HTTPException, OSError)):
        get(view, "/state.json")
    until(lambda: any("a bug in the state" in r.getMessage() for r in caplog.records), what="the log line")
    assert get(view, "/")[0] == 200                          # it goes on serving
    assert "Traceback" not in capfd.readouterr().err
