"""firmware_bridge is the lower layer: none of its modules imports edge_rep, in any form (at the top of a
module or inside a function, relative imports climbing out of the package, importlib with a literal name)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_names(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute dotted name) of everything the module at ``path`` (under ``root``) imports; for
    ``from X import a`` both ``X`` and ``X.a``."""
    parts = list(path.relative_to(root).with_suffix("").parts[:-1])      # the module's package
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = parts[:max(0, len(parts) - node.level + 1)] if node.level else []
            name = ".".join(base + ([node.module] if node.module else []))
            found += [(node.lineno, name)] + [(node.lineno, ".".join(filter(None, [name, a.name]))) for a in node.names]
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and "import_module" in (getattr(node.func, "attr", None), getattr(node.func, "id", None))
              or isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__" and node.args
              and isinstance(node.args[0], ast.Constant)):
            found.append((node.lineno, str(node.args[0].value)))
    return found


def edge_rep_imports(package: Path, root: Path) -> list[str]:
    return [f"{path.relative_to(root)}:{line}: {name}" for path in sorted(package.rglob("*.py"))
            for line, name in imported_names(path, root) if name == "edge_rep" or name.startswith("edge_rep.")]


def test_firmware_bridge_never_imports_edge_rep():
    assert (ROOT / "firmware_bridge" / "codec.py").is_file()
    bad = edge_rep_imports(ROOT / "firmware_bridge", ROOT)
    assert not bad, "firmware_bridge is the lower layer; it must not import edge_rep:\n" + "\n".join(bad)


@pytest.mark.parametrize("source", [
    "from edge_rep.errors import EdgeRepError",
    "import edge_rep",
    "import numpy, edge_rep.synth as s",
    "def f():\n    from edge_rep import synth\n",
    "class C:\n    def m(self):\n        import edge_rep.recording\n",
    "from .. import edge_rep",
    "from ..edge_rep.dataset import write_recording",
    "import importlib\nimportlib.import_module('edge_rep.synth')",
    "__import__('edge_rep')",
])
def test_the_check_sees_every_form_of_import(tmp_path, source):
    pkg = tmp_path / "firmware_bridge"
    pkg.mkdir()
    (pkg / "probe.py").write_text(source + "\n")
    assert edge_rep_imports(pkg, tmp_path)


def test_the_check_passes_imports_of_its_own_package(tmp_path):
    pkg = tmp_path / "firmware_bridge"
    pkg.mkdir()
    (pkg / "probe.py").write_text("from . import codec\nfrom .errors import BridgeError\nimport edge_rep_like\n"
                                  "from .sub import edge_rep\n")
    assert edge_rep_imports(pkg, tmp_path) == []
