"""The link graph as stored since schema version 10 (step 6 of the data flow).

``links`` (SPEC section 5) is a view with the columns it always had. Under it, every URL a
link names is stored once in ``urls`` (``id``, ``url``), every anchor text and rel value
once in ``link_texts`` (``id``, ``text``), and each link is a row of ``link_edges`` (a
WITHOUT ROWID table keyed by ``src_id, dst_id, kind``) holding their ids:
``kind`` is a number for the kinds of SPEC section 6 (:data:`KIND_CODES`);
``found_on_id`` is NULL when the link was found on its ``src`` page (citations, comments,
nav) and 0 when no page was recorded; ``first_seen`` is microseconds since the epoch,
shown by the view in :func:`crawler.records.iso`'s format (a value stored in another
format stays text and is shown as it was).

Readers use the view. Writers use the functions here (the store, re-extraction, the
PostgreSQL export); SQL written by hand (``INSERT INTO links …``, ``DELETE FROM links
…``, ``UPDATE links SET anchor = …``) goes through the view's INSTEAD OF triggers.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any

import sqlite_utils

from db import shapes

ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\Z")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# ``link_edges.kind``: the kinds of SPEC section 6 as small numbers (0 and 1 take no byte
# at all in a row), any other kind as its text.
KIND_CODES = {"nav": 0, "citation": 1, "pingback": 2, "trackback": 3, "comment": 4, "webmention": 5}
_KIND_OF = (
    "CASE {k} " + " ".join(f"WHEN {c} THEN '{k}'" for k, c in KIND_CODES.items()) + " ELSE {k} END"
)
# The kind of a ``link_edges`` row as text (SQL over link_edges itself, e.g. counts).
KIND_SQL = _KIND_OF.format(k="kind")
_CODE_OF = (
    "CASE {k} " + " ".join(f"WHEN '{k}' THEN {c}" for k, c in KIND_CODES.items()) + " ELSE {k} END"
)


# SQL that turns stored microseconds back into ISO 8601 text (crawler.records.iso).
_ISO_OF = (
    "CASE WHEN typeof({t}) = 'integer' THEN strftime('%Y-%m-%dT%H:%M:%S', {t} / 1000000, "
    "'unixepoch') || printf('.%06dZ', {t} % 1000000) ELSE {t} END"
)
# ... and ISO 8601 text (that exact format) into microseconds; any other value as it is.
_MICROS_OF = (
    "CASE WHEN {t} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:"
    "[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z' AND strftime('%s', substr({t}, 1, 19)) "
    "IS NOT NULL THEN CAST(strftime('%s', substr({t}, 1, 19)) AS INTEGER) * 1000000 + "
    "CAST(substr({t}, 21, 6) AS INTEGER) ELSE {t} END"
)

CREATE_TABLES = """
CREATE TABLE IF NOT EXISTS urls (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS link_texts (
    id INTEGER PRIMARY KEY,
    text TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS link_edges (
    src_id INTEGER NOT NULL REFERENCES urls(id),
    dst_id INTEGER NOT NULL REFERENCES urls(id),
    kind NOT NULL,
    found_on_id INTEGER REFERENCES urls(id),
    anchor_id INTEGER REFERENCES link_texts(id),
    rel_id INTEGER REFERENCES link_texts(id),
    same_blog INTEGER,
    first_seen INTEGER,
    PRIMARY KEY (src_id, dst_id, kind)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idx_link_edges_dst_id ON link_edges (dst_id);
CREATE INDEX IF NOT EXISTS idx_link_edges_found_on_id ON link_edges (found_on_id)
    WHERE found_on_id IS NOT NULL;
"""

LINKS_VIEW = f"""
SELECT s.url AS src, d.url AS dst, {_KIND_OF.format(k="e.kind")} AS kind,
       CASE WHEN e.found_on_id IS NULL THEN s.url ELSE f.url END AS found_on,
       a.text AS anchor, r.text AS rel, e.same_blog AS same_blog,
       {_ISO_OF.format(t="e.first_seen")} AS first_seen
FROM link_edges e
JOIN urls s ON s.id = e.src_id
JOIN urls d ON d.id = e.dst_id
LEFT JOIN urls f ON f.id = e.found_on_id
LEFT JOIN link_texts a ON a.id = e.anchor_id
LEFT JOIN link_texts r ON r.id = e.rel_id
"""


def _id_of(value: str) -> str:
    return f"(SELECT id FROM urls WHERE url = {value})"


def _text_id(value: str) -> str:
    return f"(SELECT id FROM link_texts WHERE text = {value})"


def _add(value: str, table: str = "urls", column: str = "url") -> str:
    # No INSERT OR IGNORE: an outer INSERT OR REPLACE INTO links would turn it into a
    # REPLACE, giving a known URL a new id and orphaning its edges.
    return (
        f"INSERT INTO {table} ({column}) SELECT {value} WHERE {value} IS NOT NULL"
        f" AND NOT EXISTS (SELECT 1 FROM {table} WHERE {column} = {value});"
    )


def _add_url(value: str) -> str:
    return _add(value)


def _add_text(value: str) -> str:
    return _add(value, "link_texts", "text")


_FOUND_ON_ID = (
    "CASE WHEN {f} IS NULL THEN 0 WHEN {f} = {s} THEN NULL ELSE " + _id_of("{f}") + " END"
)
_EDGE_KEY = (
    f"src_id = {_id_of('OLD.src')} AND dst_id = {_id_of('OLD.dst')}"
    f" AND kind = {_CODE_OF.format(k='OLD.kind')}"
)

TRIGGERS = {
    "links_insert": f"""
CREATE TRIGGER IF NOT EXISTS links_insert INSTEAD OF INSERT ON links BEGIN
    {_add_url("NEW.src")}
    {_add_url("NEW.dst")}
    {_add_url("NEW.found_on")}
    {_add_text("NEW.anchor")}
    {_add_text("NEW.rel")}
    INSERT INTO link_edges (src_id, dst_id, kind, found_on_id, anchor_id, rel_id, same_blog,
        first_seen)
    VALUES ({_id_of("NEW.src")}, {_id_of("NEW.dst")}, {_CODE_OF.format(k="NEW.kind")},
        {_FOUND_ON_ID.format(f="NEW.found_on", s="NEW.src")},
        {_text_id("NEW.anchor")}, {_text_id("NEW.rel")}, NEW.same_blog,
        {_MICROS_OF.format(t="NEW.first_seen")});
END""",
    "links_delete": f"""
CREATE TRIGGER IF NOT EXISTS links_delete INSTEAD OF DELETE ON links BEGIN
    DELETE FROM link_edges WHERE {_EDGE_KEY};
END""",
    "links_update": f"""
CREATE TRIGGER IF NOT EXISTS links_update INSTEAD OF UPDATE ON links BEGIN
    {_add_url("NEW.src")}
    {_add_url("NEW.dst")}
    {_add_url("NEW.found_on")}
    {_add_text("NEW.anchor")}
    {_add_text("NEW.rel")}
    UPDATE link_edges SET src_id = {_id_of("NEW.src")}, dst_id = {_id_of("NEW.dst")},
        kind = {_CODE_OF.format(k="NEW.kind")},
        found_on_id = {_FOUND_ON_ID.format(f="NEW.found_on", s="NEW.src")},
        anchor_id = {_text_id("NEW.anchor")}, rel_id = {_text_id("NEW.rel")},
        same_blog = NEW.same_blog,
        first_seen = {_MICROS_OF.format(t="NEW.first_seen")}
    WHERE {_EDGE_KEY};
END""",
}


def create(conn: sqlite3.Connection) -> None:
    """Create ``urls``, ``link_edges``, the ``links`` view and its triggers (a database
    without a ``links`` table: new, or migrated by :func:`move_links_table`)."""
    for statement in CREATE_TABLES.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(f"CREATE VIEW IF NOT EXISTS links AS {LINKS_VIEW}")
    for trigger in TRIGGERS.values():
        conn.execute(trigger)


def move_links_table(conn: sqlite3.Connection) -> int:
    """Schema v10: copy the rows of the old ``links`` table into ``urls``/``link_edges``,
    then put the view in its place. Returns the links moved."""
    for statement in CREATE_TABLES.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(
        "INSERT INTO urls (url) SELECT u FROM (SELECT src AS u FROM links UNION"
        " SELECT dst FROM links UNION SELECT found_on FROM links)"
        " WHERE u IS NOT NULL AND u NOT IN (SELECT url FROM urls)"
    )
    conn.execute(
        "INSERT INTO link_texts (text) SELECT t FROM (SELECT anchor AS t FROM links UNION"
        " SELECT rel FROM links) WHERE t IS NOT NULL AND t NOT IN (SELECT text FROM link_texts)"
    )
    cursor = conn.execute(
        f"""
        INSERT OR IGNORE INTO link_edges (src_id, dst_id, kind, found_on_id, anchor_id,
            rel_id, same_blog, first_seen)
        SELECT s.id, d.id, {_CODE_OF.format(k="l.kind")},
               CASE WHEN l.found_on IS NULL THEN 0 WHEN l.found_on = l.src THEN NULL
                    ELSE f.id END,
               a.id, r.id, l.same_blog, {_MICROS_OF.format(t="l.first_seen")}
        FROM links l
        JOIN urls s ON s.url = l.src
        JOIN urls d ON d.url = l.dst
        LEFT JOIN urls f ON f.url = l.found_on
        LEFT JOIN link_texts a ON a.text = l.anchor
        LEFT JOIN link_texts r ON r.text = l.rel
        WHERE l.kind IS NOT NULL
        """
    )
    moved = cursor.rowcount
    conn.execute("DROP TABLE links")
    create(conn)
    return moved


def micros(moment: str | None) -> int | str | None:
    """``first_seen`` as stored: microseconds since the epoch for an :func:`iso` time."""
    if moment is None or not ISO_TIME.match(moment):
        return moment
    try:
        parsed = datetime.strptime(moment, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return moment
    return (parsed - _EPOCH) // _MICROSECOND


def micros_now() -> int:
    """:func:`micros` of :func:`crawler.records.iso` now, without the text round trip."""
    return time.time_ns() // 1000


class IdCache:
    """Ids of ``urls`` or ``link_texts`` rows this connection has seen, so a page's links
    look up only the URLs and texts it is the first to name (most are the blog's menus).

    An id learnt inside the open transaction is kept apart until :meth:`committed`: a
    rollback (:meth:`rolled_back`) can take its row back, and SQLite may then give the id
    to another value. Rows are never deleted from these tables, so a committed id stays
    right. At ``limit`` committed entries the cache starts again (memory stays bounded).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._committed: dict[str, int] = {}
        self._pending: dict[str, int] = {}

    def known(self, values: set[str]) -> dict[str, int]:
        found = {}
        for value in values:
            id_ = self._committed.get(value)
            if id_ is None:
                id_ = self._pending.get(value)
            if id_ is not None:
                found[value] = id_
        return found

    def learn(self, ids: dict[str, int]) -> None:
        self._pending.update(ids)

    def committed(self) -> None:
        if len(self._committed) + len(self._pending) > self.limit:
            self._committed.clear()
        self._committed.update(self._pending)
        self._pending.clear()

    def rolled_back(self) -> None:
        self._pending.clear()


def _ids(
    conn: sqlite3.Connection,
    table: str,
    column: str,
    values: Iterable[str | None],
    cache: IdCache | None = None,
) -> dict[str, int]:
    wanted = {v for v in values if v is not None}
    ids = cache.known(wanted) if cache is not None else {}
    asked = sorted(wanted - ids.keys()) if ids else sorted(wanted)
    sql = f"SELECT {column}, id FROM {table} WHERE {column} IN ({{marks}})"
    learnt: dict[str, int] = dict(shapes.lookup(conn, sql, asked))
    missing = [v for v in asked if v not in learnt]
    for chunk in shapes.chunks(missing, shapes.ROWS_PER_INSERT):
        sql = shapes.values_sql(
            f"INSERT INTO {table} ({column}) VALUES ", f" RETURNING id, {column}", len(chunk), 1
        )
        learnt.update((value, id_) for id_, value in conn.execute(sql, chunk))
    if cache is not None and learnt:
        cache.learn(learnt)
    ids.update(learnt)
    return ids


def url_ids(
    conn: sqlite3.Connection, urls: Iterable[str | None], cache: IdCache | None = None
) -> dict[str, int]:
    """The id of every URL in ``urls``, adding the ones not stored yet."""
    return _ids(conn, "urls", "url", urls, cache)


def text_ids(
    conn: sqlite3.Connection, texts: Iterable[str | None], cache: IdCache | None = None
) -> dict[str, int]:
    """The id of every anchor text and rel value in ``texts``, adding the new ones."""
    return _ids(conn, "link_texts", "text", texts, cache)


def url_id(conn: sqlite3.Connection, url: str) -> int | None:
    """The id of a stored URL, or None (nothing links from, to or on it)."""
    row = conn.execute("SELECT id FROM urls WHERE url = ?", (url,)).fetchone()
    return None if row is None else int(row[0])


def found_on_keys(conn: sqlite3.Connection, page_id: int) -> list[tuple[int, int, int | str]]:
    """The keys (src_id, dst_id, kind code) of the links found on the page ``page_id``."""
    return conn.execute(
        "SELECT src_id, dst_id, kind FROM link_edges WHERE found_on_id = :p"
        " UNION ALL SELECT src_id, dst_id, kind FROM link_edges"
        " WHERE src_id = :p AND found_on_id IS NULL",
        {"p": page_id},
    ).fetchall()


def key(ids: dict[str, int], src: str, dst: str, kind: str) -> tuple[int, int, int | str]:
    """The ``link_edges`` key of a link (``ids`` from :func:`url_ids`)."""
    return (ids[src], ids[dst], KIND_CODES.get(kind, kind))


def delete_keys(conn: sqlite3.Connection, keys: Iterable[tuple[int, int, int | str]]) -> None:
    conn.executemany(
        "DELETE FROM link_edges WHERE src_id = ? AND dst_id = ? AND kind = ?", list(keys)
    )


def edge_row(
    ids: dict[str, int],
    texts: dict[str, int],
    src: str,
    dst: str,
    kind: str,
    found_on: str | None,
    anchor: str | None,
    rel: str | None,
    same_blog: int | None,
    first_seen: int | str | None,
) -> tuple:
    """One ``link_edges`` row (``ids`` from :func:`url_ids`, ``texts`` from
    :func:`text_ids`)."""
    if found_on is None:
        found_on_id: int | None = 0
    elif found_on == src:
        found_on_id = None
    else:
        found_on_id = ids[found_on]
    code = KIND_CODES.get(kind, kind)
    anchor_id = None if anchor is None else texts[anchor]
    rel_id = None if rel is None else texts[rel]
    return (ids[src], ids[dst], code, found_on_id, anchor_id, rel_id, same_blog, first_seen)


_INSERT = (
    "INSERT OR IGNORE INTO link_edges (src_id, dst_id, kind, found_on_id, anchor_id, rel_id,"
    " same_blog, first_seen) VALUES ",
    "",
)


def insert_edges(conn: sqlite3.Connection, rows: Sequence[tuple]) -> int:
    """Add ``rows`` (from :func:`edge_row`); a link already stored keeps its row.
    Returns how many were new."""
    return shapes.insert_padded(conn, _INSERT, rows) if rows else 0


def insert_links(conn: sqlite3.Connection, rows: Sequence[Sequence]) -> None:
    """Add links given as rows of the view's columns (src, dst, kind, found_on, anchor,
    rel, same_blog, first_seen as ISO text); a link already stored keeps its row."""
    ids = url_ids(conn, chain.from_iterable((r[0], r[1], r[3]) for r in rows))
    texts = text_ids(conn, chain.from_iterable((r[4], r[5]) for r in rows))
    insert_edges(
        conn,
        [
            edge_row(ids, texts, r[0], r[1], r[2], r[3], r[4], r[5], r[6], micros(r[7]))
            for r in rows
        ],
    )


COLUMNS = ("src", "dst", "kind", "found_on", "anchor", "rel", "same_blog", "first_seen")


def add_links(db: sqlite_utils.Database, rows: dict[str, Any] | Iterable[dict[str, Any]]) -> None:
    """``db["links"].insert_all(rows)`` for the view: rows are dicts of its columns (any
    left out are NULL); a link already stored keeps its row."""
    rows = [rows] if isinstance(rows, dict) else list(rows)
    unknown = {key for row in rows for key in row} - set(COLUMNS)
    if unknown:
        raise ValueError(f"links has no column(s) {sorted(unknown)}")
    insert_links(db.conn, [tuple(row.get(c) for c in COLUMNS) for row in rows])


def unqueued_links_sql(column: str, kinds: int) -> str:
    """:func:`db.requeue.unqueued_links`' query for links to ``column`` (``src`` or
    ``dst``) of as many kinds as ``kinds`` (parameters: their codes, :func:`kind_code`,
    then the depth), over ``link_edges`` itself: the kind is compared as stored before
    any URL is looked up (through the view, every link's URLs would be)."""
    marks = ",".join("?" * kinds)
    return f"""SELECT t.url, p.depth + 1, o.url, {_KIND_OF.format(k="e.kind")}
        FROM link_edges e
        JOIN urls o ON o.id = coalesce(e.found_on_id, e.src_id)
        JOIN pages p ON p.url = o.url
        JOIN urls t ON t.id = e.{column}_id
        WHERE e.kind IN ({marks}) AND p.depth < ?
          AND NOT EXISTS (SELECT 1 FROM frontier f WHERE f.url = t.url)"""


def kind_code(kind: str) -> int | str:
    """``link_edges.kind`` of a kind."""
    return KIND_CODES.get(kind, kind)
