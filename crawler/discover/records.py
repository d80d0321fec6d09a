"""The values the discovery parsers hand back (issue 13): listed URLs, listings, failures.

Every parser in this package takes ``(body: bytes, url: str, headers: Mapping[str, str])``
and returns a :class:`Listing` or a :class:`Failure` — never raises on what a server sent.
A listing says which URLs are posts (to enter the frontier at depth 0), which are not
(recorded with a reason, not fetched), and which listing URLs to request next (the next
page of a REST listing or feed, the post sitemaps of an index).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ListingKind(StrEnum):
    """What a listing URL is, which picks its parser."""

    REST = "rest"  # WordPress /wp-json/wp/v2/posts
    SITEMAP = "sitemap"  # urlset or sitemapindex, maybe gzipped
    FEED = "feed"  # RSS/Atom of posts
    COMMENT_FEED = "comment_feed"  # RSS/Atom of the newest comments, pingbacks included


class UrlKind(StrEnum):
    """What a listed URL points at. Only posts are fetched by default."""

    POST = "post"
    PAGE = "page"
    CATEGORY = "category"
    TAG = "tag"
    ATTACHMENT = "attachment"
    AUTHOR = "author"
    ARCHIVE = "archive"  # date archives, pagination, search results
    FEED = "feed"
    HOME = "home"
    OTHER = "other"  # a custom post type or taxonomy we do not crawl


class FailReason(StrEnum):
    """Why a listing body gave no usable answer (a recorded error, like ``pages.error``)."""

    TOO_LARGE = "listing_too_large"  # over the decoded byte limit (gzip bombs too)
    TOO_MANY = "listing_too_many_urls"  # over 50,000 URLs, the sitemap protocol's limit
    ENTITIES = "listing_entities"  # a DTD declaring entities: billion laughs and kin
    MALFORMED = "listing_malformed"  # not well-formed XML / JSON, bad gzip
    WRONG_SHAPE = "listing_wrong_shape"  # well-formed, but not a sitemap/feed/REST listing


@dataclass(frozen=True)
class Failure:
    """A listing that could not be used; ``detail`` is one line for the log."""

    url: str
    reason: FailReason
    detail: str = ""

    def __bool__(self) -> bool:  # ``if result:`` reads as "did we get a listing"
        return False


@dataclass(frozen=True)
class ListedUrl:
    """One URL a listing names, with what it is and why we think so."""

    url: str  # normalised
    kind: UrlKind
    reason: str  # e.g. "sitemap wp-sitemap-posts-page-1.xml", "url shape /tag/"
    modified: str | None = None  # ISO 8601 UTC (records.iso format), when the listing says

    @property
    def is_post(self) -> bool:
        return self.kind is UrlKind.POST


@dataclass(frozen=True)
class Step:
    """One listing URL to request and how to read its answer."""

    url: str
    kind: ListingKind
    why: str  # where we learnt of it: "Link header", "robots.txt", "well-known", "next page"


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed. For a comment feed, ``post`` is the post it comments on."""

    link: str  # normalised, fragment dropped
    post: str  # the post URL (``link`` itself in a post feed)
    published: str | None = None  # ISO 8601 UTC
    updated: str | None = None

    @property
    def time(self) -> str | None:
        """The item's newest time: what "new since the last check" compares."""
        return max(filter(None, (self.published, self.updated)), default=None)


@dataclass(frozen=True)
class Listing:
    """What one listing response said.

    ``posts`` enter the frontier at depth 0; ``skipped`` are recorded with their reason;
    ``follow`` are further listing URLs to request (same politeness as any request).
    ``items`` are the feed entries in document order (empty for sitemaps and REST).
    ``total_pages`` is the REST listing's ``X-WP-TotalPages`` (or a feed's page count
    when it says), None when unknown.
    """

    url: str
    kind: ListingKind
    posts: tuple[ListedUrl, ...] = ()
    skipped: tuple[ListedUrl, ...] = ()
    follow: tuple[Step, ...] = ()
    items: tuple[FeedItem, ...] = ()
    total_pages: int | None = None
    notes: tuple[str, ...] = field(default=())  # dropped entries and why, one line each

    @property
    def newest(self) -> str | None:
        return max((t for t in (i.time for i in self.items) if t), default=None)

    @property
    def oldest(self) -> str | None:
        return min((t for t in (i.time for i in self.items) if t), default=None)


Result = Listing | Failure
