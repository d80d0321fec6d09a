"""Step 7 of the data flow: the crawl engine that joins frontier, fetch, extract and store.

One orchestrating loop (no worker pool to keep in sync): it claims due URLs from the
persistent frontier, starts a fetch for each host that has room (``per_host``) while
fewer than ``concurrency`` are in flight, and as each fetch finishes it extracts the
page, writes it with its comments and links, and enqueues what should be followed.
Per-host pacing, robots and retries live in the fetcher; this loop only decides what
runs next and when the run ends (frontier empty, ``max_pages``, ``max_runtime`` or a
stop request). Claimed work that never finished goes back to the queue.
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
from crawler.extract import Extraction, extract
from crawler.fetch import Fetcher, FetchResult
from crawler.frontier import plan_links, seed_entries
from crawler.runlock import RunLock
from crawler.urls import blog_of, comment_page_post, host_of
from db.graph import verify_pingbacks
from db.store import (
    CommentRecord,
    FrontierRow,
    LinkRecord,
    PageRecord,
    PageState,
    RunCounters,
    SaveOutcome,
    Store,
    iso_in,
)

PING_KINDS = frozenset({"pingback", "trackback"})
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
MIN_INTERVAL_FACTOR, MAX_INTERVAL_FACTOR = 0.25, 16.0  # adaptive recrawl bounds


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
        self._exhausted = False

    async def run(self, seeds: Iterable[str] = ()) -> RunSummary:
        started = time.monotonic()
        run_id = self.store.start_run(os.getpid())
        invalid = self._prepare(seeds)
        status = "crashed"
        try:
            async with Fetcher(self.config, transport=self.transport, host_store=self.store) as f:
                status = await self._loop(f, started)
            verify_pingbacks(self.store.db)
        finally:
            self.store.release_claimed()
            self.store.finish_run(run_id, status, self.counters)
        frontier = self.store.frontier_counts()
        elapsed = time.monotonic() - started
        return RunSummary(run_id, status, self.counters, frontier, elapsed, invalid)

    def _prepare(self, seeds: Iterable[str]) -> list[str]:
        self.store.release_claimed()
        entries, invalid = seed_entries(seeds)
        self.store.enqueue(entries)
        self.store.queue_due_recrawls()
        self.store.requeue_failed(TRANSIENT_ERRORS, MAX_ATTEMPTS)
        self.store.commit()
        return invalid

    # -- the loop ---------------------------------------------------------------------
    async def _loop(self, fetcher: Fetcher, started: float) -> str:
        limit = self.config.crawl.max_runtime_seconds
        deadline = started + limit if limit > 0 else None
        while True:
            if self.stop.is_set():
                await self._drain(grace=10.0)
                return "interrupted"
            if deadline is not None and time.monotonic() >= deadline:
                await self._drain(grace=10.0)
                return "ok"
            self._launch(fetcher)
            if not self._running and (not self._pending or self._budget_left() <= 0):
                return "ok"
            await self._wait_some(deadline)

    def _budget_left(self) -> int:
        return self.config.crawl.max_pages - self.counters.fetched - len(self._running)

    def _launch(self, fetcher: Fetcher) -> None:
        concurrency = self.config.politeness.concurrency
        per_host = self.config.politeness.per_host
        self._refill(concurrency)
        self._next_ready = None
        now = time.monotonic()
        for host in list(self._pending):
            queue = self._pending[host]
            while queue and self._active[host] < per_host:
                if len(self._running) >= concurrency or self._budget_left() <= 0:
                    return
                # A task started before the host's delay has passed would only sit in its
                # politeness slot, holding one of the `concurrency` places other hosts need.
                delay = fetcher.host_delay(host)
                ready = self._last_launch.get(host, -delay) + delay
                if delay and now < ready:
                    self._next_ready = min(self._next_ready or ready, ready)
                    break
                self._start(fetcher, queue.popleft(), now)
            if not queue:
                del self._pending[host]

    def _start(self, fetcher: Fetcher, row: FrontierRow, now: float) -> None:
        self._active[row.host] += 1
        self._last_launch[row.host] = now
        task = asyncio.create_task(
            fetcher.fetch(row.url, etag=row.etag, last_modified=row.last_modified)
        )
        self._running[task] = row

    def _refill(self, concurrency: int) -> None:
        """Claim more rows when few are waiting, or (now and then) when fewer hosts than
        ``concurrency`` have work here while the frontier may hold URLs of others."""
        if self._budget_left() <= 0:
            return
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
        rows = self.store.claim(max(concurrency * 4, 32))
        for row in rows:
            self._pending[row.host].append(row)

    async def _wait_some(self, deadline: float | None) -> None:
        stop_waiter = asyncio.create_task(self.stop.wait())
        wake = min((t for t in (deadline, self._next_ready) if t is not None), default=None)
        timeout = None if wake is None else max(0.0, wake - time.monotonic())
        done, _ = await asyncio.wait(
            [*self._running, stop_waiter], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        stop_waiter.cancel()
        for task in done:
            if task is not stop_waiter:
                self._finish(task)
        self.store.commit_if_due()

    async def _drain(self, grace: float) -> None:
        """Let in-flight fetches finish (up to ``grace`` seconds); the rest go back."""
        if self._running:
            done, not_done = await asyncio.wait(list(self._running), timeout=grace)
            for task in done:
                self._finish(task)
            for task in not_done:
                task.cancel()
            if not_done:
                await asyncio.gather(*not_done, return_exceptions=True)
            self._running.clear()
        self._pending.clear()
        self.store.commit()

    def _finish(self, task: asyncio.Task[FetchResult]) -> None:
        row = self._running.pop(task)
        self._active[row.host] -= 1
        result = task.result()
        outcome = self._record(row, result)
        self.on_page(PageEvent(row, result, outcome))

    # -- recording one result -------------------------------------------------------------
    def _record(self, row: FrontierRow, result: FetchResult) -> SaveOutcome | None:
        if result.error in RETRY_LATER:
            self.store.postpone(row.url, HOST_PAUSE_RETRY, result.error)
            return None
        if result.skip_reason:
            self.counters.skipped += 1
            self.store.finish(row.url, "skipped", result.skip_reason)
            return None
        self.counters.fetched += 1
        if result.status == 304:
            self.counters.not_modified += 1
            prior = self.store.page_state(row.url)
            self.store.mark_not_modified(row.url, *self._schedule(prior, changed=False))
            self.store.finish(row.url, "done")
            return None
        return self._store_page(row, result)

    def _store_page(self, row: FrontierRow, result: FetchResult) -> SaveOutcome:
        extraction = extract(result.text, result.final_url, result.headers) if result.text else None
        post_url = row.post_url or comment_page_post(row.url)
        page = self._page_record(row, result, extraction, post_url)
        owner = post_url or row.url
        comments = comment_records(owner, extraction)
        links = link_records(row.url, owner, extraction)
        digest = comments_digest(comments) if extraction else None
        prior = self.store.page_state(row.url)
        if page.is_post:
            changed = digest is not None and digest != prior.comments_hash
            page.next_fetch_at, page.recrawl_interval = self._schedule(prior, changed)
        fresh = extraction is not None and result.status == 200
        outcome = self.store.save_page(
            page, comments, links, digest, replace_links=fresh, prior=prior
        )
        if extraction is not None:
            entries = plan_links(row.url, row.depth, extraction, self.config, post_url)
            self.store.enqueue(entries)
            # New work for a host with nothing in hand: claim it soon, not a slot later.
            self._starving = self._starving or any(
                e.state == "queued" and e.host not in self._pending for e in entries
            )
        failed = result.error is not None or (result.status or 0) >= 400
        self.counters.failed += int(failed)
        self.counters.new_pages += int(outcome.new_page)
        self.counters.new_links += outcome.new_links
        self.counters.new_comments += outcome.new_comments
        self.store.finish(row.url, "failed" if failed else "done", _failure_reason(result))
        return outcome

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

    def _schedule(self, prior: PageState, changed: bool) -> tuple[str, float]:
        """When to visit a post again: sooner while its comments change, later when quiet."""
        base = self.config.crawl.recrawl_after_seconds
        previous = prior.recrawl_interval
        if previous is None:
            return iso_in(base), base
        interval = previous / 2 if changed else previous * 1.5
        interval = min(max(interval, base * MIN_INTERVAL_FACTOR), base * MAX_INTERVAL_FACTOR)
        return iso_in(interval), interval


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
    for link in extraction.links:
        # A pingback on post T from source S means "S links to T".
        src, dst = (link.dst, owner) if link.kind in PING_KINDS else (owner, link.dst)
        if src == dst:
            continue
        same = blog_of(src) == blog_of(dst)
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
