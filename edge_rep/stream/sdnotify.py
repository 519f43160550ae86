"""systemd's notify protocol in a few lines: datagrams to $NOTIFY_SOCKET (no extra dependency).

Under ``Type=notify`` the daemon sends ``READY=1`` once its model is loaded (then ``STATUS=`` lines as
the link comes and goes) and ``WATCHDOG=1`` at least every half ``WatchdogSec`` (systemd passes it as
$WATCHDOG_USEC), also while it waits for the port; outside systemd every call is a no-op.
"""

from __future__ import annotations

import os
import socket


class Notifier:
    def __init__(self, environ: dict | None = None):
        env = os.environ if environ is None else environ
        addr = env.get("NOTIFY_SOCKET", "")
        if addr.startswith("@"):
            addr = "\0" + addr[1:]     # abstract namespace socket
        self.addr = addr or None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        self.watchdog_s = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 and mine else None
        self._sock = None
        if self.addr:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._last_ping = -1e18
        self._ready = False

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def notify(self, state: str) -> bool:
        if self._sock is None:
            return False
        try:
            self._sock.sendto(state.encode(), self.addr)
            return True
        except OSError:
            return False      # systemd went away: nothing to tell

    def ready(self, status: str = "") -> None:
        """READY=1 with a status line; once only: later calls update the status."""
        if self._ready:
            if status:
                self.status(status)
            return
        self._ready = self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def status(self, text: str) -> None:
        """The one-line status ``systemctl status`` shows."""
        self.notify(f"STATUS={text}")

    def watchdog(self, now: float) -> None:
        """Ping the watchdog when half its interval has passed (call from the main loop)."""
        if self.watchdog_s is not None and now - self._last_ping >= self.watchdog_s:
            self._last_ping = now
            self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
