"""Where records go: JSON lines (stdout or a file, flushed per line), MQTT, and a human summary on stderr."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import TextIO

from ..config import MqttSection, OutputSection
from ..errors import EdgeRepError
from ..modelspec import scenario_label
from ..outpaths import OutputKind, refuse_foreign

log = logging.getLogger("edge_rep.stream")


def _is_json_lines(path: Path) -> bool:
    """Empty, or a first line that is one of our records (a JSON object with a "type")."""
    with open(path, "rb") as f:
        first = f.readline(1 << 20)
    if not first:
        return True
    rec = json.loads(first)
    return isinstance(rec, dict) and "type" in rec


# Appended to (never replaced) and rotated: only a file of our own records may be there already.
JSON_LINES = OutputKind("JSON lines output", folder=False, owned=_is_json_lines)


class JsonlSink:
    """One JSON object per line, flushed per line. ``-`` is stdout. Rotates a file at ``rotate_mb`` (0: never)."""

    def __init__(self, target: str | Path = "-", rotate_mb: float = 0.0, keep_files: int = OutputSection.keep_files):
        self.target = str(target)
        self.rotate_bytes = int(rotate_mb * 1e6) if rotate_mb else 0
        self.keep_files = max(int(keep_files), 1)
        self.lines = 0
        if self.target == "-":
            self.f: TextIO = sys.stdout
        else:
            refuse_foreign(self.target, JSON_LINES, option="output file")
            self.f = self._open()

    @classmethod
    def from_config(cls, section: OutputSection) -> JsonlSink:
        """From the ``[output]`` section (``Config.output``): target, rotation size and files kept."""
        return cls(section.jsonl, section.rotate_mb, section.keep_files)

    def _open(self) -> TextIO:
        p = Path(self.target)
        try:
            if p.parent and not p.parent.exists():
                p.parent.mkdir(parents=True, exist_ok=True)
            return open(p, "a", encoding="utf-8", buffering=1)
        except OSError as e:
            raise EdgeRepError(f"{p}: cannot open the output file ({e.strerror}); check the path and "
                               "its permissions") from None

    def write(self, rec: dict) -> None:
        self.f.write(json.dumps(rec, separators=(",", ":")) + "\n")
        self.f.flush()
        self.lines += 1
        if self.rotate_bytes and self.target != "-" and self.f.tell() >= self.rotate_bytes:
            self._rotate()

    def _rotate(self) -> None:
        self.f.close()
        p = Path(self.target)
        for i in range(self.keep_files - 1, 0, -1):
            src = p.with_name(f"{p.name}.{i}")
            if src.exists():
                os.replace(src, p.with_name(f"{p.name}.{i + 1}"))
        os.replace(p, p.with_name(f"{p.name}.1"))
        stale = p.with_name(f"{p.name}.{self.keep_files + 1}")
        if stale.exists():
            stale.unlink()
        self.f = self._open()

    def close(self) -> None:
        try:
            self.f.flush()
        except (OSError, ValueError):
            pass
        if self.f is not sys.stdout:
            self.f.close()


class MqttSink:
    """Publishes every record as JSON to ``topic`` (``{node}`` is replaced); windows to ``<topic>/window``,
    events to ``<topic>/event``. paho-mqtt's network loop runs in its own thread and reconnects by itself."""

    def __init__(self, host: str, port: int = MqttSection.port, topic: str = MqttSection.topic, node: str = "node",
                 client_id: str = "", qos: int = MqttSection.qos, username: str = "", password_file: str = "",
                 tls: bool = False, keepalive_s: int = MqttSection.keepalive_s, connect_timeout_s: float = 5.0):
        try:
            import paho.mqtt.client as mqtt
        except ImportError:
            raise EdgeRepError("MQTT output needs paho-mqtt, which is not installed; "
                               "pip install 'edge-rep[mqtt]' or set [mqtt] enabled = false") from None
        self.topic, self.qos = topic.replace("{node}", node), int(qos)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"edge-rep-{node}")
        if username:
            password = None
            if password_file:
                try:
                    password = Path(password_file).read_text().strip()
                except OSError as e:
                    raise EdgeRepError(f"{password_file}: cannot read the MQTT password file ({e.strerror}); "
                                       "check [mqtt] password_file") from None
            self.client.username_pw_set(username, password)
        if tls:
            self.client.tls_set()
        self._connected = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p=None: self._connected.set() if not rc.is_failure else None
        self.client.on_disconnect = lambda *a: self._connected.clear()
        try:
            self.client.connect(host, int(port), keepalive=int(keepalive_s))
        except OSError as e:
            raise EdgeRepError(f"MQTT broker {host}:{port}: cannot connect ({e.strerror or e}); check [mqtt] host "
                               "and port, or set [mqtt] enabled = false") from None
        self.client.loop_start()
        if not self._connected.wait(connect_timeout_s):
            log.warning("MQTT broker %s:%s has not accepted the connection yet; messages are queued", host, port)
        self.published = 0
        self._last = None

    @classmethod
    def from_config(cls, section: MqttSection, node: str) -> MqttSink:
        """From the ``[mqtt]`` section (``Config.mqtt``); ``node`` is ``[node] id``, for the topic and client id."""
        return cls(section.host, section.port, section.topic, node, section.client_id, section.qos,
                   section.username, section.password_file, section.tls, section.keepalive_s)

    def write(self, rec: dict) -> None:
        sub = "window" if rec.get("type") == "window" else "event"
        self._last = self.client.publish(f"{self.topic}/{sub}", json.dumps(rec, separators=(",", ":")), qos=self.qos)
        self.published += 1

    def close(self, timeout_s: float = 2.0) -> None:
        """Wait briefly for queued messages to leave (they are the last results), then disconnect."""
        if self._last is not None and self._connected.is_set():
            try:
                self._last.wait_for_publish(timeout_s)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()


class ListSink:
    """Keeps every record in a list (tests, notebooks, ``playback_records``)."""

    def __init__(self):
        self.records: list[dict] = []

    def write(self, rec: dict) -> None:
        self.records.append(rec)

    def close(self) -> None:
        pass


class ReadableSink:
    """One readable line per record (the demo's stdout): window label and scenario, events marked."""

    def __init__(self, stream: TextIO | None = None, truth=None):
        """``truth(t0, t1) -> label | None``: the true label of a window, when known (the demo's simulator)."""
        self.stream, self.truth = stream or sys.stdout, truth

    def write(self, rec: dict) -> None:
        line = format_record(rec)
        if self.truth is not None and rec.get("type") == "window" and rec.get("boot") == 0:
            line += f"  (truth: {self.truth(rec['window_start'], rec['board_time']) or '?'})"
        self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass


def format_record(rec: dict) -> str:
    t = rec.get("board_time")
    when = f"t={t:7.2f}s" if isinstance(t, (int, float)) else " " * 10
    if rec.get("boot"):
        when += f" (boot {rec['boot']})"
    if rec.get("type") == "window":
        if rec["label"] is None:
            what = f"{'-':<11} no modality present"
        else:
            what = f"{rec['label']:<11} {rec['confidence']:.2f}"
        scen = scenario_label(rec["scenario"])
        if rec["replay"]:
            scen += ", replaying " + ", ".join(f"{m} buffers {rec['buffer_age_s'][m]:.0f} s old" for m in rec["replay"])
        elif rec["scenario"] != "complete" and rec["label"] is not None:
            scen += ", learned buffers"
        health = " ".join(f"{k}:{v}" for k, v in rec["health"].items())
        return f"{when}  {what:<17} [{scen}]  {health}"
    if rec.get("type") == "health":
        return f"{when}  ** {rec['channel']}: {rec['from']} -> {rec['to']} ({rec['reason']})"
    return f"{when}  ** {rec.get('event', rec.get('type'))}: {rec.get('message', '')}"


class StatusLine:
    """A short human summary on stderr: a live, rewritten line on a terminal, else a line every ``every_s``."""

    def __init__(self, mode: str = "auto", stream: TextIO | None = None, every_s: float = 30.0):
        self.stream = stream or sys.stderr
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.live = tty if mode == "auto" else mode == "on"
        self.enabled = mode != "off"
        self.every_s = every_s
        self._last = -1e18

    def due(self, now: float) -> bool:
        """Whether an update at ``now`` would be shown (a live line is redrawn at most 5 times a second)."""
        return self.enabled and now - self._last >= (0.2 if self.live else self.every_s)

    def update(self, text: str, now: float) -> None:
        if not self.due(now):
            return
        self._last = now
        self.stream.write(("\r\x1b[2K" + text) if self.live else text + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        """An event on a line of its own above the live line (on a terminal only: elsewhere the log has it)."""
        if not (self.enabled and self.live):
            return
        self.stream.write("\r\x1b[2K" + text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.live:
            self.stream.write("\n")
            self.stream.flush()
