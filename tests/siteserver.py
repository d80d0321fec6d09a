"""A local test web: one threaded HTTP server on 127.0.0.1 serving many virtual hosts.

Start it with the ``site`` fixture (``tests/conftest.py``) or ``with SiteServer() as site:``.

Virtual hosts: every helper takes ``host=``. A request is matched on its host — taken from
an absolute-form request line (``GET http://a.test/x HTTP/1.1``, what a client sends to a
proxy) or else from the ``Host`` header — then on the host without its port, then on routes
registered with ``host=None`` (any host). So with ``http.proxy = site.proxy_url`` a crawler
can fetch ``http://a.test/``, ``http://b.test/`` … from this one server; ``site.url(path,
host="a.test")`` builds such URLs. Without a proxy use ``site.url(path)`` (the real
``http://127.0.0.1:PORT``); more real hosts = more servers (``site_factory()``, or
``SiteServer("127.0.0.2")`` — all of 127/8 is loopback on Linux).

Content (each a one-liner):

- ``add_page(path, body="", status=200, headers=None, host=None, links=None, title=None,
  content_type="text/html; charset=utf-8")`` — ``body`` is str or bytes; with ``links``
  (and no body) a small HTML page linking to them is generated.
- ``add_redirect(src, dst, status=301, host=None)``
- ``add_robots(text, host=None, status=200)`` — no robots.txt means 404 (allow all).
- A page added with an ``ETag`` or ``Last-Modified`` header answers a matching conditional
  request (``If-None-Match`` / ``If-Modified-Since``) with 304.

Faults on demand:

- ``fail_times(path, n, status=503, host=None, headers=None)`` — the next ``n`` requests
  fail with ``status``, then the page answers normally.
- ``retry_after(path, seconds, status=429, times=1, host=None)`` — like ``fail_times`` with
  a ``Retry-After`` header (``seconds`` may be a number or an HTTP date string).
- ``hang(path, host=None, after_headers=False)`` — never answers (or sends headers and then
  nothing) until the server stops.
- ``big(path, nbytes, host=None, content_type="text/html")`` — an ``nbytes`` body generated
  on the fly (never held in memory).
- ``gzip_bomb(path, nbytes, host=None, encoding="gzip")`` — a small compressed body that
  inflates to ``nbytes`` (``encoding`` "gzip", "deflate" or "br").
- ``reset(path, host=None)`` — read each request, then reset the connection (RST, no answer).
- ``slow(path, seconds, host=None)`` — answer each request only ``seconds`` after reading it.

The request log: ``site.hits(host=None, path=None)`` returns :class:`Hit` records (host,
path, method, headers, ``time`` = server-side ``time.monotonic()`` taken when the request
line and headers were read); ``site.starts(host)`` and ``site.gaps(host)`` give the start
times and start-to-start gaps per host; ``site.hosts()`` lists hosts seen; ``site.clear_log()``.
"""

from __future__ import annotations

import html
import http.client
import json
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

Fault = tuple[int, dict[str, str]]  # status and extra headers of one planned failure
_READY_PATH = "/__siteserver_ready__"
_CONTROL_PATH = "/__siteserver_call__"
_REMOTE_CALLS = frozenset(
    {
        "add_page",
        "add_redirect",
        "add_robots",
        "big",
        "gzip_bomb",
        "fail_times",
        "retry_after",
        "hang",
        "reset",
        "slow",
        "hits",
        "clear_log",
    }
)
_CHUNK = 64 * 1024
_VALIDATORS = ("ETag", "Last-Modified")


@dataclass(frozen=True)
class Hit:
    """One request as the server saw it."""

    host: str
    path: str
    method: str
    time: float
    headers: dict[str, str]


@dataclass
class Route:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: Callable[[], Iterator[bytes]] | None = None  # generated body
    length: int | None = None  # Content-Length of a generated body
    hang: str | None = None  # "before" or "after" headers
    reset: bool = False  # reset the connection instead of answering
    wait: float = 0.0  # seconds between reading the request and answering
    faults: list[Fault] = field(default_factory=list)


class _SiteViews:
    """Addresses and log views shared by :class:`SiteServer` and :class:`SiteProcess`."""

    address: str
    port: int

    def hits(self, host: str | None = None, path: str | None = None) -> list[Hit]:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        return f"http://{self.address}:{self.port}"

    @property
    def proxy_url(self) -> str:
        """Use as ``http.proxy`` to reach virtual hosts (``http://a.test/…``) through us."""
        return self.base_url

    def url(self, path: str = "/", host: str | None = None) -> str:
        """``http://127.0.0.1:PORT/path``, or ``http://HOST/path`` for a virtual host."""
        return f"http://{host}{path}" if host else f"{self.base_url}{path}"

    def hosts(self) -> list[str]:
        return sorted({h.host for h in self.hits()})

    def starts(self, host: str | None = None) -> list[float]:
        return sorted(h.time for h in self.hits(host))

    def gaps(self, host: str | None = None) -> list[float]:
        times = self.starts(host)
        return [b - a for a, b in zip(times, times[1:], strict=False)]


class SiteServer(_SiteViews):
    """A threaded HTTP/1.1 server with one-line helpers; see the module docstring."""

    def __init__(self, address: str = "127.0.0.1", port: int = 0) -> None:
        self._routes: dict[tuple[str | None, str], Route] = {}
        self._log: list[Hit] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Server((address, port), _Handler)
        self._httpd.site = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        self.address = address
        self.port = self._httpd.server_address[1]

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 5.0) -> SiteServer:
        # A short poll interval: shutdown() waits for it, once per test.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn = http.client.HTTPConnection(self.address, self.port, timeout=1)
                conn.request("GET", _READY_PATH)
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
            # No sleep: the listening socket exists already, so a failure is rare and brief.

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SiteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- content ---------------------------------------------------------------------------

    def add_page(
        self,
        path: str,
        body: str | bytes = "",
        status: int = 200,
        headers: dict[str, str] | None = None,
        host: str | None = None,
        links: list[str] | None = None,
        title: str | None = None,
        content_type: str = "text/html; charset=utf-8",
    ) -> None:
        if links is not None and not body:
            body = page_html(title or path, links)
        data = body.encode("utf-8") if isinstance(body, str) else body
        all_headers = {"Content-Type": content_type} if content_type else {}
        all_headers.update(headers or {})
        self._set(host, path, Route(status=status, headers=all_headers, body=data))

    def add_redirect(self, src: str, dst: str, status: int = 301, host: str | None = None) -> None:
        self._set(host, src, Route(status=status, headers={"Location": dst}))

    def add_robots(self, text: str, host: str | None = None, status: int = 200) -> None:
        self.add_page("/robots.txt", text, status, host=host, content_type="text/plain")

    def big(
        self, path: str, nbytes: int, host: str | None = None, content_type: str = "text/html"
    ) -> None:
        self._set(
            host,
            path,
            Route(
                headers={"Content-Type": content_type},
                stream=lambda: _filler(nbytes),
                length=nbytes,
            ),
        )

    def gzip_bomb(
        self, path: str, nbytes: int, host: str | None = None, encoding: str = "gzip"
    ) -> None:
        data = _compressed_zeros(nbytes, encoding)
        headers = {"Content-Type": "text/html", "Content-Encoding": encoding}
        self._set(host, path, Route(headers=headers, body=data))

    # -- faults ----------------------------------------------------------------------------

    def fail_times(
        self,
        path: str,
        n: int,
        status: int = 503,
        host: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        route = self._route_for_fault(host, path)
        with self._lock:
            route.faults.extend([(status, dict(headers or {}))] * n)

    def retry_after(
        self,
        path: str,
        seconds: float | str,
        status: int = 429,
        times: int = 1,
        host: str | None = None,
    ) -> None:
        value = str(int(seconds)) if isinstance(seconds, int | float) else seconds
        self.fail_times(path, times, status, host, {"Retry-After": value})

    def hang(self, path: str, host: str | None = None, after_headers: bool = False) -> None:
        self._set(host, path, Route(hang="after" if after_headers else "before"))

    def reset(self, path: str, host: str | None = None) -> None:
        self._set(host, path, Route(reset=True))

    def slow(self, path: str, seconds: float, host: str | None = None) -> None:
        """Delay the answers of an existing page (or of a 404 if there is none yet)."""
        with self._lock:
            route = self._routes.get((host, path))
            if route is None:
                route = self._routes[(host, path)] = Route(status=404, body=b"not found")
            route.wait = seconds

    # -- the log ---------------------------------------------------------------------------

    def hits(self, host: str | None = None, path: str | None = None) -> list[Hit]:
        with self._lock:
            log = list(self._log)
        return [
            h for h in log if (host is None or h.host == host) and (path is None or h.path == path)
        ]

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    # -- internals -------------------------------------------------------------------------

    def _set(self, host: str | None, path: str, route: Route) -> None:
        with self._lock:
            old = self._routes.get((host, path))
            if old is not None:
                route.faults = old.faults
            self._routes[(host, path)] = route

    def _route_for_fault(self, host: str | None, path: str) -> Route:
        with self._lock:
            route = self._routes.get((host, path))
            if route is None:
                # A fault on a path with no page yet: it answers 404 once the faults are used.
                route = self._routes[(host, path)] = Route(status=404, body=b"not found")
            return route

    def _record(self, hit: Hit) -> None:
        with self._lock:
            self._log.append(hit)

    def _lookup(self, host: str, path: str) -> tuple[Route | None, Fault | None]:
        bare = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        with self._lock:
            for key in ((host, path), (bare, path), (None, path)):
                route = self._routes.get(key)
                if route is not None:
                    fault = route.faults.pop(0) if route.faults else None
                    return route, fault
        return None, None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a crawler opens many connections at once; 5 drops some


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "siteserver/1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def parse_request(self) -> bool:
        # Stamp the request as soon as its line is read: header parsing under a busy GIL
        # would add jitter to the server-measured gaps.
        self._received = time.monotonic()
        return super().parse_request()

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        site: SiteServer = self.server.site  # type: ignore[attr-defined]
        if self.path != _CONTROL_PATH:
            self._send(405, {}, b"")
            return
        call = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        if call["name"] not in _REMOTE_CALLS:
            self._send(400, {}, b"unknown helper")
            return
        value = getattr(site, call["name"])(*call["args"], **call["kwargs"])
        if call["name"] == "hits":
            value = [asdict(hit) for hit in value]
        self._send(200, {"Content-Type": "application/json"}, json.dumps(value).encode())

    def do_GET(self) -> None:
        site: SiteServer = self.server.site  # type: ignore[attr-defined]
        host, path = self._target()
        if path == _READY_PATH:
            self._send(200, {}, b"ok")
            return
        headers = {k.title(): v for k, v in self.headers.items()}  # any client spelling
        hit = Hit(host, path, self.command, self._received, headers)
        site._record(hit)
        route, fault = site._lookup(host, path)
        if route is not None and route.wait:
            site._stopping.wait(route.wait)
        if route is not None and route.reset:
            self._reset()
        elif fault is not None:
            status, headers = fault
            self._send(status, {"Content-Type": "text/html", **headers}, b"<p>try later</p>")
        elif route is None:
            self._send(404, {"Content-Type": "text/html"}, b"<p>not found</p>")
        elif route.hang:
            self._hang(site, route)
        elif route.stream is not None:
            self._stream(route)
        elif self._not_modified(route):
            self._send(304, {k: v for k, v in route.headers.items() if k in _VALIDATORS}, b"")
        else:
            self._send(route.status, route.headers, route.body)

    def _not_modified(self, route: Route) -> bool:
        """Conditional GET: a page added with an ETag or Last-Modified header answers 304."""
        etag = route.headers.get("ETag")
        modified = route.headers.get("Last-Modified")
        if etag and self.headers.get("If-None-Match"):
            return self.headers["If-None-Match"] == etag
        return bool(modified) and self.headers.get("If-Modified-Since") == modified

    def _target(self) -> tuple[str, str]:
        if self.path.startswith(("http://", "https://")):
            parts = urlsplit(self.path)
            path = parts.path or "/"
            return parts.netloc.lower(), path + (f"?{parts.query}" if parts.query else "")
        host = (self.headers.get("Host") or "").lower()
        return host, self.path

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self._write(body)

    def _stream(self, route: Route) -> None:
        self.send_response(route.status)
        for name, value in route.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(route.length))
        self.end_headers()
        assert route.stream is not None
        for chunk in route.stream():
            if not self._write(chunk):
                return

    def _hang(self, site: SiteServer, route: Route) -> None:
        if route.hang == "after":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self._write(b"<html>")
        site._stopping.wait(60)
        self.close_connection = True

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _write(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return False


def page_html(title: str, links: list[str]) -> str:
    """A small HTML page with a title and a list of links."""
    items = "".join(f'<li><a href="{html.escape(u)}">{html.escape(u)}</a></li>' for u in links)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"</head><body><ul>{items}</ul></body></html>"
    )


def _filler(nbytes: int) -> Iterator[bytes]:
    block = (b"<p>" + b"x" * 1017 + b"</p>\n") * (_CHUNK // 1024)
    head = b"<!doctype html><html><body>\n"
    yield head[:nbytes]
    left = nbytes - min(nbytes, len(head))
    while left > 0:
        piece = block[:left]
        left -= len(piece)
        yield piece


def _compressed_zeros(nbytes: int, encoding: str) -> bytes:
    head = b"<!doctype html><html><body>"
    zeros = b"\0" * _CHUNK
    if encoding == "br":
        import brotli

        compressor = brotli.Compressor(quality=1)  # zeros compress well even so, and fast
        parts = [compressor.process(head)]
        for _ in range(nbytes // _CHUNK):
            parts.append(compressor.process(zeros))
        parts.append(compressor.finish())
        return b"".join(parts)
    wbits = 16 + zlib.MAX_WBITS if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    parts = [compressor.compress(head)]
    for _ in range(nbytes // _CHUNK):
        parts.append(compressor.compress(zeros))
    parts.append(compressor.flush())
    return b"".join(parts)


class SiteProcess(_SiteViews):
    """The same server in a child process, driven with the same helpers over HTTP.

    For timing-sensitive tests: in-process, the server's threads share the GIL with the
    crawler under test, which adds milliseconds of jitter to the server-side timestamps.
    The log's ``time`` values are the child's ``time.monotonic()`` — the same system clock.
    """

    def __init__(self, address: str = "127.0.0.1") -> None:
        self.address = address
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> SiteProcess:
        self._proc = subprocess.Popen(
            [sys.executable, __file__, self.address],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        self.port = int(self._proc.stdout.readline())  # printed once the server is ready
        return self

    def stop(self) -> None:
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()  # the child stops when its stdin closes
            self._proc.wait(timeout=10)

    def __enter__(self) -> SiteProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        conn = http.client.HTTPConnection(self.address, self.port, timeout=10)
        body = json.dumps({"name": name, "args": args, "kwargs": kwargs})
        conn.request("POST", _CONTROL_PATH, body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        conn.close()
        if response.status != 200:
            raise RuntimeError(f"siteserver {name}: {response.status} {data!r}")
        return json.loads(data)

    def __getattr__(self, name: str) -> Any:
        if name in _REMOTE_CALLS:
            return lambda *args, **kwargs: self.call(name, *args, **kwargs)
        raise AttributeError(name)

    def hits(self, host: str | None = None, path: str | None = None) -> list[Hit]:
        return [Hit(**hit) for hit in self.call("hits", host, path)]


def _serve_child(address: str) -> None:
    with SiteServer(address) as server:
        print(server.port, flush=True)
        sys.stdin.read()  # until the parent closes our stdin


if __name__ == "__main__":
    _serve_child(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1")
