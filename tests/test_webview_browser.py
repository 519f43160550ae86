"""The live web view in a real headless Chromium (tests/headless_browser.py; the system's 'chromium' package,
installed by tests/system_deps.sh): while a simulated board streams through `edge-rep stream --http`, the DOM
the page renders holds the latest window's label, probabilities, scenario, buffer replay, each channel's health,
the events and a spectrogram per modality, matching the daemon's JSON lines; two screenshots a few seconds
apart are not blank and differ. Record types the page does not know are listed as events."""

from __future__ import annotations

import io
import json
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np

from edge_rep.simulator import Scenario, Simulator, run_realtime
from edge_rep.stream.webview import WebView
from firmware_bridge.pty import PtyLink
from headless_browser import Chromium

ROOT = Path(__file__).resolve().parent.parent
SPEED = 2.0          # board seconds per wall second (health and hold-over work on board time)

DOM = """(() => {
  const q = (s) => document.querySelector(s);
  const all = (s) => [...document.querySelectorAll(s)];
  const panel = q('#window-panel');
  const pixel = (id) => {                      // the newest column of a spectrogram, half-way up
    const c = document.getElementById(id);
    return [...c.getContext('2d').getImageData(c.width - 1, c.height / 2, 1, 1).data];
  };
  return {
    node: q('#node').textContent, conn: q('#conn').dataset.state,
    window: panel.dataset.window === undefined ? null : +panel.dataset.window, boot: +panel.dataset.boot,
    label: q('#label').textContent, confidence: q('#confidence').textContent,
    scenario: q('#scenario').textContent, replay: q('#replay').textContent,
    probs: all('#probs tr').map((tr) => [tr.dataset.class, tr.children[1].textContent]),
    health: Object.fromEntries(all('#health li').map((li) => [li.dataset.channel, li.dataset.state])),
    events: all('#events li').map((li) => [li.dataset.type, li.textContent]),
    spectra: all('.spectrum canvas').map((c) => c.id),
    newest: Object.fromEntries(all('.spectrum canvas').map((c) => [c.id, pixel(c.id)])),
  };
})()"""


def png_pixels(png: bytes) -> np.ndarray:
    """The screenshot's pixels (PIL when installed), else its zlib-decoded image data (filter bytes included:
    enough to tell blank from drawn and two images apart)."""
    try:
        from PIL import Image
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    except ImportError:
        pos, idat = 8, b""
        while pos < len(png):
            n, kind = struct.unpack(">I4s", png[pos:pos + 8])
            if kind == b"IDAT":
                idat += png[pos + 8:pos + 8 + n]
            pos += 12 + n
        return np.frombuffer(zlib.decompress(idat), np.uint8)


def daemon_url(proc: subprocess.Popen, lines: list[str], timeout: float = 60.0) -> str:
    """The page's address, from the daemon's log line (port 0: the system picked a free one)."""
    def pump():
        for line in proc.stderr:
            lines.append(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        for line in list(lines):
            m = re.search(r"web view: (http://127\.0\.0\.1:\d+/)", line)
            if m:
                return m.group(1)
        time.sleep(0.05)
    raise AssertionError(f"the daemon logged no web view address: {''.join(lines)}")


def test_the_page_follows_a_live_stream_in_a_real_browser(tmp_path, backend, stream_model):
    browser = Chromium(tmp_path)        # skips, saying why, when Chromium is not installed
    sim = Simulator.synthetic(backend.meta.profile, 24.0, 3, Scenario.parse(["drop:acoustic@4-24"]))
    link = PtyLink(tmp_path / "board")
    out = tmp_path / "out.jsonl"
    conf = tmp_path / "edge-rep.toml"
    conf.write_text('[node]\nid = "web-test"\n[output]\nstatus_line = "off"\n')
    proc = subprocess.Popen([sys.executable, "-m", "edge_rep.cli", "stream", "--port", str(link.link),
                             "--out", str(out), "--config", str(conf), "--model", stream_model,
                             "--backend", "onnxruntime", "--holdover", "60", "--http", "127.0.0.1:0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    board = threading.Thread(target=run_realtime, args=(sim, link, SPEED), kwargs={"on_event": lambda s: None},
                             daemon=True)
    log: list[str] = []
    try:
        url = daemon_url(proc, log)
        board.start()
        page = browser.open(url)
        # windows during the drop: the acoustic buffers cached before it are replayed
        page.wait_for("document.getElementById('window-panel').dataset.replay === 'yes'", timeout=60,
                      what="a window with buffer replay")
        dom = page.evaluate(DOM)
        first = page.screenshot()
        time.sleep(3.0)
        second = page.screenshot()
        later = page.evaluate(DOM)
        board.join(timeout=60)
    finally:
        browser.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            board.join(timeout=30)
            link.close()
    assert proc.returncode == 0, "".join(log)
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    classes = list(backend.meta.classes)

    # the DOM holds the values of the window it shows (the JSON lines are written before the page gets them)
    assert dom["node"] == "web-test" and dom["conn"] == "live"
    i = next(k for k, r in enumerate(recs) if r["type"] == "window" and (r["boot"], r["window"]) ==
             (dom["boot"], dom["window"]))
    rec = recs[i]
    marked = " (uncertain)" if rec.get("uncertain") else ""        # the per-window flag, shown beside it
    assert dom["label"] == rec["label"] and dom["confidence"] == f"{rec['confidence']:.2f}{marked}"
    assert dom["probs"] == [[c, f"{rec['probs'][c]:.2f}"] for c in classes]
    assert rec["scenario"] == "acoustic_missing" and dom["scenario"] == "acoustic missing"
    age = rec["buffer_age_s"]["acoustic"]
    assert rec["replay"] == ["acoustic"] and dom["replay"] == f"replaying acoustic ({age:.0f} s old)"
    for ch, state in dom["health"].items():       # the window's states, or a health event's that came after it
        later_states = {r["to"] for r in recs[i + 1:] if r["type"] == "health" and r["channel"] == ch}
        assert state in {rec["health"][ch]} | later_states, (ch, state)
    assert dom["health"]["acoustic0"] == "dropped" and set(dom["health"]) == {"acoustic0", "seismic0"}
    texts = [t for _, t in dom["events"]]
    assert any("acoustic0" in t and "ok → dropped" in t for t in texts), texts
    assert ("notice" in {k for k, _ in dom["events"]}) and any("link_up" in t for t in texts)
    assert dom["spectra"] == ["spec-acoustic", "spec-seismic"]
    # the newest column: the missing microphone drawn as replayed (blue tint), the geophone as a spectrum
    assert dom["newest"]["spec-acoustic"] == [24, 48, 80, 255]
    assert dom["newest"]["spec-seismic"] not in ([48, 48, 48, 255], [24, 48, 80, 255], [0, 0, 0, 255])
    assert (later["boot"], later["window"]) > (dom["boot"], dom["window"])      # it kept updating

    a, b = png_pixels(first), png_pixels(second)
    for img in (a, b):
        assert img.std() > 10 and len(np.unique(img.reshape(-1, img.shape[-1]) if img.ndim == 3 else img)) > 50
    assert a.shape == b.shape
    changed = (a != b).any(axis=-1).mean() if a.ndim == 3 else (a != b).mean()
    assert changed > 1e-3, f"the two screenshots differ in {changed:.2%} of their pixels"


def test_the_page_lists_record_types_it_does_not_know(tmp_path, backend):
    """Detections (another part of the daemon adds them) and any future record type are events on the page."""
    view = WebView("127.0.0.1", 0, backend.meta, socket.gethostname())
    try:
        view.write({"type": "detection", "label": "car", "start": 3.0, "end": 9.5, "confidence": 0.91234,
                    "boot": 0, "board_time": 9.5, "schema": 1, "node": "n"})
        view.write({"type": "future_kind", "message": "something a later version says", "boot": 0})
        view.write({"type": "odd", "count": 3, "nested": {"x": 1}, "boot": 0, "board_time": None})
        with Chromium(tmp_path) as browser:
            page = browser.open(view.url)
            page.wait_for("document.querySelectorAll('#events li').length === 3", timeout=30, what="three events")
            events = page.evaluate("[...document.querySelectorAll('#events li')].map(li => [li.dataset.type, "
                                   "li.querySelector('.kind').textContent, li.textContent])")
            label = page.evaluate("document.getElementById('label').textContent")
    finally:
        view.close()
    assert [e[:2] for e in events] == [["odd", "odd"], ["future_kind", "future_kind"], ["detection", "detection"]]
    assert "count=3" in events[0][2] and "nested" not in events[0][2]
    assert "something a later version says" in events[1][2]
    assert "label=car" in events[2][2] and "confidence=0.912" in events[2][2] and "t=9.50s" in events[2][2]
    assert label == "waiting for data"                 # no window yet
