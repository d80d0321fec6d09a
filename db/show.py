"""``pingcrawl show URL``: what the database stored of one page, and where its WARC
record is (the latest archived response or revisit in ``fetches``)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from db.bodies import body_html


@dataclass(frozen=True)
class StoredCopy:
    url: str
    final_url: str
    status: int | None
    content_type: str | None
    fetched_at: str | None
    title: str | None
    text: str | None
    html: str | None
    fetches: int  # requests of this URL in the fetch log
    warc_file: str | None  # of its latest archived response, if any
    warc_offset: int | None


def stored_copy(db: sqlite_utils.Database, url: str) -> StoredCopy | None:
    """The stored page ``url`` (requested or final URL), None when it is not stored."""
    row = db.execute(
        "SELECT p.url, coalesce(p.final_url, p.url), p.status, p.content_type, p.fetched_at,"
        " p.title, p.text, b.html, b.zstd FROM pages p"
        " LEFT JOIN bodies b ON b.sha256 = p.sha256"
        " WHERE p.url = ? OR p.final_url = ? ORDER BY p.url = ? DESC LIMIT 1",
        [url, url, url],
    ).fetchone()
    if row is None:
        return None
    url, final_url, status, content_type, fetched_at, title, text, html, zstd = row
    fetches, warc_file, warc_offset = _latest_record(db, url, final_url)
    return StoredCopy(
        url, final_url, status, content_type, fetched_at, title, text,
        body_html(html, zstd, db.conn), fetches, warc_file, warc_offset,
    )  # fmt: skip


def _latest_record(
    db: sqlite_utils.Database, url: str, final_url: str
) -> tuple[int, str | None, int | None]:
    if "fetches" not in db.table_names():
        return 0, None, None
    count = db.execute("SELECT count(*) FROM fetches WHERE url IN (?, ?)", [url, final_url])
    latest = db.execute(
        "SELECT warc_file, warc_offset FROM fetches WHERE url = ?"
        " AND warc_type = 'response' ORDER BY id DESC LIMIT 1",
        [final_url],
    ).fetchone()
    return count.fetchone()[0], *(latest or (None, None))


def archived_pages(db: sqlite_utils.Database) -> list[tuple[str, str, str | None]]:
    """(URL, WARC date, title) of each stored page with an archived response: the
    ``pages.jsonl`` of a WACZ, the entries a replay tool starts from."""
    if "fetches" not in db.table_names():
        return []
    sql = """
        SELECT f.url, max(f.warc_date), p.title FROM fetches f
        JOIN pages p ON coalesce(p.final_url, p.url) = f.url
        WHERE f.warc_type = 'response' AND f.status = 200 AND p.sha256 IS NOT NULL
        GROUP BY f.url ORDER BY f.url
    """
    return [(url, date, title) for url, date, title in db.execute(sql)]
