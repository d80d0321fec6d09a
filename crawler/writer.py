"""Step 6 of the data flow, from the crawler's side: the database thread.

During a run every store call goes to one thread of its own, so that a page's write
never holds up a request whose host's turn has come (pacing is kept to milliseconds;
SQLite works with the GIL released). One thread, one connection, first in first out,
except that a claim — the loop is waiting for work — goes ahead of the queued writes and
says how many writes were done by then. Writes waiting together are written together.
Each :class:`~crawler.sinks.PageWrite` goes to every sink in order (the database first,
:mod:`crawler.sinks`); each batch ends with the sinks flushed, the others before the
database's commit (:meth:`StoreWriter.checkpoint`).

The engine keeps the writes in hand bounded (:attr:`StoreWriter.weight_in_hand`: page
text plus the records each carries). When the database fails (:class:`DatabaseFault`),
later writes and claims fail at once with the same fault instead of each waiting for it.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

from crawler.records import FrontierRow, SaveOutcome
from crawler.sinks import DatabaseSink, PageWrite, Sink
from db.backend import Backend
from db.store import DatabaseFault

__all__ = ["PageWrite", "StoreWriter"]

T = TypeVar("T")
RECORD_WEIGHT = 200  # characters a link, comment or frontier record costs in memory, about
WRITE_GROUP = 64  # writes at most that the database thread takes together


def weight(item: PageWrite) -> int:
    """What a write in hand costs in memory, in characters of page text."""
    return len(item.result.text or "") + RECORD_WEIGHT * item.records()


_WRITE: Any = object()  # marks a queued write: consecutive ones are run as one group


class _DatabaseThread:
    """One worker thread, first in first out, except that urgent calls (claims: the loop
    is waiting for work) go before the writes still queued. Writes queued one after the
    other are handed to ``write_many`` together (up to :data:`WRITE_GROUP`): the store
    writes a group in far fewer calls into SQLite, and each call hands the GIL over to
    the event loop and waits to get it back."""

    def __init__(self, write_many: Callable[[list[PageWrite]], list[SaveOutcome | None]]) -> None:
        self._write_many = write_many
        self._queue: queue.PriorityQueue[tuple[int, int, Any, Any, Any]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._thread = threading.Thread(target=self._serve, name="pingcrawl-db", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., T], *args: Any, urgent: bool = False) -> Future[T]:
        future: Future[T] = Future()
        self._queue.put((0 if urgent else 1, next(self._order), fn, args, future))
        return future

    def submit_write(self, item: PageWrite) -> Future[SaveOutcome | None]:
        return self.submit(_WRITE, item)

    def shutdown(self) -> None:
        """Run what was submitted, then stop."""
        self._queue.put((2, next(self._order), None, (), None))
        self._thread.join()

    def _serve(self) -> None:
        held = None  # taken from the queue after a group of writes; it runs next
        while True:
            entry, held = held or self._queue.get(), None
            _, _, fn, args, future = entry
            if fn is None:
                return
            if fn is not _WRITE:
                if future.set_running_or_notify_cancel():
                    _run(future, fn, *args)
                continue
            group = [entry]
            while len(group) < WRITE_GROUP:
                try:
                    entry = self._queue.get_nowait()
                except queue.Empty:
                    break
                if entry[2] is not _WRITE:
                    held = entry
                    break
                group.append(entry)
            self._write_group(group)

    def _write_group(self, group: list[tuple[int, int, Any, Any, Any]]) -> None:
        live = [
            (args[0], future)
            for _, _, _, args, future in group
            if future.set_running_or_notify_cancel()
        ]
        try:
            outcomes = self._write_many([item for item, _ in live])
        except BaseException as exc:  # handed to whoever awaits the futures
            for _, future in live:
                future.set_exception(exc)
            return
        for (_, future), outcome in zip(live, outcomes, strict=True):
            future.set_result(outcome)


def _run(future: Future[T], fn: Callable[..., T], *args: Any) -> None:
    try:
        future.set_result(fn(*args))
    except BaseException as exc:  # handed to whoever awaits the future
        future.set_exception(exc)


class StoreWriter:
    """The store behind one thread, the sinks on it; also the fetcher's ``HostStore``."""

    def __init__(self, store: Backend, run_id: int, sinks: Sequence[Sink]) -> None:
        self.store = store
        self.run_id = run_id
        self.sinks = list(sinks)
        self.submitted = 0  # writes handed over so far
        self.completed = 0  # ... and written (counted on the database thread)
        self.weight_in_hand = 0  # :func:`weight` of the writes not yet reported
        self._thread = _DatabaseThread(lambda items: self._guard(self._write_many, items))
        self._writes: deque[tuple[PageWrite, asyncio.Future[SaveOutcome | None]]] = deque()
        self._side: list[asyncio.Future[Any]] = []
        # Reads of per-host state come from a second connection: they need only what
        # earlier runs committed (this run's hosts are in the fetcher's memory).
        self._reader = store.reader()
        self._closed = False
        self._fault: DatabaseFault | None = None  # the first, re-raised by later calls

    # -- the loop's side ------------------------------------------------------------------
    def call(self, fn: Callable[..., T], *args: Any, urgent: bool = False) -> asyncio.Future[T]:
        """Run ``fn(*args)`` on the database thread, after everything handed over before
        (``urgent``: before the writes still waiting)."""
        return asyncio.wrap_future(self._thread.submit(self._guard, fn, *args, urgent=urgent))

    def write(self, item: PageWrite) -> asyncio.Future[SaveOutcome | None]:
        self.submitted += 1
        self.weight_in_hand += weight(item)
        future = asyncio.wrap_future(self._thread.submit_write(item))
        self._writes.append((item, future))
        return future

    def claim(self, limit: int) -> asyncio.Future[tuple[list[FrontierRow], int]]:
        """Claim due rows ahead of the queued writes; also says how many writes were done
        by then (URLs those still to come enqueue are for the next claim)."""

        def claim() -> tuple[list[FrontierRow], int]:
            return self.store.claim(self.run_id, limit), self.completed

        return self.call(claim, urgent=True)

    def checkpoint_soon(self) -> None:
        """End the batch after what was handed over (a heartbeat: renews the run's lease)."""
        self._side.append(self.call(self.checkpoint))

    def backlog(self) -> int:
        return len(self._writes)

    def newest(self) -> asyncio.Future[SaveOutcome | None]:
        return self._writes[-1][1]

    def written(self) -> list[tuple[PageWrite, SaveOutcome | None]]:
        """The writes finished since the last call, oldest first; re-raises a failure."""
        out = []
        while self._writes and self._writes[0][1].done():
            item, future = self._writes.popleft()
            self.weight_in_hand -= weight(item)
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
            for sink in self.sinks:
                sink.close()
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
    def _guard(self, fn: Callable[..., T], *args: Any) -> T:
        if self._fault is not None:
            raise self._fault
        try:
            return fn(*args)
        except DatabaseFault as fault:
            self._fault = fault
            raise

    def _write_many(self, items: list[PageWrite]) -> list[SaveOutcome | None]:
        if not items:
            return []
        answers = [sink.write_many(items) for sink in self.sinks]
        if self.store.commit_due():
            self.checkpoint()
        self.completed += len(items)
        return [
            next((o for o in outcomes if o is not None), None)
            for outcomes in zip(*answers, strict=True)
        ]

    def checkpoint(self) -> None:
        """End the batch: the other sinks make their writes durable, then the database
        settles pingback verdicts, records the run's counters and commits."""
        # The database's commit comes last even when a sink runs before it (the archive).
        ordered = sorted(reversed(self.sinks), key=lambda sink: isinstance(sink, DatabaseSink))
        for sink in ordered:
            sink.flush()
