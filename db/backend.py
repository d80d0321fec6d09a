"""Step 6 of the data flow: the storage seam — what the crawler needs from a database.

The engine, its database thread (``crawler/writer.py``) and the graph step talk to these
protocols only; :class:`db.store.Store` implements them on SQLite, and a PostgreSQL
backend will implement them for a crawl spread over several machines. So nothing here
assumes one process:

- a URL is *claimed* by a run (``frontier.claimed_by`` is the run id) and a run releases
  only its own claims;
- a run holds a *lease* (``runs.lease_until``) that it renews with every commit; a run
  whose lease expired — or, when the caller holds the database's exclusive run lock, any
  other run still marked ``running`` — is dead: :meth:`Runs.end_dead_runs` marks it
  ``crashed`` and returns its claims to the queue.

Writes go into an open batch that :meth:`Backend.commit` ends; :meth:`Backend.atomic`
keeps the writes of one page all or none inside it. Every method raises a
:class:`db.store.DatabaseFault` subclass when the database itself fails (full, locked,
read-only, broken), and nothing else for such trouble.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

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
)


class Frontier(Protocol):
    """The persistent queue of URLs: what to fetch next, who is fetching it, why not."""

    def enqueue(self, entries: Iterable[FrontierEntry]) -> int:
        """Add URLs; a URL already known keeps its state. Returns how many were new."""
        ...

    def claim(self, run_id: int, limit: int) -> list[FrontierRow]:
        """Take up to ``limit`` due URLs (hosts interleaved) for run ``run_id``."""
        ...

    def release_claims(self, run_id: int) -> int:
        """Return run ``run_id``'s unfinished claims to the queue."""
        ...

    def finish(self, url: str, state: str, reason: str | None = None) -> None: ...

    def finish_many(self, finished: Iterable[tuple[str, str, str | None]]) -> None:
        """:meth:`finish` for each ``(url, state, reason)``."""
        ...

    def postpone(self, url: str, seconds: float, reason: str) -> None:
        """Back to the queue, not offered again for ``seconds``."""
        ...

    def queue_due_recrawls(self) -> int: ...

    def requeue_failed(self, reasons: Iterable[str], max_attempts: int) -> int: ...

    def frontier_counts(self) -> dict[str, int]: ...

    # What earlier settings refused, re-opened when they change (crawler.frontier.reopen).
    def requeue_reason(
        self,
        reason: str,
        *,
        host: str | None = None,
        max_depth: int | None = None,
        states: Iterable[str] = ("skipped", "failed"),
    ) -> int:
        """Queue again the URLs that stopped for ``reason``; returns how many."""
        ...

    def requeue_robots_of_stale_hosts(self, read_before: str) -> int: ...

    def unqueued_links(
        self, kinds: Iterable[str], max_depth: int
    ) -> list[tuple[str, int, str, str]]:
        """``(url, depth, found_on, kind)`` of links of ``kinds`` never queued."""
        ...

    def posts_outside_interval(
        self, low: float, high: float
    ) -> list[tuple[str, str, float | None]]: ...

    def set_next_visits(self, visits: Iterable[tuple[str, str, float]]) -> int: ...


class Runs(Protocol):
    """The ``runs`` log, with leases that tell a live run from a dead one."""

    def end_dead_runs(self, *, holding_lock: bool) -> int:
        """Mark dead runs ``crashed`` and release their claims; returns how many."""
        ...

    def start_run(self, pid: int) -> int: ...

    def update_run(self, run_id: int, counters: RunCounters) -> None:
        """Write the run's counters and renew its lease (in the open batch)."""
        ...

    def finish_run(self, run_id: int, status: str, counters: RunCounters) -> None:
        """Release the run's claims, record its end, commit."""
        ...


class Hosts(Protocol):
    """Per-host state kept across runs (robots.txt, Crawl-delay, pauses)."""

    def get_host(self, host: str) -> dict[str, Any] | None: ...

    def save_host(self, host: str, **values: Any) -> None: ...


class HostReader(Hosts, Protocol):
    """Host reads on a connection of their own."""

    def close(self) -> None: ...


class Pages(Protocol):
    """Fetched pages with their comments and links, and the pingback verdicts."""

    def page_state(self, url: str) -> PageState: ...

    def page_states(self, urls: Sequence[str]) -> dict[str, PageState]:
        """The states of those of ``urls`` that are stored, by URL."""
        ...

    def mark_not_modified(self, url: str, next_fetch_at: str, interval: float | None) -> None: ...

    def save_page(
        self,
        page: PageRecord,
        comments: Sequence[CommentRecord] = (),
        links: Sequence[LinkRecord] = (),
        comments_hash: str | None = None,
        replace_links: bool = False,
        prior: PageState | None = None,
    ) -> SaveOutcome: ...

    def save_pages(self, saves: Sequence[PageSave]) -> list[SaveOutcome]:
        """Several pages of distinct URLs, each as :meth:`save_page` without
        ``replace_links``, in that order."""
        ...

    def verify_pingbacks(self, pages: Iterable[str] | None, *, unknown_only: bool = False) -> int:
        """Give the pingbacks from and on ``pages`` (None: all; ``unknown_only``: also
        those without a verdict yet) their verdicts; returns how many got one."""
        ...


class Fetches(Protocol):
    """The fetch log: one row per request that reached a server."""

    def log_fetches(self, rows: Sequence[dict[str, Any]]) -> None: ...

    def known_verdicts(self, comment_ids: Sequence[str]) -> dict[str, int | None]:
        """Pingback verdicts already stored (``comments.verified``), by comment id."""
        ...

    def last_capture(self, url: str) -> tuple[str, str, str | None, str | None] | None:
        """(uri, WARC date, payload digest, record id) of the latest archived response."""
        ...


class Backend(Frontier, Runs, Hosts, Pages, Fetches, Protocol):
    """Everything a crawl run uses, on one connection used by one thread at a time."""

    def commit(self) -> None: ...

    def rollback(self) -> None:
        """Drop the open batch (after a database fault)."""
        ...

    def commit_due(self) -> bool:
        """Whether the open batch is old enough to commit (bounds what a kill -9 costs)."""
        ...

    def atomic(self) -> AbstractContextManager[None]:
        """The writes inside are kept together or not at all (within the open batch)."""
        ...

    def reader(self) -> HostReader | None:
        """A second connection for host reads from another thread (None: not possible)."""
        ...

    def close(self) -> None: ...
