"""The nightly check of a blog from its feeds: what is new since the last check.

A comment feed (newest first) names the posts that got comments, pingbacks and
trackbacks; a post feed names new posts. When even the oldest item of a full feed is
newer than the last check, items may have been missed: the blog's posts are due for a
sweep. Times compare as instants (:func:`crawler.records.parse_iso`), never as strings.
"""

from __future__ import annotations

from dataclasses import dataclass

from crawler.discover.records import FeedItem, Listing
from crawler.records import parse_iso


@dataclass(frozen=True)
class News:
    """What a comment feed says is new: pages to fetch, the last comment page first."""

    posts: tuple[str, ...]  # posts with new comments, most recently commented first
    pages: tuple[str, ...]  # for each, the comment page of its newest comment, then the post
    newest: str | None
    oldest: str | None


def _newer(item: FeedItem, since: str | None) -> bool:
    return since is None or parse_iso(item.time) > parse_iso(since)


def comment_news(listing: Listing, since: str | None) -> News:
    """Posts whose comment feed items are newer than ``since`` (None: all of them)."""
    items = sorted(
        (i for i in listing.items if _newer(i, since)),
        key=lambda i: parse_iso(i.time),
        reverse=True,
    )
    posts: list[str] = []
    pages: list[str] = []
    for item in items:
        if item.post in posts:
            continue
        posts.append(item.post)
        pages.extend(p for p in (item.link, item.post) if p not in pages)
    return News(tuple(posts), tuple(pages), listing.newest, listing.oldest)


def new_posts(listing: Listing, since: str | None) -> list[str]:
    """Post feed items published after ``since``, newest first. Publication, not update:
    Blogger bumps a post's ``updated`` when it gets a comment, and that is
    :func:`comment_news`'s business."""

    def published(item: FeedItem) -> float:
        return parse_iso(item.published or item.updated)

    after = parse_iso(since) if since else float("-inf")
    items = sorted((i for i in listing.items if published(i) > after), key=published, reverse=True)
    return list(dict.fromkeys(i.post for i in items))


def may_have_missed(listing: Listing, since: str | None) -> bool:
    """True when the feed's oldest item is newer than the last check: the feed no longer
    reaches back to it, so posts commented on in between may not be in it."""
    if since is None or not listing.items:
        return False
    return parse_iso(listing.oldest) > parse_iso(since)
