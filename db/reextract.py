"""Re-extraction's side of the database (``pingcrawl reextract``, architecture step 6).

An extractor fix should reach pages crawled before it. The stored bodies (``bodies.html``
via ``pages.sha256``) are read back one page at a time, and for each page its extraction
results are replaced in place: the page's metadata columns, the comments and links found
on it (``found_on``), while what the fetch recorded (status, times, validators, the body)
stays as it is. Comments and links that are still found keep their ``first_seen``; the ones
no longer found are deleted. Verdicts are given again by :func:`db.graph.verify_pingbacks`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import sqlite_utils

from crawler.records import CommentRecord, LinkRecord, PageRecord, iso
from db import links as link_graph
from db.bodies import body_html


@dataclass(frozen=True)
class StoredPage:
    """A fetched page whose body is stored: what the extractor needs again."""

    url: str
    final_url: str
    post_url: str | None
    depth: int
    html: str


def stored_urls(db: sqlite_utils.Database, blog: str | None = None) -> list[str]:
    """The pages with a stored body, optionally of one blog (its host without ``www.``)."""
    sql = "SELECT url FROM pages WHERE sha256 IS NOT NULL"
    params: list[str] = []
    if blog:
        sql += " AND blog = ?"
        params.append(blog)
    return [row[0] for row in db.execute(sql + " ORDER BY url", params)]


def stored_page(db: sqlite_utils.Database, url: str) -> StoredPage | None:
    row = db.execute(
        "SELECT p.url, coalesce(p.final_url, p.url), p.post_url, coalesce(p.depth, 0),"
        " b.html, b.zstd FROM pages p JOIN bodies b ON b.sha256 = p.sha256 WHERE p.url = ?",
        [url],
    ).fetchone()
    if row is None:
        return None
    html = body_html(row[4], row[5], db.conn)
    if html is None:
        return None
    url, final_url, post_url, depth = row[:4]
    return StoredPage(url, final_url, post_url, depth, html)


_UPDATE_PAGE = """
UPDATE pages SET title = :title, is_post = :is_post, published = :published,
    author = :author, text = :text, canonical = :canonical,
    pingback_endpoint = coalesce(:pingback_endpoint, pingback_endpoint),
    webmention_endpoint = coalesce(:webmention_endpoint, webmention_endpoint),
    feeds = :feeds, comments_hash = :comments_hash
WHERE url = :url
"""
# Header-only discoveries (X-Pingback, Link: rel=webmention) are not in the body: a stored
# endpoint is kept when the body names none.

_UPSERT_COMMENT = """
INSERT INTO comments (id, post_url, comment_id, kind, author, author_url, published, text,
    source_url, source_title, verified, found_on, first_seen)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)
ON CONFLICT(id) DO UPDATE SET
    post_url = excluded.post_url, comment_id = excluded.comment_id, kind = excluded.kind,
    author = excluded.author, author_url = excluded.author_url,
    published = excluded.published, text = excluded.text, source_url = excluded.source_url,
    source_title = excluded.source_title, found_on = excluded.found_on
"""

# A link first found on another page stays that page's; one found here takes the new
# extraction's anchor and rel (found_on_id as db/links.py stores it: NULL for src).
_UPSERT_LINK = """
INSERT INTO link_edges (src_id, dst_id, kind, found_on_id, anchor_id, rel_id, same_blog,
    first_seen)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(src_id, dst_id, kind) DO UPDATE SET
    anchor_id = excluded.anchor_id, rel_id = excluded.rel_id, same_blog = excluded.same_blog
WHERE link_edges.found_on_id IS excluded.found_on_id
"""


def replace_extraction(
    db: sqlite_utils.Database,
    page: PageRecord,
    comments_hash: str,
    comments: Sequence[CommentRecord],
    links: Sequence[LinkRecord],
) -> None:
    """Put ``page``'s new extraction in place of the old one (in the open transaction)."""
    conn = db.conn
    conn.execute(
        _UPDATE_PAGE,
        {
            "url": page.url,
            "title": page.title,
            "is_post": int(page.is_post),
            "published": page.published,
            "author": page.author,
            "text": page.text,
            "canonical": page.canonical,
            "pingback_endpoint": page.pingback_endpoint,
            "webmention_endpoint": page.webmention_endpoint,
            "feeds": json.dumps(list(page.feeds)) if page.feeds else None,
            "comments_hash": comments_hash,
        },
    )
    _replace_comments(conn, page.url, comments)
    _replace_links(conn, page.url, links)


def _replace_comments(
    conn: sqlite3.Connection, found_on: str, comments: Sequence[CommentRecord]
) -> None:
    keep = {c.id for c in comments}
    stored = conn.execute(  # found_on is empty for the post itself (schema v12)
        "SELECT id FROM comments WHERE found_on = :f OR (found_on IS NULL AND post_url = :f)",
        {"f": found_on},
    ).fetchall()
    conn.executemany(
        "DELETE FROM comments WHERE id = ?", [row for row in stored if row[0] not in keep]
    )
    now = iso()
    conn.executemany(
        _UPSERT_COMMENT,
        [
            (c.id, c.post_url, c.comment_id, c.kind, c.author, c.author_url, c.published,
             c.text, c.source_url, c.source_title,
             None if found_on == c.post_url else found_on, now)
            for c in comments
        ],
    )  # fmt: skip
    # A comment whose kind or source changed is judged again, from scratch.
    conn.executemany(
        "UPDATE comments SET verified = NULL WHERE id = ? AND kind = 'comment'",
        [(c.id,) for c in comments if c.kind == "comment"],
    )


def _replace_links(conn: sqlite3.Connection, found_on: str, links: Sequence[LinkRecord]) -> None:
    ids = link_graph.url_ids(
        conn, [found_on, *(u for lk in links for u in (lk.src, lk.dst, lk.found_on))]
    )
    keep = {link_graph.key(ids, lk.src, lk.dst, lk.kind) for lk in links}
    stored = link_graph.found_on_keys(conn, ids[found_on])
    link_graph.delete_keys(conn, [row for row in stored if tuple(row) not in keep])
    texts = link_graph.text_ids(conn, [t for lk in links for t in (lk.anchor, lk.rel)])
    now = link_graph.micros_now()
    conn.executemany(
        _UPSERT_LINK,
        [
            link_graph.edge_row(
                ids, texts, lk.src, lk.dst, lk.kind, lk.found_on, lk.anchor, lk.rel,
                int(lk.same_blog), now,
            )
            for lk in links
        ],
    )  # fmt: skip
