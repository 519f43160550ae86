"""Print edge-rep's runtime requirements for a Jetson, one per line, for ``pip install -r``.

Run it with the target venv's python after ``pip install --no-deps edge-rep``. It leaves out torch
(the daemon never imports it; on a Jetson PyTorch comes from NVIDIA's wheels when wanted) and the
optional extras except "mqtt" (the MQTT output of a fleet node), and adds cuda-python, which the TensorRT backend uses for device memory, in the
major version of the device's CUDA.

    python runtime_requirements.py --cuda-major 12
"""

from __future__ import annotations

import argparse
import re
from importlib.metadata import PackageNotFoundError, requires

LEFT_OUT = {"torch"}
EXTRAS = ("mqtt",)
_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def runtime_requirements(reqs: list[str], cuda_major: int | None) -> list[str]:
    """The Jetson's share of ``reqs`` (edge-rep's requirement strings, markers included)."""
    out = []
    for r in reqs:
        name = re.split(r"[ ;<>=!~\[]", r, maxsplit=1)[0].lower()
        if name in LEFT_OUT:
            continue
        m = _EXTRA.search(r)
        if m:
            if m.group(1) not in EXTRAS:
                continue
            # drop the extra clause from the marker; keep any other condition
            req, marker = r.split(";", 1)
            marker = re.sub(r"\s*\band\s*$|^\s*and\b\s*", "", marker.replace(m.group(0), "").strip()).strip()
            r = f"{req.strip()}; {marker}" if marker else req.strip()
        out.append(r)
    if cuda_major is not None:
        out.append(f"cuda-python>={cuda_major},<{cuda_major + 1}")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cuda-major", type=int, default=None, help="add cuda-python for this CUDA major version")
    args = ap.parse_args()
    try:
        installed = requires("edge-rep") or []
    except PackageNotFoundError:
        raise SystemExit("runtime_requirements.py: edge-rep is not installed in this python; "
                         "run 'pip install --no-deps edge-rep' first") from None
    print("\n".join(runtime_requirements(installed, args.cuda_major)))
