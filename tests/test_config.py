"""edge-rep.toml: schema defaults, the shipped config, validation errors, the `edge-rep config` command."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from edge_rep.cli import main
from edge_rep.config import Config, check_paths, dump_toml, load_config, schema_keys, tomllib
from edge_rep.errors import EdgeRepError

REPO = Path(__file__).resolve().parent.parent
OPTIONAL_KEYS = ("detections.uncertain_threshold", "detections.min_confidence")
SHIPPED = REPO / "deploy" / "config" / "edge-rep.toml"
# Keys where the Jetson deployment deliberately differs from the schema's defaults.
DEPLOYMENT_KEYS = {"serial.open_timeout_s", "model.path", "output.jsonl"}


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "edge-rep.toml"
    p.write_text(text)
    return p


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(EdgeRepError) as e:
        load_config(write(tmp_path, text))
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def flat(d: dict) -> dict:
    return {f"{s}.{k}": v for s, sec in d.items() for k, v in sec.items()}


def test_defaults_match_the_documented_values():
    c = load_config(None)
    assert c.serial.port == "/dev/edge-rep" and c.serial.baud == 921600 and c.serial.format == "binary"
    assert (c.serial.reconnect_min_s, c.serial.reconnect_max_s) == (0.5, 10.0)
    assert c.model.path == "" and c.model.backend == "auto"
    h = c.health
    assert (h.data_timeout_s, h.flatline_window_s, h.flatline_rel_std) == (0.5, 0.5, 1e-6)
    assert (h.saturation_fraction, h.clip_level, h.crc_error_rate, h.recovery_windows) == (0.05, 0.99, 0.2, 2)
    assert c.replay.enabled is True and c.replay.holdover_s == 30.0
    assert c.output.jsonl == "-" and c.output.status_line == "auto"
    assert c.mqtt.enabled is False and c.mqtt.port == 1883 and c.mqtt.topic == "edge-rep/{node}" and c.mqtt.tls is False
    assert c.record.dir == "" and c.logging.level == "info"
    assert c.node.id == socket.gethostname()
    assert c.csv.separator == "auto" and [ch.modality for ch in c.csv.channels] == ["acoustic", "seismic"]


def test_defaults_declare_a_drop_within_one_second_of_board_time():
    assert load_config(None).health.drop_latency_s <= 1.0
    slow = Config.from_dict({"health": {"data_timeout_s": 0.5, "flatline_window_s": 1.5}})
    assert slow.health.drop_latency_s == 1.5


def test_every_key_is_documented_in_the_schema():
    from dataclasses import fields

    from edge_rep import config as cfgmod
    for sec in fields(Config):
        for f in fields(sec.default_factory):
            assert len(f.metadata["doc"]) > 10, f"{sec.name}.{f.name} has no doc"
    for f in fields(cfgmod.CsvChannel):
        assert f.metadata["doc"]


def test_dump_round_trips_and_to_dict_is_json():
    c = Config.from_dict({"serial": {"baud": 115200, "format": "csv"}, "csv": {"separator": "\t", "channels": [
        {"name": "a", "modality": "seismic", "sample_rate": 200, "scale": 2.5e-6, "units": "m/s"}]},
        "mqtt": {"enabled": True, "host": "broker.lan", "qos": 2}, "node": {"id": "n-07"}})
    text = dump_toml(c)
    assert Config.from_dict(tomllib.loads(text)) == c
    assert Config.from_dict(tomllib.loads(dump_toml(c, comments=False))) == c
    assert json.loads(json.dumps(c.to_dict()))["csv"]["channels"][0]["sample_rate"] == 200.0


def test_shipped_config_parses_and_equals_the_defaults_but_for_deployment_paths():
    shipped = flat(load_config(SHIPPED).to_dict())
    defaults = flat(load_config(None).to_dict())
    differ = {k for k in defaults if shipped[k] != defaults[k]}
    assert differ == DEPLOYMENT_KEYS
    assert shipped["model.path"].startswith("/opt/edge-rep/model/")     # root's, read-only for the service
    assert shipped["output.jsonl"].startswith("/var/log/edge-rep/")     # the unit's LogsDirectory
    assert shipped["serial.open_timeout_s"] == 0.0                      # the service waits for the board


def test_shipped_config_has_every_schema_key_with_a_comment():
    lines = SHIPPED.read_text().splitlines()
    section, seen = "", {}
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("[[") or (s.startswith("[") and not s.startswith("[[")):
            section = s.strip("[]")
            continue
        if "=" in s and not s.startswith("#"):
            key = s.split("=", 1)[0].strip()
            j = i - 1
            while j >= 0 and lines[j].strip().startswith("[["):
                j -= 1
            commented = lines[j].strip().startswith("#") or "#" in line.split("=", 1)[1]
            seen.setdefault(f"{section}.{key}", commented)
    # [[csv.channels]] keys are documented once, in the comment block above the first table
    text = SHIPPED.read_text()
    for key in schema_keys():
        if key.startswith("csv.channels."):
            name = key.rsplit(".", 1)[1]
            assert f"#   {name}" in text, f"{key} is not documented in {SHIPPED.name}"
            assert key in seen
        elif key == "csv.channels":
            assert "[[csv.channels]]" in text
        elif key in OPTIONAL_KEYS:          # absent = decided elsewhere: shown as a commented example
            assert f"# {key.split('.')[1]} = " in text, f"{key} not shown in {SHIPPED.name}"
        else:
            assert key in seen, f"{key} missing from {SHIPPED.name}"
            assert seen[key], f"{key} has no comment in {SHIPPED.name}"
    unknown = {k for k in seen if k not in schema_keys()}
    assert not unknown


def test_empty_file_gives_defaults_and_ints_are_accepted_for_floats(tmp_path):
    assert load_config(write(tmp_path, "")) == load_config(None)
    c = load_config(write(tmp_path, "[health]\ndata_timeout_s = 1\n[node]\nid = ''\n"))
    assert c.health.data_timeout_s == 1.0 and isinstance(c.health.data_timeout_s, float)
    assert c.node.id == socket.gethostname()


def test_unknown_key_names_the_valid_ones(tmp_path):
    msg = error_of(tmp_path, "[serial]\nbud = 9600\n")
    assert msg.startswith(f"{tmp_path / 'edge-rep.toml'}: serial.bud: unknown key;")
    assert "baud" in msg and "reconnect_max_s" in msg


def test_unknown_section_and_stray_key(tmp_path):
    msg = error_of(tmp_path, "[seriall]\nport = 'x'\n")
    assert "seriall: unknown section" in msg and "serial, csv, model" in msg
    assert "port: key outside any section" in error_of(tmp_path, "port = '/dev/ttyUSB0'\n")


@pytest.mark.parametrize("text, where, problem", [
    ("[serial]\nbaud = 'fast'\n", "serial.baud", "expected an integer"),
    ("[serial]\nbaud = true\n", "serial.baud", "expected an integer"),
    ("[output]\nkeep_files = 2.5\n", "output.keep_files", "expected an integer"),
    ("[replay]\nenabled = 1\n", "replay.enabled", "expected true or false"),
    ("[health]\ndata_timeout_s = '0.5'\n", "health.data_timeout_s", "expected a number"),
    ("[health]\ndata_timeout_s = nan\n", "health.data_timeout_s", "finite"),
    ("[model]\npath = 3\n", "model.path", "expected a string"),
    ("[serial]\nport = ['/dev/a']\n", "serial.port", "expected a string"),
])
def test_bad_types(tmp_path, text, where, problem):
    msg = error_of(tmp_path, text)
    assert f": {where}: " in msg and problem in msg


@pytest.mark.parametrize("text, where, problem", [
    ("[health]\ndata_timeout_s = -1\n", "health.data_timeout_s", "must be > 0"),
    ("[health]\nclip_level = 1.5\n", "health.clip_level", "must be <= 1"),
    ("[health]\nrecovery_windows = 0\n", "health.recovery_windows", "must be >= 1"),
    ("[serial]\nbaud = 0\n", "serial.baud", "must be >= 50"),
    # values that pass a lower bound but no device can use: they once killed the reader thread
    ("[serial]\nbaud = 9223372036854775807\n", "serial.baud", "must be <= 20000000"),
    ("[serial]\nreconnect_min_s = 1e300\nreconnect_max_s = 1e300\n", "serial.reconnect_min_s", "must be <= 3600"),
    ("[serial]\nopen_timeout_s = 1e9\n", "serial.open_timeout_s", "must be <= 86400"),
    ("[health]\ndata_timeout_s = 1e300\n", "health.data_timeout_s", "must be <= 3600"),
    ("[health]\nmax_seq_gap = 9223372036854775807\n", "health.max_seq_gap", "must be <= 1000000"),
    ("[replay]\nholdover_s = 1e300\n", "replay.holdover_s", "must be <= 86400"),
    ("[output]\nkeep_files = 1000000000\n", "output.keep_files", "must be <= 10000"),
    ("[output]\nrotate_mb = 1e300\n", "output.rotate_mb", "must be <= 1000000"),
    ("[mqtt]\nkeepalive_s = 100000\n", "mqtt.keepalive_s", "must be <= 65535"),
    ("[[csv.channels]]\nname = 'a'\nsample_rate = 1e300\n", "csv.channels[0].sample_rate", "must be <= 1000000"),
    ("[node]\nid = '" + "n" * 65 + "'\n", "node.id", "65 characters long, more than 64"),
    ("[model]\npath = '" + "p" * 5000 + "'\n", "model.path", "5000 characters long, more than 4096"),
    ("[mqtt]\nport = 70000\n", "mqtt.port", "must be <= 65535"),
    ("[mqtt]\nqos = 3\n", "mqtt.qos", "not one of 0, 1, 2"),
    ("[replay]\nholdover_s = -5\n", "replay.holdover_s", "must be >= 0"),
    ("[serial]\nreconnect_min_s = 5\nreconnect_max_s = 1\n", "serial.reconnect_max_s", "below reconnect_min_s"),
    ("[logging]\nlevel = 'verbose'\n", "logging.level", "not one of"),
    ("[serial]\nformat = 'ascii'\n", "serial.format", "not one of"),
])
def test_out_of_range_values(tmp_path, text, where, problem):
    msg = error_of(tmp_path, text)
    assert f": {where}: " in msg and problem in msg


def test_unknown_backend_lists_the_backends(tmp_path):
    msg = error_of(tmp_path, "[model]\nbackend = 'tensor'\n")
    assert "model.backend" in msg and '"tensor" is not one of' in msg
    for b in ("auto", "tensorrt", "onnxruntime", "torch"):
        assert f'"{b}"' in msg


@pytest.mark.parametrize("text, where", [
    ("[csv]\nchannels = 'mic'\n", "csv.channels"),
    ("[[csv.channels]]\nname = 'a'\nmodality = 'infrasound'\n", "csv.channels[0].modality"),
    ("[[csv.channels]]\nname = 'a'\nrate = 100\n", "csv.channels[0].rate"),
    ("[[csv.channels]]\nname = 'a'\nsample_rate = 0\n", "csv.channels[0].sample_rate"),
    ("[[csv.channels]]\nname = ''\n", "csv.channels[0].name"),
    ("[[csv.channels]]\nname = 'a'\nscale = 0\n", "csv.channels[0].scale"),
    ("[[csv.channels]]\nname = 'a'\n[[csv.channels]]\nname = 'a'\n", "csv.channels"),
    ("[[csv.channels]]\nname = 'a'\n[[csv.channels]]\nname = 'b'\nsample_rate = 100\n", "csv.channels"),
    ("[serial]\nformat = 'csv'\n[csv]\nchannels = []\n", "csv.channels"),
    ("[node]\nid = 'site/7'\n", "node.id"),
    ("[mqtt]\ntopic = 'edge-rep/#'\n", "mqtt.topic"),
    ("[mqtt]\ntopic = 'edge-rep/{nod}'\n", "mqtt.topic"),
    ("[mqtt]\nenabled = true\nhost = ''\n", "mqtt.host"),
    ("[output]\njsonl = ''\n", "output.jsonl"),
])
def test_bad_csv_channels_node_and_mqtt(tmp_path, text, where):
    assert f": {where}: " in error_of(tmp_path, text)


def test_csv_channels_parse(tmp_path):
    c = load_config(write(tmp_path, "[serial]\nformat = 'csv'\n[csv]\nseparator = ','\n"
                                    "[[csv.channels]]\nname = 'geo'\nmodality = 'seismic'\nsample_rate = 100\n"
                                    "scale = 1e-6\nunits = 'm/s'\n"))
    assert [(ch.name, ch.modality, ch.sample_rate, ch.scale) for ch in c.csv.channels] == [
        ("geo", "seismic", 100.0, 1e-6)]


def test_file_errors(tmp_path):
    with pytest.raises(EdgeRepError, match="config file not found"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(EdgeRepError, match="is a directory"):
        load_config(tmp_path)
    with pytest.raises(EdgeRepError, match=r"not valid TOML \(.*line 2"):
        load_config(write(tmp_path, "[serial]\nbaud = = 3\n"))
    p = tmp_path / "latin1.toml"
    p.write_bytes(b"[node]\nid = '\xe9'\n")
    with pytest.raises(EdgeRepError, match="not UTF-8"):
        load_config(p)


def test_check_paths_reports_missing_files(tmp_path):
    c = Config.from_dict({"model": {"path": str(tmp_path / "m.onnx")},
                          "output": {"jsonl": str(tmp_path / "x" / "w.jsonl")},
                          "mqtt": {"enabled": True, "password_file": str(tmp_path / "pw")}})
    problems = check_paths(c)
    assert len(problems) == 3 and problems[0].startswith("model.path:")
    (tmp_path / "m.onnx").write_text("x")
    (tmp_path / "x").mkdir()
    (tmp_path / "pw").write_text("secret\n")
    assert check_paths(c) == []


def test_config_command(tmp_path, capsys):
    good = write(tmp_path, "[serial]\nbaud = 115200\n")
    assert main(["config", "--check", str(good)]) == 0
    assert "ok" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nbackend = 'cuda'\n")
    assert main(["config", "--check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model.backend" in err and "Traceback" not in err
    missing_model = tmp_path / "mm.toml"
    missing_model.write_text(f"[model]\npath = '{tmp_path / 'none.onnx'}'\n")
    assert main(["config", "--check", str(missing_model)]) == 2
    assert "model.path" in capsys.readouterr().err
    assert main(["config", "--print", str(good)]) == 0
    printed = capsys.readouterr().out
    assert tomllib.loads(printed)["serial"]["baud"] == 115200
    assert main(["config", "--print", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["serial"]["baud"] == 921600


def test_sources_parse_as_python_3_10():
    """JetPack 6 runs Ubuntu 22.04's Python 3.10: no 3.11+ syntax in what installs on the device."""
    import ast
    for path in [*(REPO / "edge_rep").rglob("*.py"), *(REPO / "firmware_bridge").rglob("*.py")]:
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 10))


def test_config_import_does_not_pull_torch():
    code = "import sys, edge_rep.config; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_daemon_parts_take_their_sections():
    """The config feeds the daemon's health state machine and the CSV input as they are, and the state
    machine's own defaults are the schema's."""
    from dataclasses import fields

    from edge_rep.profiles import MOD
    from edge_rep.stream.assembler import WindowAssembler
    from edge_rep.stream.health import ChannelHealth
    from firmware_bridge.csv_input import CsvDecoder

    defaults = load_config(None).health
    th = ChannelHealth("seismic0", "seismic", 100.0, None).th
    for f in fields(defaults):
        assert getattr(th, f.name) == getattr(defaults, f.name), f"[health] {f.name}: schema and state machine differ"
    cfg = load_config(SHIPPED)
    th = WindowAssembler(MOD, cfg.health).th
    assert all(getattr(th, f.name) == getattr(cfg.health, f.name) for f in fields(cfg.health))
    dec = CsvDecoder(cfg.csv.channels, separator=cfg.csv.separator)
    assert dec.rate == cfg.csv.channels[0].sample_rate
