"""The streaming daemon: log playback throughput (edge-rep replay), and the live daemon's cost at real
time (ONNX Runtime, CPU).

Rows (targets from issue 6; the detections' from issue 12):
- replay --speed max: board seconds per wall second, one core (taskset-style affinity), >= 100x
- detections' added cost per window: the daemon's detection tracker alone over the playback's window
  lines, ms per window (<= 0.1)
- live at real time, `edge-rep stream` as its own process on a simulated board's pty:
  CPU % of one core (<= 5), peak RSS (<= 300 MB), torch not loaded (no libtorch mapped),
  latency from a window's last bytes arriving to its JSON line minus the backend's own time
  (median, <= 20 ms), start-up from process spawn to ready (port open, model loaded; <= 3 s) and
  from ready to the first window (its 2 s of samples must arrive first).
- the live web view (`stream --http`, issue 14): the same daemon with and without `--http`, side by side in
  the same run, each on its own simulated board at real time, one client following the page's event stream
  (Server-Sent Events, what the browser's EventSource reads) on the one with `--http`: CPU % of one core
  added (< 1) and RSS added (< 20 MB), and the median latency of both. 600 s (the target's 10 minutes),
  60 s with --quick; `python benchmarks/bench_stream.py --web [SECONDS]` runs only this.
Each measurement runs in a fresh process, so imports and model loading count and nothing leaks.
The bundled model's ONNX file is used (exported to a temp folder first if only its checkpoint is
there) unless $EDGE_REP_BENCH_MODEL names another model file.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TITLE = "Streaming daemon (ONNX Runtime, bundled model)"
ROOT = Path(__file__).resolve().parent.parent

_PLAYBACK = """
import json, os, sys, time
os.sched_setaffinity(0, {{min(os.sched_getaffinity(0))}})
from edge_rep.config import load_config
from edge_rep.stream.daemon import open_backend, run_playback
from edge_rep.stream.outputs import ListSink
cfg = load_config(None)
cfg.model.backend, cfg.output.status_line = "onnxruntime", "off"
cfg.model.path = {model!r}
backend = open_backend(cfg)
sink = ListSink()
t = time.perf_counter()
runner = run_playback(cfg, {log!r}, "max", backend, sinks=[sink])
wall = time.perf_counter() - t
ws = [r for r in sink.records if r["type"] == "window"]
# the detections' own cost per window: the daemon's tracker alone over the same window lines, 20 times
from edge_rep.stream.detections import DetectionTracker
t = time.perf_counter()
n_det = 0
for _ in range(20):
    tracker = DetectionTracker.from_config(backend.meta, cfg.detections, "bench")
    for w in ws:
        n_det += len(tracker.window(w))
    n_det += len(tracker.close("end"))
det_ms = (time.perf_counter() - t) * 1e3 / (20 * len(ws))
print(json.dumps({{"wall": wall, "windows": len(ws), "backend_s": sum(r["backend_ms"] for r in ws) / 1e3,
                  "torch": "torch" in sys.modules, "det_ms": det_ms, "detections": n_det // 20}}))
"""


def _make_log(path: Path, seconds: float) -> float:
    from edge_rep.profiles import DEFAULT_PROFILE
    from edge_rep.simulator import Scenario, Simulator, write_log
    sim = Simulator.synthetic(DEFAULT_PROFILE, seconds, 3, Scenario.parse([f"drop:acoustic@{seconds / 3:.0f}-"
                                                                           f"{2 * seconds / 3:.0f}"]))
    write_log(sim, path)
    return sim.duration


def bench_playback(tmp: Path, seconds: float, model: str) -> list[dict]:
    log = tmp / "bench.edgelog"
    board_s = _make_log(log, seconds)
    res = subprocess.run([sys.executable, "-c", _PLAYBACK.format(log=str(log), model=model)], capture_output=True,
                         text=True, cwd=ROOT, timeout=600)
    if res.returncode:
        raise RuntimeError(res.stderr[-2000:])
    r = json.loads(res.stdout.strip().splitlines()[-1])
    speed = board_s / r["wall"]
    from edge_rep.modelspec import ModelMeta, sidecar_path
    model_id = ModelMeta.load(sidecar_path(model)).model_id
    return [{"metric": "replay --speed max, 1 core", "value": round(speed, 1), "unit": "x real time",
             "target": ">= 100", "ok": speed >= 100,
             "note": f"{board_s:.0f} s of board time in {r['wall']:.2f} s; {r['windows']} windows, "
                     f"backend {r['backend_s']:.2f} s; torch loaded: {r['torch']}; model {model_id}"},
            {"metric": "detections' added cost per window", "value": round(r["det_ms"], 4), "unit": "ms",
             "target": "<= 0.1", "ok": r["det_ms"] <= 0.1,
             "note": f"the daemon's DetectionTracker alone over the playback's {r['windows']} window lines "
                     f"({r['detections']} detections), 20 passes, one core"}]


def bench_model(tmp: Path) -> str:
    """$EDGE_REP_BENCH_MODEL, else the bundled default.onnx, else the bundled checkpoint exported now."""
    from edge_rep.backends import DEFAULT_MODEL
    if os.environ.get("EDGE_REP_BENCH_MODEL"):
        return os.environ["EDGE_REP_BENCH_MODEL"]
    if DEFAULT_MODEL.with_suffix(".onnx").is_file():
        return str(DEFAULT_MODEL.with_suffix(".onnx"))
    from edge_rep.checkpoint import load_model
    from edge_rep.onnx_export import export_onnx
    model, meta = load_model(None)
    export_onnx(model, meta, tmp / "default.onnx", log=lambda s: None)
    return str(tmp / "default.onnx")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def bench_live(tmp: Path, seconds: float, model: str) -> list[dict]:
    from edge_rep.profiles import DEFAULT_PROFILE
    from edge_rep.simulator import Simulator, run_realtime
    from firmware_bridge.pty import PtyLink

    sim = Simulator.synthetic(DEFAULT_PROFILE, seconds + 4, 4)   # outlasts the measurement (first window + seconds)
    link = PtyLink(tmp / "board")
    sock_path = tmp / "notify.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(str(sock_path))
    srv.settimeout(60)
    out = tmp / "live.jsonl"
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path)}
    t_spawn = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "edge_rep.cli", "stream", "--port", str(link.link), "--out",
                             str(out), "--backend", "onnxruntime", "--model", model], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        msg = srv.recv(200)
        if not msg.startswith(b"READY=1"):
            raise RuntimeError(f"unexpected notify message {msg!r}")
        t_ready = time.monotonic()
        board = threading.Thread(target=run_realtime, args=(sim, link), kwargs={"on_event": lambda s: None},
                                 daemon=True)
        board.start()
        while not out.exists() or '"type":"window"' not in out.read_text():
            if time.monotonic() - t_ready > 30 or proc.poll() is not None:
                raise RuntimeError("no window within 30 s of ready")
            time.sleep(0.01)
        t_first = time.monotonic()
        cpu0, w0 = _cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds)
        cpu1, w1 = _cpu_seconds(proc.pid), time.monotonic()
        rss_peak = _status_kb(proc.pid, "VmHWM") / 1024
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        torch_loaded = "libtorch" in maps or "/torch/" in maps
    finally:
        if "board" in locals():
            board.join(timeout=10)     # let the board finish before its pty goes away
        proc.terminate()
        _, err = proc.communicate(timeout=30)
        link.close()
        srv.close()
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    ws = [r for r in recs if r["type"] == "window" and r["latency_ms"] is not None]
    lat = [r["latency_ms"] - r["backend_ms"] for r in ws]
    backend = [r["backend_ms"] for r in ws]
    cpu_pct = 100 * (cpu1 - cpu0) / (w1 - w0)
    med = statistics.median(lat)
    return [
        {"metric": "live CPU (1 core)", "value": round(cpu_pct, 2), "unit": "%", "target": "<= 5", "ok": cpu_pct <= 5,
         "note": f"over {w1 - w0:.0f} s at real time, {len(ws)} windows"},
        {"metric": "live peak RSS", "value": round(rss_peak, 1), "unit": "MB", "target": "<= 300",
         "ok": rss_peak <= 300, "note": "VmHWM of the daemon process"},
        {"metric": "torch loaded in daemon", "value": torch_loaded, "unit": "", "target": "False",
         "ok": not torch_loaded, "note": "libtorch in /proc/PID/maps"},
        {"metric": "latency last bytes -> JSON line, minus backend (median)", "value": round(med, 2), "unit": "ms",
         "target": "<= 20", "ok": med <= 20,
         "note": f"p90 {sorted(lat)[int(0.9 * (len(lat) - 1))]:.2f} ms; "
                 f"backend median {statistics.median(backend):.2f} ms"},
        {"metric": "start-up: spawn -> ready", "value": round(t_ready - t_spawn, 2), "unit": "s", "target": "<= 3",
         "ok": t_ready - t_spawn <= 3, "note": "python start, imports, model load, port open (sd_notify READY=1)"},
        {"metric": "ready -> first window line", "value": round(t_first - t_ready, 2), "unit": "s",
         "target": "~2 (one window of samples)", "ok": t_first - t_ready <= 2 + 1,
         "note": "the first 2 s window needs 2 s of samples from the board"},
    ]


class _Daemon:
    """``edge-rep stream`` as its own process on its own simulated board (real time), JSON lines to a file."""

    def __init__(self, tmp: Path, name: str, model: str, seconds: float, seed: int, extra: list[str]):
        from edge_rep.profiles import DEFAULT_PROFILE
        from edge_rep.simulator import Simulator, run_realtime
        from firmware_bridge.pty import PtyLink
        self.out, self.err = tmp / f"{name}.jsonl", tmp / f"{name}.err"
        self.link = PtyLink(tmp / f"board-{name}")
        sim = Simulator.synthetic(DEFAULT_PROFILE, seconds, seed)
        with open(self.err, "w") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "edge_rep.cli", "stream", "--port", str(self.link.link),
                                          "--out", str(self.out), "--backend", "onnxruntime", "--model", model,
                                          *extra], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
        self.board = threading.Thread(target=run_realtime, args=(sim, self.link), kwargs={"on_event": lambda s: None},
                                      daemon=True)
        self.board.start()

    def windows(self) -> int:
        return self.out.read_text().count('"type":"window"') if self.out.exists() else 0

    def stop(self) -> list[dict]:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=30)
        self.link.close()
        return [json.loads(line) for line in self.out.read_text().splitlines()] if self.out.exists() else []


class _PageClient(threading.Thread):
    """What a browser tab does: load the page and its files once, then follow /events (EventSource)."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.messages, self.bytes, self.error = url, 0, 0, ""

    def run(self) -> None:
        import urllib.request
        try:
            for name in ("", "app.js", "style.css"):
                self.bytes += len(urllib.request.urlopen(self.url + name, timeout=10).read())
            with urllib.request.urlopen(self.url + "events", timeout=60) as stream:
                for line in stream:
                    self.bytes += len(line)
                    self.messages += line.startswith(b"data: ")
        except Exception as e:  # noqa: BLE001 - reported in the row's note
            self.error = f"{type(e).__name__}: {e}"


def bench_web(tmp: Path, seconds: float, model: str) -> list[dict]:
    import re
    margin = 40.0                                      # start-up, first window, warm-up: the boards outlast them
    plain = _Daemon(tmp, "plain", model, seconds + margin, 5, [])
    web = _Daemon(tmp, "http", model, seconds + margin, 5, ["--http", "127.0.0.1:0"])
    client = None
    try:
        deadline = time.monotonic() + 60
        url = None
        while time.monotonic() < deadline and (url is None or plain.windows() < 1 or web.windows() < 1):
            m = re.search(r"web view: (http://127\.0\.0\.1:\d+/)", web.err.read_text())
            url = m.group(1) if m else None
            if plain.proc.poll() is not None or web.proc.poll() is not None:
                break
            time.sleep(0.1)
        if url is None or plain.windows() < 1 or web.windows() < 1:
            raise RuntimeError(f"the daemons did not start: {plain.err.read_text()[-1000:]} "
                               f"{web.err.read_text()[-1000:]}")
        client = _PageClient(url)
        client.start()
        time.sleep(5.0)                                 # the page loaded, its snapshot sent: steady state from here
        pids = (plain.proc.pid, web.proc.pid)
        cpu0, w0 = [_cpu_seconds(p) for p in pids], time.monotonic()
        time.sleep(seconds)
        cpu1, w1 = [_cpu_seconds(p) for p in pids], time.monotonic()
        rss = [_status_kb(p, "VmRSS") / 1024 for p in pids]
        hwm = [_status_kb(p, "VmHWM") / 1024 for p in pids]
        messages = client.messages
    finally:
        recs = {name: d.stop() for name, d in (("plain", plain), ("http", web))}
        for d in (plain, web):
            d.board.join(timeout=5)
    cpu = [100 * (b - a) / (w1 - w0) for a, b in zip(cpu0, cpu1)]
    lat = {}
    for name, rs in recs.items():
        v = [r["latency_ms"] - r["backend_ms"] for r in rs if r["type"] == "window" and r["latency_ms"] is not None]
        lat[name] = statistics.median(v) if v else float("nan")
    d_cpu, d_rss = cpu[1] - cpu[0], rss[1] - rss[0]
    note = f"over {w1 - w0:.0f} s at real time, both daemons side by side; the client got {messages} messages"
    note += f" ({client.error})" if client.error else ""
    return [
        {"metric": "web view: CPU added (1 core)", "value": round(d_cpu, 3), "unit": "%", "target": "< 1",
         "ok": d_cpu < 1, "note": f"{cpu[1]:.2f} % with --http and one client, {cpu[0]:.2f} % without; {note}"},
        {"metric": "web view: RSS added", "value": round(d_rss, 1), "unit": "MB", "target": "< 20", "ok": d_rss < 20,
         "note": f"VmRSS {rss[1]:.1f} MB with --http, {rss[0]:.1f} MB without (peaks {hwm[1]:.1f} / {hwm[0]:.1f} MB)"},
        {"metric": "web view: latency last bytes -> JSON line, minus backend (median)",
         "value": round(lat["http"], 2), "unit": "ms", "target": "same as without",
         "ok": lat["http"] <= lat["plain"] + 2,
         "note": f"{lat['plain']:.2f} ms without --http, same run"},
    ]


def run(quick: bool) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as d:
        tmp = Path(d)
        model = bench_model(tmp)
        return (bench_playback(tmp, 30.0 if quick else 120.0, model) + bench_live(tmp, 10.0 if quick else 60.0, model)
                + bench_web(tmp, 60.0 if quick else 600.0, model))


if __name__ == "__main__":
    if "--web" in sys.argv:                   # only the web view: --web [SECONDS] (default 600)
        args = [a for a in sys.argv[1:] if a != "--web"]
        with tempfile.TemporaryDirectory(prefix="bench-stream-") as d:
            rows = bench_web(Path(d), float(args[0]) if args else 600.0, bench_model(Path(d)))
    else:
        rows = run("--quick" in sys.argv)
    for row in rows:
        print(row)
