"""Step 6 of the data flow: every write the crawler makes, in batched transactions.

:class:`Store` is the SQLite implementation of the storage seam (:mod:`db.backend`). The
crawler calls it with plain values (no HTTP objects cross into ``db/``), from its database
thread (``crawler/writer.py``). Writes use raw SQL on one connection and are committed
about every fifth of a second (:meth:`Store.commit_due`), so a ``kill -9`` loses at most
that much work and never leaves a half-written page: a page, its body, comments and links
go in together. When SQLite itself fails (disk full, locked, read-only, not a database)
every method raises a :class:`DatabaseFault` subclass with a one-line message.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from itertools import chain
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import sqlite_utils

from crawler.records import (
    CommentRecord,
    FrontierEntry,
    FrontierRow,
    LinkRecord,
    PageRecord,
    PageSave,
    PageState,
    RunCounters,
    SaveOutcome,
    iso,
    iso_in,
)
from db import links as link_graph
from db import requeue, shapes
from db.bodies import BodyWriter
from db.graph import verify_pingbacks
from db.schema import open_database

COMMIT_INTERVAL = 0.2  # seconds of work a hard kill may cost (at 100 pages/s: 20 pages)
# A run renews its lease with every commit (and at least every RUN_LEASE / 4 seconds);
# one whose lease has run out is dead, and its claims go back to the queue.
RUN_LEASE = 120.0

P = ParamSpec("P")
R = TypeVar("R")


class DatabaseFault(Exception):
    """The database itself failed (not the data written): the run cannot go on."""


class DatabaseBusy(DatabaseFault):
    """Locked or busy: another program holds it. Try again later (exit 75)."""


class DatabaseFull(DatabaseFault):
    """The disk (or the database's size limit) is full."""


class DatabaseReadOnly(DatabaseFault):
    """The file, its folder or the connection does not allow writing."""


class DatabaseBroken(DatabaseFault):
    """Not a database, corrupt, unreadable or unopenable."""


# SQLite's primary result codes (the low byte of an extended code).
_FAULTS: dict[int, tuple[type[DatabaseFault], str]] = {
    5: (DatabaseBusy, "the database is busy (another program is writing); try again later"),
    6: (DatabaseBusy, "the database is locked by another program; try again later"),
    8: (DatabaseReadOnly, "the database is read-only"),
    13: (DatabaseFull, "the database or disk is full"),
    3: (DatabaseReadOnly, "no permission to write the database"),
    10: (DatabaseBroken, "disk I/O error on the database"),
    11: (DatabaseBroken, "the database file is corrupt"),
    14: (DatabaseBroken, "the database file cannot be opened"),
    26: (DatabaseBroken, "the file is not a database"),
}


def database_fault(exc: sqlite3.Error, path: str | None = None) -> DatabaseFault | None:
    """The fault ``exc`` means, or None when it is about the data (a bad statement,
    a value SQLite refuses), which is one page's trouble, not the database's."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    known = _FAULTS.get(code & 0xFF)
    if known is None:
        return None
    kind, message = known
    return kind(f"{path}: {message}" if path else message)


def _guarded(method: Callable[P, R]) -> Callable[P, R]:
    """Turn SQLite's errors that are the database's fault into :class:`DatabaseFault`."""

    @functools.wraps(method)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as exc:
            fault = database_fault(exc, getattr(args[0], "path", None))
            if fault is None:
                raise
            raise fault from exc

    return guarded


PAGE_COLUMNS = (
    "url", "final_url", "host", "blog", "status", "content_type", "fetched_at", "etag",
    "last_modified", "sha256", "title", "is_post", "published", "author", "depth", "error",
    "text", "next_fetch_at", "canonical", "post_url", "size", "pingback_endpoint",
    "webmention_endpoint", "feeds", "recrawl_interval", "comments_hash",
)  # fmt: skip

_UPSERT_PAGES = (
    f"INSERT INTO pages ({', '.join(PAGE_COLUMNS)}) VALUES ",
    """
ON CONFLICT(url) DO UPDATE SET
    final_url = excluded.final_url, host = excluded.host, blog = excluded.blog,
    status = excluded.status, content_type = excluded.content_type,
    fetched_at = excluded.fetched_at, etag = excluded.etag,
    last_modified = excluded.last_modified,
    sha256 = coalesce(excluded.sha256, pages.sha256),
    title = coalesce(excluded.title, pages.title),
    is_post = excluded.is_post,
    published = coalesce(excluded.published, pages.published),
    author = coalesce(excluded.author, pages.author),
    depth = min(excluded.depth, pages.depth), error = excluded.error,
    text = coalesce(excluded.text, pages.text),
    next_fetch_at = coalesce(excluded.next_fetch_at, pages.next_fetch_at),
    canonical = excluded.canonical,
    post_url = excluded.post_url, size = excluded.size,
    pingback_endpoint = excluded.pingback_endpoint,
    webmention_endpoint = excluded.webmention_endpoint, feeds = excluded.feeds,
    recrawl_interval = coalesce(excluded.recrawl_interval, pages.recrawl_interval),
    comments_hash = coalesce(excluded.comments_hash, pages.comments_hash)
""",
)

_INSERT_BODIES = ("INSERT OR IGNORE INTO bodies (sha256, zstd) VALUES ", "")

_UPSERT_COMMENTS = (
    """
INSERT INTO comments (id, post_url, comment_id, kind, author, author_url, published, text,
    source_url, source_title, verified, found_on, first_seen)
VALUES """,
    """
ON CONFLICT(id) DO UPDATE SET
    kind = excluded.kind, author = excluded.author, author_url = excluded.author_url,
    published = excluded.published, text = excluded.text, source_url = excluded.source_url,
    source_title = excluded.source_title, found_on = excluded.found_on
""",
)

# URL and link-text ids kept in memory (db/links.py IdCache): a few MB; a blog's menu
# URLs are named by every page of it.
URL_IDS_CACHED, TEXT_IDS_CACHED = 50_000, 20_000

_ENQUEUE = (
    """
INSERT INTO frontier (url, depth, found_on, kind, state, reason, attempts, host, post_url,
    added_at)
VALUES """,
    """
ON CONFLICT(url) DO UPDATE SET
    depth = excluded.depth, found_on = excluded.found_on, kind = excluded.kind,
    state = excluded.state, reason = excluded.reason, post_url = excluded.post_url
WHERE excluded.state = 'queued' AND frontier.state = 'skipped'
    AND frontier.reason = 'depth' AND excluded.depth < frontier.depth
""",
)

# Interleave hosts: the first queued URL of every host before the second of any, so one
# big blog cannot monopolise the workers while its politeness delay makes them wait.
_MARK_CLAIMED = (
    "UPDATE frontier SET state = 'claimed', claimed_by = ?, attempts = attempts + 1"
    " WHERE url IN ({marks})"
)

_CLAIMABLE = """
SELECT f.url, f.depth, f.host, f.kind, f.found_on, f.post_url, f.attempts,
       p.etag, p.last_modified
FROM (
    SELECT url, depth, host, kind, found_on, post_url, attempts,
           row_number() OVER (PARTITION BY host ORDER BY depth, added_at, url) AS rank
    FROM frontier
    WHERE state = 'queued' AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
) AS f
LEFT JOIN pages p ON p.url = f.url
ORDER BY f.rank, f.depth
LIMIT ?
"""


_FINISH = (
    "UPDATE frontier SET state = ?, reason = ?, next_attempt_at = NULL, claimed_by = NULL"
    " WHERE url IN ({marks})"
)


FETCH_COLUMNS = (
    "run_id", "url", "host", "page_url", "purpose", "method", "fetched_at", "status", "error",
    "bytes", "elapsed", "payload_digest", "warc_file", "warc_offset", "warc_length",
    "warc_type", "warc_record_id", "warc_date",
)  # fmt: skip

_INSERT_FETCHES = (f"INSERT INTO fetches ({', '.join(FETCH_COLUMNS)}) VALUES ", "")


def _outcome(save: PageSave, new_links: int, new_comments: int) -> SaveOutcome:
    changed = save.comments_hash is not None and save.comments_hash != save.prior.comments_hash
    return SaveOutcome(not save.prior.exists, new_links, new_comments, changed)


class Store:
    """The storage seam (:class:`db.backend.Backend`) on one SQLite connection."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self.conn = db.conn
        self.path: str | None = self.conn.execute("PRAGMA database_list").fetchone()[2] or None
        self._last_commit = time.monotonic()
        self._host_columns: set[str] | None = None
        self._bodies = BodyWriter(self.conn)
        self._url_ids = link_graph.IdCache(URL_IDS_CACHED)
        self._text_ids = link_graph.IdCache(TEXT_IDS_CACHED)

    @classmethod
    def open(cls, path: str | Path) -> Store:
        try:
            return cls(open_database(path))
        except sqlite3.Error as exc:
            fault = database_fault(exc, str(path))
            if fault is None:
                raise
            raise fault from exc

    def reader(self) -> Store | None:
        """A second connection to the same file, for reads from another thread: it sees
        what is committed. None for an in-memory database."""
        if not self.path:
            return None
        conn = sqlite3.connect(
            self.path, check_same_thread=False, cached_statements=shapes.STATEMENT_CACHE
        )
        conn.execute("PRAGMA busy_timeout = 5000")
        return Store(sqlite_utils.Database(conn))

    @_guarded
    def close(self) -> None:
        try:
            self.commit()
        finally:
            self.conn.close()

    # -- transactions -------------------------------------------------------------
    @_guarded
    def commit(self) -> None:
        self.conn.commit()
        self._last_commit = time.monotonic()
        self._url_ids.committed()
        self._text_ids.committed()
        self._bodies.committed()

    def rollback(self) -> None:
        with suppress(sqlite3.Error):  # after a fault SQLite may have rolled back already
            self.conn.rollback()
        self._forget_pending_ids()

    def commit_due(self) -> bool:
        return time.monotonic() - self._last_commit >= COMMIT_INTERVAL

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """The writes inside are kept together or not at all, within the open batch."""
        conn = self.conn
        with self._faults():
            if not conn.in_transaction:  # a SAVEPOINT outside one would commit on RELEASE
                conn.execute("BEGIN")
            conn.execute("SAVEPOINT one_write")
        try:
            yield
        except BaseException:
            self._forget_pending_ids()
            if conn.in_transaction:  # SQLite may have ended it after a fault
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK TO one_write")
                    conn.execute("RELEASE one_write")
            raise
        conn.execute("RELEASE one_write")  # of a nested savepoint: nothing reaches the disk

    def _forget_pending_ids(self) -> None:
        self._url_ids.rolled_back()
        self._text_ids.rolled_back()
        self._bodies.rolled_back()

    @contextmanager
    def _faults(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            fault = database_fault(exc, self.path)
            if fault is None:
                raise
            raise fault from exc

    # -- runs ---------------------------------------------------------------------
    @_guarded
    def end_dead_runs(self, *, holding_lock: bool) -> int:
        """Mark runs ``crashed`` whose lease ran out — or, when the caller holds the
        database's run lock (so no other run can be alive), every run still ``running``
        — and return their claims (and any claim of no live run) to the queue."""
        now = iso()
        cursor = self.conn.execute(
            "UPDATE runs SET status = 'crashed', finished_at = coalesce(finished_at, :now) "
            "WHERE status = 'running' AND (:lock OR lease_until IS NULL OR lease_until < :now)",
            {"now": now, "lock": int(holding_lock)},
        )
        self.conn.execute(
            "UPDATE frontier SET state = 'queued', claimed_by = NULL WHERE state = 'claimed' "
            "AND (claimed_by IS NULL OR claimed_by NOT IN "
            "(SELECT id FROM runs WHERE status = 'running'))"
        )
        self.commit()
        return cursor.rowcount

    @_guarded
    def start_run(self, pid: int) -> int:
        """Open a new run holding a fresh lease."""
        cursor = self.conn.execute(
            "INSERT INTO runs (started_at, status, pid, fetched, failed, skipped, new_pages,"
            " new_links, new_comments, not_modified, lease_until)"
            " VALUES (?, 'running', ?, 0, 0, 0, 0, 0, 0, 0, ?)",
            (iso(), pid, iso_in(RUN_LEASE)),
        )
        self.commit()
        return int(cursor.lastrowid or 0)

    @_guarded
    def update_run(self, run_id: int, counters: RunCounters) -> None:
        row = {**counters.as_row(), "lease_until": iso_in(RUN_LEASE)}
        assignments = ", ".join(f"{k} = :{k}" for k in row)
        self.conn.execute(f"UPDATE runs SET {assignments} WHERE id = :id", {**row, "id": run_id})

    @_guarded
    def finish_run(self, run_id: int, status: str, counters: RunCounters) -> None:
        self.release_claims(run_id)
        self.update_run(run_id, counters)
        self.conn.execute(
            "UPDATE runs SET status = ?, finished_at = ?, lease_until = NULL WHERE id = ?",
            (status, iso(), run_id),
        )
        self.commit()

    # -- hosts (the fetcher's HostStore) --------------------------------------------
    @_guarded
    def get_host(self, host: str) -> dict[str, Any] | None:
        cursor = self.conn.execute("SELECT * FROM hosts WHERE host = ?", (host,))
        row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip([c[0] for c in cursor.description], row, strict=True))

    @_guarded
    def save_host(self, host: str, **values: Any) -> None:
        if self._host_columns is None:
            self._host_columns = set(self.db["hosts"].columns_dict)
        unknown = set(values) - self._host_columns
        if unknown:
            raise ValueError(f"hosts has no column(s) {sorted(unknown)}")
        row = {"host": host, **values}
        columns = ", ".join(row)
        placeholders = ", ".join(f":{c}" for c in row)
        updates = ", ".join(f"{c} = excluded.{c}" for c in values) or "host = host"
        self.conn.execute(
            f"INSERT INTO hosts ({columns}) VALUES ({placeholders}) "
            f"ON CONFLICT(host) DO UPDATE SET {updates}",
            row,
        )

    # -- frontier -------------------------------------------------------------------
    @_guarded
    def enqueue(self, entries: Iterable[FrontierEntry]) -> int:
        """Add URLs to the frontier; a URL already known keeps its state. Returns new rows."""
        now = iso()
        before = self.conn.total_changes
        rows = [
            (e.url, e.depth, e.found_on, e.kind, e.state, e.reason, 0, e.host, e.post_url, now)
            for e in entries
        ]
        if rows:
            shapes.insert_rows(self.conn, _ENQUEUE, rows)
        return self.conn.total_changes - before

    @_guarded
    def claim(self, run_id: int, limit: int) -> list[FrontierRow]:
        """Take up to ``limit`` due URLs (hosts interleaved) and mark them claimed by run
        ``run_id``."""
        rows = [FrontierRow(*r) for r in self.conn.execute(_CLAIMABLE, (iso(), limit))]
        urls = [r.url for r in rows]
        # One statement a chunk, not one a row: each call into SQLite hands the GIL over.
        shapes.update(self.conn, _MARK_CLAIMED, urls, run_id)
        return rows

    @_guarded
    def release_claims(self, run_id: int) -> int:
        """Return run ``run_id``'s claimed-but-unfinished work to the queue."""
        cursor = self.conn.execute(
            "UPDATE frontier SET state = 'queued', claimed_by = NULL "
            "WHERE state = 'claimed' AND claimed_by = ?",
            (run_id,),
        )
        return cursor.rowcount

    @_guarded
    def finish(self, url: str, state: str, reason: str | None = None) -> None:
        self.finish_many([(url, state, reason)])

    @_guarded
    def finish_many(self, finished: Iterable[tuple[str, str, str | None]]) -> None:
        """:meth:`finish` for each ``(url, state, reason)``: one statement a state and reason."""
        by_outcome: dict[tuple[str, str | None], list[str]] = {}
        for url, state, reason in finished:
            by_outcome.setdefault((state, reason), []).append(url)
        for (state, reason), urls in by_outcome.items():
            shapes.update(self.conn, _FINISH, urls, state, reason)

    @_guarded
    def postpone(self, url: str, seconds: float, reason: str) -> None:
        self.conn.execute(
            "UPDATE frontier SET state = 'queued', reason = ?, next_attempt_at = ?, "
            "claimed_by = NULL WHERE url = ?",
            (reason, iso_in(seconds), url),
        )

    @_guarded
    def queue_due_recrawls(self) -> int:
        """Queue posts whose ``next_fetch_at`` has passed, with their known comment pages."""
        now = iso()
        cursor = self.conn.execute(
            """
            UPDATE frontier SET state = 'queued', reason = NULL, next_attempt_at = NULL
            WHERE state IN ('done', 'failed') AND url IN (
                SELECT url FROM pages WHERE is_post = 1 AND next_fetch_at <= :now
                UNION
                SELECT c.url FROM pages c JOIN pages p ON p.url = c.post_url
                WHERE p.is_post = 1 AND p.next_fetch_at <= :now
            )
            """,
            {"now": now},
        )
        return cursor.rowcount

    @_guarded
    def requeue_failed(self, reasons: Iterable[str], max_attempts: int) -> int:
        """Give URLs that failed for a passing reason (timeouts, resets) another run."""
        reasons = list(reasons)
        marks = ",".join("?" * len(reasons))
        cursor = self.conn.execute(
            f"UPDATE frontier SET state = 'queued', next_attempt_at = NULL "
            f"WHERE state = 'failed' AND attempts < ? AND reason IN ({marks})",
            (max_attempts, *reasons),
        )
        return cursor.rowcount

    @_guarded
    def frontier_counts(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT state, count(*) FROM frontier GROUP BY state"))

    # -- re-opening what earlier settings refused (crawler.frontier.reopen) -------------
    @_guarded
    def requeue_reason(
        self,
        reason: str,
        *,
        host: str | None = None,
        max_depth: int | None = None,
        states: Iterable[str] = ("skipped", "failed"),
    ) -> int:
        return requeue.requeue_reason(
            self.conn, reason, host=host, max_depth=max_depth, states=states
        )

    @_guarded
    def requeue_robots_of_stale_hosts(self, read_before: str) -> int:
        return requeue.requeue_robots_of_stale_hosts(self.conn, read_before)

    @_guarded
    def unqueued_links(
        self, kinds: Iterable[str], max_depth: int
    ) -> list[tuple[str, int, str, str]]:
        return list(requeue.unqueued_links(self.conn, kinds, max_depth))

    @_guarded
    def posts_outside_interval(
        self, low: float, high: float
    ) -> list[tuple[str, str, float | None]]:
        return requeue.posts_outside_interval(self.conn, low, high)

    @_guarded
    def set_next_visits(self, visits: Iterable[tuple[str, str, float]]) -> int:
        return requeue.set_next_visits(self.conn, visits)

    # -- pages ------------------------------------------------------------------------
    @_guarded
    def page_state(self, url: str) -> PageState:
        """What the store knows of a page before it is written again (one lookup)."""
        row = self.conn.execute(
            "SELECT comments_hash, recrawl_interval FROM pages WHERE url = ?", (url,)
        ).fetchone()
        return PageState(True, row[0], row[1]) if row else PageState(False, None, None)

    @_guarded
    def page_states(self, urls: Sequence[str]) -> dict[str, PageState]:
        """:meth:`page_state` of each of ``urls`` in one lookup (absent ones left out)."""
        if not urls:
            return {}
        sql = "SELECT url, comments_hash, recrawl_interval FROM pages WHERE url IN ({marks})"
        return {
            row[0]: PageState(True, row[1], row[2]) for row in shapes.lookup(self.conn, sql, urls)
        }

    @_guarded
    def mark_not_modified(self, url: str, next_fetch_at: str, interval: float | None) -> None:
        """The page is as it was: it keeps the status of its last full response (the 304
        itself is in ``fetches``)."""
        self.conn.execute(
            "UPDATE pages SET fetched_at = ?, error = NULL, next_fetch_at = ?, "
            "recrawl_interval = coalesce(?, recrawl_interval) WHERE url = ?",
            (iso(), next_fetch_at, interval, url),
        )

    # -- the fetch log ----------------------------------------------------------------
    @_guarded
    def log_fetches(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append rows to ``fetches`` (keys: its columns; see db/schema.py)."""
        if rows:
            shapes.insert_rows(
                self.conn, _INSERT_FETCHES, [tuple(map(row.get, FETCH_COLUMNS)) for row in rows]
            )

    @_guarded
    def known_verdicts(self, comment_ids: Sequence[str]) -> dict[str, int | None]:
        """``comments.verified`` of the comments already stored (1, 0 or None) by id."""
        if not comment_ids:
            return {}
        marks = ", ".join("?" * len(comment_ids))
        sql = f"SELECT id, verified FROM comments WHERE id IN ({marks})"
        return dict(self.conn.execute(sql, list(comment_ids)))

    @_guarded
    def last_capture(self, url: str) -> tuple[str, str, str | None, str | None] | None:
        """The latest archived full response of ``url``: (uri, WARC date, payload digest,
        record id), what a revisit record refers to; None when none was archived."""
        row = self.conn.execute(
            "SELECT url, warc_date, payload_digest, warc_record_id FROM fetches "
            "WHERE url = ? AND warc_type = 'response' ORDER BY id DESC LIMIT 1",
            (url,),
        ).fetchone()
        return tuple(row) if row else None  # type: ignore[return-value]

    @_guarded
    def save_page(
        self,
        page: PageRecord,
        comments: Sequence[CommentRecord] = (),
        links: Sequence[LinkRecord] = (),
        comments_hash: str | None = None,
        replace_links: bool = False,
        prior: PageState | None = None,
    ) -> SaveOutcome:
        """Write one fetched page with its body, comments and links (in the open batch).

        With ``replace_links`` (a fresh, parsed copy of the page) links found on it before
        that are gone now are deleted, so a source that removed its link back to a post
        stops counting as linking to it. ``prior`` is :meth:`page_state` if the caller
        already asked.
        """
        save = PageSave(page, comments, links, comments_hash, prior or self.page_state(page.url))
        self._write_pages([save])
        new_comments = self._save_comments([save])
        if replace_links and save.prior.exists:
            self._drop_stale_links(page.url, links)
        return _outcome(save, self._save_links([save])[0], new_comments[0])

    @_guarded
    def save_pages(self, saves: Sequence[PageSave]) -> list[SaveOutcome]:
        """Write several fetched pages as :meth:`save_page` writes each, in a few
        statements for them all (each call into SQLite hands the GIL over and back).

        For pages of distinct URLs whose stale links need no dropping: a fresh copy of a
        page stored before goes through :meth:`save_page`.
        """
        if not saves:
            return []
        self._write_pages(saves)
        new_comments = self._save_comments(saves)
        new_links = self._save_links(saves)
        return [
            _outcome(save, links, comments)
            for save, links, comments in zip(saves, new_links, new_comments, strict=True)
        ]

    def _write_pages(self, saves: Sequence[PageSave]) -> None:
        """The pages' rows and their bodies (compressing a body already stored costs less
        than asking first: 0.03 ms)."""
        bodies, rows = [], []
        for save in saves:
            page, sha = save.page, None
            if page.html is not None:
                sha = hashlib.sha256(page.html.encode("utf-8", "surrogatepass")).hexdigest()
                bodies.append((sha, self._bodies.compress(page.html)))
            rows.append(self._page_row(page, sha, save.comments_hash))
        if bodies:
            shapes.insert_rows(self.conn, _INSERT_BODIES, bodies)
        shapes.insert_rows(self.conn, _UPSERT_PAGES, rows)

    def _page_row(self, page: PageRecord, sha: str | None, comments_hash: str | None) -> tuple:
        row = {k: v for k, v in page.__dict__.items() if k != "html"}
        row.update(
            sha256=sha,
            is_post=int(page.is_post),
            fetched_at=iso(),
            feeds=json.dumps(list(page.feeds)) if page.feeds else None,
            comments_hash=comments_hash,
        )
        return tuple(row[column] for column in PAGE_COLUMNS)

    def _save_comments(self, saves: Sequence[PageSave]) -> list[int]:
        """Every page's comments in one upsert; how many were new on each page, counted
        as if the pages were written one after the other."""
        now = iso()
        known = self._known_comment_ids([c.id for save in saves for c in save.comments])
        rows, new = [], []
        for save in saves:
            found_on = save.page.url
            # found_on is left empty for the post itself (most comments): db/schema.py v12.
            rows += [
                (c.id, c.post_url, c.comment_id, c.kind, c.author, c.author_url, c.published,
                 c.text, c.source_url, c.source_title, None,
                 None if found_on == c.post_url else found_on, now)
                for c in save.comments
            ]  # fmt: skip
            ids = {c.id for c in save.comments}
            new.append(len(ids - known))
            known |= ids
        if rows:
            shapes.insert_rows(self.conn, _UPSERT_COMMENTS, rows)
        return new

    def _known_comment_ids(self, ids: list[str]) -> set[str]:
        """The ids already stored, asked in chunks: one ``IN (...)`` over every comment of
        a huge page would pass SQLite's limit of bound variables (32,766)."""
        if not ids:
            return set()
        query = "SELECT id FROM comments WHERE id IN ({marks})"
        return {r[0] for r in shapes.lookup(self.conn, query, ids)}

    def _drop_stale_links(self, found_on: str, links: Sequence[LinkRecord]) -> None:
        page_id = link_graph.url_id(self.conn, found_on)
        if page_id is None:
            return  # nothing was ever found on it
        stored = link_graph.found_on_keys(self.conn, page_id)
        if not stored:
            return
        ids = link_graph.url_ids(
            self.conn, chain.from_iterable((lk.src, lk.dst) for lk in links), self._url_ids
        )
        current = {link_graph.key(ids, lk.src, lk.dst, lk.kind) for lk in links}
        link_graph.delete_keys(self.conn, [key for key in stored if tuple(key) not in current])

    def _save_links(self, saves: Sequence[PageSave]) -> list[int]:
        """Every page's links (the URL and text ids looked up once for them all); how
        many were new on each page."""
        links = [lk for save in saves for lk in save.links]
        if not links:
            return [0] * len(saves)
        now = link_graph.micros_now()
        ids = link_graph.url_ids(
            self.conn,
            chain.from_iterable((lk.src, lk.dst, lk.found_on) for lk in links),
            self._url_ids,
        )
        texts = link_graph.text_ids(
            self.conn, chain.from_iterable((lk.anchor, lk.rel) for lk in links), self._text_ids
        )
        new = []
        for save in saves:
            rows = [
                link_graph.edge_row(
                    ids, texts, lk.src, lk.dst, lk.kind, lk.found_on, lk.anchor, lk.rel,
                    int(lk.same_blog), now,
                )
                for lk in save.links
            ]  # fmt: skip
            new.append(link_graph.insert_edges(self.conn, rows))
        return new

    @_guarded
    def verify_pingbacks(self, pages: Iterable[str] | None, *, unknown_only: bool = False) -> int:
        """Verdicts on the pingbacks from and on ``pages`` (see :func:`db.graph.verify_pingbacks`);
        commits."""
        pages = None if pages is None else list(pages)
        return verify_pingbacks(self.db, pages, post_urls=pages, unknown_only=unknown_only)
