"""Step 7 of the data flow: the crawl engine that joins frontier, fetch, parse and sinks.

One orchestrating loop (no worker pool to keep in sync): it claims due URLs from the
persistent frontier (:mod:`db.backend`) and pushes them into the per-host slots
(:mod:`crawler.fetch.slots`), which own each host's queue, delay, pauses and in-flight
count and say which host is ready next and when. While fewer than ``concurrency`` are in
flight the loop starts the next ready host's URL; each task fetches it and turns the
answer into records with the parser chosen for it (:mod:`crawler.parsers`), one awaitable
call; the loop hands the result to the database thread and its sinks
(:mod:`crawler.writer`, :mod:`crawler.sinks`), which also answers the claims. The loop
ends the run (frontier empty, ``max_pages``, ``max_runtime`` or a stop request); claimed
work that never finished goes back to the queue.

Whatever one response does — an exception while fetching, parsing or building its
records — ends as a recorded error for that URL (``parse_error``, ``fetch_error``), never
as the end of the run. A database fault (:class:`db.store.DatabaseFault`) does end it: the
fetches in flight are cancelled, the run's claims returned and its row closed where the
database still allows, and the fault reaches the caller.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import httpx

from crawler.archive.sink import ArchiveSink
from crawler.blogs import run_blogs
from crawler.config import Config
from crawler.fetch.client import Fetcher, FetchResult
from crawler.fetch.slots import Slots
from crawler.frontier import reopen, seed_entries
from crawler.page_records import failure_reason, page_record
from crawler.parsers import Parsers, default_parsers
from crawler.parsing import PageParser, ParseFailure, ParseReason
from crawler.records import TRANSIENT_ERRORS, FrontierRow, RunCounters, SaveOutcome
from crawler.runlock import RunLock
from crawler.sinks import DatabaseSink, PageWrite, Sink
from crawler.urls import comment_page_post
from crawler.writer import StoreWriter
from db.backend import Backend
from db.blogs import defer_watched_posts
from db.store import RUN_LEASE, DatabaseFault, Store

log = logging.getLogger(__name__)

# Not the URL's fault: the host is paused or its robots.txt unreadable; ask again later.
RETRY_LATER = frozenset({"host_paused", "robots_unavailable"})
HOST_PAUSE_RETRY = 60.0  # seconds before such a URL is offered again (unless the slot knows)
# A host held off longer than this (a pause, a long Retry-After) gives its queued URLs
# back to the frontier, due when the hold-off ends, instead of keeping them (and the run).
HOLD_IN_MEMORY = 60.0
PARSE_ERROR = "parse_error"  # processing the answer raised: recorded, not offered again
FETCH_ERROR = "fetch_error"  # the fetcher itself raised
# Pages are parsed in worker processes (crawler/parsing.py): a page that would take the
# event loop for seconds only costs its worker, and the second core parses meanwhile.
PARSE_WORKERS = 1
PARSE_DEADLINE = 10.0  # seconds one page may take to parse
MAX_ATTEMPTS = 3  # claims of one URL that failed for a passing reason, over the runs
CLAIM_EVERY = 0.25  # seconds between claims made only to find work for idle hosts
CLAIM_SOON = 0.02  # ... or this, when a fetched page just gave such a host new work
HEARTBEAT = RUN_LEASE / 4  # seconds between commits (lease renewals) of an idle run
# Writes commit with the next write after COMMIT_INTERVAL; when none follows (the hosts
# left are slow), the loop commits them itself after this long, so that a kill -9 or a
# status reader sees them.
QUIET_COMMIT = 0.5
# Writes handed to the database thread and not yet reported hold their page text and
# records: at most this many, weighing at most this many characters in all.
WRITES_IN_HAND, WEIGHT_IN_HAND = 128, 32_000_000


@dataclass
class PageEvent:
    """One finished frontier URL, for progress displays and logs."""

    row: FrontierRow
    result: FetchResult
    outcome: SaveOutcome | None


@dataclass
class RunSummary:
    run_id: int
    status: str
    counters: RunCounters
    frontier: dict[str, int]
    elapsed: float
    invalid_seeds: list[str] = field(default_factory=list)

    def line(self) -> str:
        c = self.counters
        waiting = self.frontier.get("queued", 0)
        return (
            f"run {self.run_id} {self.status}: fetched {c.fetched}, failed {c.failed}, "
            f"skipped {c.skipped}, not modified {c.not_modified}, new pages {c.new_pages}, "
            f"new links {c.new_links}, new comments {c.new_comments}, queued {waiting}, "
            f"{self.elapsed:.1f}s"
        )


class Engine:
    """One crawl run over a store. Create, then ``await run(seeds)``.

    ``holding_lock``: the caller holds the database's run lock, so any other run still
    marked running is dead (otherwise only expired leases say so). ``parsers`` choose how
    each answer is read; ``sinks`` get every finished URL after the database.
    """

    def __init__(
        self,
        config: Config,
        store: Backend,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        on_page: Callable[[PageEvent], None] | None = None,
        stop: asyncio.Event | None = None,
        parsers: Parsers | None = None,
        sinks: Sequence[Sink] = (),
        holding_lock: bool = False,
    ) -> None:
        self.config = config
        self.store = store
        self.transport = transport
        self.on_page = on_page or (lambda event: None)
        self.stop = stop or asyncio.Event()
        self.parsers = parsers  # None: the default ones, with the run's page parser
        self._page_parser: PageParser | None = None
        self.sinks = list(sinks)
        self.holding_lock = holding_lock
        self.counters = RunCounters()
        self._running: dict[asyncio.Task[PageWrite], FrontierRow] = {}
        self._next_ready: float | None = None  # when the slots have a host ready next
        self._claim_wake: float | None = None  # when a claim put off for now is due
        self._new_work: asyncio.Future[Any] | None = None  # the last write adding such work
        self._last_claim = 0.0
        self._last_beat = time.monotonic()
        self._beat_writes = 0  # writes handed over at the last checkpoint asked for
        self._slots: Slots | None = None
        self._starving = False
        self._claim: asyncio.Future[tuple[list[FrontierRow], int]] | None = None
        self._empty_at: int | None = None  # writes done when a claim came back empty

    async def run(self, seeds: Iterable[str] = ()) -> RunSummary:
        started = time.monotonic()
        invalid = self._prepare(seeds)
        run_id = self.store.start_run(os.getpid())
        status = "crashed"
        database = DatabaseSink(
            self.store, run_id, self.counters, self.config.crawl.recrawl_after_seconds
        )
        writer = StoreWriter(self.store, run_id, [*self._archive(run_id), database, *self.sinks])
        try:
            async with (
                PageParser(PARSE_WORKERS, PARSE_DEADLINE) as pages,
                Fetcher(self.config, transport=self.transport, host_store=writer) as f,
            ):
                self._page_parser = pages
                if self.parsers is None:
                    self.parsers = default_parsers(self.config, pages.run)
                try:
                    if isinstance(self.store, Store):  # whole blogs: discovery and watch
                        limit = self.config.crawl.max_runtime_seconds
                        deadline = started + limit if limit > 0 else None
                        await run_blogs(self.config, f, writer, self.stop, deadline)
                    status = await self._loop(f, writer, started)
                finally:
                    await self._cancel_running()  # before the client closes under them
            await self._settle(writer)
            writer.close()
            # Pingbacks left without a verdict by an older version or a killed run.
            self.store.verify_pingbacks(None, unknown_only=True)
        except BaseException as exc:
            writer.close()
            self._abandon(run_id, fault=isinstance(exc, DatabaseFault))
            raise
        finally:
            writer.close()  # from here on the store is used from this thread only
        self.store.finish_run(run_id, status, self.counters)
        frontier = self.store.frontier_counts()
        elapsed = time.monotonic() - started
        return RunSummary(run_id, status, self.counters, frontier, elapsed, invalid)

    def _archive(self, run_id: int) -> list[Sink]:
        """The WARC sink when ``[archive] warc_dir`` is set: it runs before the database so
        ``fetches`` rows can name their records."""
        if not self.config.archive.warc_dir:
            return []
        try:
            return [ArchiveSink.open(self.config, self.store, run_id, self.counters)]
        except BaseException:
            self.store.finish_run(run_id, "crashed", self.counters)
            raise

    def _prepare(self, seeds: Iterable[str]) -> list[str]:
        self.store.end_dead_runs(holding_lock=self.holding_lock)
        entries, invalid = seed_entries(seeds)
        self.store.enqueue(entries)
        reopen(self.store, self.config)  # what changed settings no longer refuse
        if isinstance(self.store, Store):  # watched blogs' posts wait for sweep_after
            defer_watched_posts(self.store.conn, self.config.crawl.sweep_after_seconds)
        self.store.queue_due_recrawls()
        self.store.requeue_failed(TRANSIENT_ERRORS, MAX_ATTEMPTS)
        self.store.commit()
        return invalid

    def _abandon(self, run_id: int, fault: bool) -> None:
        """The run failed: return its claims and close its row as ``crashed`` if the
        database still allows it. After a database fault the open batch is dropped (what
        was committed stays; a later run redoes the rest)."""
        if fault:
            self.store.rollback()
        with suppress(DatabaseFault):
            self.store.finish_run(run_id, "crashed", self.counters)

    # -- the loop ---------------------------------------------------------------------
    async def _loop(self, fetcher: Fetcher, writer: StoreWriter, started: float) -> str:
        limit = self.config.crawl.max_runtime_seconds
        deadline = started + limit if limit > 0 else None
        slots = self._slots = fetcher.slots
        while True:
            if self.stop.is_set():
                await self._stop_parsing()  # a page being parsed must not hold up the stop
                await self._drain(writer, slots, grace=10.0)
                return "interrupted"
            if deadline is not None and time.monotonic() >= deadline:
                await self._drain(writer, slots, grace=10.0)
                return "ok"
            self._take_claim(writer, slots)
            self._report(writer)
            self._heartbeat(writer)
            self._give_back_held(writer, slots)
            self._launch(fetcher, writer)
            if self._finished(writer, slots):
                return "ok"
            await self._wait_some(writer, deadline)

    def _finished(self, writer: StoreWriter, slots: Slots) -> bool:
        if self._running:
            return False
        if self._budget_left() <= 0:
            return True
        # Nothing left only when a claim that saw every write handed over came back empty.
        return not slots.queued() and self._claim is None and self._empty_at == writer.submitted

    def _budget_left(self) -> int:
        return self.config.crawl.max_pages - self.counters.fetched - len(self._running)

    def _launch(self, fetcher: Fetcher, writer: StoreWriter) -> None:
        """Start the URLs of the hosts the slots say are ready, while there is room."""
        concurrency = self.config.politeness.concurrency
        slots = fetcher.slots
        self._refill(writer, slots, concurrency)
        now = time.monotonic()
        for host in slots.ready_hosts(now):
            while slots.can_take(host, now):
                if len(self._running) >= concurrency or self._budget_left() <= 0:
                    self._next_ready = None  # a finished task wakes the loop
                    return
                row: FrontierRow = slots.take(host, now)
                task = asyncio.create_task(self._handle(fetcher, row))
                self._running[task] = row
        self._next_ready = slots.next_ready()

    def _refill(self, writer: StoreWriter, slots: Slots, concurrency: int) -> None:
        """Ask for more rows when few are waiting, or (now and then) when fewer hosts than
        ``concurrency`` have work here while the frontier may hold URLs of others."""
        self._claim_wake = None
        if self._claim is not None or self._budget_left() <= 0:
            return
        now = time.monotonic()
        since = now - self._last_claim
        if self._empty_at == writer.completed and since < CLAIM_EVERY:
            # Nothing was due at the last claim and no write since added any: look again
            # a little later (URLs postponed for a short while may be due by then).
            self._claim_wake = self._last_claim + CLAIM_EVERY
            return
        waiting = slots.queued()
        if waiting >= concurrency * 4:
            return
        if waiting >= concurrency:
            if slots.hosts_with_work() >= concurrency:
                return
            pause = CLAIM_SOON if self._starving else CLAIM_EVERY
            if since <= pause:
                self._claim_wake = self._last_claim + pause
                return
        self._last_claim = now
        self._starving = False
        self._claim = writer.claim(max(concurrency * 4, 32))

    def _take_claim(self, writer: StoreWriter, slots: Slots) -> None:
        if self._claim is None or not self._claim.done():
            return
        (rows, written), self._claim = self._claim.result(), None
        for row in rows:
            slots.push(row.host, [row])
        self._empty_at = None if rows else written

    def _give_back_held(self, writer: StoreWriter, slots: Slots) -> None:
        """Queued URLs of a host held off for long (paused) go back to the frontier."""
        for host in slots.held_hosts(HOLD_IN_MEMORY):
            retry_in = slots.held_for(host)
            for row in slots.drain(host):
                result = FetchResult(row.url, row.url, error="host_paused")
                writer.write(PageWrite(row, result, "postpone", "host_paused", retry_in=retry_in))

    def _heartbeat(self, writer: StoreWriter) -> None:
        """Renew the run's lease (and write its counters) when no commit came for a while."""
        now = time.monotonic()
        quiet = now - self._last_beat >= QUIET_COMMIT and writer.submitted != self._beat_writes
        if quiet or now - self._last_beat >= HEARTBEAT:
            self._last_beat = now
            self._beat_writes = writer.submitted
            writer.checkpoint_soon()

    async def _wait_some(self, writer: StoreWriter, deadline: float | None) -> None:
        stop_waiter = asyncio.create_task(self.stop.wait())
        waiters: list[asyncio.Future[Any]] = [*self._running, stop_waiter]
        if self._claim is not None:
            waiters.append(self._claim)
        if self._new_work is not None and not self._new_work.done():
            # It enqueues work for a host with none here: do not wait for a slow fetch.
            waiters.append(self._new_work)
        done, _ = await asyncio.wait(
            waiters, timeout=self._timeout(deadline, writer), return_when=asyncio.FIRST_COMPLETED
        )
        stop_waiter.cancel()
        for task in done:
            if task in self._running:
                self._finish(task, writer)
        if writer.backlog() > WRITES_IN_HAND or writer.weight_in_hand > WEIGHT_IN_HAND:
            await writer.settle(min(WRITES_IN_HAND, writer.backlog() // 2))
            self._report(writer)

    def _timeout(self, deadline: float | None, writer: StoreWriter) -> float:
        """Seconds until something but a finished task or write needs the loop."""
        now = time.monotonic()
        beat = QUIET_COMMIT if writer.submitted != self._beat_writes else HEARTBEAT
        wakes = [self._last_beat + beat, deadline, self._next_ready, self._claim_wake]
        return max(0.0, min(t for t in wakes if t is not None) - now)

    async def _drain(self, writer: StoreWriter, slots: Slots, grace: float) -> None:
        """Let in-flight fetches finish (up to ``grace`` seconds); the rest go back."""
        if self._running:
            done, _not_done = await asyncio.wait(list(self._running), timeout=grace)
            for task in done:
                self._finish(task, writer)
            await self._cancel_running()
        slots.drain()
        if self._claim is not None:
            await asyncio.wait([self._claim])  # its rows go back with the run's claims

    async def _stop_parsing(self) -> None:
        """Kill the page parser's workers: the pages they held go back to the queue."""
        if self._page_parser is not None:
            await self._page_parser.close()

    async def _cancel_running(self) -> None:
        """Stop the fetches still in flight; their URLs stay claimed until released."""
        tasks = list(self._running)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._running.clear()

    async def _settle(self, writer: StoreWriter) -> None:
        """Wait for every write handed over, report them, commit."""
        await writer.settle()
        self._report(writer)
        await writer.call(writer.checkpoint)

    def _report(self, writer: StoreWriter) -> None:
        for item, outcome in writer.written():
            if outcome is not None:
                self.counters.new_pages += int(outcome.new_page)
                self.counters.new_links += outcome.new_links
                self.counters.new_comments += outcome.new_comments
            # New work for a host with nothing in hand: claim it soon, not a slot later.
            self._starving = self._starving or self._brings_new_hosts(item)
            self.on_page(PageEvent(item.row, item.result, outcome))

    def _finish(self, task: asyncio.Task[PageWrite], writer: StoreWriter) -> None:
        row = self._running.pop(task)
        try:
            item = task.result()
        except DatabaseFault:
            raise
        except Exception as exc:  # _handle records its own trouble; this is a last net
            item = self._poisoned(row, FetchResult(row.url, row.url), exc)
        written = writer.write(item)
        if self._brings_new_hosts(item):
            self._new_work = written

    def _brings_new_hosts(self, item: PageWrite) -> bool:
        """Whether ``item`` enqueues work for a host with none queued here."""
        slots = self._slots
        return any(
            e.state == "queued" and (slots is None or not slots.has_work(e.host))
            for e in item.entries
        )

    # -- one URL: fetch, then read the answer -------------------------------------------
    async def _handle(self, fetcher: Fetcher, row: FrontierRow) -> PageWrite:
        """Fetch ``row`` and prepare its write; any trouble becomes a recorded error."""
        try:
            result = await fetcher.fetch(row.url, etag=row.etag, last_modified=row.last_modified)
        except DatabaseFault:  # host state could not be read: the run's trouble, not the URL's
            raise
        except Exception as exc:
            log.warning("%s %s: %s: %s", FETCH_ERROR, row.url, type(exc).__name__, exc)
            result = FetchResult(row.url, row.url, error=FETCH_ERROR)
        finally:
            fetcher.slots.done(row.host)
        try:
            return await self._process(row, result, fetcher.slots)
        except DatabaseFault:
            raise
        except ParseFailure as failure:
            if failure.reason == ParseReason.CLOSED:  # the run is stopping: ask again later
                return PageWrite(row, result, "postpone", failure.reason, retry_in=0.0)
            return self._poisoned(row, result, failure, failure.reason)
        except Exception as exc:
            return self._poisoned(row, result, exc)

    async def _process(self, row: FrontierRow, result: FetchResult, slots: Slots) -> PageWrite:
        if result.error in RETRY_LATER:
            retry_in = slots.held_for(row.host) or HOST_PAUSE_RETRY
            return PageWrite(row, result, "postpone", result.error, retry_in=retry_in)
        if result.skip_reason:
            self.counters.skipped += 1
            return PageWrite(row, result, "skip", result.skip_reason)
        if result.status == 304:
            self.counters.fetched += 1
            self.counters.not_modified += 1
            return PageWrite(row, result, "not_modified")
        assert self.parsers is not None, "set when the run starts"
        parsed = await self.parsers.choose(row, result)(row, result)
        failed = result.error is not None or (result.status or 0) >= 400
        self.counters.fetched += 1
        self.counters.failed += int(failed)
        item = PageWrite(row, result, "page", failure_reason(result), failed=failed)
        item.page, item.comments, item.links = parsed.page, parsed.comments, parsed.links
        item.entries, item.digest, item.fresh = parsed.entries, parsed.digest, parsed.fresh
        return item

    def _poisoned(
        self, row: FrontierRow, result: FetchResult, exc: Exception, reason: str = PARSE_ERROR
    ) -> PageWrite:
        """The answer could not be read: store the page as failed with ``reason``
        (``parse_error``, or the page parser's ``parse_timeout`` / ``too_complex``)."""
        log.warning("%s %s: %s: %s", reason, row.url, type(exc).__name__, exc)
        self.counters.fetched += 1
        self.counters.failed += 1
        result.text = None  # whatever broke the parser is not stored either
        result.error = reason
        page = page_record(row, result, None, row.post_url or comment_page_post(row.url))
        return PageWrite(row, result, "page", reason, page=page, failed=True)


async def crawl_async(
    config: Config,
    seeds: Iterable[str] = (),
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    on_page: Callable[[PageEvent], None] | None = None,
    stop: asyncio.Event | None = None,
    parsers: Parsers | None = None,
    sinks: Sequence[Sink] = (),
) -> RunSummary:
    """Run one crawl into ``config.crawl.database`` while holding its run lock."""
    with RunLock(config.crawl.database):
        store = Store.open(config.crawl.database)
        engine = Engine(
            config,
            store,
            transport=transport,
            on_page=on_page,
            stop=stop,
            parsers=parsers,
            sinks=sinks,
            holding_lock=True,
        )
        try:
            summary = await engine.run([*config.crawl.seeds, *seeds])
        except BaseException:
            with suppress(DatabaseFault):  # the trouble already on its way up says more
                store.close()
            raise
        store.close()
        return summary


def crawl(config: Config, seeds: Iterable[str] = (), **options: object) -> RunSummary:
    """Synchronous face of :func:`crawl_async`, for scripts and tests."""
    return asyncio.run(crawl_async(config, seeds, **options))  # type: ignore[arg-type]
