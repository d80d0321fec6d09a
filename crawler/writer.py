"""Step 6 of the data flow, from the crawler's side: the database thread.

During a run every store call goes to one thread of its own, so that a page's write
never holds up a request whose host's turn has come (pacing is kept to milliseconds;
SQLite works with the GIL released). One thread, one connection, first in first out,
except that a claim — the loop is waiting for work — goes ahead of the queued writes and
says how many writes were done by then. A page with its comments, links and frontier
changes is written in one go, in the store's open batch; each batch ends with the
verdicts on the pingbacks its pages settle (:meth:`StoreWriter.checkpoint`).

The engine extracts a page on the loop, hands a :class:`PageWrite` over and keeps at most
``WRITES_IN_HAND`` of them unfinished (each holds a page body).
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from crawler.fetch.client import FetchResult
from crawler.frontier import revisit_interval
from crawler.records import (
    CommentRecord,
    FrontierEntry,
    FrontierRow,
    LinkRecord,
    PageRecord,
    PageState,
    SaveOutcome,
    iso_in,
)
from db.graph import verify_pingbacks
from db.store import Store

T = TypeVar("T")


@dataclass
class PageWrite:
    """What one finished frontier URL changes in the store.

    ``postpone``: ask again in ``retry_in`` seconds (host paused, robots.txt unreadable);
    ``skip``: never requested, for ``reason``; ``not_modified``: a 304 to a re-visit;
    ``page``: a fetched page (``failed`` with ``reason`` when it is an error).
    """

    row: FrontierRow
    result: FetchResult  # for the page event the engine reports once written
    action: Literal["postpone", "skip", "not_modified", "page"]
    reason: str | None = None
    retry_in: float = 0.0
    page: PageRecord | None = None
    comments: list[CommentRecord] = field(default_factory=list)
    links: list[LinkRecord] = field(default_factory=list)
    digest: str | None = None
    entries: list[FrontierEntry] = field(default_factory=list)
    fresh: bool = False
    failed: bool = False


class _DatabaseThread:
    """One worker thread, first in first out, except that urgent calls (claims: the loop
    is waiting for work) go before the writes still queued."""

    def __init__(self) -> None:
        self._queue: queue.PriorityQueue[tuple[int, int, Any, Any, Any]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._thread = threading.Thread(target=self._serve, name="pingcrawl-db", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., T], *args: Any, urgent: bool = False) -> Future[T]:
        future: Future[T] = Future()
        self._queue.put((0 if urgent else 1, next(self._order), fn, args, future))
        return future

    def shutdown(self) -> None:
        """Run what was submitted, then stop."""
        self._queue.put((2, next(self._order), None, (), None))
        self._thread.join()

    def _serve(self) -> None:
        while True:
            _, _, fn, args, future = self._queue.get()
            if fn is None:
                return
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:  # handed to whoever awaits the future
                    future.set_exception(exc)


class StoreWriter:
    """The store behind one thread; also the fetcher's ``HostStore`` for the run."""

    def __init__(self, store: Store, recrawl_after: float) -> None:
        self.store = store
        self.recrawl_after = recrawl_after
        self.submitted = 0  # writes handed over so far
        self.completed = 0  # ... and written (counted on the database thread)
        self.text_in_hand = 0  # characters of page text in the writes not yet reported
        self._thread = _DatabaseThread()
        self._writes: deque[tuple[PageWrite, asyncio.Future[SaveOutcome | None]]] = deque()
        self._side: list[asyncio.Future[Any]] = []
        # Reads of per-host state come from a second connection: they need only what
        # earlier runs committed (this run's hosts are in the fetcher's memory).
        self._reader = store.reader()
        self._closed = False
        self._touched: set[str] = set()  # pages written since the last checkpoint

    # -- the loop's side ------------------------------------------------------------------
    def call(self, fn: Callable[..., T], *args: Any, urgent: bool = False) -> asyncio.Future[T]:
        """Run ``fn(*args)`` on the database thread, after everything handed over before
        (``urgent``: before the writes still waiting)."""
        return asyncio.wrap_future(self._thread.submit(fn, *args, urgent=urgent))

    def write(self, item: PageWrite) -> None:
        self.submitted += 1
        self.text_in_hand += len(item.result.text or "")
        self._writes.append((item, self.call(self._write, item)))

    def claim(self, limit: int) -> asyncio.Future[tuple[list[FrontierRow], int]]:
        """Claim due rows ahead of the queued writes; also says how many writes were done
        by then (URLs those still to come enqueue are for the next claim)."""

        def claim() -> tuple[list[FrontierRow], int]:
            return self.store.claim(limit), self.completed

        return self.call(claim, urgent=True)

    def backlog(self) -> int:
        return len(self._writes)

    def newest(self) -> asyncio.Future[SaveOutcome | None]:
        return self._writes[-1][1]

    def written(self) -> list[tuple[PageWrite, SaveOutcome | None]]:
        """The writes finished since the last call, oldest first; re-raises a failure."""
        out = []
        while self._writes and self._writes[0][1].done():
            item, future = self._writes.popleft()
            self.text_in_hand -= len(item.result.text or "")
            out.append((item, future.result()))
        return out

    async def settle(self, backlog: int = 0) -> None:
        """Wait until at most ``backlog`` writes are unfinished (0: all, host saves too).
        The finished ones stay in hand for :meth:`written`."""
        if len(self._writes) > backlog:
            # First in, first out: once this one is written, so are all before it.
            await asyncio.wait([self._writes[len(self._writes) - backlog - 1][1]])
        if backlog == 0 and self._side:
            side, self._side = self._side, []
            await asyncio.gather(*side)

    def close(self) -> None:
        """Wait for the thread to finish what it was given; the store is the caller's again."""
        if not self._closed:
            self._closed = True
            self._thread.shutdown()
            if self._reader is not None:
                self._reader.close()

    # -- HostStore (called by the fetcher, on the loop) -----------------------------------
    def get_host(self, host: str) -> dict[str, Any] | None:
        if self._reader is not None:
            return self._reader.get_host(host)
        return self._thread.submit(self.store.get_host, host, urgent=True).result()

    def save_host(self, host: str, **values: Any) -> None:
        self._side.append(self.call(lambda: self.store.save_host(host, **values)))
        self._side = [f for f in self._side if not f.done() or f.exception() is not None]

    # -- the database thread's side -------------------------------------------------------
    def _write(self, item: PageWrite) -> SaveOutcome | None:
        store, url = self.store, item.row.url
        outcome = None
        if item.action == "postpone":
            store.postpone(url, item.retry_in, item.reason or "")
        elif item.action == "skip":
            store.finish(url, "skipped", item.reason)
        elif item.action == "not_modified":
            prior = store.page_state(url)
            store.mark_not_modified(url, *self._next_visit(prior, changed=False))
            store.finish(url, "done")
        else:
            outcome = self._save(item)
        if store.commit_due():
            self.checkpoint()
        self.completed += 1
        return outcome

    def checkpoint(self) -> None:
        """Give the pingbacks from and on the pages written since the last checkpoint their
        verdicts, and commit: a page and the verdicts it settles are kept together."""
        if self._touched:
            verify_pingbacks(self.store.db, self._touched, post_urls=self._touched)
            self._touched = set()
        self.store.commit()

    def _save(self, item: PageWrite) -> SaveOutcome:
        store, page = self.store, item.page
        assert page is not None
        prior = store.page_state(page.url)
        if page.is_post:
            changed = item.digest is not None and item.digest != prior.comments_hash
            page.next_fetch_at, page.recrawl_interval = self._next_visit(prior, changed)
        outcome = store.save_page(
            page, item.comments, item.links, item.digest, replace_links=item.fresh, prior=prior
        )
        store.enqueue(item.entries)
        store.finish(item.row.url, "failed" if item.failed else "done", item.reason)
        self._touched.update((page.url, page.post_url or page.url))
        return outcome

    def _next_visit(self, prior: PageState, changed: bool) -> tuple[str, float]:
        interval = revisit_interval(prior.recrawl_interval, changed, self.recrawl_after)
        return iso_in(interval), interval
