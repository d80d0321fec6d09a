"""Step 2 of the data flow: which URLs enter the frontier, at what depth, or why not.

Pure policy — the persistent queue itself lives in ``db/store.py``. Seeds enter at
depth 0; links of the kinds in ``crawl.follow`` at ``depth + 1`` while that is within
``max_depth``; the other comment pages of a post at the post's own depth (they are
part of the post). Refused URLs become ``skipped`` rows with a reason, so "why wasn't
this crawled?" has an answer.
"""

from __future__ import annotations

from collections.abc import Iterable

from crawler.config import Config
from crawler.extract.page import Extraction
from crawler.records import FrontierEntry
from crawler.urls import host_of, normalize_url, trap_reason

COMMENT_PAGE_KIND = "comment_page"


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
    """The frontier entries a fetched page contributes."""
    follow = set(config.crawl.follow)
    planned: dict[str, FrontierEntry] = {}
    for link in extraction.links:
        if link.kind in follow and link.dst not in planned:
            planned[link.dst] = _entry(link.dst, depth + 1, link.kind, page_url, config)
    owner = post_url or page_url
    for url in extraction.comment_pages:
        if url != page_url and url not in planned:
            planned[url] = FrontierEntry(
                url, depth, host_of(url), page_url, COMMENT_PAGE_KIND, owner
            )
    return list(planned.values())


MIN_INTERVAL_FACTOR, MAX_INTERVAL_FACTOR = 0.25, 16.0  # adaptive recrawl bounds


def revisit_interval(previous: float | None, changed: bool, base: float) -> float:
    """Seconds until a post's next visit: sooner while its comments change, later when
    quiet, within [0.25, 16] x ``recrawl_after`` (``base``); ``base`` on the first visit."""
    if previous is None:
        return base
    interval = previous / 2 if changed else previous * 1.5
    return min(max(interval, base * MIN_INTERVAL_FACTOR), base * MAX_INTERVAL_FACTOR)
