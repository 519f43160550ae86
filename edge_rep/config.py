"""``edge-rep.toml``: the daemon's configuration, as dataclasses with documented defaults and validation.

One dataclass per TOML section (``SerialSection`` for ``[serial]``, ``HealthSection`` for ``[health]``, ...);
every key is a field whose ``doc`` metadata says what it means, and whose ``choices``/bounds are enforced
by ``load_config``. Each key is defined here once: the daemon's parts read their section as it is
(``ChannelHealth(..., cfg.health)``, ``JsonlSink.from_config(cfg.output)``,
``BufferReplayClassifier.from_config(backend, cfg.replay)``) and take their defaults from it. A bad key
or value raises ``EdgeRepError`` with one line: ``<file>: <section.key>: <problem>; <what to do>``. No
torch here: this is on the daemon's import path.

    cfg = load_config("/etc/edge-rep/edge-rep.toml")   # or load_config(None) for the defaults
    cfg.serial.baud, cfg.health.data_timeout_s, cfg.node.id
    print(dump_toml(cfg))                               # the effective config, commented
"""

from __future__ import annotations

import ipaddress
import json
import math
import socket
import sys
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

from .backends import CHOICES as BACKEND_CHOICES, KINDS as BACKEND_KINDS
from .errors import EdgeRepError
from .inpaths import CONFIG_MAX, read_input
from .profiles import MODALITIES

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 (JetPack 6's Ubuntu 22.04)
    import tomli as tomllib


# Longest string value: a path (PATH_MAX) is the longest thing a key holds; node.id is shorter still.
STR_MAX = 4096


def _key(default, doc: str, *, choices: tuple | None = None, ge: float | None = None, gt: float | None = None,
         le: float | None = None, lt: float | None = None, max_len: int = STR_MAX, factory=None,
         kind: type | None = None):
    """A config key: its default, its one-line documentation and its allowed values. Every number has an
    upper bound too (``le`` or ``lt``): a value that passes the type check but no device could use (a baud
    rate of 2**63, a back-off of 1e300 s) must fail here, not later in the reader thread. ``kind``: the
    value's type where the default is None (an optional key: absent = decided elsewhere)."""
    meta = {"doc": doc, "choices": choices, "ge": ge, "gt": gt, "le": le, "lt": lt, "max_len": max_len,
            "kind": kind}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class SerialSection:
    """The sensor board's serial link."""

    port: str = _key("/dev/edge-rep",
                     "serial device; the udev rule makes /dev/edge-rep, or use a /dev/serial/by-id/ path")
    baud: int = _key(921600, "line speed in baud (8N1); must match the board", ge=50, le=20_000_000)
    format: str = _key("binary", "wire format: 'binary' (COBS frames, firmware_bridge/PROTOCOL.md) "
                       "or 'csv' (text lines, see [csv])", choices=("binary", "csv"))
    open_timeout_s: float = _key(10.0, "at start, how long to wait for the port to appear before exiting with an "
                                 "error; 0 = wait forever", ge=0, le=86400)
    reconnect_min_s: float = _key(0.5, "first wait before reopening the port after it vanished (unplug); doubles up "
                                  "to reconnect_max_s", gt=0, le=3600)
    reconnect_max_s: float = _key(10.0, "longest wait between reopen attempts", gt=0, le=3600)


@dataclass
class CsvChannel:
    """One column of a CSV line."""

    name: str = _key("", "column name, shown in health events")
    modality: str = _key("acoustic", "which model input the column feeds", choices=MODALITIES)
    sample_rate: float = _key(8000.0, "the board's line rate in lines per second (the same for every column)",
                               gt=0, le=1e6)
    scale: float = _key(1.0, "multiplier from the raw number to physical units", ge=-1e12, le=1e12)
    units: str = _key("", "physical units after scaling: Pa for microphones, m/s for geophones")


def _default_csv_channels() -> list[CsvChannel]:
    return [CsvChannel("mic", "acoustic", 8000.0, 1.0, "Pa"), CsvChannel("geophone", "seismic", 8000.0, 1.0, "m/s")]


@dataclass
class CsvSection:
    """Hobby boards that print one line of numbers per sample instant (used when serial.format = 'csv')."""

    channels: list = _key(None, "columns in line order: [[csv.channels]] tables of name, modality, sample_rate, "
                          "scale, units", factory=_default_csv_channels)
    separator: str = _key("auto", "column separator: 'auto' (detect comma, semicolon, tab or spaces), ',', ';', "
                          "'\\t' or ' '", choices=("auto", ",", ";", "\t", " "))


@dataclass
class ModelSection:
    """Which model runs, and on what."""

    path: str = _key("", "model file (.onnx, .engine or .safetensors, its .json sidecar beside it); "
                     "'' = the bundled default")
    backend: str = _key("auto", "'auto' (TensorRT when an engine and tensorrt are there, else ONNX Runtime) or one of "
                        + ", ".join(f"'{k}'" for k in BACKEND_KINDS), choices=BACKEND_CHOICES)


@dataclass
class HealthSection:
    """Per-channel health (edge_rep.stream.health): ok, degraded, dropped, recovering. Board time (link: host)."""

    data_timeout_s: float = _key(0.5, "no good sample for this long: the channel is dropped", gt=0, le=3600)
    degraded_after_s: float = _key(0.2, "no data at all for this long: the channel is degraded (a short gap)",
                                   gt=0, le=3600)
    flatline_window_s: float = _key(0.5, "a constant signal this long (a dead sensor) counts as no good "
                                    "samples", gt=0, le=3600)
    # 1e-6 of full scale is 8 counts of a 24-bit ADC: a quiet but live geophone stays above it
    flatline_rel_std: float = _key(1e-6, "flat: standard deviation over flatline_window_s below this share of "
                                   "full scale", ge=0, le=1)
    clip_level: float = _key(0.99, "a sample at or beyond this share of full scale counts as clipped", gt=0, le=1)
    saturation_fraction: float = _key(0.05, "more than this share of clipped samples in a block: degraded "
                                      "(saturated)", gt=0, le=1)
    crc_error_rate: float = _key(0.2, "more than this share of frames failing (CRC, broken framing, bad length) over a "
                                 "hop: degraded", gt=0, le=1)
    max_seq_gap: int = _key(0, "more than this many frames lost (sequence gaps) over a hop: degraded",
                            ge=0, le=1_000_000)
    recovery_windows: int = _key(2, "clean windows in a row to leave degraded or recovering", ge=1,
                                 le=10_000)
    # Host clock, not board time: the one health input a silent board cannot give (PROTOCOL.md section 7).
    link_timeout_s: float = _key(3.0, "no byte from the board for this long (host clock; 3 heartbeat periods): "
                                 "link_silent, every channel dropped", gt=0, le=3600)

    @property
    def drop_latency_s(self) -> float:
        """Board time from a channel's last good sample to its drop, for silence or a flat line (plus one data
        block)."""
        return max(self.data_timeout_s, self.flatline_window_s)


@dataclass
class ReplaySection:
    """REP buffer replay for a dropped modality."""

    enabled: bool = _key(True, "replay a dropped modality's last good cached buffers")
    holdover_s: float = _key(30.0, "how long after the drop its last good buffers are replayed before falling back "
                             "to the scenario's learned buffers", ge=0, le=86400)


@dataclass
class DetectionsSection:
    """Pass-by detections from window results (edge_rep.stream.detections); board time."""

    # Defaults measured on the validation split of the default benchmark (docs/results.md, Detections).
    min_duration_s: float = _key(3.0, "a detection shorter than this (first event window's start to the last one's "
                                 "end) is dropped", ge=0, le=3600)
    merge_gap_s: float = _key(4.0, "event windows whose ends are at most this much more than a hop apart belong to "
                              "one detection; a longer gap closes it", ge=0, le=3600)
    min_confidence: float = _key(None, "a detection whose mean confidence (its class's certain windows) is below "
                                 "this is dropped, like one too short; absent = the model's fitted value per "
                                 "scenario; 0 = keep every one", ge=0, lt=1, kind=float)
    alarm_classes: list = _key(None, "classes whose detections also get a detection_open line as soon as they "
                               "reach min_duration_s (an alarm need not wait for the end); model class names",
                               factory=list)
    uncertain_threshold: float = _key(None, "out-of-distribution score threshold for a window's \"uncertain\" flag, "
                                      "in (0, 1); absent = the model's fitted value", gt=0, lt=1, kind=float)


@dataclass
class OutputSection:
    """Where results go."""

    jsonl: str = _key("-", "JSON lines, one per window and per health event: '-' = stdout, or a file path")
    rotate_mb: float = _key(64.0, "rotate the jsonl file when it exceeds this many MB; 0 = never", ge=0,
                           le=1_000_000)
    keep_files: int = _key(8, "rotated jsonl files kept (file.1 ... file.N); older ones are deleted", ge=1,
                          le=10_000)
    status_line: str = _key("auto", "live one-line summary on stderr: 'auto' (when stderr is a terminal), "
                            "'on' or 'off'", choices=("auto", "on", "off"))


@dataclass
class MqttSection:
    """Optional MQTT output for fleets of nodes (needs paho-mqtt)."""

    enabled: bool = _key(False, "publish every output line to an MQTT broker")
    host: str = _key("localhost", "broker host name or address")
    port: int = _key(1883, "broker port (8883 is usual with TLS)", ge=1, le=65535)
    topic: str = _key("edge-rep/{node}", "topic prefix; {node} is replaced by node.id; windows go to "
                      "<topic>/window, health events to <topic>/event")
    client_id: str = _key("", "MQTT client id; '' = edge-rep-<node.id>")
    qos: int = _key(0, "MQTT quality of service: 0, 1 or 2", choices=(0, 1, 2))
    username: str = _key("", "user name; '' = anonymous")
    password_file: str = _key("", "file holding the password on its first line (keep it mode 0640); '' = none")
    tls: bool = _key(False, "connect with TLS (the system's CA certificates)")
    keepalive_s: int = _key(60, "MQTT keep-alive interval in seconds", ge=5, le=65535)


@dataclass
class RecordSection:
    """Raw sensor logs (replayable with `edge-rep replay`)."""

    dir: str = _key("", "directory where the raw serial bytes are also written as sensor logs; '' = off")
    rotate_mb: float = _key(256.0, "start a new sensor log when the current one exceeds this many MB; 0 = never",
                            ge=0, le=1_000_000)
    keep_mb: float = _key(4096.0, "delete this node's oldest sensor logs while all of them together exceed this many "
                          "MB; 0 = keep all", ge=0, le=100_000_000)
    min_free_mb: float = _key(1024.0, "pause recording while the disk has less than this many MB free (oldest logs "
                              "are deleted first), so the JSON lines keep their room", ge=0, le=100_000_000)


@dataclass
class HttpSection:
    """The live web view (edge_rep/stream/webview.py): one page served over HTTP, updated as windows come."""

    address: str = _key("", "HOST:PORT to serve the live page on, e.g. '127.0.0.1:8080' (a bare PORT means "
                        "127.0.0.1:PORT; port 0 = any free port); '' = off", max_len=270)
    public: bool = _key(False, "allow an address that is not loopback (the page has no authentication: only "
                        "on a network you trust)")


@dataclass
class LoggingSection:
    """Diagnostics on stderr (the journal under systemd)."""

    level: str = _key("info", "'debug', 'info', 'warning' or 'error'", choices=("debug", "info", "warning", "error"))


@dataclass
class NodeSection:
    """This sensor node."""

    id: str = _key(None, "node name in every output line and the MQTT topic; '' = this machine's host name",
                   max_len=64, factory=socket.gethostname)


@dataclass
class Config:
    """The whole ``edge-rep.toml``: one attribute per section. ``source``: the file it was read from (for
    checks that need the model, e.g. ``check_detections``)."""

    source = "defaults"        # a class attribute, not a section

    serial: SerialSection = field(default_factory=SerialSection)
    csv: CsvSection = field(default_factory=CsvSection)
    model: ModelSection = field(default_factory=ModelSection)
    health: HealthSection = field(default_factory=HealthSection)
    replay: ReplaySection = field(default_factory=ReplaySection)
    detections: DetectionsSection = field(default_factory=DetectionsSection)
    output: OutputSection = field(default_factory=OutputSection)
    mqtt: MqttSection = field(default_factory=MqttSection)
    record: RecordSection = field(default_factory=RecordSection)
    http: HttpSection = field(default_factory=HttpSection)
    logging: LoggingSection = field(default_factory=LoggingSection)
    node: NodeSection = field(default_factory=NodeSection)

    def to_dict(self) -> dict:
        """Plain nested dict (TOML/JSON-ready)."""
        out = {}
        for sec in fields(self):
            obj = getattr(self, sec.name)
            d = {}
            for f in fields(obj):
                v = getattr(obj, f.name)
                if f.name == "channels":
                    v = [{cf.name: getattr(c, cf.name) for cf in fields(c)} for c in v]
                d[f.name] = v
            out[sec.name] = d
        return out

    @classmethod
    def from_dict(cls, data: dict, source: str = "edge-rep.toml") -> Config:
        """Build and validate a config from parsed TOML; missing keys take their defaults."""
        return _parse(data, source)


def load_config(path: str | Path | None) -> Config:
    """Read and validate ``edge-rep.toml``; ``None`` gives the defaults."""
    if path is None:
        return _parse({}, "defaults")
    p = Path(path)
    data = read_input(p, "config file", max_bytes=CONFIG_MAX,   # a FIFO or /dev/zero is refused unread
                      missing=f"create it ('edge-rep config --print > {p.name}') or leave out --config for the "
                              "defaults")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise EdgeRepError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start}); save the config as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise EdgeRepError(f"{p}: not valid TOML ({e}); fix the syntax there") from None
    return _parse(data, str(p))


# --- validation -----------------------------------------------------------------------------------

_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "an array"}


def _fail(source: str, key: str, problem: str, todo: str) -> None:
    raise EdgeRepError(f"{source}: {key}: {problem}; {todo}")


def _show(v) -> str:
    return json.dumps(v) if isinstance(v, (str, bool)) else repr(v)


def _num(b: float) -> str:
    return str(int(b)) if float(b).is_integer() and abs(b) < 1e15 else f"{b:g}"


def _default_of(f):
    return f.default_factory() if f.default is MISSING else f.default


def _check_value(source: str, key: str, f, value):
    """Type- and range-check one scalar value against field ``f``; returns the value in the field's type."""
    want = f.metadata.get("kind") or type(_default_of(f))
    ok = isinstance(value, want) and not (want is int and isinstance(value, bool))
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        name = key.rsplit('.', 1)[-1]
        _fail(source, key, f"expected {_TYPE_NAMES[want]}, got {type(value).__name__} {_show(value)}",
              f"write it like the default: {name} = {_show(_default_of(f))}" if _default_of(f) is not None
              else f"give {_TYPE_NAMES[want]} (e.g. {name} = {_show(want(0.5) if want is float else want())}), "
                   f"or leave the key out for the default")
    if want is float and not math.isfinite(value):
        _fail(source, key, f"must be a finite number, got {value}", "give a finite number")
    m = f.metadata
    if want is str and len(value) > m["max_len"]:
        _fail(source, key, f"is {len(value)} characters long, more than {m['max_len']}", "give a shorter value")
    if m["choices"] is not None and value not in m["choices"]:
        _fail(source, key, f"{_show(value)} is not one of {', '.join(_show(c) for c in m['choices'])}",
              "pick one of those")
    for bound, test, word in (("gt", lambda v, b: v > b, ">"), ("ge", lambda v, b: v >= b, ">="),
                              ("le", lambda v, b: v <= b, "<="), ("lt", lambda v, b: v < b, "<")):
        b = m[bound]
        if b is not None and not test(value, b):
            _fail(source, key, f"must be {word} {_num(b)}, got {value!r}", f"set a value {word} {_num(b)}")
    return value


def _parse_section(source: str, name: str, cls, data) -> object:
    if not isinstance(data, dict):
        _fail(source, name, f"expected a [{name}] table, got {type(data).__name__}", f"write it as a [{name}] section")
    known = {f.name: f for f in fields(cls)}
    kwargs = {}
    for k, v in data.items():
        key = f"{name}.{k}"
        if k not in known:
            _fail(source, key, "unknown key", f"valid keys in [{name}]: {', '.join(known)}")
        f = known[k]
        if name == "csv" and k == "channels":
            kwargs[k] = _parse_channels(source, v)
        elif name == "detections" and k == "alarm_classes":
            kwargs[k] = _parse_names(source, key, v)
        else:
            kwargs[k] = _check_value(source, key, f, v)
    return cls(**kwargs)


def _parse_names(source: str, key: str, value) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(c, str) and c.strip() for c in value):
        _fail(source, key, f"expected an array of class names, got {_show(value)}",
              'write it like ["truck", "tracked"]')
    if len(set(value)) != len(value):
        _fail(source, key, "names a class twice", "list each class once")
    return list(value)


def _parse_channels(source: str, value) -> list[CsvChannel]:
    if not isinstance(value, list) or not all(isinstance(c, dict) for c in value):
        _fail(source, "csv.channels", "expected an array of tables", "write one [[csv.channels]] table per column")
    chans = [_parse_section(source, f"csv.channels[{i}]", CsvChannel, c) for i, c in enumerate(value)]
    for i, c in enumerate(chans):
        if not c.name:
            _fail(source, f"csv.channels[{i}].name", "is empty", "name every column (e.g. mic, geophone)")
        if c.scale == 0:
            _fail(source, f"csv.channels[{i}].scale", "is 0 (every sample would read 0)", "set the raw-to-units factor")
    rates = sorted({c.sample_rate for c in chans})
    if len(rates) > 1:
        _fail(source, "csv.channels", f"columns have different sample_rate values {rates}",
              "one line holds one sample of every column: give them all the board's line rate")
    names = [c.name for c in chans]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        _fail(source, "csv.channels", f"column name {_show(dup[0])} appears twice", "give every column its own name")
    return chans


def _parse(data: dict, source: str) -> Config:
    sections = {f.name: f for f in fields(Config)}
    kwargs = {}
    for name, body in data.items():
        if name not in sections:
            where = "unknown section" if isinstance(body, dict) else "key outside any section"
            _fail(source, name, where, f"valid sections: {', '.join(sections)}")
        kwargs[name] = _parse_section(source, name, sections[name].default_factory, body)
    cfg = Config(**kwargs)
    cfg.source = source
    _check_across(cfg, source)
    return cfg


def _check_across(cfg: Config, source: str) -> None:
    """Rules that involve more than one key."""
    if cfg.serial.reconnect_max_s < cfg.serial.reconnect_min_s:
        _fail(source, "serial.reconnect_max_s", f"{cfg.serial.reconnect_max_s:g} is below reconnect_min_s "
              f"({cfg.serial.reconnect_min_s:g})", "make reconnect_max_s >= reconnect_min_s")
    if not cfg.serial.port:
        _fail(source, "serial.port", "is empty", "set the serial device, e.g. /dev/edge-rep or /dev/ttyUSB0")
    if cfg.serial.format == "csv" and not cfg.csv.channels:
        _fail(source, "csv.channels", "no columns given but serial.format is 'csv'",
              "add one [[csv.channels]] table per column")
    if not cfg.node.id:
        cfg.node.id = socket.gethostname()
    if any(ch in cfg.node.id for ch in "/+#") or any(ch.isspace() for ch in cfg.node.id):
        _fail(source, "node.id", f"{_show(cfg.node.id)} contains a space, '/', '+' or '#'",
              "use letters, digits, '-', '_' or '.' (it becomes part of the MQTT topic)")
    if not cfg.output.jsonl:
        _fail(source, "output.jsonl", "is empty", "use '-' for stdout or a file path")
    m = cfg.mqtt
    if any(ch in m.topic for ch in "+#") or not m.topic:
        _fail(source, "mqtt.topic", f"{_show(m.topic)} is empty or has an MQTT wildcard (+ or #)",
              "publish to a plain topic such as edge-rep/{node}")
    try:
        m.topic.format(node="n")
    except (KeyError, IndexError, ValueError) as e:
        _fail(source, "mqtt.topic", f"bad placeholder in {_show(m.topic)} ({e})", "the only placeholder is {node}")
    if m.enabled and not m.host:
        _fail(source, "mqtt.host", "is empty but mqtt.enabled is true", "set the broker's host name or disable MQTT")
    if cfg.http.address:
        http_endpoint(cfg.http.address, cfg.http.public, f"{source}: http.address", "set http.public = true")


def http_endpoint(address: str, public: bool, thing: str = "--http",
                  allow: str = "pass --http-public") -> tuple[str, int]:
    """``[http] address`` (or ``--http``) as (host, port): ``HOST:PORT``, ``[IPv6]:PORT`` or a bare ``PORT``
    (loopback). The one check of the address, for the config file and the command line alike.

    Raises EdgeRepError (``<thing>: <problem>; <what to do>``) for a malformed address or port, and for an
    address that is not loopback (``localhost``, 127.0.0.0/8, ::1) unless ``public``: the page has no
    authentication. ``allow`` says how to allow a public one (the option, or the config key)."""
    text = address.strip()
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise EdgeRepError(f"{thing}: {_show(address)} has no valid port (0 to 65535); write HOST:PORT, e.g. "
                           "127.0.0.1:8080")
    if not host or any(ch.isspace() or ch in "/[]" for ch in host):
        problem = "has no host (that would be every interface)" if not host else "has a malformed host"
        raise EdgeRepError(f"{thing}: {_show(address)} {problem}; write HOST:PORT, e.g. 127.0.0.1:{port}")
    if not public and not _is_loopback(host):
        raise EdgeRepError(f"{thing}: {host} is not a local (loopback) address and the page has no authentication; "
                           f"use 127.0.0.1:{port} (reach it through an SSH tunnel), or {allow} to serve it to "
                           "the network")
    return host, int(port)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False                        # another host name: it may resolve to any interface


def check_detections(cfg: Config, classes: tuple[str, ...]) -> None:
    """The ``[detections]`` keys that need the model: ``alarm_classes`` must be its classes (not background)."""
    targets = [c for c in classes if c != "background"]
    for c in cfg.detections.alarm_classes:
        if c not in targets:
            _fail(cfg.source, "detections.alarm_classes", f"{_show(c)} is not a class of the model",
                  f"use some of {', '.join(targets)}")


def check_paths(cfg: Config) -> list[str]:
    """Files the config names that are not there (the daemon needs them); empty when all exist."""
    problems = []
    if cfg.model.path and not Path(cfg.model.path).is_file():
        problems.append(f"model.path: {cfg.model.path} does not exist")
    if cfg.mqtt.enabled:
        if cfg.mqtt.password_file and not Path(cfg.mqtt.password_file).is_file():
            problems.append(f"mqtt.password_file: {cfg.mqtt.password_file} does not exist")
    if cfg.record.dir and not Path(cfg.record.dir).parent.is_dir():
        problems.append(f"record.dir: parent of {cfg.record.dir} does not exist")
    if cfg.output.jsonl != "-" and not Path(cfg.output.jsonl).parent.is_dir():
        problems.append(f"output.jsonl: directory of {cfg.output.jsonl} does not exist")
    return problems


# --- TOML output ----------------------------------------------------------------------------------

def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return "[" + ", ".join(json.dumps(x) for x in v) + "]"
    raise TypeError(f"no TOML form for {type(v).__name__}")


def dump_toml(cfg: Config, comments: bool = True) -> str:
    """The config as TOML that ``load_config`` reads back to an equal ``Config``; with each key's doc as a comment."""
    lines = []
    for sec in fields(cfg):
        obj = getattr(cfg, sec.name)
        if comments:
            lines.append(f"# {type(obj).__doc__.strip()}")
        lines.append(f"[{sec.name}]")
        tables, tables_doc = [], ""
        for f in fields(obj):
            v = getattr(obj, f.name)
            if f.name == "channels":  # arrays of tables must follow the section's plain keys
                tables, tables_doc = v, f.metadata["doc"]
                continue
            if comments:
                lines.append(f"# {f.metadata['doc']}")
            if v is None:             # an optional key left absent (TOML has no null)
                lines.append(f"# {f.name} = (absent)")
            else:
                lines.append(f"{f.name} = {_toml_value(v)}")
        if tables and comments:
            lines.append(f"# {tables_doc}")
        for c in tables:
            lines.append(f"[[{sec.name}.channels]]")
            lines.extend(f"{cf.name} = {_toml_value(getattr(c, cf.name))}" for cf in fields(c))
        lines.append("")
    return "\n".join(lines)


def key_choices(section: type, key: str) -> tuple:
    """The allowed values of one key, e.g. ``key_choices(LoggingSection, "level")`` (for command-line options)."""
    return next(f for f in fields(section) if f.name == key).metadata["choices"]


def schema_keys() -> list[str]:
    """Every key of the schema as ``section.key`` (csv channel keys as ``csv.channels.<key>``)."""
    keys = []
    for sec in fields(Config):
        for f in fields(sec.default_factory):
            keys.append(f"{sec.name}.{f.name}")
            if f.name == "channels":
                keys.extend(f"{sec.name}.channels.{cf.name}" for cf in fields(CsvChannel))
    return keys
