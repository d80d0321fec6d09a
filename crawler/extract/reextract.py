"""Re-extraction (architecture step 5 again, over stored pages): ``pingcrawl reextract``.

Runs the current extractor over the bodies a crawl stored and replaces each page's
comments, links and metadata, without a single request: an extractor fix reaches old
crawls. The records are built exactly as the crawl builds them (the engine's
``comment_records``, ``link_records`` and ``comments_digest`` of
crawler/page_records.py), the SQL is in ``db/reextract.py``, and the pingback verdicts
are given again at the end. URLs the new extraction finds that a crawl would follow are
added to the frontier (as queued, for the next ``pingcrawl crawl``), so nothing is
fetched here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from crawler.config import Config
from crawler.extract.page import Extraction, extract
from crawler.frontier import plan_links
from crawler.page_records import comment_records, comments_digest, link_records
from crawler.records import PageRecord
from crawler.runlock import RunLock
from crawler.urls import blog_of, host_of
from db import reextract as sql
from db.graph import verify_pingbacks
from db.store import Store

COMMIT_EVERY = 200  # pages per transaction: a kill costs little, a lock is not held long


@dataclass
class ReextractSummary:
    pages: int = 0
    comments: int = 0
    links: int = 0
    queued: int = 0
    verdicts: int = 0
    failed: list[str] = field(default_factory=list)  # pages the extractor could not read

    def line(self) -> str:
        return (
            f"reextracted {self.pages} pages: {self.comments} comments, {self.links} links, "
            f"{self.queued} new URLs queued, {self.verdicts} pingback verdicts"
            + (f", {len(self.failed)} pages failed" if self.failed else "")
        )


def reextract(
    config: Config, blog: str | None = None, on_page: Callable[[str], None] | None = None
) -> ReextractSummary:
    """Re-extract every stored page of ``config.crawl.database`` (or of one ``blog``)."""
    with RunLock(config.crawl.database):  # not while a crawl writes the same database
        store = Store.open(config.crawl.database)
        try:
            return _run(store, config, blog, on_page or (lambda url: None))
        finally:
            store.close()


def _run(
    store: Store, config: Config, blog: str | None, on_page: Callable[[str], None]
) -> ReextractSummary:
    summary = ReextractSummary()
    touched: set[str] = set()
    for count, url in enumerate(sql.stored_urls(store.db, _blog_name(blog)), start=1):
        stored = sql.stored_page(store.db, url)
        if stored is None:
            continue
        try:
            extraction = extract(stored.html, stored.final_url)
        except (RecursionError, ValueError):
            summary.failed.append(url)  # a page the extractor cannot take stays as it was
            continue
        _replace(store, config, stored, extraction, summary)
        touched.update((stored.url, stored.post_url or stored.url))
        on_page(url)
        if count % COMMIT_EVERY == 0:
            store.commit()
    store.commit()
    if touched:
        summary.verdicts = verify_pingbacks(store.db, touched, post_urls=touched)
    return summary


def _replace(
    store: Store,
    config: Config,
    stored: sql.StoredPage,
    extraction: Extraction,
    summary: ReextractSummary,
) -> None:
    owner = stored.post_url or stored.url
    comments = comment_records(owner, extraction)
    links = link_records(stored.url, owner, extraction)
    sql.replace_extraction(
        store.db, _page_record(stored, extraction), comments_digest(comments), comments, links
    )
    summary.pages += 1
    summary.comments += len(comments)
    summary.links += len(links)
    entries = plan_links(stored.url, stored.depth, extraction, config, stored.post_url)
    summary.queued += store.enqueue(entries)


def _page_record(stored: sql.StoredPage, extraction: Extraction) -> PageRecord:
    """The extraction's columns of the page, as the engine fills them after a fetch."""
    return PageRecord(
        url=stored.url,
        final_url=stored.final_url,
        host=host_of(stored.url),
        blog=blog_of(stored.url),
        depth=stored.depth,
        status=None,
        content_type=None,
        error=None,
        title=extraction.title,
        is_post=extraction.is_post and stored.post_url is None,
        published=extraction.published,
        author=extraction.author,
        text=extraction.text,
        canonical=extraction.canonical,
        post_url=stored.post_url,
        pingback_endpoint=extraction.pingback_endpoint,
        webmention_endpoint=extraction.webmention_endpoint,
        feeds=extraction.feeds,
    )


def _blog_name(blog: str | None) -> str | None:
    """``--blog`` as the ``pages.blog`` column spells it: a host (or URL) without ``www.``."""
    if not blog:
        return None
    host = blog.split("://", 1)[-1].split("/", 1)[0].lower()
    return host[4:] if host.startswith("www.") else host
