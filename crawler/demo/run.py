"""``pingcrawl demo``: serve the sample web on 127.0.0.1, crawl it, show what was found.

The sample blogs have made-up host names (``northwind.example`` …); the crawler
reaches them through its ``http.proxy`` setting pointed at the local server, which
answers for every host, exactly as a crawl through a real forward proxy would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from crawler.config import Config
from crawler.demo.web import SEEDS, build_site
from crawler.engine import RunSummary, crawl


class VirtualWebHandler(BaseHTTPRequestHandler):
    """Answers proxy-style (absolute URL) and plain requests from a ``(host, path)`` map."""

    site: dict[tuple[str, str], tuple[int, str, str]] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        target = urlsplit(self.path)
        host = (target.netloc or self.headers.get("Host", "")).lower()
        path = target.path or "/"
        status, content_type, body = self.site.get(
            (host, path), (404, "text/html", "<h1>Not found</h1>")
        )
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


@contextmanager
def serve_demo_web() -> Iterator[str]:
    """Serve the sample web on an ephemeral 127.0.0.1 port; yields the proxy URL."""
    handler = type("DemoHandler", (VirtualWebHandler,), {"site": build_site()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def demo_config(database: Path, proxy: str) -> Config:
    return Config().with_overrides(
        crawl={"database": str(database), "seeds": SEEDS, "max_depth": 2},
        politeness={"delay": 0.0, "per_host": 2},
        http={"proxy": proxy, "timeout": 10.0, "retries": 1},
        # The proxy is on 127.0.0.1; the sample hosts are made-up names behind it.
        safety={"allow_private": True},
    )


class NotDemoDatabase(ValueError):
    """The demo was pointed at a path it must not write or replace."""


def demo_hosts() -> set[str]:
    return {host for host, _ in build_site()}


def check_demo_target(database: Path, *, replace: bool, force: bool = False) -> None:
    """Raise :class:`NotDemoDatabase` unless the demo may crawl into ``database``: its
    folder exists, it is not a directory, and (when it would be replaced) it is missing,
    empty, or a demo database — every page on the sample hosts. ``force`` replaces any
    file; a directory or a missing folder is refused even then."""
    from db.schema import database_kind, open_readonly, pages_outside

    kind = database_kind(database)
    if kind == "directory":
        raise NotDemoDatabase(f"--db {database} is a directory; give a file name")
    if kind == "missing":
        if not database.parent.is_dir():
            raise NotDemoDatabase(f"--db {database}: folder {database.parent} does not exist")
        return
    if force or kind == "empty":
        return
    if kind != "pingcrawl":
        what = {"not_sqlite": "not an SQLite database", "foreign": "another program's database"}
        raise NotDemoDatabase(
            f"--db {database} is {what.get(kind, 'not readable')}, not a demo database: "
            "choose another file, or --force to replace it"
        )
    db = open_readonly(database)
    try:
        others = pages_outside(db, demo_hosts())
    finally:
        db.conn.close()
    if others and replace:
        raise NotDemoDatabase(
            f"--db {database} holds a crawl ({others} page(s) not from the demo): refusing to "
            "delete it; choose another file, or --force to replace it"
        )
    if others:
        raise NotDemoDatabase(
            f"--db {database} holds a crawl ({others} page(s) not from the demo): refusing to "
            "add the sample blogs to it; choose another file"
        )


def run_demo(
    database: Path, *, fresh: bool = True, echo: Callable[[str], None] = print
) -> RunSummary:
    """Crawl the sample web into ``database``, print the summary, pingbacks and related
    posts, and write ``demo-report.html`` next to the database."""
    if fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
    with serve_demo_web() as proxy:
        summary = crawl(demo_config(database, proxy))
    echo(summary.line())
    _show_results(database, echo)
    report = write_demo_report(database)
    echo(f"Report:   {report.resolve()}  (open it in a browser; it works offline)")
    return summary


def write_demo_report(database: Path) -> Path:
    """``demo-report.html`` next to the demo database: the crawl as graphs and lists."""
    from crawler.report import write_report
    from db.schema import open_database

    return write_report(
        open_database(database),
        database.with_name("demo-report.html"),
        title="pingcrawl demo report",
    )


def _show_results(database: Path, echo: Callable[[str], None]) -> None:
    from db.graph import pingback_list, related_posts, verify_pingbacks
    from db.schema import open_database

    db = open_database(database)
    verify_pingbacks(db)
    echo("\nPingbacks and trackbacks (source -> target, verified):")
    for row in pingback_list(db):
        mark = {1: "yes", 0: "NO (does not link back)"}.get(row["verified"], "unknown")
        echo(f"  {row['kind']:<9} {row['source']} -> {row['target']}  verified: {mark}")
    echo("\nRelated posts (same blog, joined by pingback/trackback/citation):")
    for row in related_posts(db):
        echo(f"  [{row['blog']}] {row['a']} <-> {row['b']}  ({row['kinds']})")
    echo(f"\nDatabase: {database}  (try: sqlite-utils tables {database} --counts)")
