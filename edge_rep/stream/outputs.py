"""Where records go: JSON lines (stdout or a file, flushed per line), MQTT, and a human summary on stderr.

No output stops the daemon, and none fails silently. Each sink keeps an ``OutputState``: its first
failure is logged once and becomes an ``output_down`` notice, later ones are counted (and summarised
every ``LOG_EVERY_S``), and when it works again an ``output_up`` notice says how many records it lost.
The runner collects these notices (``take_notices``) and writes them to every sink, so each output's
gap is explained in the others and, once it is back, in itself: a JSON lines output that works again
writes its ``output_up`` line itself, just before the first record after the gap (``announced``).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from ..config import MqttSection, OutputSection
from ..errors import EdgeRepError
from ..modelspec import scenario_label
from ..outpaths import OutputKind, check_writable_place, refuse_foreign
from .notices import SHOWN, Notice
from .schema import notice_record

log = logging.getLogger("edge_rep.stream")

LOG_EVERY_S = 60.0         # a failing output is logged at most this often after its first error
ROTATE_RETRY_S = 60.0      # a failed rotation (read-only folder) is tried again after this long


def _is_json_lines(path: Path) -> bool:
    """Empty, or a first line that is one of our records (a JSON object with a "type"); a file whose only
    line was torn (a full disk) counts when it starts like one."""
    with open(path, "rb") as f:
        first = f.readline(1 << 20)
    if not first:
        return True
    if not first.endswith(b"\n"):
        return first.startswith(b'{"type":')
    rec = json.loads(first)
    return isinstance(rec, dict) and "type" in rec


# Appended to (never replaced) and rotated: only a file of our own records may be there already.
JSON_LINES = OutputKind("JSON lines output", folder=False, owned=_is_json_lines)


class OutputState:
    """Whether an output works (thread-safe: MQTT's callbacks run on paho's thread). ``failed`` the
    first time logs an error and queues an ``output_down`` notice; ``ok`` after a failure logs and
    queues ``output_up`` with the records lost meanwhile. ``lost`` counts every record lost."""

    def __init__(self, name: str):
        self.name = name
        self.lost = 0
        self.failures = 0
        self._lock = threading.Lock()
        self._notices: list[tuple[str, str]] = []
        self._down_since: float | None = None
        self._reason = ""
        self._lost_at_down = 0
        self._last_log = 0.0
        self.announced: set[str] = set()       # output_up messages the output already wrote itself

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def failed(self, reason: str, lost: int = 1, consequence: str = "records are lost until it works again") -> None:
        """A failure (``reason``: one line); ``lost`` records did not get out."""
        with self._lock:
            self.lost += lost
            self.failures += 1
            now = time.monotonic()
            if self._down_since is None:
                self._down_since, self._reason, self._lost_at_down = now, reason, self.lost - lost
                self._last_log = now
                text = f"{self.name}: {reason}; {consequence}"
                log.error("output %s", text, extra=SHOWN)
                self._notices.append(("output_down", text))
            elif now - self._last_log >= LOG_EVERY_S:
                self._last_log = now
                log.error("output %s: still failing (%s); %d records lost since %.0f s ago", self.name, reason,
                          self.lost - self._lost_at_down, now - self._down_since)

    def add_lost(self, n: int = 1) -> None:
        with self._lock:
            self.lost += n

    def up_text(self, note: str = "") -> str:
        """The ``output_up`` message if it worked now ("" while it works)."""
        with self._lock:
            if self._down_since is None:
                return ""
            return (f"{self.name}: works again after {time.monotonic() - self._down_since:.1f} s; "
                    f"{self.lost - self._lost_at_down} records were lost ({self._reason})"
                    + (f"; {note}" if note else ""))

    def ok(self, note: str = "", text: str = "", announced: bool = False) -> None:
        """It works (again); ``text``: the ``output_up`` message when the output computed (``up_text``)
        and, with ``announced``, already wrote it."""
        if self._down_since is None:
            return
        text = text or self.up_text(note)
        with self._lock:
            if self._down_since is None:
                return
            log.warning("output %s", text, extra=SHOWN)
            self._notices.append(("output_up", text))
            if announced:
                self.announced.add(text)
            self._down_since = None

    def take_notices(self) -> list[tuple[str, str]]:
        with self._lock:
            out, self._notices = self._notices, []
        return out


class JsonlSink:
    """One JSON object per line, flushed per line. ``-`` is stdout. A regular file is rotated at
    ``rotate_mb`` (0: never; a device such as /dev/null is never rotated).

    Each line is written whole or not at all: a write that fails part-way (a full disk) is cut back to
    the end of the previous line, and a file that a crash left ending mid-line is cut back to its last
    newline when it is opened again. Write, rotation and close errors never leave this class: writing
    goes on (records that cannot be written are counted, ``state``), rotation is retried later."""

    def __init__(self, target: str | Path = "-", rotate_mb: float = 0.0, keep_files: int = OutputSection.keep_files):
        self.target = str(target)
        self.rotate_bytes = int(rotate_mb * 1e6) if rotate_mb else 0
        self.keep_files = max(int(keep_files), 1)
        self.lines = 0
        self.state = OutputState(f"JSON lines {'stdout' if self.target == '-' else self.target}")
        self._fd: int | None = None
        self._regular = False
        self._size = 0
        self._rotate_after = 0.0
        if self.target != "-":
            refuse_foreign(self.target, JSON_LINES, option="output file")
            if Path(self.target).exists():
                self._open()
            else:                        # made with the first record: a run that got no data leaves nothing
                check_writable_place(Path(self.target), "output file")

    @classmethod
    def from_config(cls, section: OutputSection) -> JsonlSink:
        """From the ``[output]`` section (``Config.output``): target, rotation size and files kept."""
        return cls(section.jsonl, section.rotate_mb, section.keep_files)

    @property
    def lost(self) -> int:
        return self.state.lost

    def take_notices(self) -> list[tuple[str, str]]:
        return self.state.take_notices()

    def _open(self) -> None:
        """Open (append) the target; EdgeRepError if it cannot be (only at start: later failures are counted)."""
        p = Path(self.target)
        try:
            if p.parent and not p.parent.exists():
                p.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as e:
            raise EdgeRepError(f"{p}: cannot open the output file ({e.strerror}); check the path and "
                               "its permissions") from None
        st = os.fstat(fd)
        self._fd, self._regular, self._size = fd, stat.S_ISREG(st.st_mode), st.st_size
        if self._regular and self._size:
            self._cut_torn_line()

    def _cut_torn_line(self) -> None:
        """A file left ending mid-line (a full disk, a power cut) is cut back to its last newline."""
        try:
            with open(self.target, "rb") as f:
                pos = self._size
                while pos > 0:
                    step = min(pos, 1 << 16)
                    f.seek(pos - step)
                    block = f.read(step)
                    nl = block.rfind(b"\n")
                    if nl >= 0:
                        pos = pos - step + nl + 1
                        break
                    pos -= step
            if pos < self._size:
                os.ftruncate(self._fd, pos)
                log.warning("output %s: removed %d bytes of a torn last line (the disk was full or the power was "
                            "cut); appending after the last whole line", self.target, self._size - pos)
                self._size = pos
        except OSError as e:
            log.warning("output %s: cannot check its last line (%s)", self.target, e.strerror or e)

    def write(self, rec: dict) -> None:
        """Write one record as a line; never raises, except BrokenPipeError on stdout (the reader went away)."""
        line = json.dumps(rec, separators=(",", ":")) + "\n"
        up = self.state.up_text()
        if up:                                   # back after a gap: its notice goes first, in the same write
            note = notice_record(Notice("output_up", rec.get("boot", 0), None, up), rec.get("node", ""))
            line = json.dumps(note, separators=(",", ":")) + "\n" + line
        try:
            if self.target == "-":
                self._write_stdout(line)
            else:
                self._write_file(line.encode())
        except BrokenPipeError:
            if self.target == "-":
                raise
            self.state.failed("the pipe was closed")
            return
        except OSError as e:
            self.state.failed(f"cannot write ({e.strerror or e})")
            return
        except ValueError as e:                  # a closed stream
            self.state.failed(f"cannot write ({e})")
            return
        self.lines += 1
        self.state.ok(text=up, announced=True)
        if self.rotate_bytes and self._regular and self._size >= self.rotate_bytes \
                and time.monotonic() >= self._rotate_after:
            self._rotate()

    def _write_stdout(self, line: str) -> None:
        out = sys.stdout
        try:
            fd = out.fileno()
        except (AttributeError, OSError, ValueError):
            fd = None                            # not a real file (a test's capture): write through it
        if fd is None:
            out.write(line)
            out.flush()
            return
        out.flush()                              # anything printed before goes first
        self._write_fd(fd, line.encode(), regular=False)

    def _write_file(self, data: bytes) -> None:
        if self._fd is None:                     # the first record, or closed by a failed rotation: open
            try:
                self._open()
            except EdgeRepError as e:
                raise OSError(errno.EIO, str(e)) from None
        self._write_fd(self._fd, data, regular=self._regular)
        self._size += len(data)

    def _write_fd(self, fd: int, data: bytes, regular: bool) -> None:
        """All of ``data`` or, on an error part-way, none of it (a regular file is cut back)."""
        done = 0
        try:
            while done < len(data):
                done += os.write(fd, data[done:])
        except OSError:
            if done and regular:
                try:
                    os.ftruncate(fd, self._size)
                except OSError as e:
                    log.warning("output %s: cannot cut back a torn line (%s); it is cut at the next start",
                                self.target, e.strerror or e)
            raise

    def _rotate(self) -> None:
        """file -> file.1 -> ... -> file.N; the oldest goes. A failure (a read-only folder) keeps appending to
        the current file and tries again after ``ROTATE_RETRY_S``."""
        p = Path(self.target)
        try:
            for i in range(self.keep_files - 1, 0, -1):
                src = p.with_name(f"{p.name}.{i}")
                if src.exists():
                    os.replace(src, p.with_name(f"{p.name}.{i + 1}"))
            os.replace(p, p.with_name(f"{p.name}.1"))
        except OSError as e:
            self._rotate_after = time.monotonic() + ROTATE_RETRY_S
            log.error("output %s: cannot rotate (%s); appending to it, trying again in %.0f s", self.target,
                      e.strerror or e, ROTATE_RETRY_S)
            return
        stale = p.with_name(f"{p.name}.{self.keep_files + 1}")
        try:
            if stale.exists():
                stale.unlink()
        except OSError as e:
            log.warning("output %s: cannot delete %s (%s)", self.target, stale, e.strerror or e)
        old, self._fd = self._fd, None
        try:
            self._open()
        except EdgeRepError as e:                # the next write tries again
            log.error("%s", e)
        finally:
            self._close_fd(old)

    def _close_fd(self, fd: int | None) -> None:
        if fd is None:
            return
        try:
            os.close(fd)
        except OSError as e:
            log.error("output %s: closing failed (%s); lines written before were already handed to the system",
                      self.target, e.strerror or e)

    def close(self) -> None:
        """Flush and close; never raises."""
        if self.target == "-":
            try:
                sys.stdout.flush()
            except (OSError, ValueError):
                pass
            return
        fd, self._fd = self._fd, None
        self._close_fd(fd)


# What each MQTT quality of service promises here; said once at start.
MQTT_MAX_QUEUED = 10_000   # QoS 1/2 records held while the broker is away (about 2 h of windows)
MQTT_GUARANTEES = {
    0: "QoS 0, at most once: records made while the broker is unreachable are dropped (and counted); records "
       "in flight when a connection breaks can be lost unnoticed",
    1: f"QoS 1, at least once: records wait (up to {MQTT_MAX_QUEUED}) while the broker is unreachable and are "
       "sent after reconnecting; a record may arrive twice",
    2: f"QoS 2, exactly once: records wait (up to {MQTT_MAX_QUEUED}) while the broker is unreachable and are "
       "sent after reconnecting",
}


def _paho_client():
    """paho.mqtt.client, 2.0 or newer; EdgeRepError with the install hint otherwise (also for a 1.x, e.g.
    Ubuntu's python3-paho-mqtt seen through a venv made with --system-site-packages)."""
    hint = "pip install 'edge-rep[mqtt]' (paho-mqtt>=2.0) in edge-rep's environment, or set [mqtt] enabled = false"
    try:
        import paho.mqtt.client as mqtt
    except ImportError:
        raise EdgeRepError(f"MQTT output needs paho-mqtt, which is not installed; {hint}") from None
    if not hasattr(mqtt, "CallbackAPIVersion"):
        import paho.mqtt
        version = getattr(paho.mqtt, "__version__", "1.x")
        raise EdgeRepError(f"MQTT output needs paho-mqtt 2.0 or newer, but {version} is installed "
                           f"({os.path.dirname(mqtt.__file__)}); {hint}")
    return mqtt


class MqttSink:
    """Publishes every record as JSON to ``topic`` (``{node}`` is replaced); windows to ``<topic>/window``,
    detections (``detection``, ``detection_open``) to ``<topic>/detection``, events to ``<topic>/event``.
    paho-mqtt's network loop runs in its own thread and reconnects with the back-off ``reconnect_s`` (the
    ``[serial]`` one). A broker that is down, or whose name does not resolve yet, at start is not an error:
    the sink starts disconnected and keeps trying. Publish results are checked: ``sent`` (QoS 0: handed to
    the network; QoS 1/2: acknowledged), ``unsent`` (dropped: no connection at QoS 0, or the QoS 1/2 queue
    of ``MQTT_MAX_QUEUED`` full); link changes are logged and become notices (``state``)."""

    def __init__(self, host: str, port: int = MqttSection.port, topic: str = MqttSection.topic, node: str = "node",
                 client_id: str = "", qos: int = MqttSection.qos, username: str = "", password_file: str = "",
                 tls: bool = False, keepalive_s: int = MqttSection.keepalive_s, connect_timeout_s: float = 5.0,
                 reconnect_s: tuple[float, float] = (0.5, 10.0)):
        mqtt = _paho_client()
        self._ok, self._no_conn, self._full = mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN, mqtt.MQTT_ERR_QUEUE_SIZE
        self.host, self.port = host, int(port)
        self.topic, self.qos = topic.replace("{node}", node), int(qos)
        self.state = OutputState(f"MQTT broker {host}:{port}")
        self.sent = self.unsent = self.submitted = 0
        self._lock = threading.Lock()
        self._closing = False
        lo, hi = float(reconnect_s[0]), max(float(reconnect_s[0]), float(reconnect_s[1]))
        self._retry = f"reconnecting every {lo:g} to {hi:g} s"
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
        self.client.reconnect_delay_set(lo, hi)
        self.client.max_queued_messages_set(MQTT_MAX_QUEUED)
        self._connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_publish = self._on_publish
        log.info("MQTT: publishing to %s:%s topic %s/{window,detection,event}; %s", host, port, self.topic,
                 MQTT_GUARANTEES.get(self.qos, f"QoS {self.qos}"))
        try:
            self.client.connect(host, self.port, keepalive=int(keepalive_s))
            connecting = True
        except OSError as e:            # down, refused, or a name that does not resolve yet: keep trying
            self.state.failed(f"cannot connect ({e.strerror or e})", lost=0, consequence=self._consequence())
            connecting = False
        except ValueError as e:
            raise EdgeRepError(f"MQTT broker {host}:{port}: {e}; check [mqtt] host and port") from None
        self.client.loop_start()
        if connecting and not self._connected.wait(connect_timeout_s):
            log.warning("MQTT broker %s:%s has not accepted the connection yet; %s", host, port, self._consequence())

    @classmethod
    def from_config(cls, section: MqttSection, node: str, reconnect_s: tuple[float, float] = (0.5, 10.0)) -> MqttSink:
        """From the ``[mqtt]`` section (``Config.mqtt``); ``node`` is ``[node] id``, for the topic and client id;
        ``reconnect_s``: the back-off (``[serial] reconnect_min_s``, ``reconnect_max_s``)."""
        return cls(section.host, section.port, section.topic, node, section.client_id, section.qos,
                   section.username, section.password_file, section.tls, section.keepalive_s,
                   reconnect_s=reconnect_s)

    def _consequence(self) -> str:
        what = ("records are dropped (QoS 0)" if self.qos == 0
                else f"records wait in a queue of up to {MQTT_MAX_QUEUED} (QoS {self.qos})")
        return f"{self._retry}; meanwhile {what}"

    # -- paho's thread ---------------------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties=None) -> None:
        if reason_code.is_failure:
            self.state.failed(f"the broker refused the connection ({reason_code})", lost=0,
                              consequence=self._consequence())
            return
        self._connected.set()
        log.info("MQTT: connected to %s:%s", self.host, self.port)
        self.state.ok("queued records are being sent" if self.qos else "")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties=None) -> None:
        self._connected.clear()
        if not self._closing:
            self.state.failed(f"connection lost ({reason_code})", lost=0, consequence=self._consequence())

    def _on_connect_fail(self, client, userdata) -> None:
        self.state.failed("cannot connect", lost=0, consequence=self._consequence())

    def _on_publish(self, client, userdata, mid, reason_code=None, properties=None) -> None:
        with self._lock:
            self.sent += 1

    # -- main thread -----------------------------------------------------------------------------
    @property
    def lost(self) -> int:
        return self.unsent

    @property
    def pending(self) -> int:
        """Records handed to paho and neither confirmed nor dropped yet."""
        with self._lock:
            return self.submitted - self.sent - self.unsent

    def take_notices(self) -> list[tuple[str, str]]:
        return self.state.take_notices()

    def write(self, rec: dict) -> None:
        """Publish one record; never raises (a record that cannot be sent is counted in ``unsent``)."""
        kind = rec.get("type")
        sub = kind if kind == "window" else "detection" if kind in ("detection", "detection_open") else "event"
        try:
            info = self.client.publish(f"{self.topic}/{sub}", json.dumps(rec, separators=(",", ":")), qos=self.qos)
            rc = info.rc
        except Exception as e:  # noqa: BLE001 - paho raises ValueError/RuntimeError on odd states
            rc, error = None, f"{type(e).__name__}: {e}"
        else:
            error = ""
        with self._lock:
            self.submitted += 1
        if rc == self._ok or (rc == self._no_conn and self.qos > 0):    # sent, or queued for after reconnecting
            return
        with self._lock:
            self.unsent += 1
        if not error:
            error = ("not connected" if rc == self._no_conn
                     else f"the queue of {MQTT_MAX_QUEUED} records is full" if rc == self._full
                     else f"publish failed ({rc})")
        self.state.failed(error, lost=1, consequence=self._consequence())

    def close(self, timeout_s: float = 2.0) -> None:
        """Wait briefly for queued records to leave (they are the last results), then disconnect. Records
        still not confirmed are logged; never raises."""
        deadline = time.monotonic() + timeout_s
        while self.pending > 0 and self._connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)
        self._closing = True
        left = self.pending
        if left or self.unsent:
            log.warning("MQTT broker %s:%s: %d records were not sent and %d not confirmed at exit (QoS %d)",
                        self.host, self.port, self.unsent, left, self.qos)
        try:
            self.client.disconnect()
            self.client.loop_stop()
        except Exception as e:  # noqa: BLE001 - closing must not fail the daemon's exit
            log.warning("MQTT: closing the connection failed (%s)", e)


class ListSink:
    """Keeps every record in a list (tests, notebooks, ``playback_records``)."""

    def __init__(self):
        self.records: list[dict] = []

    def write(self, rec: dict) -> None:
        self.records.append(rec)

    def close(self) -> None:
        pass


class ReadableSink:
    """One readable line per record (the demo's stdout, and stdout on a terminal): window label and
    scenario, detections marked ``>>``, events ``**``; a record's ``truth`` (log playback with labels,
    the demo) is shown beside it."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout

    def write(self, rec: dict) -> None:
        self.stream.write(format_record(rec) + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass


def results_sink(section: OutputSection, json_lines: bool = False, stream: TextIO | None = None):
    """Where ``stream`` and ``replay`` put their records: readable lines (``ReadableSink``) when they go to
    stdout (``[output] jsonl = "-"``) and stdout is a terminal, unless ``json_lines`` (``--json``); JSON
    lines otherwise (``JsonlSink.from_config``), so a pipe or a file always gets JSON."""
    stream = stream or sys.stdout
    if section.jsonl == "-" and not json_lines and bool(getattr(stream, "isatty", lambda: False)()):
        return ReadableSink(stream)
    return JsonlSink.from_config(section)


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
        line = f"{when}  {what:<17} [{scen}]  {health}"
        if rec.get("uncertain"):
            line += "  uncertain"
        return line + (f"  (truth: {rec['truth'] or '?'})" if "truth" in rec else "")
    if rec.get("type") in ("detection", "detection_open"):
        return f"{when}  {format_detection(rec)}"
    if rec.get("type") == "health":
        return f"{when}  ** {rec['channel']}: {rec['from']} -> {rec['to']} ({rec['reason']})"
    return f"{when}  ** {rec.get('event', rec.get('type'))}: {rec.get('message', '')}"


def format_detection(rec: dict) -> str:
    """A detection line in words: ``>> truck 0.91 (peak 0.97) 7.0 s from t=5.00s, 6 windows, ...``."""
    mods = rec["modalities"]
    seen = " + ".join(mods) if len(mods) > 1 else (f"{mods[0]} only" if mods else "no modality")
    extra = [f"{rec['windows']} windows", seen]
    if rec["replayed_windows"]:
        extra.append(f"{rec['replayed_windows']} replayed")
    if rec["uncertain_windows"]:
        extra.append(f"{rec['uncertain_windows']} uncertain")
    if rec["level_flags"]:
        extra.append("level " + " ".join(f"{m}:{'/'.join(f)}" for m, f in rec["level_flags"].items()))
    truth = f"  (truth: {rec['truth']})" if "truth" in rec else ""
    head = (f">> ALARM detection {rec['detection']} open: {rec['label']} {rec['mean_confidence']:.2f} since "
            f"t={rec['onset']:.2f}s" if rec["type"] == "detection_open" else
            f">> detection {rec['detection']}: {rec['label']} {rec['mean_confidence']:.2f} (peak "
            f"{rec['peak_confidence']:.2f}), {rec['duration_s']:.1f} s from t={rec['onset']:.2f}s")
    return f"{head}, {', '.join(extra)}{truth}"


class StatusLine:
    """A short human summary on stderr: a live, rewritten line on a terminal, else a line every ``every_s``.

    Anything else written to the terminal (a record on stdout, a log line) first calls ``clear``, so it
    never lands on the live line's row; the runner's next update draws the line again below it."""

    def __init__(self, mode: str = "auto", stream: TextIO | None = None, every_s: float = 30.0):
        self.stream = stream or sys.stderr
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.live = tty if mode == "auto" else mode == "on"
        self.enabled = mode != "off"
        self.every_s = every_s
        self._shown = False
        self._text = ""
        self._last = -1e18
        self._lock = threading.Lock()    # the reader thread's log lines clear it too

    def due(self, now: float) -> bool:
        """Whether an update at ``now`` would be shown (a live line is redrawn at most 5 times a second)."""
        return self.enabled and now - self._last >= (0.2 if self.live else self.every_s)

    def update(self, text: str, now: float) -> None:
        if not self.due(now) or (self._shown and text == self._text):     # a live line is only redrawn if it changed
            return
        with self._lock:
            self._last, self._text = now, text
            self.stream.write(("\r\x1b[2K" + text) if self.live else text + "\n")
            self._shown = self.live
            self.stream.flush()

    def clear(self) -> None:
        """Erase the live line (if shown) so that the next output starts on a clean row."""
        with self._lock:
            if not self._shown:
                return
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._shown = False

    def close(self) -> None:
        self.clear()
