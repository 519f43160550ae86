"""The protocol document, the Python constants and the C header agree; the worked example never goes stale."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from crc32c import crc32c

from firmware_bridge import protocol as P
from firmware_bridge.codec import Decoder, encode

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "firmware_bridge" / "PROTOCOL.md").read_text()
HEADER = (ROOT / "firmware_bridge" / "firmware" / "include" / "edge_proto.h").read_text()

EXAMPLE = P.Data(board_id=1, seq=5, timestamp_us=250_000, blocks=[
    P.SampleBlock(0, 2000, P.FMT_INT16, np.array([0, 1, -1, 256])),
    P.SampleBlock(1, 25, P.FMT_INT24, np.array([-2, 8388607]))])


def test_worked_example_in_the_document_is_what_the_encoder_makes():
    block = DOC.split("<!-- example-wire")[1].split("```")[1]
    wire = bytes.fromhex(block.replace("\n", " "))
    assert wire == encode(EXAMPLE)
    (msg,) = Decoder().feed(wire)
    assert msg.seq == 5 and msg.blocks[1].samples.tolist() == [-2, 8388607]


def test_crc_parameters_and_check_value():
    assert crc32c(b"123456789") == 0xE3069283
    assert "0xE3069283" in DOC and "0x82F63B78" in DOC and "0x82F63B78u" in (
        ROOT / "firmware_bridge" / "firmware" / "src" / "edge_proto.c").read_text()


def test_document_python_and_c_constants_agree():
    defines = {k: v for k, v in re.findall(r"#define (EDGE_\w+) \(?([0-9x]+)u?\b", HEADER)}
    c = {k: int(v, 0) for k, v in defines.items()}
    assert (c["EDGE_VERSION_MAJOR"], c["EDGE_VERSION_MINOR"]) == (P.VERSION_MAJOR, P.VERSION_MINOR)
    assert [c[f"EDGE_MSG_{n}"] for n in ("HELLO", "DATA", "HEARTBEAT", "STATUS")] == [
        P.MSG_HELLO, P.MSG_DATA, P.MSG_HEARTBEAT, P.MSG_STATUS]
    assert [c[f"EDGE_FMT_{n}"] for n in ("INT16", "INT24", "INT32", "FLOAT32")] == [
        P.FMT_INT16, P.FMT_INT24, P.FMT_INT32, P.FMT_FLOAT32]
    assert (c["EDGE_HEADER_SIZE"], c["EDGE_CRC_SIZE"], c["EDGE_MAX_FRAME"], c["EDGE_BLOCK_HEADER_SIZE"]) == (
        P.HEADER_SIZE, P.CRC_SIZE, P.MAX_FRAME, P.BLOCK_HEADER_SIZE)
    assert f"Maximum raw frame: {P.MAX_FRAME} bytes" in DOC and f"{P.MAX_ENCODED} bytes" in DOC
    assert f"Header ({P.HEADER_SIZE} bytes)" in DOC
    for name, code in P.MODALITY_CODES.items():
        assert f"{code} {name}" in DOC


def test_daemon_import_path_does_not_import_torch():
    code = ("import sys\nimport firmware_bridge.codec, firmware_bridge.protocol, firmware_bridge.port, "
            "firmware_bridge.sensorlog, firmware_bridge.csv_input, firmware_bridge.pty\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
