"""Fault soak: `edge-rep stream` as its own process for 10 minutes (``--quick``: 2) on a simulated board
while faults come and go, on the board and on the host (issue 13, targets):

- board: dropped, flat and saturated channels, corrupted and lost bytes, a stall, unplug-and-replug, a
  reboot, repeated through the run (the simulator's fault script);
- host: the port held by another program at start (the daemon waits), the MQTT broker (a local
  Mosquitto) restarted every 2 minutes, the disk "full" for 15 s every 2 minutes (the daemon's file
  size limit lowered with prlimit: JSON lines and the sensor log both fail), small rotation sizes so
  the JSON lines and the sensor logs rotate throughout.

Figures: RSS growth after the first minute (target <= 1 MB), invalid JSON lines (target 0), gaps in the
window sequence and how many of them a notice explains (target: all), records the JSON lines lost (as
their own notices say), MQTT records received (QoS 1) against the records made, exit code at SIGTERM.

    python benchmarks/bench_soak.py [--quick | --seconds N]      # or: python benchmarks/run.py soak
"""

from __future__ import annotations

import json
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

TITLE = "Fault soak: edge-rep stream under board and host faults"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from benchmarks.bench_stream import bench_model  # noqa: E402
from mqtt_broker import Broker, free_port  # noqa: E402 - the tests' restartable local Mosquitto

# Notices that account for a gap in the windows (the board rebooted or went away, bytes or records were lost).
EXPLAINS = {"board_reset", "link_down", "link_wait", "link_up", "queue_overflow", "output_down", "output_up",
            "waiting_for_hello"}


def _board_faults(seconds: float) -> list[str]:
    """One round of board faults every 60 s, a reboot in the middle."""
    out = []
    for t0 in range(20, int(seconds) - 20, 60):
        out += [f"drop:acoustic@{t0}-{t0 + 5}", f"flatline:seismic@{t0 + 10}-{t0 + 14}",
                f"saturate:acoustic@{t0 + 18}-{t0 + 20}", f"corrupt@{t0 + 24}-{t0 + 26}=0.002",
                f"lose@{t0 + 30}-{t0 + 31}=0.002", f"stall@{t0 + 36}-{t0 + 38}",
                f"disconnect@{t0 + 44}-{t0 + 47}"]
    out.append(f"reset@{seconds / 2 + 3:.0f}")
    return out


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _jsonl_lines(path: Path) -> list[str]:
    """Every line of the JSON lines output, its rotated files first (oldest first)."""
    rotated = sorted(path.parent.glob(path.name + ".*"), key=lambda p: -int(p.suffix[1:]))
    return [line for p in rotated + [path] for line in p.read_text(errors="replace").splitlines()]


def _gaps(records: list[dict]) -> tuple[int, int, list[str]]:
    """Gaps in the window sequence (a window number skipped on a boot, or a new boot), and which of them
    have a notice that explains them between the windows on either side."""
    gaps = explained = 0
    unexplained = []
    prev, since = None, []
    for r in records:
        if r.get("type") == "notice":
            since.append(r["event"])
        if r.get("type") != "window":
            continue
        if prev is not None and not (r["boot"] == prev["boot"] and r["window"] == prev["window"] + 1):
            gaps += 1
            if EXPLAINS & set(since):
                explained += 1
            else:
                unexplained.append(f"boot {prev['boot']} window {prev['window']} -> boot {r['boot']} window "
                                   f"{r['window']} (notices between: {since or 'none'})")
        prev, since = r, []
    return gaps, explained, unexplained


def soak(seconds: float, log=print) -> list[dict]:
    from edge_rep.profiles import DEFAULT_PROFILE
    from edge_rep.simulator import Scenario, Simulator, run_realtime
    from firmware_bridge.port import open_port
    from firmware_bridge.pty import PtyLink

    tmp = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    try:
        model = bench_model(tmp)
        broker = Broker(free_port(), tmp)
        out, rec = tmp / "out" / "windows.jsonl", tmp / "rec"
        conf = tmp / "edge-rep.toml"
        conf.write_text(f"""[serial]
open_timeout_s = 0
reconnect_min_s = 0.5
reconnect_max_s = 2.0
[output]
jsonl = "{out}"
rotate_mb = 0.2
keep_files = 1000
status_line = "off"
[record]
dir = "{rec}"
rotate_mb = 5.0
keep_mb = 60.0
min_free_mb = 0
[mqtt]
enabled = true
host = "127.0.0.1"
port = {broker.port}
qos = 1
[node]
id = "soak"
""")
        import paho.mqtt.client as mqtt
        got: list[dict] = []
        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="soak-sub", clean_session=False)
        sub.on_connect = lambda c, u, f, rc, p=None: c.subscribe("edge-rep/soak/#", qos=1)
        sub.on_message = lambda c, u, m: got.append(json.loads(m.payload))
        sub.reconnect_delay_set(0.2, 1.0)
        sub.connect("127.0.0.1", broker.port)
        sub.loop_start()

        sim = Simulator.synthetic(DEFAULT_PROFILE, seconds + 30, 9, Scenario.parse(_board_faults(seconds)))
        link = PtyLink(tmp / "board")
        holder = open_port(str(link.path))            # another program holds the port at start
        threading.Timer(3.0, holder.close).start()
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "edge_rep.cli", "stream", "--port", str(link.link),
                                 "--config", str(conf), "--model", model, "--backend", "onnxruntime"], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        board = threading.Thread(target=run_realtime, args=(sim, link), kwargs={"on_event": lambda s: None},
                                 daemon=True)
        board.start()
        hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
        rss, host_faults = [], Counter()
        try:
            next_sample = 0.0
            while (el := time.monotonic() - t0) < seconds:
                if proc.poll() is not None:
                    raise RuntimeError(f"the daemon ended early: {proc.stderr.read()[-2000:]}")
                phase = el % 120
                if 40 <= phase < 41 and broker.proc is not None and el > 30:
                    broker.stop()
                    host_faults["broker stopped"] += 1
                if phase >= 50 and broker.proc is None:
                    broker.start()
                if 90 <= phase < 91 and host_faults["disk full"] < el // 120 + 1:
                    resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (1, hard))
                    host_faults["disk full"] += 1
                if phase >= 105:
                    resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (hard, hard))
                if el >= next_sample:
                    rss.append((el, _rss_kb(proc.pid)))
                    next_sample += 5.0
                time.sleep(0.2)
            if broker.proc is None:
                broker.start()
            resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (hard, hard))
            time.sleep(3)                                     # MQTT's queue drains after the last restart
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                _, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
        time.sleep(1)
        sub.loop_stop()
        sub.disconnect()
        broker.stop()
        link.close()

        lines = _jsonl_lines(out)
        records, invalid = [], 0
        for line in lines:
            try:
                records.append(json.loads(line))
            except ValueError:
                invalid += 1
        windows = [r for r in records if r.get("type") == "window"]
        notices = Counter(r["event"] for r in records if r.get("type") == "notice")
        gaps, explained, unexplained = _gaps(records)
        lost_jsonl = sum(int(r["message"].split(" records were lost")[0].rsplit(" ", 1)[1]) for r in records
                         if r.get("type") == "notice" and r["event"] == "output_up"
                         and r["message"].startswith("JSON lines"))
        base = [kb for t, kb in rss if t >= 60]
        growth = (max(base) - base[0]) / 1024 if base else float("nan")
        end_growth = (base[-1] - base[0]) / 1024 if base else float("nan")
        unique_mqtt = {json.dumps(r, sort_keys=True) for r in got}
        made = len(records) + lost_jsonl
        for u in unexplained[:10]:
            log(f"unexplained gap: {u}")
        log("stderr tail:\n" + "\n".join(err.splitlines()[-8:]))
        return [
            {"metric": "run", "value": round(time.monotonic() - t0, 0), "unit": "s",
             "note": f"board faults {len(_board_faults(seconds))}, host faults {dict(host_faults)}; "
                     f"exit code at SIGTERM {proc.returncode}"},
            {"metric": "RSS growth after the first minute (max)", "value": round(growth, 2), "unit": "MB",
             "target": "<= 1", "ok": growth <= 1,
             "note": f"RSS {base[0] / 1024:.1f} MB at 60 s, {base[-1] / 1024:.1f} MB at the end "
                     f"(end - 60 s: {end_growth:+.2f} MB)" if base else "run shorter than a minute"},
            {"metric": "invalid JSON lines", "value": invalid, "unit": "", "target": "0", "ok": invalid == 0,
             "note": f"{len(lines)} lines in {len(list(out.parent.iterdir()))} files (rotated at 0.2 MB)"},
            {"metric": "gaps in the windows explained by a notice", "value": f"{explained}/{gaps}", "unit": "",
             "target": "all", "ok": explained == gaps,
             "note": f"{len(windows)} windows; notices {dict(notices)}"},
            {"metric": "records the JSON lines lost (disk full), as their notices say", "value": lost_jsonl,
             "unit": "records", "note": f"{made} records made"},
            {"metric": "MQTT records received (QoS 1, broker restarted)", "value": f"{len(unique_mqtt)}/{made}",
             "unit": "", "note": f"{len(got)} messages with duplicates; the broker was down "
                                 f"{host_faults['broker stopped']} x 10 s"},
            {"metric": "sensor logs", "value": len(list(rec.glob("*.edgelog"))), "unit": "files",
             "note": f"{sum(p.stat().st_size for p in rec.glob('*.edgelog')) / 1e6:.1f} MB kept (keep_mb 60)"},
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(quick: bool) -> list[dict]:
    return soak(120.0 if quick else 600.0)


if __name__ == "__main__":
    seconds = 120.0 if "--quick" in sys.argv else 600.0
    if "--seconds" in sys.argv:
        seconds = float(sys.argv[sys.argv.index("--seconds") + 1])
    for row in soak(seconds):
        print(json.dumps(row))
