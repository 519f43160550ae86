"""Real records fetched at test (and benchmark) set-up, never committed.

``rs4d_record()``: a Raspberry Shake RS4D record shipped in the rsudp package's test data
(``rsudp/test/testdata.ms``: EHZ, ENE, ENN, ENZ at 100 Hz in int32 counts, 110 s: 45 s of quiet, then a
local earthquake). rsudp is GPL-3.0, so the record is downloaded from PyPI with pip, that one member is
unzipped into a cache folder keyed by version, and its hash checked. The model is never tuned on it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

RSUDP = "rsudp==2.2.1"
RS4D_MEMBER = "rsudp/test/testdata.ms"
RS4D_SHA256 = "6795de91c208e116322d41672af0047574b04ae26020028c8ae79ac32ed58726"
RS4D_SENSITIVITY = 3.99e8          # counts per m/s, the RS4D geophone's nominal sensitivity (EHZ)
RS4D_QUAKE_ONSET_S = 45.0          # the local earthquake's onset, seconds from the record's start


def _registry_reachable(host: str = "pypi.org", port: int = 443) -> bool:
    try:
        with socket.create_connection((host, port), timeout=10):
            return True
    except OSError:
        return False


def rs4d_record() -> tuple[Path | None, str]:
    """(path of the cached testdata.ms, "") or (None, why it could not be fetched)."""
    cache = Path(tempfile.gettempdir()) / "edge-rep-test-cache" / RSUDP.replace("==", "-")
    path = cache / "testdata.ms"
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == RS4D_SHA256:
        return path, ""
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="rsudp-", dir=cache))
    try:
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                            "--disable-pip-version-check", RSUDP, "-d", str(work)],
                           capture_output=True, text=True, timeout=300)
        wheels = list(work.glob("rsudp-*.whl"))
        if r.returncode != 0 or not wheels:
            if not _registry_reachable():
                return None, f"the package registry (PyPI) cannot be reached, so {RSUDP}'s record cannot be fetched"
            return None, f"pip download {RSUDP} failed although PyPI is reachable: {r.stderr[-1000:]}"
        with zipfile.ZipFile(wheels[0]) as z:
            data = z.read(RS4D_MEMBER)
        if hashlib.sha256(data).hexdigest() != RS4D_SHA256:
            return None, f"{RS4D_MEMBER} in {wheels[0].name} changed (hash); check the package"
        (work / "testdata.ms").write_bytes(data)
        os.replace(work / "testdata.ms", path)          # whole or absent, also with another test run beside
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path, ""
