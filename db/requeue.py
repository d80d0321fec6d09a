"""Step 2 of the data flow, second thoughts: the SQL that puts refused URLs back in the queue.

The policy (which reasons, under which settings) is ``crawler.frontier.reopen`` and the
``pingcrawl requeue`` command; this module only reads and writes the frontier and pages.
Requeued rows get ``state = 'queued'``, no reason, no retry time and their attempts
reset, so the next claim offers them like new URLs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from db import links as link_graph

_PING_KINDS = frozenset({"pingback", "trackback"})  # edges stored source -> post
_REQUEUE = (
    "UPDATE frontier SET state = 'queued', reason = NULL, next_attempt_at = NULL, attempts = 0"
)


def requeue_reason(
    conn: sqlite3.Connection,
    reason: str,
    *,
    host: str | None = None,
    max_depth: int | None = None,
    states: Iterable[str] = ("skipped", "failed"),
) -> int:
    """Requeue the URLs that stopped for ``reason`` (on ``host``, within ``max_depth``)."""
    states = list(states)
    where = [f"state IN ({','.join('?' * len(states))})", "reason = ?"]
    params: list[Any] = [*states, reason]
    if host is not None:
        where.append("host = ?")
        params.append(host)
    if max_depth is not None:
        where.append("depth <= ?")
        params.append(max_depth)
    return conn.execute(f"{_REQUEUE} WHERE {' AND '.join(where)}", params).rowcount


def requeue_robots_of_stale_hosts(conn: sqlite3.Connection, read_before: str) -> int:
    """Requeue URLs skipped for robots.txt on hosts whose robots.txt was last read before
    ``read_before`` (or never stored): the fetcher reads it again and decides afresh."""
    return conn.execute(
        f"""{_REQUEUE} WHERE state = 'skipped' AND reason = 'robots' AND host NOT IN (
            SELECT host FROM hosts WHERE robots_fetched_at >= ?)""",
        (read_before,),
    ).rowcount


def unqueued_links(
    conn: sqlite3.Connection, kinds: Iterable[str], max_depth: int
) -> Iterator[tuple[str, int, str, str]]:
    """``(url, depth, found_on, kind)`` of links of ``kinds`` whose target never entered
    the frontier (their kind was not followed when they were found), found on pages
    close enough to a seed that the target is within ``max_depth``. The target of a
    pingback or trackback is its source (``src``), of every other link ``dst``. A target
    found on several pages comes once per page. One index lookup per link and no sort:
    0.13 s at start-up for 600,000 links of which nothing is to be queued."""
    kinds = set(kinds)
    parts, params = [], []
    for column, wanted in (("dst", kinds - _PING_KINDS), ("src", kinds & _PING_KINDS)):
        if not wanted:
            continue
        # Over link_edges, not the links view (schema v10): see db/links.py.
        parts.append(link_graph.unqueued_links_sql(column, len(wanted)))
        params += [*(link_graph.kind_code(k) for k in sorted(wanted)), max_depth]
    if not parts:
        return iter(())
    return iter(conn.execute(" UNION ALL ".join(parts), params))


def posts_outside_interval(
    conn: sqlite3.Connection, low: float, high: float
) -> list[tuple[str, str, float | None]]:
    """``(url, fetched_at, recrawl_interval)`` of fetched posts whose revisit interval is
    unknown or outside ``[low, high]`` seconds."""
    return conn.execute(
        """SELECT url, fetched_at, recrawl_interval FROM pages
           WHERE is_post = 1 AND fetched_at IS NOT NULL
             AND (recrawl_interval IS NULL OR recrawl_interval < ? OR recrawl_interval > ?)""",
        (low, high),
    ).fetchall()


def set_next_visits(conn: sqlite3.Connection, visits: Iterable[tuple[str, str, float]]) -> int:
    """Store ``(url, next_fetch_at, recrawl_interval)`` for each post."""
    before = conn.total_changes
    conn.executemany(
        "UPDATE pages SET next_fetch_at = ?, recrawl_interval = ? WHERE url = ?",
        [(when, interval, url) for url, when, interval in visits],
    )
    return conn.total_changes - before


def reasons_in_frontier(conn: sqlite3.Connection) -> dict[str, int]:
    """How many skipped or failed URLs each reason holds (for ``pingcrawl requeue``)."""
    rows = conn.execute(
        "SELECT reason, count(*) FROM frontier WHERE state IN ('skipped', 'failed') "
        "AND reason IS NOT NULL GROUP BY reason ORDER BY count(*) DESC"
    )
    return dict(rows)
