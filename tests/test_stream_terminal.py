"""What an operator sees on a terminal: ``edge-rep stream`` / ``replay`` print one readable line per window
and per event on a terminal (a pseudo-terminal from ``os.openpty`` stands in for it), JSON lines on a pipe or
with ``--json``; the live status line is erased before any other output; each event and the summary once; a
missing port is announced at once and leaves no outputs behind; ``edge-rep simulate`` shows its clock and
its faults."""

import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from edge_rep.config import load_config
from edge_rep.profiles import CLASSES
from edge_rep.simulator import Scenario, Simulator, run_realtime
from edge_rep.stream.daemon import playback_records
from edge_rep.stream.outputs import format_record
from edge_rep.stream.truth import LogTruth
from firmware_bridge.pty import PtyLink

ROOT = Path(__file__).resolve().parent.parent
LOG = ROOT / "tests/data/logs/acoustic_drop.edgelog"
CLEAR = "\r\x1b[2K"                       # the status line's erase: carriage return, erase line
CLI = [sys.executable, "-m", "edge_rep.cli"]


def on_terminal(args: list[str], stop_when=None, timeout: float = 120.0) -> str:
    """Run the CLI with stdout and stderr on one pseudo-terminal; SIGINT once ``stop_when(output)`` holds.
    Returns everything it wrote, "\\r\\n" turned back into "\\n"."""
    master, slave = os.openpty()
    proc = subprocess.Popen(CLI + args, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL, cwd=ROOT)
    os.close(slave)
    out, stopped, deadline = b"", False, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if stop_when is not None and not stopped and stop_when(out.decode(errors="replace")):
                proc.send_signal(signal.SIGINT)
                stopped = True
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 1 << 16)
                except OSError:                # EIO: every writer of the terminal is gone
                    break
                if not data:
                    break
                out += data
            elif proc.poll() is not None:
                break
        assert proc.wait(30) == 0, out.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return out.decode().replace("\r\n", "\n")


def rows(out: str, status: str) -> list[str]:
    """What the terminal shows, row by row: the text after a row's last erase. Every earlier part of a row
    must be a status line (``status``: a regex its start matches), so nothing else ever shared its row, and
    no row may end showing one (it is erased before the summary)."""
    shown = []
    for row in out.split("\n"):
        *before, visible = row.split(CLEAR)
        assert all(part == "" or re.match(status, part) for part in before), repr(row)
        if visible:
            assert not re.match(status, visible), repr(row)
            shown.append(visible)
    return shown


def test_replay_on_a_terminal_is_one_readable_line_per_record_and_the_summary_once(stream_model):
    cfg = load_config(None)
    cfg.model.path, cfg.model.backend = stream_model, "onnxruntime"
    records = playback_records(cfg, str(LOG), truth=LogTruth.for_log(LOG, CLASSES))     # the log has labels
    node = records[0]["node"]
    out = on_terminal(["replay", str(LOG), "--model", stream_model, "--backend", "onnxruntime"])
    shown = rows(out, f"{node} boot ")
    assert '{"type"' not in out
    assert shown[0].startswith("edge-rep INFO: model: onnxruntime")
    assert shown[1] == "edge-rep INFO: board edge-rep-sim (firmware sim-1.0): acoustic0=8000Hz, seismic0=100Hz"
    end = next(i for i, line in enumerate(shown) if line.startswith("edge-rep replay:"))
    assert shown[2:end] == [format_record(r) for r in records]     # each event once: no log line repeats one
    assert any(">> detection 0: " in line and "(truth: " in line for line in shown[2:end])
    assert re.fullmatch(r"edge-rep replay: 19 windows \(19 classified, 7 with replay, .*; 1 detections; 5 events; .*",
                        shown[end])
    assert shown[end + 1].startswith("edge-rep replay: against ") and "| pass-bys |" in "\n".join(shown[end:])
    assert sum(line.startswith("edge-rep replay: 19 windows") for line in shown) == 1


def test_replay_gives_json_lines_on_a_pipe_and_with_json_on_a_terminal(stream_model):
    args = ["replay", str(LOG), "--model", stream_model, "--backend", "onnxruntime", "--log-level", "warning"]
    piped = subprocess.run(CLI + args, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert piped.returncode == 0, piped.stderr
    lines = [json.loads(line) for line in piped.stdout.splitlines()]
    assert sum(r["type"] == "window" for r in lines) == 19 and len(lines) == 25
    assert [r["type"] for r in lines].count("detection") == 1 and all("truth" in r for r in lines if "label" in r)
    assert piped.stderr.count("edge-rep replay: 19 windows") == 1
    shown = rows(on_terminal(args + ["--json"]), rf"{lines[0]['node']} boot ")
    assert [json.loads(line) for line in shown[:25]][0]["type"] == "health"
    assert shown[25].startswith("edge-rep replay: 19 windows")


def test_stream_on_a_terminal_clears_its_status_line_and_shows_each_event_once(tmp_path, backend, stream_model):
    sim = Simulator.synthetic(backend.meta.profile, 9.0, 3, Scenario.parse(["drop:acoustic@3-6"]))
    link = PtyLink(tmp_path / "board")
    conf = tmp_path / "c.toml"
    conf.write_text('[node]\nid = "tty-test"\n[output]\nstatus_line = "on"\n')
    board = threading.Thread(target=run_realtime, args=(sim, link, 3.0), kwargs={"on_event": lambda s: None},
                             daemon=True)

    def watch(o: str) -> bool:          # the board starts once the daemon has the port; SIGINT after the drop
        if "link_up" in o and not board.is_alive() and board.ident is None:
            board.start()
        return "dropped -> recovering" in o and o.count("[complete]") >= 4

    try:
        out = on_terminal(["stream", "--port", str(link.link), "--config", str(conf), "--model", stream_model,
                           "--backend", "onnxruntime", "--log-level", "warning"], stop_when=watch)
    finally:
        if board.ident is not None:
            board.join(timeout=10)
        link.close()
    assert "tty-test boot 0" in out                         # the status line was shown ...
    shown = rows(out, "tty-test boot ")                     # ... and erased before every other output
    assert '{"type"' not in out
    assert shown[0] == f"            ** link_up: connected: {link.link}"
    assert shown[1:3] == ["t=   0.05s  ** acoustic0: dropped -> ok (first data)",
                          "t=   0.05s  ** seismic0: dropped -> ok (first data)"]
    assert re.fullmatch(r"t=   2\.00s  \S+ +\d\.\d\d  \[complete\]  acoustic0:ok seismic0:ok", shown[3])
    assert shown.count("t=   3.00s  ** acoustic0: ok -> dropped (board reports the sensor disconnected)") == 1
    assert shown.count("t=   6.05s  ** acoustic0: dropped -> recovering (good samples again)") == 1
    assert any("[acoustic missing, replaying acoustic buffers" in line for line in shown)
    assert re.fullmatch(r"edge-rep stream: \d+ windows .*", shown[-1])
    assert sum(line.startswith("edge-rep stream:") for line in shown) == 1


def test_a_missing_port_is_announced_at_once_and_leaves_no_outputs(tmp_path, stream_model):
    conf = tmp_path / "c.toml"
    conf.write_text("[serial]\nopen_timeout_s = 3\n")
    port = tmp_path / "ttyUSB9"
    cmd = CLI + ["stream", "--port", str(port), "--config", str(conf), "--model", stream_model, "--backend",
                 "onnxruntime", "--out", str(tmp_path / "results.jsonl"), "--record", str(tmp_path / "logs"),
                 "--log-level", "warning"]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        first = proc.stderr.readline()
        said_after = time.monotonic() - t0
        rest = proc.communicate(timeout=60)[1]
    finally:
        proc.kill()
    assert proc.returncode == 2
    assert first == (f"edge-rep WARNING: waiting up to 3 s for {port} (serial.open_timeout_s): port {port}: not "
                     f"found; is the board plugged in? (see ls /dev/serial/by-id)\n")
    assert said_after < 2.5                 # before the wait is over: the model loads, then at once
    assert rest == (f"edge-rep: error: port {port}: not found; is the board plugged in? "
                    f"(see ls /dev/serial/by-id)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]      # no empty results.jsonl, no logs/


def test_simulate_shows_its_clock_and_each_fault_as_it_starts_and_ends(tmp_path):
    cmd = CLI + ["simulate", "--duration", "11", "--speed", "11", "--link", str(tmp_path / "board"),
                 "--fault", "drop:acoustic@2-4", "--fault", "corrupt@3-5=0.001", "--fault", "reset@6",
                 "--fault", "disconnect@7-8", "--fault", "stall@9"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert re.fullmatch(rf"simulated board on /dev/pts/\d+ \(link {re.escape(str(tmp_path / 'board'))}\)", lines[0])
    assert re.fullmatch(r"t=8\.00s: board reappeared on /dev/pts/\d+", lines[9])   # a new pty: its number may differ
    lines[9] = "t=8.00s: board reappeared on PTY"
    assert lines[1:] == [
        "t=0.0s of 11s",                                          # the clock: a line every 5 s off a terminal
        "t=2.00s: fault drop:acoustic@2-4 starts",
        "t=3.00s: fault corrupt@3-5=0.001 starts",
        "t=4.00s: fault drop:acoustic@2-4 ends",
        "t=5.00s: fault corrupt@3-5=0.001 ends",
        "t=5.0s of 11s",
        "t=6.00s: fault reset@6: the board reboots",
        "t=7.00s: board disconnected",
        "t=8.00s: board reappeared on PTY",
        "t=9.00s: fault stall@9 starts",
        "t=10.0s of 11s",                                         # the clock goes on while the wire is silent
        "t=11.00s: the board stopped (end of the signal)",
    ]


def test_simulate_quiet_prints_only_its_pty_and_its_end(tmp_path):
    cmd = CLI + ["simulate", "--duration", "3", "--speed", "6", "--fault", "drop:acoustic@1-2", "--quiet"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 2 and re.fullmatch(r"simulated board on /dev/pts/\d+", lines[0])
    assert lines[1] == "t=3.00s: the board stopped (end of the signal)" and res.stderr == ""


def test_simulate_on_a_terminal_keeps_its_clock_on_one_line(tmp_path):
    out = on_terminal(["simulate", "--duration", "3", "--speed", "6", "--fault", "drop:acoustic@1-2"])
    shown = rows(out, r"t=\d+\.\ds of ")
    assert re.fullmatch(r"simulated board on /dev/pts/\d+", shown[0])
    assert shown[1:] == ["t=1.00s: fault drop:acoustic@1-2 starts", "t=2.00s: fault drop:acoustic@1-2 ends",
                         "t=3.00s: the board stopped (end of the signal)"]
    clock = re.findall(r"\r\x1b\[2Kt=(\d+\.\d)s of 3s", out)       # the clock, redrawn in place
    assert len(clock) >= 5 and clock == sorted(clock, key=float) and float(clock[-1]) >= 2.5
