"""``pingcrawl status``: how a crawl is doing, read from its database while it runs or after.

The database is opened read-only (:func:`open_read_only`): no schema migration, no lock,
no write, so a running crawl is not disturbed. During a run the ``runs`` row is only
written at the end, so this run's counts come from the pages fetched since it started; a
finished run's counts are the ones it recorded.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from crawler.records import iso, parse_iso

_FAILED = "(error IS NOT NULL OR status >= 400)"


class StatusError(Exception):
    """The file is not a pingcrawl database that can be read."""


def open_read_only(path: str | Path) -> sqlite3.Connection:
    """A read-only connection (``mode=ro``): the crawl's own writes are never blocked."""
    target = Path(path)
    if not target.is_file():
        raise StatusError(f"database {target} does not exist")
    uri = f"file:{quote(str(target.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=5.0)
        conn.execute("PRAGMA query_only = 1")
        conn.execute("SELECT count(*) FROM runs").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StatusError(f"{target} is not a pingcrawl database ({exc})") from None
    return conn


def crawl_status(
    conn: sqlite3.Connection, max_pages: int | None = None, now: float | None = None
) -> dict[str, Any]:
    """The run (latest), the frontier, per-host figures; every number from the database.

    ``rate`` is pages fetched per second of this run; ``eta_seconds`` the time the queue
    (capped by what is left of ``max_pages``) takes at that rate, None while unknown.
    """
    moment = time.time() if now is None else now
    with conn:  # one read transaction: every figure from the same snapshot
        conn.execute("BEGIN")
        run = _latest_run(conn)
        frontier = dict(conn.execute("SELECT state, count(*) FROM frontier GROUP BY state"))
        live = _run_counts(conn, run) if run else {"fetched": 0, "failed": 0}
        hosts = host_status(conn)
        pages = conn.execute("SELECT count(*) FROM pages").fetchone()[0]
    elapsed = _elapsed(run, moment)
    fetched, failed = live["fetched"], live["failed"]
    rate = fetched / elapsed if elapsed > 0 else 0.0
    queued = frontier.get("queued", 0) + frontier.get("claimed", 0)
    remaining = queued if max_pages is None else min(queued, max(max_pages - fetched, 0))
    running = run is not None and run["status"] == "running"
    eta = remaining / rate if running and rate > 0 else None
    return {
        "now": iso(),
        "run": run,
        "running": running,
        "fetched": fetched,
        "failed": failed,
        "queued": frontier.get("queued", 0),
        "in_flight": frontier.get("claimed", 0),
        "frontier": frontier,
        "pages": pages,
        "elapsed_seconds": round(elapsed, 3),
        "rate": round(rate, 3),
        "eta_seconds": None if eta is None else round(eta, 1),
        "hosts": hosts,
    }


def _latest_run(conn: sqlite3.Connection) -> dict[str, Any] | None:
    cursor = conn.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 1")
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cursor.description], row, strict=True))


def _run_counts(conn: sqlite3.Connection, run: dict[str, Any]) -> dict[str, int]:
    """A finished run's recorded counts; a running one's from the pages it has written."""
    if run["status"] != "running":
        return {"fetched": run.get("fetched") or 0, "failed": run.get("failed") or 0}
    fetched, failed = conn.execute(
        f"SELECT count(*), coalesce(sum({_FAILED}), 0) FROM pages WHERE fetched_at >= ?",
        (run["started_at"],),
    ).fetchone()
    return {"fetched": fetched, "failed": failed}


def _elapsed(run: dict[str, Any] | None, now: float) -> float:
    if not run or not run.get("started_at"):
        return 0.0
    end = parse_iso(run.get("finished_at")) if run["status"] != "running" else now
    return max((end or now) - parse_iso(run["started_at"]), 0.0)


def host_status(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Per host: pages fetched and failed, URLs queued, paused until, robots.txt state,
    mean latency (when the database records per-request timings), busiest first."""
    hosts: dict[str, dict[str, Any]] = {}

    def entry(host: str) -> dict[str, Any]:
        return hosts.setdefault(
            host,
            {
                "host": host,
                "fetched": 0,
                "failed": 0,
                "queued": 0,
                "paused_until": None,
                "robots": "not fetched",
                "errors": 0,
                "mean_latency_ms": None,
            },
        )

    sql = f"SELECT host, count(*), coalesce(sum({_FAILED}), 0) FROM pages GROUP BY host"
    for host, fetched, failed in conn.execute(sql):
        entry(host or "")["fetched"], entry(host or "")["failed"] = fetched, failed
    sql = "SELECT host, count(*) FROM frontier WHERE state IN ('queued', 'claimed') GROUP BY host"
    for host, queued in conn.execute(sql):
        entry(host or "")["queued"] = queued
    now = iso()
    for host, robots, paused, errors in conn.execute(
        "SELECT host, robots_status, paused_until, errors FROM hosts"
    ):
        item = entry(host)
        item["robots"] = robots_state(robots)
        item["paused_until"] = paused if paused and paused > now else None
        item["errors"] = errors or 0
    for host, latency in _latencies(conn):
        if host in hosts:
            hosts[host]["mean_latency_ms"] = round(latency, 1)
    return sorted(hosts.values(), key=lambda h: (-h["fetched"], -h["queued"], h["host"]))


def robots_state(status: int | None) -> str:
    """What robots.txt means for the host (SPEC section 7)."""
    if status is None:
        return "not fetched"
    if status == 0:
        return "unreachable: disallow all"
    if 200 <= status < 300:
        return f"rules ({status})"
    if 400 <= status < 500:
        return f"allow all ({status})"
    if status >= 500:
        return f"disallow all ({status})"
    return f"status {status}"


def _latencies(conn: sqlite3.Connection) -> list[tuple[str, float]]:
    """Mean request time per host from the ``fetches`` table (one row per request sent),
    when the database has one with an ``elapsed`` column in seconds; else nothing."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(fetches)")}
    if not {"host", "elapsed"} <= columns:
        return []
    sql = "SELECT host, 1000.0 * avg(elapsed) FROM fetches WHERE elapsed IS NOT NULL GROUP BY host"
    return list(conn.execute(sql))


def queue_length(conn: sqlite3.Connection) -> int:
    """URLs waiting or in flight (the progress display's queue)."""
    sql = "SELECT count(*) FROM frontier WHERE state IN ('queued', 'claimed')"
    return int(conn.execute(sql).fetchone()[0])
