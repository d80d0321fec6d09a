"""Step 6 of the data flow, cluster edition: the storage seam on PostgreSQL, with host leases.

:class:`PgStore` implements :class:`db.backend.Backend` on one psycopg 3 connection, for
a worker of a crawl spread over many processes and machines (:mod:`crawler.cluster`).
What differs from SQLite's :class:`db.store.Store`:

- **Workers claim hosts, then URLs.** :meth:`PgStore.claim` first takes leases on hosts
  (``host_leases``, ``SELECT … FOR UPDATE SKIP LOCKED``, so two workers never wait on or
  take the same host), then claims due URLs of its own hosts only. A host is held by one
  worker at a time, so its delay, Crawl-delay, Retry-After, pauses and ``per_host`` hold
  across all workers. Each worker takes about its fair share (hosts with work divided by
  live workers) and gives back the hosts above it as soon as nothing of theirs is in
  flight, so workers that start later get hosts too.
- **A lease expires when its worker dies.** A worker renews its leases every third of
  ``lease`` seconds (:meth:`PgStore.renew_leases`, from a thread of its own); a host
  whose lease ran out is taken by the next claim of another worker, which first returns
  the dead worker's claimed URLs of that host to the queue.
- **Handing a host on keeps its delay.** A host given back records ``free_at`` (now plus
  its delay); its next holder, or the taker of a dead worker's host (now plus the delay),
  holds the host off until then (:attr:`PgStore.hold_offs`, applied to the slots).
- **One page, one transaction.** Outside :meth:`atomic` each statement commits on its
  own; a page's writes commit together. New frontier rows are inserted in URL order with
  ``ON CONFLICT DO NOTHING``, so workers enqueueing the same URLs never deadlock.
- Pingback verdicts are given when the crawl is copied into SQLite (``export sqlite``,
  and every ``stats``/``export``/``related`` run on such a copy), over the whole crawl.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import psycopg
from psycopg import errors as pg_errors

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
from db.postgres.schema import ensure_schema
from db.store import (
    COMMIT_INTERVAL,
    FETCH_COLUMNS,
    RUN_LEASE,
    DatabaseBroken,
    DatabaseBusy,
    DatabaseFault,
    DatabaseFull,
    DatabaseReadOnly,
)

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_LEASE = 30.0
_SURROGATES = re.compile("[\ud800-\udfff]")


def pg_fault(exc: psycopg.Error) -> DatabaseFault | None:
    """The fault ``exc`` means, or None when it is about one page's data."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    message = f"postgresql: {first}"
    if isinstance(exc, pg_errors.DeadlockDetected | pg_errors.SerializationFailure):
        return DatabaseBusy(message)
    if isinstance(exc, pg_errors.LockNotAvailable | pg_errors.QueryCanceled):
        return DatabaseBusy(message)
    if isinstance(exc, pg_errors.DiskFull | pg_errors.OutOfMemory):
        return DatabaseFull(message)
    if isinstance(exc, pg_errors.ReadOnlySqlTransaction | pg_errors.InsufficientPrivilege):
        return DatabaseReadOnly(message)
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return DatabaseBroken(message)  # connection refused or lost, server shut down
    return None


def _guarded(method: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(method)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except psycopg.Error as exc:
            fault = pg_fault(exc)
            if fault is None:
                raise
            raise fault from exc

    return guarded


def connect(url: str) -> psycopg.Connection:
    """An autocommit connection; asynchronous commit: a worker's kill -9 loses nothing the
    server has, and only a crash of the server itself may cost its last fraction of a
    second."""
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise pg_fault(exc) or DatabaseBroken(f"postgresql: {exc}") from exc
    conn.execute("SET synchronous_commit = off")
    return conn


def clean_text(value: str | None) -> str | None:
    """PostgreSQL text holds no NUL and no lone surrogate (SQLite keeps both): such
    characters become U+FFFD instead of failing the page."""
    if value is None:
        return None
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = _SURROGATES.sub("\ufffd", value)
    return value


_UPSERT_PAGE = """
INSERT INTO pages (url, final_url, host, blog, status, content_type, fetched_at, etag,
    last_modified, sha256, title, is_post, published, author, depth, error, text,
    next_fetch_at, canonical, post_url, size, pingback_endpoint, webmention_endpoint, feeds,
    recrawl_interval, comments_hash)
VALUES (%(url)s, %(final_url)s, %(host)s, %(blog)s, %(status)s, %(content_type)s,
    %(fetched_at)s, %(etag)s, %(last_modified)s, %(sha256)s, %(title)s, %(is_post)s,
    %(published)s, %(author)s, %(depth)s, %(error)s, %(text)s, %(next_fetch_at)s,
    %(canonical)s, %(post_url)s, %(size)s, %(pingback_endpoint)s, %(webmention_endpoint)s,
    %(feeds)s, %(recrawl_interval)s, %(comments_hash)s)
ON CONFLICT (url) DO UPDATE SET
    final_url = excluded.final_url, host = excluded.host, blog = excluded.blog,
    status = excluded.status, content_type = excluded.content_type,
    fetched_at = excluded.fetched_at, etag = excluded.etag,
    last_modified = excluded.last_modified,
    sha256 = coalesce(excluded.sha256, pages.sha256),
    title = coalesce(excluded.title, pages.title),
    is_post = excluded.is_post,
    published = coalesce(excluded.published, pages.published),
    author = coalesce(excluded.author, pages.author),
    depth = least(excluded.depth, pages.depth), error = excluded.error,
    text = coalesce(excluded.text, pages.text),
    next_fetch_at = coalesce(excluded.next_fetch_at, pages.next_fetch_at),
    canonical = excluded.canonical,
    post_url = excluded.post_url, size = excluded.size,
    pingback_endpoint = excluded.pingback_endpoint,
    webmention_endpoint = excluded.webmention_endpoint, feeds = excluded.feeds,
    recrawl_interval = coalesce(excluded.recrawl_interval, pages.recrawl_interval),
    comments_hash = coalesce(excluded.comments_hash, pages.comments_hash)
"""

_UPSERT_COMMENT = """
INSERT INTO comments (id, post_url, comment_id, kind, author, author_url, published, text,
    source_url, source_title, verified, found_on, first_seen)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, %s, %s)
ON CONFLICT (id) DO UPDATE SET
    kind = excluded.kind, author = excluded.author, author_url = excluded.author_url,
    published = excluded.published, text = excluded.text, source_url = excluded.source_url,
    source_title = excluded.source_title, found_on = excluded.found_on
"""

_INSERT_LINKS = """
INSERT INTO links (src, dst, kind, found_on, anchor, rel, same_blog, first_seen)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
    %s::text[], %s::bigint[], %s::text[])
ON CONFLICT DO NOTHING
"""

_ENQUEUE = """
INSERT INTO frontier (url, depth, found_on, kind, state, reason, attempts, host, post_url,
    added_at)
SELECT u, d, f, k, s, r, 0, h, p, %s
FROM unnest(%s::text[], %s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[],
    %s::text[], %s::text[]) AS e(u, d, f, k, s, r, h, p)
ON CONFLICT (url) DO NOTHING
"""

# A URL skipped for depth that is now found closer to a seed is queued after all (what
# SQLite's upsert does in one statement; two here so that no existing row is locked by
# the insert, which would let workers deadlock on each other's links).
_UNSKIP_DEPTH = """
UPDATE frontier f SET depth = e.d, found_on = e.f, kind = e.k, state = 'queued',
    reason = NULL, post_url = e.p
FROM unnest(%s::text[], %s::bigint[], %s::text[], %s::text[], %s::text[])
    AS e(u, d, f, k, p)
WHERE f.url = e.u AND f.state = 'skipped' AND f.reason = 'depth' AND e.d < f.depth
"""

_DUE = "(f.state = 'queued' AND (f.next_attempt_at IS NULL OR f.next_attempt_at <= %(now)s))"

_CLAIMABLE = (
    """
SELECT f.url, f.depth, f.host, f.kind, f.found_on, f.post_url, f.attempts,
       p.etag, p.last_modified
FROM (
    SELECT url, depth, host, kind, found_on, post_url, attempts,
           row_number() OVER (PARTITION BY host ORDER BY depth, added_at, url) AS rank
    FROM frontier f
    WHERE f.host = ANY(%(hosts)s) AND """
    + _DUE
    + """
) AS f
LEFT JOIN pages p ON p.url = f.url
ORDER BY f.rank, f.depth, f.url
LIMIT %(limit)s
"""
)

# Hosts with work nobody holds (or whose holder's lease ran out), those that may start
# now first. SKIP LOCKED: a host another worker is taking right now is not waited for.
_TAKEABLE = (
    """
SELECT l.host, l.holder IS NOT NULL AS expired,
       greatest(0, extract(epoch FROM (coalesce(l.free_at, now()) - now())))::float8
FROM host_leases l
WHERE (l.holder IS NULL OR l.lease_until < now())
  AND EXISTS (SELECT 1 FROM frontier f WHERE f.host = l.host
              AND ("""
    + _DUE
    + """ OR f.state = 'claimed'))
ORDER BY l.free_at NULLS FIRST, l.host
LIMIT %(need)s
FOR UPDATE OF l SKIP LOCKED
"""
)

_HOST_DELAY = (
    "greatest(%(delay)s, coalesce((SELECT h.crawl_delay FROM hosts h WHERE h.host = l.host), 0))"
)

_RELEASE = (
    "UPDATE host_leases l SET holder = NULL, lease_until = NULL, free_at = now() + "
    "make_interval(secs => " + _HOST_DELAY + ") WHERE l.holder = %(me)s"
)


class PgStore:
    """The storage seam (:class:`db.backend.Backend`) on one PostgreSQL connection.

    ``delay``: the configured politeness delay (a host given back is held off by it, or by
    its Crawl-delay); ``lease``: seconds a host lease lasts unless renewed.
    """

    def __init__(self, url: str, *, delay: float = 1.0, lease: float = DEFAULT_LEASE) -> None:
        self.url = url
        self.path = url.split("@")[-1]  # for messages: no password
        self.delay = delay
        self.lease = lease
        self.conn = connect(url)
        self._last_commit = time.monotonic()
        self._host_columns: set[str] | None = None
        # Hosts this worker just took, and seconds they must wait before their first
        # request (read and cleared by the worker's engine before it queues their URLs).
        self.hold_offs: dict[str, float] = {}
        self.work_elsewhere = True  # the last claim saw URLs due or in flight anywhere

    @classmethod
    def open(cls, url: str, *, delay: float = 1.0, lease: float = DEFAULT_LEASE) -> PgStore:
        store = cls(url, delay=delay, lease=lease)
        try:
            ensure_schema(store.conn)
        except psycopg.Error as exc:
            store.conn.close()
            raise pg_fault(exc) or DatabaseBroken(f"postgresql: {exc}") from exc
        return store

    def reader(self) -> PgStore:
        """A second connection, for host reads from another thread."""
        return PgStore(self.url, delay=self.delay, lease=self.lease)

    def close(self) -> None:
        self.conn.close()

    # -- transactions -----------------------------------------------------------------
    def commit(self) -> None:
        """Statements commit as they go (and a page's writes with :meth:`atomic`)."""
        self._last_commit = time.monotonic()

    def rollback(self) -> None:
        pass  # nothing is left open between calls

    def commit_due(self) -> bool:
        return time.monotonic() - self._last_commit >= COMMIT_INTERVAL

    @contextmanager
    def atomic(self) -> Iterator[None]:
        try:
            with self._tx():
                yield
        except psycopg.Error as exc:
            fault = pg_fault(exc)
            if fault is None:
                raise
            raise fault from exc

    @contextmanager
    def _tx(self) -> Iterator[None]:
        """A transaction, unless one is open already (no savepoint: two round trips
        less on every page's path)."""
        if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            yield
            return
        with self.conn.transaction():
            yield

    def _run(self, query: str, params: Any = None) -> psycopg.Cursor[Any]:
        return self.conn.execute(query, params)  # type: ignore[arg-type]

    # -- runs ---------------------------------------------------------------------------
    @_guarded
    def end_dead_runs(self, *, holding_lock: bool) -> int:
        """Runs whose lease ran out are ``crashed``; claims of no live run go back.
        (``holding_lock`` is ignored: no lock makes a PostgreSQL database one run's.)"""
        now = iso()
        with self._tx():
            cursor = self._run(
                "UPDATE runs SET status = 'crashed', finished_at = coalesce(finished_at, %s) "
                "WHERE status = 'running' AND (lease_until IS NULL OR lease_until < %s)",
                (now, now),
            )
            self._run(
                "UPDATE frontier SET state = 'queued', claimed_by = NULL WHERE state = 'claimed'"
                " AND (claimed_by IS NULL OR claimed_by NOT IN "
                "(SELECT id FROM runs WHERE status = 'running'))"
            )
        return cursor.rowcount

    @_guarded
    def start_run(self, pid: int) -> int:
        row = self._run(
            "INSERT INTO runs (started_at, status, pid, fetched, failed, skipped, new_pages,"
            " new_links, new_comments, not_modified, lease_until)"
            " VALUES (%s, 'running', %s, 0, 0, 0, 0, 0, 0, 0, %s) RETURNING id",
            (iso(), pid, iso_in(RUN_LEASE)),
        ).fetchone()
        assert row is not None
        return int(row[0])

    @_guarded
    def update_run(self, run_id: int, counters: RunCounters) -> None:
        row = {**counters.as_row(), "lease_until": iso_in(RUN_LEASE)}
        assignments = ", ".join(f"{k} = %({k})s" for k in row)
        self._run(f"UPDATE runs SET {assignments} WHERE id = %(id)s", {**row, "id": run_id})
        self._last_commit = time.monotonic()

    @_guarded
    def finish_run(self, run_id: int, status: str, counters: RunCounters) -> None:
        """Give back the run's claims and hosts (each held off by its delay), close it."""
        with self._tx():
            self.release_claims(run_id)
            self._run(_RELEASE, {"me": run_id, "delay": self.delay})
            self._run("DELETE FROM workers WHERE run_id = %s", (run_id,))
            self.update_run(run_id, counters)
            self._run(
                "UPDATE runs SET status = %s, finished_at = %s, lease_until = NULL WHERE id = %s",
                (status, iso(), run_id),
            )

    # -- host leases ----------------------------------------------------------------------
    @_guarded
    def renew_leases(self, run_id: int) -> int:
        """Extend the leases ``run_id`` holds and its mark of being alive; returns how many
        leases it still holds."""
        self._run(
            "INSERT INTO workers (run_id, alive_until) VALUES (%s, now() + make_interval(secs"
            " => %s)) ON CONFLICT (run_id) DO UPDATE SET alive_until = excluded.alive_until",
            (run_id, self.lease),
        )
        cursor = self._run(
            "UPDATE host_leases SET lease_until = now() + make_interval(secs => %s) "
            "WHERE holder = %s",
            (self.lease, run_id),
        )
        return cursor.rowcount

    @_guarded
    def held_hosts(self, run_id: int) -> list[str]:
        rows = self._run(
            "SELECT host FROM host_leases WHERE holder = %s ORDER BY host", (run_id,)
        ).fetchall()
        return [r[0] for r in rows]

    def _fair_share(self, now: str) -> int:
        """Hosts with work divided by live workers, rounded up."""
        workers = self._run("SELECT count(*) FROM workers WHERE alive_until > now()").fetchone()
        hosts = self._run(
            "SELECT count(DISTINCT host) FROM frontier f WHERE " + _DUE + " OR state = 'claimed'",
            {"now": now},
        ).fetchone()
        busy = int(hosts[0]) if hosts else 0
        self.work_elsewhere = busy > 0
        return max(1, math.ceil(busy / max(1, int(workers[0]) if workers else 1)))

    def _shed(self, run_id: int, now: str, keep: list[str], extra: list[str]) -> list[str]:
        """Give back hosts with nothing of ours in flight that are beyond our share
        (``extra``) or have no due work left; returns the hosts given back."""
        rows = self._run(
            _RELEASE + " AND NOT EXISTS (SELECT 1 FROM frontier f WHERE f.host = l.host"
            " AND f.state = 'claimed' AND f.claimed_by = %(me)s)"
            " AND (l.host = ANY(%(extra)s) OR NOT EXISTS (SELECT 1 FROM frontier f"
            " WHERE f.host = l.host AND " + _DUE + ")) RETURNING l.host",
            {"me": run_id, "delay": self.delay, "extra": extra, "now": now},
        ).fetchall()
        return [r[0] for r in rows]

    def _take(self, run_id: int, now: str, need: int) -> list[str]:
        """Lease up to ``need`` more hosts; a dead holder's claims of them go back."""
        taken = self._run(_TAKEABLE, {"now": now, "need": need}).fetchall()
        if not taken:
            return []
        hosts = [host for host, _expired, _wait in taken]
        expired = [host for host, was_held, _wait in taken if was_held]
        if expired:
            self._run(
                "UPDATE frontier SET state = 'queued', claimed_by = NULL "
                "WHERE host = ANY(%s) AND state = 'claimed'",
                (expired,),
            )
        self._run(
            "UPDATE host_leases SET holder = %s, lease_until = now() + make_interval(secs => %s),"
            " free_at = NULL WHERE host = ANY(%s)",
            (run_id, self.lease, hosts),
        )
        delays = dict(
            self._run(
                "SELECT l.host, " + _HOST_DELAY + " FROM host_leases l WHERE l.host = ANY(%(h)s)",
                {"delay": self.delay, "h": expired},
            ).fetchall()
        )
        for host, was_held, wait in taken:
            # The dead holder's last request may have started just before it died.
            hold = float(delays.get(host, self.delay)) if was_held else float(wait)
            if hold > 0:
                self.hold_offs[host] = max(hold, self.hold_offs.get(host, 0.0))
        return hosts

    # -- frontier -------------------------------------------------------------------------
    @_guarded
    def enqueue(self, entries: Iterable[FrontierEntry]) -> int:
        """Add URLs (in URL order); a URL already known keeps its state. Returns new rows."""
        rows = sorted({e.url: e for e in entries}.values(), key=lambda e: e.url)
        if not rows:
            return 0
        columns = [
            [e.url for e in rows],
            [e.depth for e in rows],
            [e.found_on for e in rows],
            [e.kind for e in rows],
            [e.state for e in rows],
            [e.reason for e in rows],
            [e.host for e in rows],
            [e.post_url for e in rows],
        ]
        hosts = sorted({e.host for e in rows if e.host})
        with self._tx():
            added = self._run(_ENQUEUE, [iso(), *columns]).rowcount
            queued = [e for e in rows if e.state == "queued"]
            if queued:
                self._run(
                    _UNSKIP_DEPTH,
                    [
                        [e.url for e in queued],
                        [e.depth for e in queued],
                        [e.found_on for e in queued],
                        [e.kind for e in queued],
                        [e.post_url for e in queued],
                    ],
                )
            self._run(
                "INSERT INTO host_leases (host) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING",
                (hosts,),
            )
        return added

    @_guarded
    def claim(self, run_id: int, limit: int) -> list[FrontierRow]:
        """Lease hosts up to this worker's share, give back the rest, then claim up to
        ``limit`` due URLs of the hosts held (hosts interleaved)."""
        now = iso()
        with self._tx():
            self.renew_leases(run_id)
            share = self._fair_share(now)
            held = self.held_hosts(run_id)
            given_back = set(self._shed(run_id, now, held[:share], held[share:]))
            held = [h for h in held if h not in given_back]
            if len(held) < share:
                held += self._take(run_id, now, share - len(held))
            active = held[:share]
            rows = [
                FrontierRow(*r)
                for r in self._run(_CLAIMABLE, {"hosts": active, "now": now, "limit": limit})
            ]
            if rows:
                self._run(
                    "UPDATE frontier SET state = 'claimed', claimed_by = %s, "
                    "attempts = attempts + 1 WHERE url = ANY(%s)",
                    (run_id, [r.url for r in rows]),
                )
        return rows

    @_guarded
    def release_claims(self, run_id: int) -> int:
        return self._run(
            "UPDATE frontier SET state = 'queued', claimed_by = NULL "
            "WHERE state = 'claimed' AND claimed_by = %s",
            (run_id,),
        ).rowcount

    @_guarded
    def finish(self, url: str, state: str, reason: str | None = None) -> None:
        self._run(
            "UPDATE frontier SET state = %s, reason = %s, next_attempt_at = NULL, "
            "claimed_by = NULL WHERE url = %s",
            (state, reason, url),
        )

    def finish_many(self, finished: Iterable[tuple[str, str, str | None]]) -> None:
        for url, state, reason in finished:
            self.finish(url, state, reason)

    @_guarded
    def postpone(self, url: str, seconds: float, reason: str) -> None:
        self._run(
            "UPDATE frontier SET state = 'queued', reason = %s, next_attempt_at = %s, "
            "claimed_by = NULL WHERE url = %s",
            (reason, iso_in(seconds), url),
        )

    @_guarded
    def queue_due_recrawls(self) -> int:
        return self._run(
            """
            UPDATE frontier SET state = 'queued', reason = NULL, next_attempt_at = NULL
            WHERE state IN ('done', 'failed') AND url IN (
                SELECT url FROM pages WHERE is_post = 1 AND next_fetch_at <= %(now)s
                UNION
                SELECT c.url FROM pages c JOIN pages p ON p.url = c.post_url
                WHERE p.is_post = 1 AND p.next_fetch_at <= %(now)s
            )
            """,
            {"now": iso()},
        ).rowcount

    @_guarded
    def requeue_failed(self, reasons: Iterable[str], max_attempts: int) -> int:
        return self._run(
            "UPDATE frontier SET state = 'queued', next_attempt_at = NULL "
            "WHERE state = 'failed' AND attempts < %s AND reason = ANY(%s)",
            (max_attempts, list(reasons)),
        ).rowcount

    @_guarded
    def frontier_counts(self) -> dict[str, int]:
        rows = self._run("SELECT state, count(*) FROM frontier GROUP BY state").fetchall()
        return {state: int(count) for state, count in rows}

    # -- hosts ----------------------------------------------------------------------------
    @_guarded
    def get_host(self, host: str) -> dict[str, Any] | None:
        cursor = self._run("SELECT * FROM hosts WHERE host = %s", (host,))
        row = cursor.fetchone()
        if row is None:
            return None
        names = [c.name for c in cursor.description or ()]
        return dict(zip(names, row, strict=True))

    @_guarded
    # -- the fetch log (the same rows as SQLite's, see db/store.py) -----------------------
    def log_fetches(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        names = list(FETCH_COLUMNS)
        sql = f"INSERT INTO fetches ({', '.join(names)}) VALUES ({', '.join('%s' for _ in names)})"
        values = [
            tuple(clean_text(v) if isinstance(v, str) else v for v in (r.get(n) for n in names))
            for r in rows
        ]
        with self.conn.cursor() as cursor:
            cursor.executemany(sql, values)

    def known_verdicts(self, comment_ids: Sequence[str]) -> dict[str, int | None]:
        if not comment_ids:
            return {}
        found = self._run(
            "SELECT id, verified FROM comments WHERE id = ANY(%s)", (list(comment_ids),)
        )
        return {row[0]: row[1] for row in found}

    def last_capture(self, url: str) -> tuple[str, str, str | None, str | None] | None:
        row = self._run(
            "SELECT url, warc_date, payload_digest, warc_record_id FROM fetches "
            "WHERE url = %s AND warc_type = 'response' ORDER BY id DESC LIMIT 1",
            (url,),
        ).fetchone()
        return (row[0], row[1], row[2], row[3]) if row else None

    def save_host(self, host: str, **values: Any) -> None:
        if self._host_columns is None:
            cursor = self._run("SELECT * FROM hosts LIMIT 0")
            self._host_columns = {c.name for c in cursor.description or ()}
        unknown = set(values) - self._host_columns
        if unknown:
            raise ValueError(f"hosts has no column(s) {sorted(unknown)}")
        row = {
            "host": host,
            **{k: clean_text(v) if isinstance(v, str) else v for k, v in values.items()},
        }
        columns = ", ".join(row)
        placeholders = ", ".join(f"%({c})s" for c in row)
        updates = ", ".join(f"{c} = excluded.{c}" for c in values) or "host = excluded.host"
        self._run(
            f"INSERT INTO hosts ({columns}) VALUES ({placeholders}) "
            f"ON CONFLICT (host) DO UPDATE SET {updates}",
            row,
        )

    # -- pages ----------------------------------------------------------------------------
    @_guarded
    def page_state(self, url: str) -> PageState:
        row = self._run(
            "SELECT comments_hash, recrawl_interval FROM pages WHERE url = %s", (url,)
        ).fetchone()
        return PageState(True, row[0], row[1]) if row else PageState(False, None, None)

    def page_states(self, urls: Sequence[str]) -> dict[str, PageState]:
        states = {url: self.page_state(url) for url in urls}
        return {url: state for url, state in states.items() if state.exists}

    @_guarded
    def mark_not_modified(self, url: str, next_fetch_at: str, interval: float | None) -> None:
        self._run(
            "UPDATE pages SET fetched_at = %s, error = NULL, next_fetch_at = %s,"
            " recrawl_interval = coalesce(%s, recrawl_interval) WHERE url = %s",
            (iso(), next_fetch_at, interval, url),
        )

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
        """One fetched page with its body, comments and links (see :meth:`Store.save_page`)."""
        prior = prior or self.page_state(page.url)
        sha = None
        with self._tx():
            if page.html is not None:
                sha = hashlib.sha256(page.html.encode("utf-8", "surrogatepass")).hexdigest()
                self._run(
                    "INSERT INTO bodies (sha256, html) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (sha, clean_text(page.html)),
                )
            self._run(_UPSERT_PAGE, self._page_row(page, sha, comments_hash))
            new_comments = self._save_comments(page.url, comments)
            if replace_links and prior.exists:
                self._drop_stale_links(page.url, links)
            new_links = self._save_links(links)
        changed = comments_hash is not None and comments_hash != prior.comments_hash
        return SaveOutcome(not prior.exists, new_links, new_comments, changed)

    def save_pages(self, saves: Sequence[PageSave]) -> list[SaveOutcome]:
        return [
            self.save_page(s.page, s.comments, s.links, s.comments_hash, prior=s.prior)
            for s in saves
        ]

    def _page_row(self, page: PageRecord, sha: str | None, comments_hash: str | None) -> dict:
        row = {
            k: clean_text(v) if isinstance(v, str) else v
            for k, v in page.__dict__.items()
            if k != "html"
        }
        row.update(
            sha256=sha,
            is_post=int(page.is_post),
            fetched_at=iso(),
            feeds=json.dumps(list(page.feeds)) if page.feeds else None,
            comments_hash=comments_hash,
        )
        return row

    def _save_comments(self, found_on: str, comments: Sequence[CommentRecord]) -> int:
        if not comments:
            return 0
        now = iso()
        ids = sorted({c.id for c in comments})
        known = {r[0] for r in self._run("SELECT id FROM comments WHERE id = ANY(%s)", (ids,))}
        rows = [
            tuple(clean_text(v) if isinstance(v, str) else v for v in (
                c.id, c.post_url, c.comment_id, c.kind, c.author, c.author_url, c.published,
                c.text, c.source_url, c.source_title, found_on, now))
            for c in sorted(comments, key=lambda c: c.id)
        ]  # fmt: skip
        with self.conn.cursor() as cursor:
            cursor.executemany(_UPSERT_COMMENT, rows)
        return len(set(ids) - known)

    def _drop_stale_links(self, found_on: str, links: Sequence[LinkRecord]) -> None:
        current = {(lk.src, lk.dst, lk.kind) for lk in links}
        stored = self._run(
            "SELECT src, dst, kind FROM links WHERE found_on = %s", (found_on,)
        ).fetchall()
        stale = [tuple(key) for key in stored if tuple(key) not in current]
        if stale:
            with self.conn.cursor() as cursor:
                cursor.executemany(
                    "DELETE FROM links WHERE src = %s AND dst = %s AND kind = %s", stale
                )

    def _save_links(self, links: Sequence[LinkRecord]) -> int:
        if not links:
            return 0
        unique = sorted({(lk.src, lk.dst, lk.kind): lk for lk in links}.items())
        now = iso()
        rows = [lk for _key, lk in unique]
        columns = [
            [clean_text(lk.src) for lk in rows],
            [clean_text(lk.dst) for lk in rows],
            [lk.kind for lk in rows],
            [clean_text(lk.found_on) for lk in rows],
            [clean_text(lk.anchor) for lk in rows],
            [clean_text(lk.rel) for lk in rows],
            [int(lk.same_blog) for lk in rows],
            [now] * len(rows),
        ]
        return self._run(_INSERT_LINKS, columns).rowcount

    def verify_pingbacks(self, pages: Iterable[str] | None, *, unknown_only: bool = False) -> int:
        """Verdicts are given on the SQLite copy, over the whole crawl (see the module
        docstring): a worker sees only its own hosts' pages as they are written."""
        return 0


def opens(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL database (``postgresql://`` or ``postgres://``)."""
    return url.startswith(("postgresql://", "postgres://"))
