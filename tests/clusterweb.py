"""The virtual web of ``benchmarks/virtual_web.py``, served slowly, with a request log.

For the cluster tests: every response waits ``latency`` seconds, so requests to one host
that overlap show as overlapping, and the server logs each request's host, path, start
and end (``time.monotonic()``, one clock for every process on the machine). It runs in a
child process (it never shares a GIL with the test) and answers proxy (absolute-form)
requests for any host of the web; ``GET http://127.0.0.1:PORT/__log`` returns the log.

    with ClusterWeb(VirtualWeb(blogs=12, posts=8), latency=0.02) as web:
        config: http.proxy = web.proxy
        web.log()  -> [{"host", "path", "start", "end"}, ...]
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.virtual_web import ROBOTS, VirtualWeb  # noqa: E402


class ClusterWeb:
    def __init__(self, blogs: int, posts: int, latency: float = 0.02) -> None:
        self.web = VirtualWeb(blogs=blogs, posts=posts)
        self.args = [str(blogs), str(posts), str(latency)]
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ClusterWeb:
        self._proc = subprocess.Popen(
            [sys.executable, __file__, *self.args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        self.port = int(self._proc.stdout.readline())  # printed once it listens
        return self

    def log(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.proxy}/__log", timeout=10) as answer:
            return list(json.loads(answer.read()))

    def stop(self) -> None:
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            self._proc.wait(timeout=10)

    def __enter__(self) -> ClusterWeb:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve(blogs: int, posts: int, latency: float) -> None:
    web = VirtualWeb(blogs=blogs, posts=posts)
    pages = {(host, path): html.encode() for host, path, html in web.render_all()}
    log: list[dict[str, Any]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:
            start = time.monotonic()
            host, path = self._target()
            if path == "/__log":
                with lock:
                    self._send(200, "application/json", json.dumps(log).encode())
                return
            time.sleep(latency)
            if path == "/robots.txt":
                status, kind, body = 200, "text/plain", ROBOTS.format(host=host).encode()
            elif (host, path) in pages:
                status, kind, body = 200, "text/html; charset=utf-8", pages[(host, path)]
            else:
                status, kind, body = 404, "text/html", b"<html><title>404</title></html>"
            end = time.monotonic()
            with lock:
                log.append({"host": host, "path": path, "start": start, "end": end})
            self._send(status, kind, body)

        def _target(self) -> tuple[str, str]:
            target = self.path
            if target.startswith("http://"):
                rest = target[len("http://") :]
                host, _, path = rest.partition("/")
                return host.split(":")[0].lower(), "/" + path.split("?")[0]
            host = (self.headers.get("Host") or "").split(":")[0].lower()
            return host, target.split("?")[0]

        def _send(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    server.shutdown()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
