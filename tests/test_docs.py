"""The docs that restate code facts stay true to it: architecture.md's module paths exist, and the
[health] table of streaming.md gives the schema's defaults."""

import re
from dataclasses import fields
from pathlib import Path

from edge_rep.config import HealthSection

ROOT = Path(__file__).resolve().parents[1]


def test_architecture_names_modules_that_exist_and_is_linked():
    text = (ROOT / "docs" / "architecture.md").read_text()
    paths = set(re.findall(r"`((?:edge_rep|firmware_bridge)/[\w/.]*)`", text))
    assert len(paths) >= 15
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"
    for doc in ("README.md", "CONTRIBUTING.md"):
        assert "docs/architecture.md" in (ROOT / doc).read_text(), doc


def test_streaming_health_table_gives_the_schema_defaults():
    text = (ROOT / "docs" / "streaming.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]+) \|", text, flags=re.M))
    for f in fields(HealthSection):
        assert f.name in rows, f"docs/streaming.md: [health] {f.name} is not in the table"
        assert float(rows[f.name]) == f.default, f"docs/streaming.md: [health] {f.name} default differs from config.py"
