"""The live web view (``edge-rep stream --http 127.0.0.1:8080``): one page that follows the stream.

    view = WebView.from_config(cfg.http, backend.meta, cfg.node.id)   # a sink, like JsonlSink
    view.write(rec)                       # the runner's thread: pushes, never waits
    view.write_window(rec, job.data)      # a window with its samples (for the spectrogram)
    view.url                              # http://127.0.0.1:8080/ once it is served
    view.close()

Standard library only (``http.server``). Three kinds of threads, so that classification never waits on
a client:

- the runner's thread only appends to a bounded inbox (``INBOX`` records; when the page's thread falls
  that far behind, the oldest are dropped and counted as lost for the page);
- one publisher thread turns records into the page's state (``webstate.PageState``: spectrogram columns,
  health, events) and into numbered messages in a bounded ring (``Broadcast``);
- one thread per HTTP connection (``ThreadingHTTPServer``): ``GET /`` the page (``page/``, package data),
  ``GET /state.json`` the whole state, ``GET /events`` Server-Sent Events: a ``snapshot`` event, then each
  message as it comes. A client that falls out of the ring, or does not take its bytes for
  ``send_timeout_s`` (its socket's send buffer is kept small, so a stuck client is noticed), is dropped;
  the browser's EventSource reconnects and starts again from a snapshot. At most ``max_clients`` streams.

An address in use (another program, a previous daemon still stopping) is a transient fault: an
``output_down`` notice, then binding is retried in the background (``retry_s`` doubling to 30 s) while
classification goes on, and an ``output_up`` notice when the page is served. Any other bind error (a
privileged port) is a configuration error at start (``EdgeRepError``). Only loopback addresses are
allowed unless ``[http] public`` (``config.http_endpoint``); the page has no authentication, so a
loopback view also refuses requests whose Host header names another host (DNS rebinding).
"""

from __future__ import annotations

import errno
import json
import logging
import select
import socket
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import urlsplit

from ..config import HttpSection, http_endpoint
from ..errors import EdgeRepError
from ..modelspec import ModelMeta
from .outputs import OutputState
from .webstate import PageState

log = logging.getLogger("edge_rep.stream")

INBOX = 64                  # records waiting for the publisher thread (a window holds its samples: ~65 kB)
RING = 256                  # messages a client may lag behind before it is dropped
KEEPALIVE_S = 15.0          # an SSE comment this often on a quiet stream (proxies, dead peers)
CHECK_S = 1.0               # a quiet stream checks this often whether its client has gone
SEND_TIMEOUT_S = 10.0       # a client that takes no bytes for this long is dropped
SEND_BUFFER = 64 * 1024     # per-client socket send buffer: a stuck client fills it in about a minute
REQUEST_TIMEOUT_S = 10.0    # to send a request line and headers
MAX_CLIENTS = 16            # event streams at once; more get 503
RETRY_S = (1.0, 30.0)       # first and longest wait between bind attempts while the address is in use
TRANSIENT = (errno.EADDRINUSE, errno.EADDRNOTAVAIL)    # in use; an address not (yet) on an interface

# the page: file name -> content type (package data, edge_rep/stream/page/)
PAGE_FILES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
              "style.css": "text/css; charset=utf-8"}


def page_file(name: str) -> bytes:
    """One file of the page, from the installed package."""
    return resources.files(__package__).joinpath("page", name).read_bytes()


def _json(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), default=str).encode()


class Broadcast:
    """The last ``size`` messages, numbered from 1; each client follows from its own position."""

    def __init__(self, size: int = RING):
        self.size = size
        self._ring: deque[tuple[int, bytes]] = deque(maxlen=size)
        self._seq = 0
        self.cond = threading.Condition()
        self.closed = False

    def publish(self, seq: int, data: bytes) -> None:
        """Add message ``seq`` (the caller holds ``cond``, so a snapshot and its number agree)."""
        self._ring.append((seq, data))
        self._seq = seq
        self.cond.notify_all()

    def after(self, seq: int, timeout: float) -> list[tuple[int, bytes]] | None:
        """Messages after ``seq`` (waiting up to ``timeout`` for one; [] if none came); None when the ring no
        longer holds the next one (the client fell behind) or the broadcast is closed."""
        with self.cond:
            if self._seq == seq and not self.closed:
                self.cond.wait(timeout)
            if self.closed:
                return None
            if self._seq == seq:
                return []
            if not self._ring or self._ring[0][0] > seq + 1:
                return None
            return [m for m in self._ring if m[0] > seq]

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


class WebView:
    """A sink that serves the live page; see the module's docstring. ``port`` 0: any free port (``url``)."""

    def __init__(self, host: str, port: int, meta: ModelMeta, node: str, *, public: bool = False,
                 retry_s: tuple[float, float] = RETRY_S, send_timeout_s: float = SEND_TIMEOUT_S,
                 max_clients: int = MAX_CLIENTS, ring: int = RING, inbox: int = INBOX):
        self.host, self.port, self.public = host, int(port), public
        self.send_timeout_s = float(send_timeout_s)
        self.state = OutputState(f"web view {self._where(self.port)}")
        self.page = PageState(meta, node)
        self.broadcast = Broadcast(ring)
        self.clients = threading.BoundedSemaphore(max_clients)
        self.connected = 0                 # event streams open now
        self.dropped = 0                   # clients dropped: fell behind or stuck
        self._count_lock = threading.Lock()
        self._inbox: deque = deque(maxlen=inbox)
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._retry_s = retry_s
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._publish_errors = 0
        self._start("web view publisher", self._publish_loop)
        try:
            self._bind()
        except OSError as e:
            if e.errno not in TRANSIENT:
                self.close()
                raise EdgeRepError(f"web view {self._where(self.port)}: cannot listen ({e.strerror or e}); choose "
                                   "another address or port ([http] address, --http), e.g. 127.0.0.1:8080") from None
            self.state.failed(f"cannot listen ({e.strerror or e})", lost=0,
                              consequence=f"retrying every {retry_s[0]:g} to {retry_s[1]:g} s; classification goes "
                                          "on, the page is served once the address is free")
            self._start("web view bind", self._retry_loop)

    @classmethod
    def from_config(cls, section: HttpSection, meta: ModelMeta, node: str) -> WebView:
        """From the ``[http]`` section (``Config.http``; its address checked by ``config.http_endpoint``)."""
        host, port = http_endpoint(section.address, section.public, "http.address", "set [http] public = true")
        return cls(host, port, meta, node, public=section.public)

    def _where(self, port: int) -> str:
        return f"[{self.host}]:{port}" if ":" in self.host else f"{self.host}:{port}"

    @property
    def url(self) -> str | None:
        """The page's address once it is served, else None."""
        return f"http://{self._where(self.port)}/" if self._server is not None else None

    def _start(self, name: str, target) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    # -- the runner's thread: push and return -----------------------------------------------------
    def write(self, rec: dict) -> None:
        """Queue one record for the page; never blocks, never raises."""
        self._push((rec, None))

    def write_window(self, rec: dict, samples: dict) -> None:
        """Queue a window record with its samples (modality -> (C, S), physical units; not copied: the
        window's arrays are its own)."""
        self._push((rec, samples))

    def _push(self, item) -> None:
        if len(self._inbox) == self._inbox.maxlen:
            self.state.add_lost()           # the oldest queued record is dropped for the page
        self._inbox.append(item)
        self._wake.set()

    @property
    def lost(self) -> int:
        return self.state.lost

    def take_notices(self) -> list[tuple[str, str]]:
        return self.state.take_notices()

    # -- the publisher thread ---------------------------------------------------------------------
    def _publish_loop(self) -> None:
        while True:
            closing = self._closed.is_set()        # what was queued before close() is still published
            self._wake.clear()
            self._drain()
            if closing:
                return
            self._wake.wait(1.0)

    def _drain(self) -> None:
        while True:
            try:
                rec, samples = self._inbox.popleft()
            except IndexError:
                return
            try:
                with self.broadcast.cond:
                    msg = self.page.add(rec, samples)
                    self.broadcast.publish(msg["seq"], _json(msg))
            except Exception as e:  # noqa: BLE001 - a record the page cannot show must not stop the page
                self._publish_errors += 1
                if self._publish_errors == 1 or self._publish_errors % 1000 == 0:
                    log.error("web view: cannot show a %s record (%s: %s); %d so far", rec.get("type"),
                              type(e).__name__, e, self._publish_errors)

    def snapshot(self) -> tuple[int, bytes]:
        """The page's whole state as JSON, and the number of the last message it includes."""
        with self.broadcast.cond:
            snap = self.page.snapshot()
            return snap["seq"], _json({**snap, "clients": self.connected, "dropped_clients": self.dropped,
                                       "lost": self.state.lost})

    # -- serving ----------------------------------------------------------------------------------
    def _bind(self) -> None:
        server_class = _Server6 if ":" in self.host else _Server
        server = server_class((self.host, self.port), _Handler)
        server.view = self
        self.port = server.server_address[1]
        self.state.name = f"web view {self._where(self.port)}"       # port 0: the one the system gave
        self._server = server
        self._start("web view server", lambda: server.serve_forever(poll_interval=0.5))
        log.info("web view: http://%s/ (%s)", self._where(self.port),
                 "open to the network, no authentication" if self.public else "this machine only")

    def _retry_loop(self) -> None:
        wait, since = self._retry_s[0], time.monotonic()
        while not self._closed.wait(wait):
            try:
                self._bind()
            except OSError as e:
                if e.errno not in TRANSIENT:
                    log.error("web view %s: cannot listen (%s); not retrying", self._where(self.port),
                              e.strerror or e)
                    return
                wait = min(wait * 2, self._retry_s[1])
                continue
            self.state.ok(text=f"{self.state.name}: serving http://{self._where(self.port)}/ after "
                               f"{time.monotonic() - since:.1f} s (the address was in use)")
            return

    def _client(self, delta: int, dropped: str = "") -> None:
        with self._count_lock:
            self.connected += delta
            if dropped:
                self.dropped += 1
                n = self.dropped
        if dropped:
            log.warning("web view: dropped a client (%s); %d dropped so far", dropped, n)

    def close(self) -> None:
        """Stop serving and end every client's stream; never raises."""
        self._closed.set()
        self._wake.set()
        self.broadcast.close()
        server, self._server = self._server, None
        if server is not None:
            try:
                server.shutdown()
                server.server_close()
            except OSError as e:
                log.warning("web view: closing the server failed (%s)", e)
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=2.0)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    view: WebView

    def handle_error(self, request, client_address) -> None:
        """A request that failed: one log line, never socketserver's traceback on stderr."""
        e = sys.exc_info()[1]
        if isinstance(e, OSError):          # the client went away mid-reply
            log.debug("web view: %s: %s", client_address[0], e)
        else:
            log.warning("web view: a request from %s failed (%s: %s)", client_address[0], type(e).__name__, e)


class _Server6(_Server):
    address_family = socket.AF_INET6


_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "edge-rep"
    timeout = REQUEST_TIMEOUT_S

    def log_message(self, format, *args) -> None:
        log.debug("web view: %s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        view = self.server.view
        if not view.public and not self._local_host():
            self._send(403, b"this page is served to this machine only\n", "text/plain; charset=utf-8")
            return
        path = urlsplit(self.path).path
        name = "index.html" if path in ("/", "/index.html") else path.lstrip("/")
        if name in PAGE_FILES:
            self._send(200, page_file(name), PAGE_FILES[name])
        elif path == "/state.json":
            self._send(200, view.snapshot()[1], "application/json")
        elif path == "/events":
            self._events(view)
        else:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")

    def _local_host(self) -> bool:
        host = (self.headers.get("Host") or "").lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name in _LOOPBACK_NAMES or name.startswith("127.")

    def _headers(self, code: int, ctype: str, length: int | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "default-src 'self'")
        self.end_headers()

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self._headers(code, ctype, len(body))
        self.wfile.write(body)

    def _peer_closed(self) -> bool:
        """Whether the client closed its end (a closed tab), seen without waiting for a write to fail."""
        if not select.select([self.connection], [], [], 0)[0]:
            return False
        try:
            return not self.connection.recv(1, socket.MSG_PEEK)
        except OSError:
            return True

    def _events(self, view: WebView) -> None:
        if not view.clients.acquire(blocking=False):
            self._send(503, b"too many viewers\n", "text/plain; charset=utf-8")
            return
        view._client(+1)
        dropped = ""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
            self.connection.settimeout(view.send_timeout_s)
            self._headers(200, "text/event-stream")
            seq, snap = view.snapshot()
            self.wfile.write(b"event: snapshot\nid: %d\ndata: " % seq + snap + b"\n\n")
            quiet_since = time.monotonic()
            while True:
                msgs = view.broadcast.after(seq, CHECK_S)
                if msgs is None:
                    if not view.broadcast.closed:
                        dropped = f"it fell more than {view.broadcast.size} messages behind"
                    return
                if msgs:
                    self.wfile.write(b"".join(b"id: %d\ndata: " % s + data + b"\n\n" for s, data in msgs))
                    seq, quiet_since = msgs[-1][0], time.monotonic()
                elif self._peer_closed():
                    return
                elif time.monotonic() - quiet_since >= KEEPALIVE_S:
                    self.wfile.write(b": keep-alive\n\n")
                    quiet_since = time.monotonic()
        except TimeoutError:
            dropped = f"it took no data for {view.send_timeout_s:g} s"
        except OSError:
            pass                              # the client went away (closed tab, reload)
        finally:
            self.close_connection = True
            view._client(-1, dropped)
            view.clients.release()
