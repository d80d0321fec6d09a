"""Step 2 of the data flow: which URLs enter the frontier, at what depth, or why not.

Pure policy — the persistent queue itself lives in ``db/store.py``. Seeds enter at
depth 0; links of the kinds in ``crawl.follow`` at ``depth + 1`` while that is within
``max_depth``; the other comment pages of a post at the post's own depth (they are
part of the post). Refused URLs become ``skipped`` rows with a reason, so "why wasn't
this crawled?" has an answer.

Bounded by design: one page contributes at most :data:`MAX_LINKS_PER_PAGE` links
(:func:`bound_extraction`, pingbacks and citations kept first) and a post at most
:data:`MAX_COMMENT_PAGES` comment pages — since comment pages add no depth, a
``comment-page-N`` chain linking to N+1 forever would otherwise never end; past the
cap they are skipped as ``trap``.

Settings that closed a door can open it again: :func:`reopen`, at the start of each run,
requeues what the current settings would no longer refuse.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crawler.config import Config
from crawler.extract.page import Extraction, Link
from crawler.records import FrontierEntry, LinkKind, Reason, iso_at, iso_in, parse_iso
from crawler.urls import comment_page_number, host_of, normalize_url, trap_reason

if TYPE_CHECKING:
    from db.backend import Backend

COMMENT_PAGE_KIND = "comment_page"
MAX_LINKS_PER_PAGE = 5_000  # a page with a million links must not cost 300 MB and 100 MB
MAX_COMMENT_PAGES = 100  # comment pages of one post (50 comments a page: 5,000 comments)
# Which links survive the cut first: the graph's own edges, then the rest.
_KEEP_FIRST = {
    LinkKind.PINGBACK: 0,
    LinkKind.TRACKBACK: 0,
    LinkKind.CITATION: 1,
    LinkKind.COMMENT: 2,
    LinkKind.NAV: 3,
}


@dataclass
class BoundedExtraction(Extraction):
    """An :class:`Extraction` cut to the caps, saying how much was cut (for the record)."""

    links_cut: int = 0
    comment_pages_cut: int = 0


def bound_extraction(
    extraction: Extraction,
    max_links: int = MAX_LINKS_PER_PAGE,
    max_comment_pages: int = MAX_COMMENT_PAGES,
) -> BoundedExtraction:
    """``extraction`` with at most ``max_links`` links (pingbacks, trackbacks and citations
    kept before comment and nav links, page order otherwise) and ``max_comment_pages``."""
    if isinstance(extraction, BoundedExtraction):
        return extraction
    links = extraction.links
    if len(links) > max_links:
        ranked = sorted(range(len(links)), key=lambda i: (_rank(links[i]), i))[:max_links]
        links = [links[i] for i in sorted(ranked)]
    pages = extraction.comment_pages[:max_comment_pages]
    fields = {f: getattr(extraction, f) for f in extraction.__dataclass_fields__}
    return BoundedExtraction(
        **{**fields, "links": links, "comment_pages": pages},
        links_cut=len(extraction.links) - len(links) + extraction.links_dropped,
        comment_pages_cut=len(extraction.comment_pages) - len(pages),
    )


def _rank(link: Link) -> int:
    return _KEEP_FIRST.get(link.kind, len(_KEEP_FIRST))  # type: ignore[call-overload]


def _entry(url: str, depth: int, kind: str, found_on: str | None, config: Config) -> FrontierEntry:
    reason = trap_reason(url)
    if reason is None and depth > config.crawl.max_depth:
        reason = "depth"
    state = "skipped" if reason else "queued"
    return FrontierEntry(url, depth, host_of(url), found_on, kind, None, state, reason)


def seed_entries(seeds: Iterable[str]) -> tuple[list[FrontierEntry], list[str]]:
    """Normalise seed URLs; return the frontier entries and the inputs that are not URLs."""
    entries, invalid = [], []
    for raw in seeds:
        url = normalize_url(raw)
        if url is None:
            invalid.append(raw)
        else:
            entries.append(FrontierEntry(url, 0, host_of(url), None, "seed"))
    return entries, invalid


def plan_links(
    page_url: str, depth: int, extraction: Extraction, config: Config, post_url: str | None
) -> list[FrontierEntry]:
    """The frontier entries a fetched page contributes (within the caps)."""
    extraction = bound_extraction(extraction)
    follow = set(config.crawl.follow)
    planned: dict[str, FrontierEntry] = {}
    for link in extraction.links:
        if link.kind in follow and link.dst not in planned:
            planned[link.dst] = _entry(link.dst, depth + 1, link.kind, page_url, config)
    owner = post_url or page_url
    for url in extraction.comment_pages:
        if url != page_url and url not in planned:
            planned[url] = _comment_page_entry(url, depth, page_url, owner)
    return list(planned.values())


def _comment_page_entry(url: str, depth: int, found_on: str, owner: str) -> FrontierEntry:
    """A comment page of ``owner``: at the post's depth, unless it is a trap or numbered
    past :data:`MAX_COMMENT_PAGES` (a chain of pages each linking to the next)."""
    number = comment_page_number(url)
    reason = trap_reason(url)
    if reason is None and number is not None and number > MAX_COMMENT_PAGES:
        reason = Reason.TRAP
    state = "skipped" if reason else "queued"
    return FrontierEntry(
        url, depth, host_of(url), found_on, COMMENT_PAGE_KIND, owner, state, reason
    )


MIN_INTERVAL_FACTOR, MAX_INTERVAL_FACTOR = 0.25, 16.0  # adaptive recrawl bounds


def revisit_interval(previous: float | None, changed: bool, base: float) -> float:
    """Seconds until a post's next visit: sooner while its comments change, later when
    quiet, within [0.25, 16] x ``recrawl_after`` (``base``); ``base`` on the first visit."""
    if previous is None:
        return base
    interval = previous / 2 if changed else previous * 1.5
    return min(max(interval, base * MIN_INTERVAL_FACTOR), base * MAX_INTERVAL_FACTOR)


def reopen(store: Backend, config: Config) -> dict[str, int]:
    """Re-evaluate, at the start of a run, what earlier runs' settings refused; returns
    how many URLs (or posts, for ``recrawl_after``) each rule re-opened:

    * ``depth``: skipped for depth, now within ``max_depth``;
    * ``private``: skipped as private targets, when ``allow_private`` is on;
    * ``robots``: skipped for robots.txt, when ``obey_robots`` is off, or on hosts whose
      robots.txt is due to be read again (the fetcher then decides afresh);
    * ``kind``: links of kinds now in ``follow`` that were never queued;
    * ``recrawl_after``: posts whose revisit interval lies outside the bounds the
      current ``recrawl_after`` allows get it clamped, and their ``next_fetch_at`` moved.
    """
    from crawler.fetch.robots import ROBOTS_TTL

    crawl = config.crawl
    reopened = {
        "depth": store.requeue_reason(Reason.DEPTH, max_depth=crawl.max_depth, states=["skipped"]),
        "private": 0,
        "robots": 0,
    }
    if config.safety.allow_private:
        reopened["private"] = store.requeue_reason(Reason.PRIVATE, states=["skipped"])
    if not config.politeness.obey_robots:
        reopened["robots"] = store.requeue_reason(Reason.ROBOTS, states=["skipped"])
    else:
        reopened["robots"] = store.requeue_robots_of_stale_hosts(iso_in(-ROBOTS_TTL))
    nearest: dict[str, FrontierEntry] = {}
    for url, depth, found_on, kind in store.unqueued_links(crawl.follow, crawl.max_depth):
        if url not in nearest or depth < nearest[url].depth:
            nearest[url] = _entry(url, depth, kind, found_on, config)
    reopened["kind"] = store.enqueue(nearest.values())
    reopened["recrawl_after"] = _rescale_visits(store, crawl.recrawl_after_seconds)
    return reopened


def _rescale_visits(store: Backend, base: float) -> int:
    """Clamp posts' revisit intervals into the bounds of the current ``recrawl_after``
    (``base``) and move their next visit accordingly."""
    low, high = base * MIN_INTERVAL_FACTOR, base * MAX_INTERVAL_FACTOR
    visits = []
    for url, fetched_at, interval in store.posts_outside_interval(low, high):
        clamped = min(max(interval if interval is not None else base, low), high)
        visits.append((url, iso_at(parse_iso(fetched_at) + clamped), clamped))
    return store.set_next_visits(visits)
