"""A real headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON
messages separated by NUL bytes on file descriptors 3 and 4), so the tests need no WebSocket client.

    with Chromium(tmp_path) as browser:          # pytest.skip()s with the reason when Chromium is absent
        page = browser.open("http://127.0.0.1:8080/")
        page.evaluate("document.title")
        png = page.screenshot()
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

NAMES = ("chromium", "chromium-browser", "google-chrome")
# fds 3 and 4 in the child are the pipe's ends (what --remote-debugging-pipe expects)
_TRAMPOLINE = ("import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
               "os.execv(sys.argv[3], sys.argv[3:])")


def find_chromium() -> str | None:
    return next((p for p in map(shutil.which, NAMES) if p), None)


class Chromium:
    def __init__(self, tmp_path: Path, width: int = 1200, height: int = 1400):
        exe = find_chromium()
        if exe is None:
            pytest.skip("Chromium is not installed (tests/system_deps.sh installs the 'chromium' package with apt; "
                        "it could not here)")
        self.width, self.height = width, height
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()
        args = [exe, "--headless", "--remote-debugging-pipe", f"--user-data-dir={tmp_path / 'chromium-profile'}",
                "--no-first-run", "--no-default-browser-check", "--disable-gpu", "--disable-extensions",
                "--disable-dev-shm-usage", "--mute-audio", "--hide-scrollbars", f"--window-size={width},{height}"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")           # Chromium refuses to run its sandbox as root
        self._log = open(tmp_path / "chromium.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-c", _TRAMPOLINE, str(to_child_r), str(from_child_w), *args],
                                     pass_fds=(to_child_r, from_child_w), stdout=self._log, stderr=self._log)
        os.close(to_child_r)
        os.close(from_child_w)
        self._id = 0
        self._buf = b""
        try:
            self.version = self.send("Browser.getVersion", timeout=60)["product"]
        except RuntimeError as e:            # a stub that cannot run here (Ubuntu's snap wrapper in a container)
            self.close()
            tail = (tmp_path / "chromium.log").read_text(errors="replace").strip().splitlines()[-1:]
            pytest.skip(f"{exe} does not start here ({e}: {' '.join(tail)})")

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        """One DevTools command; its result (RuntimeError on an error reply)."""
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium exited (code {self.proc.poll()})")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def open(self, url: str) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        page.send("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})
        page.send("Page.enable")
        page.send("Page.navigate", {"url": url})
        page.wait_for(f"document.readyState === 'complete' && location.href === {json.dumps(url)}", timeout=60,
                      what=f"{url} loaded")
        return page

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                try:
                    self.send("Browser.close", timeout=5)
                except (OSError, RuntimeError, TimeoutError):
                    pass
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        finally:
            for fd in (self._r, self._w):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._log.close()


class Page:
    def __init__(self, browser: Chromium, session: str):
        self.browser, self.session = browser, session

    def send(self, method: str, params: dict | None = None) -> dict:
        return self.browser.send(method, params, self.session)

    def evaluate(self, expression: str):
        """The expression's value (JSON-able), evaluated in the page."""
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression!r}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0, what: str = ""):
        """Poll until the expression is truthy; its value. An exception in the page (still loading: an element
        not there yet) counts as not yet."""
        deadline = time.monotonic() + timeout
        error = ""
        while True:
            try:
                v = self.evaluate(expression)
            except RuntimeError as e:
                v, error = None, str(e)
            if v:
                return v
            if time.monotonic() > deadline:
                last = f" (last: {error})" if error else ""
                raise AssertionError(f"the page never got {what or expression!r}{last}")
            time.sleep(0.2)

    def screenshot(self) -> bytes:
        """A PNG of the viewport."""
        return base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"])
