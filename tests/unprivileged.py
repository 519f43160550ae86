"""Run a check in a child process: as an unprivileged user (the tests run as root, and root ignores file
permissions and a tty's exclusive mode, TIOCEXCL), or with limits that must not touch the test process
(RLIMIT_FSIZE for a full disk).

    assert as_nobody(lambda: os.access("x", os.W_OK)) is False
    in_child(fill_the_disk, cwd=tmp_path)

The child is forked (it needs no access to the repository or the venv, which a clone in a private
folder would deny it), optionally changes into ``cwd`` first (then relative paths work even below a
folder ``nobody`` may not enter), runs ``fn`` and sends back its JSON-able result or its traceback.
"""

from __future__ import annotations

import json
import os
import traceback

NOBODY = 65534


def as_nobody(fn, cwd: str | os.PathLike | None = None):
    """``fn()``'s result, computed in a child process running as uid/gid ``NOBODY`` (as this user when
    the tests do not run as root). AssertionError with the child's traceback if ``fn`` raised."""
    return in_child(fn, cwd, nobody=True)


def in_child(fn, cwd: str | os.PathLike | None = None, nobody: bool = False):
    """``fn()``'s result (JSON-able), computed in a forked child (in ``cwd``; as ``NOBODY`` if asked).
    AssertionError with the child's traceback if ``fn`` raised."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                   # the child: never returns into pytest
        code = 1
        try:
            os.close(r)
            if cwd is not None:
                os.chdir(cwd)
            if nobody and os.geteuid() == 0:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            out = json.dumps({"result": fn()})
            code = 0
        except BaseException:  # noqa: BLE001 - everything goes back to the parent
            out = json.dumps({"error": traceback.format_exc()})
        finally:
            try:
                data = out.encode()
                while data:
                    data = data[os.write(w, data):]
            finally:
                os._exit(code)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 1 << 16)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    os.waitpid(pid, 0)
    msg = json.loads(b"".join(chunks) or b'{"error": "the child died without a word"}')
    if "error" in msg:
        raise AssertionError("in the unprivileged child:\n" + msg["error"])
    return msg["result"]
