"""The ``blogs`` table (issue 13) and the frontier updates of the nightly watch.

SQL only: :mod:`crawler.blogs` decides what to ask for; this module remembers what each
blog lists its posts through, the validators of its comment feed and post listing, and
moves the frontier (posts of watched blogs wait for ``sweep_after``; posts a feed names
are queued at once).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, fields
from typing import Any

from crawler.records import iso, iso_at, parse_iso


@dataclass
class BlogRow:
    """One row of ``blogs``; see db/datasette.py for what each column means."""

    blog: str
    home: str
    api: str | None = None
    sitemaps: str | None = None  # JSON list
    feed: str | None = None
    comment_feed: str | None = None
    comment_feed_etag: str | None = None
    comment_feed_last_modified: str | None = None
    watch_listing: str | None = None
    watch_listing_kind: str | None = None
    watch_listing_etag: str | None = None
    watch_listing_last_modified: str | None = None
    comments_watermark: str | None = None
    posts_listed: int = 0
    not_posts: int = 0
    failures: str | None = None  # JSON list of [url, reason]
    discovered_at: str | None = None
    last_checked: str | None = None
    last_check: str | None = None
    last_swept: str | None = None

    @property
    def watched(self) -> bool:
        """Checked through its comment feed (else its posts keep the per-post recrawl)."""
        return self.comment_feed is not None

    def due(self, every: float, now: float) -> bool:
        return self.last_checked is None or parse_iso(self.last_checked) + every <= now


_COLUMNS = [f.name for f in fields(BlogRow)]


def load_blogs(conn: sqlite3.Connection) -> dict[str, BlogRow]:
    cursor = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM blogs")
    return {row[0]: BlogRow(*row) for row in cursor}


def save_blog(conn: sqlite3.Connection, row: BlogRow) -> None:
    values = asdict(row)
    marks = ", ".join(f":{c}" for c in _COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c != "blog")
    conn.execute(
        f"INSERT INTO blogs ({', '.join(_COLUMNS)}) VALUES ({marks}) "
        f"ON CONFLICT(blog) DO UPDATE SET {updates}",
        values,
    )


def queue_now(conn: sqlite3.Connection, urls: list[str]) -> int:
    """Queue known URLs again at once (a feed says they changed); returns how many."""
    if not urls:
        return 0
    marks = ",".join("?" * len(urls))
    cursor = conn.execute(
        "UPDATE frontier SET state = 'queued', reason = NULL, next_attempt_at = NULL, "
        f"attempts = 0 WHERE state IN ('done', 'failed') AND url IN ({marks})",
        urls,
    )
    return cursor.rowcount


def sweep_blog(conn: sqlite3.Connection, blog: str) -> int:
    """Queue every stored post of ``blog`` (and its comment pages) again."""
    cursor = conn.execute(
        """
        UPDATE frontier SET state = 'queued', reason = NULL, next_attempt_at = NULL
        WHERE state IN ('done', 'failed') AND url IN (
            SELECT url FROM pages WHERE blog = :blog AND is_post = 1
            UNION
            SELECT c.url FROM pages c JOIN pages p ON p.url = c.post_url
            WHERE p.blog = :blog AND p.is_post = 1
        )
        """,
        {"blog": blog},
    )
    return cursor.rowcount


def defer_watched_posts(conn: sqlite3.Connection, sweep_after: float) -> int:
    """Posts of blogs watched through a comment feed are not re-fetched every
    ``recrawl_after`` but every ``sweep_after`` after their last fetch: the watch queues
    the ones its feeds name."""
    if not _has_blogs(conn):
        return 0
    rows = conn.execute(
        """
        SELECT p.url, p.fetched_at FROM pages p JOIN blogs b ON b.blog = p.blog
        WHERE b.comment_feed IS NOT NULL AND p.is_post = 1 AND p.fetched_at IS NOT NULL
        """
    ).fetchall()
    updates = [(iso_at(parse_iso(fetched) + sweep_after), url) for url, fetched in rows]
    conn.executemany(
        "UPDATE pages SET next_fetch_at = ? WHERE url = ? AND (next_fetch_at IS NULL "
        "OR next_fetch_at < ?)",
        [(due, url, due) for due, url in updates],
    )
    return len(updates)


def coverage(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Per blog: posts listed vs posts stored, and its last check (for ``stats``)."""
    if not _has_blogs(conn):
        return []
    cursor = conn.execute(
        """
        SELECT b.blog, b.posts_listed,
               (SELECT count(*) FROM pages p WHERE p.blog = b.blog AND p.is_post = 1
                AND p.status BETWEEN 200 AND 399),
               b.last_checked, b.last_check,
               CASE WHEN b.api IS NOT NULL THEN 'rest'
                    WHEN b.sitemaps IS NOT NULL THEN 'sitemap'
                    WHEN b.feed IS NOT NULL THEN 'feed' ELSE 'none' END
        FROM blogs b ORDER BY b.blog
        """
    )
    keys = ("blog", "posts_listed", "posts_stored", "last_checked", "last_check", "listing")
    return [dict(zip(keys, row, strict=True)) for row in cursor]


def _has_blogs(conn: sqlite3.Connection) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'blogs'")
    return found.fetchone() is not None


def failures_json(failures: list[tuple[str, str]]) -> str | None:
    return json.dumps(failures) if failures else None


def now_iso() -> str:
    return iso()
