"""Whole blogs (issue 13): discovery of every post, and the nightly watch, in the run.

At the start of a run, inside the run's own :class:`~crawler.fetch.client.Fetcher` (so
every listing request obeys robots.txt, the per-host slot's delay, the safety checks and
the byte limit), each blog of ``crawl.blogs`` / ``--blog`` and each blog already in the
``blogs`` table is visited:

- **never read in full**: its front page and robots.txt say what it advertises; the
  :class:`~crawler.discover.BlogDiscovery` plan is walked step by step, cheapest first;
  every listed post enters the frontier at depth 0 (kind ``listed``), every listed
  non-post is recorded as ``skipped`` with its reason, every listing URL as a frontier
  row of kind ``listing_<kind>`` (``done``, or ``skipped`` with the listing's error);
- **due for a check** (``recrawl_after`` since the last one): a conditional GET of its
  comment feed and of its post listing. A 304 is "nothing new". A changed comment feed
  queues the posts it names, the last comment page first; a changed listing queues the
  posts not yet known; a feed that no longer reaches back to the last check queues a
  sweep of all the blog's posts.

Posts of a blog watched through a comment feed are otherwise re-fetched every
``sweep_after`` (:func:`db.blogs.defer_watched_posts`); blogs without a usable comment
feed keep the per-post recrawl. The engine then crawls the frontier as usual.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from crawler.config import Config
from crawler.discover import (
    BlogDiscovery,
    Failure,
    Listing,
    ListingKind,
    Step,
    comment_news,
    find_advertised,
    may_have_missed,
    parse_listing,
)
from crawler.fetch.client import Fetcher, FetchResult
from crawler.frontier import COMMENT_PAGE_KIND
from crawler.records import FrontierEntry, http_reason, iso
from crawler.urls import blog_of, host_of, normalize_url
from crawler.writer import StoreWriter
from db import blogs as blogs_db
from db.store import DatabaseFault

log = logging.getLogger(__name__)

LISTED_KIND = "listed"  # frontier kind of a post a listing named
# Sitemaps may be 50 MB (the protocol's limit); pages keep http.max_bytes.
LISTING_MAX_BYTES = 50 * 1024 * 1024


def blog_homes(urls: Iterable[str]) -> tuple[list[str], list[str]]:
    """Normalised blog front pages (one per blog, order kept) and the ones that are not URLs."""
    homes: dict[str, str] = {}
    invalid: list[str] = []
    for raw in urls:
        url = normalize_url(raw.strip())
        if url is None:
            invalid.append(raw)
        else:
            homes.setdefault(blog_of(url), url)
    return list(homes.values()), invalid


async def run_blogs(
    config: Config,
    fetcher: Fetcher,
    writer: StoreWriter,
    stop: asyncio.Event,
    deadline: float | None,
) -> None:
    """:meth:`BlogRun.run`, ended early by a stop request or ``max_runtime`` (``deadline``,
    monotonic): a blog not finished is discovered or checked again by the next run."""
    work = asyncio.create_task(BlogRun(config, fetcher, writer).run())
    stopping = asyncio.create_task(stop.wait())
    timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
    try:
        await asyncio.wait({work, stopping}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not work.done():
            work.cancel()
            with suppress(asyncio.CancelledError):
                await work
    if not work.cancelled():
        work.result()  # a database fault ends the run, as anywhere


@dataclass
class _Answer:
    """A listing request's outcome: a parsed listing, 'not modified', or a failure."""

    result: FetchResult
    listing: Listing | None = None
    failure: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.result.status == 304


@dataclass
class _Validators:
    by_url: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)


class BlogRun:
    """Discovery and watch of every blog of one run (see the module docstring)."""

    def __init__(self, config: Config, fetcher: Fetcher, writer: StoreWriter) -> None:
        self.config = config
        self.fetcher = fetcher
        self.writer = writer
        self.store: Any = writer.store

    async def run(self) -> None:
        homes, _ = blog_homes(self.config.crawl.blogs)
        known = await self._sql(blogs_db.load_blogs)
        for row in known.values():
            if all(blog_of(h) != row.blog for h in homes):
                homes.append(row.home)
        now = time.time()
        every = self.config.crawl.recrawl_after_seconds
        await asyncio.gather(
            *(self._visit(home, known.get(blog_of(home)), every, now) for home in homes)
        )

    async def _visit(
        self, home: str, row: blogs_db.BlogRow | None, every: float, now: float
    ) -> None:
        """Discover or check one blog; its trouble is logged, the run goes on (a fault of
        the database itself ends the run, as anywhere)."""
        try:
            await self._visit_one(home, row, every, now)
        except DatabaseFault:
            raise
        except Exception as exc:
            log.warning("blog %s: %s: %s", home, type(exc).__name__, exc)

    async def _visit_one(
        self, home: str, row: blogs_db.BlogRow | None, every: float, now: float
    ) -> None:
        if row is None or row.discovered_at is None:
            await self.discover(home)
        elif row.posts_listed == 0 and row.due(every, now):
            await self.discover(home)  # nothing answered last time (down, or a bad listing)
        elif row.watched and row.due(every, now):
            await self.check(row)

    # -- discovery ----------------------------------------------------------------------
    async def discover(self, home: str) -> None:
        front = await self.fetcher.fetch(home)
        body = front.body or (front.text or "").encode()
        advertised = find_advertised(body, front.final_url, front.headers) if front.ok else None
        discovery = BlogDiscovery(home, advertised, await self._robots_sitemaps(home))
        validators = _Validators()
        while (step := discovery.next_step()) is not None:
            answer = await self._ask(step)
            validators.by_url[step.url] = (answer.result.etag, answer.result.last_modified)
            discovery.record(step, answer.listing if answer.listing else answer.failure or "")
            await self._record_listing(step, answer)
        await self._enqueue_discovered(discovery)
        await self._sql(blogs_db.save_blog, _blog_row(home, discovery, validators))
        log.info("blog %s: %d posts listed", home, len(discovery.posts))

    async def _robots_sitemaps(self, home: str) -> list[str]:
        """robots.txt was read for the front page's request (or, from an earlier run, is
        still fresh in the hosts table)."""
        host = host_of(home)
        found: list[Any] = self.fetcher.robots_sitemaps(host)
        if not found:
            stored = await asyncio.to_thread(self.writer.get_host, host)
            try:
                found = json.loads((stored or {}).get("sitemaps") or "[]")
            except ValueError:
                return []
        # robots.txt is the server's text: relative, foreign or broken URLs are normal.
        urls = (normalize_url(u, home) for u in found if isinstance(u, str))
        return list(dict.fromkeys(u for u in urls if u is not None))

    async def _enqueue_discovered(self, discovery: BlogDiscovery) -> None:
        entries = [
            FrontierEntry(p.url, 0, host_of(p.url), found_on=discovery.home, kind=LISTED_KIND)
            for p in discovery.posts.values()
        ]
        entries += [
            FrontierEntry(
                s.url,
                0,
                host_of(s.url),
                found_on=discovery.home,
                kind=LISTED_KIND,
                state="skipped",
                reason=f"listed_{s.kind}",
            )
            for s in discovery.skipped.values()
        ]
        await self._db(self.store.enqueue, entries)

    # -- the nightly check --------------------------------------------------------------
    async def check(self, row: blogs_db.BlogRow) -> None:
        started = iso()
        notes: list[str] = []
        assert row.comment_feed is not None
        step = Step(row.comment_feed, ListingKind.COMMENT_FEED, "watch: new comments")
        answer = await self._ask(step, row.comment_feed_etag, row.comment_feed_last_modified)
        if answer.listing is not None:
            notes += await self._comment_news(row, answer.listing)
            row.comment_feed_etag = answer.result.etag
            row.comment_feed_last_modified = answer.result.last_modified
        else:
            notes.append(
                "comments unchanged" if answer.not_modified else f"comments {answer.failure}"
            )
        if row.watch_listing and row.watch_listing_kind:
            notes += await self._new_posts(row)
        row.last_checked = started
        row.last_check = "; ".join(notes)
        await self._sql(blogs_db.save_blog, row)
        log.info("blog %s checked: %s", row.home, row.last_check)

    async def _comment_news(self, row: blogs_db.BlogRow, listing: Listing) -> list[str]:
        news = comment_news(listing, row.comments_watermark)
        notes = [f"{len(news.posts)} posts with new comments"]
        if may_have_missed(listing, row.comments_watermark):
            swept = await self._sql(blogs_db.sweep_blog, row.blog)
            row.last_swept = iso()
            notes.append(f"sweep: {swept} pages queued")
        post_of = {item.link: item.post for item in listing.items}
        entries = [
            FrontierEntry(
                url,
                0,
                host_of(url),
                found_on=row.comment_feed,
                kind=LISTED_KIND if url in news.posts else COMMENT_PAGE_KIND,
                post_url=None if url in news.posts else post_of.get(url),
            )
            for url in news.pages
        ]
        await self._db(self.store.enqueue, entries)
        await self._sql(blogs_db.queue_now, list(news.pages))
        row.comments_watermark = listing.newest or row.comments_watermark
        return notes

    async def _new_posts(self, row: blogs_db.BlogRow) -> list[str]:
        assert row.watch_listing is not None and row.watch_listing_kind is not None
        step = Step(row.watch_listing, ListingKind(row.watch_listing_kind), "watch: new posts")
        answer = await self._ask(step, row.watch_listing_etag, row.watch_listing_last_modified)
        if answer.listing is None:
            return ["posts unchanged" if answer.not_modified else f"posts {answer.failure}"]
        row.watch_listing_etag = answer.result.etag
        row.watch_listing_last_modified = answer.result.last_modified
        entries = [
            FrontierEntry(p.url, 0, host_of(p.url), found_on=step.url, kind=LISTED_KIND)
            for p in answer.listing.posts
        ]
        added = await self._db(self.store.enqueue, entries)
        row.posts_listed += added
        return [f"{added} new posts"]

    # -- one listing request ------------------------------------------------------------
    async def _ask(
        self, step: Step, etag: str | None = None, last_modified: str | None = None
    ) -> _Answer:
        """Fetch a listing URL through the polite fetcher and parse it; never raises for
        what a server sends."""
        try:
            limit = max(LISTING_MAX_BYTES, self.config.http.max_bytes)
            result = await self.fetcher.fetch(
                step.url, etag=etag, last_modified=last_modified, max_bytes=limit
            )
        except Exception as exc:  # the fetcher's own trouble: recorded like a bad answer
            log.warning("listing %s: %s: %s", step.url, type(exc).__name__, exc)
            return _Answer(FetchResult(step.url, step.url), failure="fetch_error")
        if result.status == 304:
            return _Answer(result)
        reason = _failure_of(result)
        if reason is not None:
            return _Answer(result, failure=reason)
        try:
            parsed = parse_listing(step, result.body or b"", result.final_url, result.headers)
        except Exception as exc:  # the parsers promise not to raise; a last net all the same
            log.warning("listing %s: %s: %s", step.url, type(exc).__name__, exc)
            return _Answer(result, failure="listing_parse_error")
        if isinstance(parsed, Failure):
            log.info("listing %s: %s %s", step.url, parsed.reason, parsed.detail)
            return _Answer(result, failure=str(parsed.reason))
        return _Answer(result, listing=parsed)

    async def _record_listing(self, step: Step, answer: _Answer) -> None:
        """A listing URL is a frontier row of its own kind: done, or skipped with why."""
        state = "done" if answer.listing is not None else "skipped"
        entry = FrontierEntry(
            step.url,
            0,
            host_of(step.url),
            found_on=step.why,
            kind=f"listing_{step.kind}",
            state=state,
            reason=answer.failure,
        )
        await self._db(self.store.enqueue, [entry])

    async def _db(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` on the database thread (the store is used from there only)."""
        return await self.writer.call(fn, *args)

    async def _sql(self, fn: Any, *args: Any) -> Any:
        """``fn(connection, *args)`` of :mod:`db.blogs` on the database thread."""
        return await self.writer.call(lambda: fn(self.store.conn, *args))


def _failure_of(result: FetchResult) -> str | None:
    if result.skip_reason:
        return result.skip_reason
    if result.error:
        return result.error
    if result.status is None or result.status >= 400:
        return http_reason(result.status or 0)
    if result.body is None:
        return "listing_wrong_type"  # an HTML page (or an image) where a listing should be
    return None


def _blog_row(home: str, discovery: BlogDiscovery, validators: _Validators) -> blogs_db.BlogRow:
    found = discovery.found
    watch = discovery.watch_steps()
    comment_feed = next((s for s in watch if s.kind is ListingKind.COMMENT_FEED), None)
    listing = next((s for s in watch if s.kind is not ListingKind.COMMENT_FEED), None)
    comment_validators = validators.by_url.get(
        comment_feed.url if comment_feed else "", (None, None)
    )
    listing_validators = validators.by_url.get(listing.url if listing else "", (None, None))
    sitemaps = found.listings.get(ListingKind.SITEMAP)
    watermark = discovery.comment_feed.newest if discovery.comment_feed else None
    return blogs_db.BlogRow(
        blog=discovery.blog,
        home=home,
        api=found.first(ListingKind.REST),
        sitemaps=json.dumps(sitemaps) if sitemaps else None,
        feed=found.first(ListingKind.FEED),
        comment_feed=comment_feed.url if comment_feed else None,
        comment_feed_etag=comment_validators[0],
        comment_feed_last_modified=comment_validators[1],
        watch_listing=listing.url if listing else None,
        watch_listing_kind=str(listing.kind) if listing else None,
        watch_listing_etag=listing_validators[0],
        watch_listing_last_modified=listing_validators[1],
        comments_watermark=watermark,
        posts_listed=len(discovery.posts),
        not_posts=len(discovery.skipped),
        failures=blogs_db.failures_json([(s.url, r) for s, r in found.failures]),
        discovered_at=iso(),
        last_checked=iso(),
        last_check="discovered",
    )
