"""A pseudo-terminal standing in for a board's serial port: what the board writes, a reader opens.

    link = PtyLink("/tmp/edge-board")    # or PtyLink(): no symlink, read link.path
    link.write(frame_bytes)              # never blocks; bytes that do not fit are lost, like a UART's
    link.close(); link.open()            # unplug, and a new device behind the same symlink

Used by ``edge-rep simulate`` and the tests to run the real serial path (``port.PortReader``) without
hardware.
"""

from __future__ import annotations

import errno
import os
import secrets
import tty
from pathlib import Path

from .errors import BridgeError


class PtyLink:
    """The board's end of a pseudo-terminal; ``path`` is what a reader opens. Optionally keeps ``link``
    (a symlink) pointing at the current pty, so a reader can follow a disconnect-and-reappear."""

    def __init__(self, link: str | os.PathLike | None = None):
        self.link = Path(link) if link else None
        if self.link is not None and os.path.lexists(self.link) and not is_pty_link(self.link):
            raise BridgeError(f"--link {self.link}: already exists and is not a simulated board's pty link; "
                              f"choose a path that does not exist yet (e.g. /tmp/edge-board)")
        self.master = self.slave = -1
        self.path = ""
        self.bytes_dropped = 0       # written while nobody read and the pty buffer was full
        self.open()

    def open(self) -> str:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)       # binary frames: no echo, no newline translation
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        if self.link:
            tmp = self.link.with_name(f".{self.link.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
            try:
                tmp.symlink_to(self.path)    # a fresh name: fails rather than replace anything
                if os.path.lexists(self.link) and not is_pty_link(self.link):   # appeared since __init__
                    tmp.unlink()
                    raise FileExistsError(errno.EEXIST, "exists and is not a pty link")
                os.replace(tmp, self.link)   # atomic: a reader never sees the link missing or half-made
            except OSError as e:
                self.close()
                raise BridgeError(f"link {self.link}: cannot create it ({e.strerror}); pick a writable "
                                  f"folder") from None
        return self.path

    def write(self, data: bytes) -> None:
        """Never blocks: like a UART with nobody listening, bytes that do not fit are lost."""
        try:
            n = os.write(self.master, data)
        except BlockingIOError:
            n = 0
        except OSError:              # reader side gone away (EIO): the bytes are lost
            n = 0
        self.bytes_dropped += len(data) - n

    def close(self) -> None:
        for fd in (self.master, self.slave):
            if fd >= 0:
                os.close(fd)
        self.master = self.slave = -1
        if self.link and self.link.is_symlink() and os.readlink(self.link) == self.path:
            self.link.unlink()           # only our own link: another simulator may have taken the name


def is_pty_link(path: Path) -> bool:
    """A symlink to a pseudo-terminal (live or gone): what ``PtyLink`` leaves at its ``link`` path."""
    return path.is_symlink() and os.readlink(path).startswith("/dev/pts/")
