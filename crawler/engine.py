"""Step 7 of the data flow: the crawl engine that joins frontier, fetch, extract and store.

One orchestrating loop (no worker pool to keep in sync): it claims due URLs from the
persistent frontier, starts a fetch for each host that has room (``per_host``) while
fewer than ``concurrency`` are in flight, and as each fetch finishes it extracts the
page and hands it, with its comments, links and the URLs to follow, to the database
thread (:mod:`crawler.writer`), which also answers the claims. Per-host pacing, robots
and retries live in the fetcher; this loop only decides what runs next and when the run
ends (frontier empty, ``max_pages``, ``max_runtime`` or a stop request). Claimed work
that never finished goes back to the queue.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import httpx

from crawler.config import Config
from crawler.extract.page import Extraction, extract
from crawler.fetch.client import Fetcher, FetchResult
from crawler.frontier import plan_links, reopen, seed_entries
from crawler.records import (
    PING_KINDS,
    CommentRecord,
    FrontierRow,
    LinkRecord,
    PageRecord,
    RunCounters,
    SaveOutcome,
)
from crawler.runlock import RunLock
from crawler.urls import blog_of, comment_page_post, host_of
from crawler.writer import PageWrite, StoreWriter
from db.graph import verify_pingbacks
from db.store import Store

# Not the URL's fault: the host is paused or its robots.txt unreadable; ask again later.
RETRY_LATER = frozenset({"host_paused", "robots_unavailable"})
HOST_PAUSE_RETRY = 60.0  # seconds before a URL of a paused host is offered again
# Failures worth another try on a later run, up to MAX_ATTEMPTS claims of one URL.
TRANSIENT_ERRORS = (
    "timeout",
    "connection_error",
    "connection_reset",
    "proxy_error",
    "http_429",
    "http_500",
    "http_502",
    "http_503",
    "http_504",
)
MAX_ATTEMPTS = 3
CLAIM_EVERY = 0.25  # seconds between claims made only to find work for idle hosts
CLAIM_SOON = 0.02  # ... or this, when a fetched page just gave such a host new work
# Pages handed to the database thread and not yet written hold their text: at most this
# many, and this many characters in all (a few 5 MB pages must not pile up).
WRITES_IN_HAND, TEXT_IN_HAND = 128, 32_000_000
LAUNCH_LEAD = 0.05  # seconds before its host's turn that a fetch may start


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
    """One crawl run over a store. Create, then ``await run(seeds)``."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        on_page: Callable[[PageEvent], None] | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.transport = transport
        self.on_page = on_page or (lambda event: None)
        self.stop = stop or asyncio.Event()
        self.counters = RunCounters()
        self._pending: dict[str, deque[FrontierRow]] = defaultdict(deque)
        self._active: dict[str, int] = defaultdict(int)
        self._running: dict[asyncio.Task[FetchResult], FrontierRow] = {}
        self._last_launch: dict[str, float] = {}
        self._next_ready: float | None = None
        self._last_claim = 0.0
        self._starving = False
        self._claim: asyncio.Future[tuple[list[FrontierRow], int]] | None = None
        self._empty_at: int | None = None  # writes done when a claim came back empty

    async def run(self, seeds: Iterable[str] = ()) -> RunSummary:
        started = time.monotonic()
        run_id = self.store.start_run(os.getpid())
        invalid = self._prepare(seeds)
        status = "crashed"
        writer = StoreWriter(self.store, self.config.crawl.recrawl_after_seconds)
        try:
            async with Fetcher(self.config, transport=self.transport, host_store=writer) as f:
                status = await self._loop(f, writer, started)
            await self._settle(writer)
            writer.close()
            # Pingbacks left without a verdict by an older version or a killed run.
            verify_pingbacks(self.store.db, unknown_only=True)
        finally:
            writer.close()  # from here on the store is used from this thread only
            self.store.release_claimed()
            self.store.finish_run(run_id, status, self.counters)
        frontier = self.store.frontier_counts()
        elapsed = time.monotonic() - started
        return RunSummary(run_id, status, self.counters, frontier, elapsed, invalid)

    def _prepare(self, seeds: Iterable[str]) -> list[str]:
        self.store.release_claimed()
        entries, invalid = seed_entries(seeds)
        self.store.enqueue(entries)
        reopen(self.store, self.config)  # what changed settings no longer refuse
        self.store.queue_due_recrawls()
        self.store.requeue_failed(TRANSIENT_ERRORS, MAX_ATTEMPTS)
        self.store.commit()
        return invalid

    # -- the loop ---------------------------------------------------------------------
    async def _loop(self, fetcher: Fetcher, writer: StoreWriter, started: float) -> str:
        limit = self.config.crawl.max_runtime_seconds
        deadline = started + limit if limit > 0 else None
        while True:
            if self.stop.is_set():
                await self._drain(writer, grace=10.0)
                return "interrupted"
            if deadline is not None and time.monotonic() >= deadline:
                await self._drain(writer, grace=10.0)
                return "ok"
            self._take_claim(writer)
            self._report(writer)
            self._launch(fetcher, writer)
            if self._finished(writer):
                return "ok"
            await self._wait_some(writer, deadline)

    def _finished(self, writer: StoreWriter) -> bool:
        if self._running:
            return False
        if self._budget_left() <= 0:
            return True
        # Nothing left only when a claim that saw every write handed over came back empty.
        return not self._pending and self._claim is None and self._empty_at == writer.submitted

    def _budget_left(self) -> int:
        return self.config.crawl.max_pages - self.counters.fetched - len(self._running)

    def _launch(self, fetcher: Fetcher, writer: StoreWriter) -> None:
        concurrency = self.config.politeness.concurrency
        per_host = self.config.politeness.per_host
        self._refill(writer, concurrency)
        self._next_ready = None
        now = time.monotonic()
        for host in list(self._pending):
            queue = self._pending[host]
            while queue and self._active[host] < per_host:
                if len(self._running) >= concurrency or self._budget_left() <= 0:
                    return
                # A task started long before the host's delay has passed would only sit in
                # its politeness slot, holding one of the `concurrency` places other hosts
                # need; one started a little early has its checks done and goes out on time.
                delay = fetcher.host_delay(host)
                lead = min(LAUNCH_LEAD, delay / 2)
                ready = self._last_launch.get(host, -delay) + delay - lead
                if delay and now < ready:
                    self._next_ready = min(self._next_ready or ready, ready)
                    break
                self._start(fetcher, queue.popleft(), max(now, ready + lead))
            if not queue:
                del self._pending[host]
            elif self._active[host]:
                # Round robin: when `concurrency` runs out, other hosts come first next time.
                self._pending[host] = self._pending.pop(host)

    def _start(self, fetcher: Fetcher, row: FrontierRow, turn: float) -> None:
        """Start fetching ``row``; ``turn`` is when its host's delay lets it go out."""
        self._active[row.host] += 1
        self._last_launch[row.host] = turn
        task = asyncio.create_task(
            fetcher.fetch(row.url, etag=row.etag, last_modified=row.last_modified)
        )
        self._running[task] = row

    def _refill(self, writer: StoreWriter, concurrency: int) -> None:
        """Ask for more rows when few are waiting, or (now and then) when fewer hosts than
        ``concurrency`` have work here while the frontier may hold URLs of others."""
        if self._claim is not None or self._budget_left() <= 0:
            return
        if self._empty_at == writer.completed:
            return  # nothing due at the last claim; wait for writes that may add some
        waiting = sum(len(q) for q in self._pending.values())
        now = time.monotonic()
        since = now - self._last_claim
        few_hosts = len(self._pending) < concurrency and (
            since > CLAIM_EVERY or (self._starving and since > CLAIM_SOON)
        )
        if waiting >= concurrency * 4 or (waiting >= concurrency and not few_hosts):
            return
        self._last_claim = now
        self._starving = False
        self._claim = writer.claim(max(concurrency * 4, 32))

    def _take_claim(self, writer: StoreWriter) -> None:
        if self._claim is None or not self._claim.done():
            return
        (rows, written), self._claim = self._claim.result(), None
        for row in rows:
            self._pending[row.host].append(row)
        self._empty_at = None if rows else written

    async def _wait_some(self, writer: StoreWriter, deadline: float | None) -> None:
        stop_waiter = asyncio.create_task(self.stop.wait())
        waiters: list[asyncio.Future[object]] = [*self._running, stop_waiter]
        if self._claim is not None:
            waiters.append(self._claim)  # type: ignore[arg-type]
        elif not self._running and not self._pending and writer.backlog():
            waiters.append(writer.newest())  # what it enqueues may be the work left
        wake = min((t for t in (deadline, self._next_ready) if t is not None), default=None)
        timeout = None if wake is None else max(0.0, wake - time.monotonic())
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        stop_waiter.cancel()
        for task in done:
            if task in self._running:
                self._finish(task, writer)  # type: ignore[arg-type]
        if writer.backlog() > WRITES_IN_HAND or writer.text_in_hand > TEXT_IN_HAND:
            await writer.settle(min(WRITES_IN_HAND, writer.backlog() // 2))
            self._report(writer)

    async def _drain(self, writer: StoreWriter, grace: float) -> None:
        """Let in-flight fetches finish (up to ``grace`` seconds); the rest go back."""
        if self._running:
            done, not_done = await asyncio.wait(list(self._running), timeout=grace)
            for task in done:
                self._finish(task, writer)
            for task in not_done:
                task.cancel()
            if not_done:
                await asyncio.gather(*not_done, return_exceptions=True)
            self._running.clear()
        self._pending.clear()
        if self._claim is not None:
            await asyncio.wait([self._claim])  # its rows go back with release_claimed

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
            self._starving = self._starving or any(
                e.state == "queued" and e.host not in self._pending for e in item.entries
            )
            self.on_page(PageEvent(item.row, item.result, outcome))

    def _finish(self, task: asyncio.Task[FetchResult], writer: StoreWriter) -> None:
        row = self._running.pop(task)
        self._active[row.host] -= 1
        item = self._classify(row, task.result())
        if item.action == "page":
            self._fill_page(item)
        writer.write(item)

    # -- preparing one result's write -------------------------------------------------------
    def _classify(self, row: FrontierRow, result: FetchResult) -> PageWrite:
        if result.error in RETRY_LATER:
            return PageWrite(row, result, "postpone", result.error, retry_in=HOST_PAUSE_RETRY)
        if result.skip_reason:
            self.counters.skipped += 1
            return PageWrite(row, result, "skip", result.skip_reason)
        self.counters.fetched += 1
        if result.status == 304:
            self.counters.not_modified += 1
            return PageWrite(row, result, "not_modified")
        failed = result.error is not None or (result.status or 0) >= 400
        self.counters.failed += int(failed)
        return PageWrite(row, result, "page", _failure_reason(result), failed=failed)

    def _fill_page(self, item: PageWrite) -> None:
        """Extract the page and turn it into records for the store."""
        row, result = item.row, item.result
        extraction = extract(result.text, result.final_url, result.headers) if result.text else None
        post_url = row.post_url or comment_page_post(row.url)
        owner = post_url or row.url
        item.page = self._page_record(row, result, extraction, post_url)
        item.comments = comment_records(owner, extraction)
        item.links = link_records(row.url, owner, extraction)
        if extraction is not None:
            item.digest = comments_digest(item.comments)
            item.fresh = result.status == 200
            item.entries = plan_links(row.url, row.depth, extraction, self.config, post_url)

    def _page_record(
        self,
        row: FrontierRow,
        result: FetchResult,
        extraction: Extraction | None,
        post_url: str | None,
    ) -> PageRecord:
        page = PageRecord(
            url=row.url,
            final_url=result.final_url,
            host=host_of(row.url),
            blog=blog_of(row.url),
            depth=row.depth,
            status=result.status,
            content_type=result.content_type,
            error=_failure_reason(result),
            etag=result.etag,
            last_modified=result.last_modified,
            size=result.size,
            html=result.text,
            post_url=post_url,
        )
        if extraction is not None:
            page.title = extraction.title
            page.is_post = extraction.is_post and post_url is None
            page.published = extraction.published
            page.author = extraction.author
            page.text = extraction.text
            page.canonical = extraction.canonical
            page.pingback_endpoint = extraction.pingback_endpoint
            page.webmention_endpoint = extraction.webmention_endpoint
            page.feeds = extraction.feeds
        return page


def comment_records(owner: str, extraction: Extraction | None) -> list[CommentRecord]:
    """The comments of a page as store records, attached to their post ``owner``."""
    if extraction is None:
        return []
    return [
        CommentRecord(
            owner,
            c.kind,
            c.comment_id,
            c.author,
            c.author_url,
            c.published,
            c.text,
            c.source_url,
            c.source_title,
        )
        for c in extraction.comments
    ]


def link_records(url: str, owner: str, extraction: Extraction | None) -> list[LinkRecord]:
    """The links found on ``url`` as graph edges; ``owner`` is the post it belongs to."""
    if extraction is None:
        return []
    records = []
    owner_blog = blog_of(owner)  # one end of every edge is the owner
    for link in extraction.links:
        if link.dst == owner:
            continue
        # A pingback on post T from source S means "S links to T".
        src, dst = (link.dst, owner) if link.kind in PING_KINDS else (owner, link.dst)
        same = blog_of(link.dst) == owner_blog
        records.append(LinkRecord(src, dst, link.kind, url, link.anchor, link.rel, same))
    return records


def _failure_reason(result: FetchResult) -> str | None:
    if result.error:
        return result.error
    if result.status is not None and result.status >= 400:
        return f"http_{result.status}"
    return None


def comments_digest(comments: list[CommentRecord]) -> str:
    return hashlib.sha1("\n".join(sorted(c.id for c in comments)).encode()).hexdigest()


async def crawl_async(
    config: Config,
    seeds: Iterable[str] = (),
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    on_page: Callable[[PageEvent], None] | None = None,
    stop: asyncio.Event | None = None,
) -> RunSummary:
    """Run one crawl into ``config.crawl.database`` while holding its run lock."""
    with RunLock(config.crawl.database):
        store = Store.open(config.crawl.database)
        try:
            engine = Engine(config, store, transport=transport, on_page=on_page, stop=stop)
            return await engine.run([*config.crawl.seeds, *seeds])
        finally:
            store.close()


def crawl(config: Config, seeds: Iterable[str] = (), **options: object) -> RunSummary:
    """Synchronous face of :func:`crawl_async`, for scripts and tests."""
    return asyncio.run(crawl_async(config, seeds, **options))  # type: ignore[arg-type]
