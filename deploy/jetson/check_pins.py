#!/usr/bin/env python3
"""Check deploy/jetson/constraints*.txt against PyPI for the Jetson targets (needs PyPI; not a test).

    .venv/bin/python deploy/jetson/check_pins.py

For each target (JetPack 6: CPython 3.10, glibc 2.35, CUDA 12; JetPack 7: CPython 3.12, glibc 2.39,
CUDA 13) pip resolves what install.sh installs (edge-rep's base dependencies with the mqtt and jetson
extras, cuda-python, pip, setuptools) under that target's constraints file, binary wheels only, without
downloading the wheels (pip install --dry-run --report). It fails when the resolution fails (a pin with no
aarch64 wheel for that Python) or installs a package that no pin names (an unpinned dependency).
Run it after changing a pin or a dependency in pyproject.toml.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
EXTRAS = ("mqtt", "jetson")
# (name, CPython version, glibc of the L4T's Ubuntu, CUDA major)
TARGETS = (("JetPack 6", "3.10", 35, 12), ("JetPack 7", "3.12", 39, 13))


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(python: str) -> list[str]:
    """edge-rep's base and extras' requirements whose markers hold on ``python``, markers removed."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in EXTRAS:
        reqs += [r for r in project["optional-dependencies"][extra] if not r.startswith("edge-rep")]
    env = {"python_version": python, "python_full_version": python + ".0", "sys_platform": "linux",
           "platform_machine": "aarch64", "platform_system": "Linux", "implementation_name": "cpython"}
    out = []
    for text in reqs:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate(env):
            req.marker = None
            out.append(str(req))
    return out


def pinned(constraints: Path) -> dict[str, str]:
    """name -> version of every ``name==version`` line, following ``-c`` includes."""
    pins: dict[str, str] = {}
    for line in constraints.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-c "):
            pins.update(pinned(constraints.parent / line[3:].strip()))
        elif line:
            name, version = line.split("==")
            pins[canonical(name)] = version.strip()
    return pins


def check(label: str, python: str, glibc: int, cuda: int) -> list[str]:
    constraints = HERE / f"constraints-cuda{cuda}.txt"
    platforms = ["manylinux2014_aarch64"] + [f"manylinux_2_{v}_aarch64" for v in range(17, glibc + 1)]
    abi = "cp" + python.replace(".", "")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--isolated", "--quiet", "--dry-run", "--ignore-installed",
               "--target", str(Path(tmp) / "target"), "--report", str(report), "--only-binary=:all:",
               "--python-version", python, "--implementation", "cp", "--abi", abi,
               *[f"--platform={p}" for p in platforms], "-c", str(constraints),
               *requirements(python), f"cuda-python>={cuda},<{cuda + 1}", "pip", "setuptools"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            lines = r.stderr.strip().splitlines() or ["(no message)"]
            return [f"{label}: pip cannot resolve the pins: {next((ln for ln in lines if 'ERROR' in ln), lines[-1])}"]
        installed = {canonical(i["metadata"]["name"]): i["metadata"]["version"]
                     for i in json.loads(report.read_text())["install"]}
    pins = pinned(constraints)
    problems = [f"{label}: {name} {version} is installed but not pinned in {constraints.name}"
                for name, version in sorted(installed.items()) if name not in pins]
    unused = sorted(set(pins) - set(installed))
    note = f"; pins not used there: {', '.join(unused)}" if unused else ""
    print(f"{label} (CPython {python}, aarch64, CUDA {cuda}): {len(installed)} packages resolved, "
          f"{len(installed) - len(problems)} pinned{note}")
    return problems


def main() -> int:
    problems = [p for target in TARGETS for p in check(*target)]
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
