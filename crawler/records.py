"""The records both sides share: what the crawler hands the store and gets back.

Frontier rows, page/comment/link records and run counters cross from ``crawler/`` into
``db/`` here, as plain values (no HTTP objects). The enums name every string the crawler
writes into ``kind``, ``state``, ``status`` and ``reason`` columns; as ``StrEnum`` members
they are stored and compared as the strings themselves. One timestamp format for every
stored time (:func:`iso`): ISO 8601 UTC with microseconds and ``Z``, so stored times sort
and compare as strings in SQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class LinkKind(StrEnum):
    """How a link ``src -> dst`` was found (SPEC section 6)."""

    CITATION = "citation"
    PINGBACK = "pingback"
    TRACKBACK = "trackback"
    WEBMENTION = "webmention"  # an IndieWeb mention shown on the post: source -> post
    COMMENT = "comment"
    NAV = "nav"


# Kinds found on post T that name a source S linking to it: the edge is S -> T.
PING_KINDS = frozenset({LinkKind.PINGBACK, LinkKind.TRACKBACK, LinkKind.WEBMENTION})


class FrontierState(StrEnum):
    QUEUED = "queued"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class RunStatus(StrEnum):
    RUNNING = "running"
    OK = "ok"
    INTERRUPTED = "interrupted"
    CRASHED = "crashed"


class Reason(StrEnum):
    """Why a URL failed or was not requested (``frontier.reason``, ``pages.error``).

    An HTTP error status is the string ``http_<status>`` (see :func:`http_reason`).
    """

    # not requested at all
    SCHEME = "scheme"
    PRIVATE = "private"
    ROBOTS = "robots"
    CRAWL_DELAY = "crawl_delay"
    DEPTH = "depth"
    TRAP = "trap"
    SCOPE = "scope"
    INVALID_URL = "invalid_url"
    # asked for, no usable answer
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    CONNECTION_RESET = "connection_reset"
    DNS_ERROR = "dns_error"  # the host name does not resolve
    PROXY_ERROR = "proxy_error"
    DECODING_ERROR = "decoding_error"
    TOO_LARGE = "too_large"
    REDIRECT_LOOP = "redirect_loop"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    ROBOTS_UNAVAILABLE = "robots_unavailable"
    HOST_PAUSED = "host_paused"


def http_reason(status: int) -> str:
    return f"http_{status}"


# Not the URL's fault and worth another try on a later run (up to a few claims of one URL):
# one list, used both by the fetcher's retries within a run and by the next run's requeue.
TRANSIENT_STATUSES = frozenset({429, *range(500, 600)})
TRANSIENT_ERRORS = (
    Reason.TIMEOUT,
    Reason.CONNECTION_ERROR,
    Reason.CONNECTION_RESET,
    Reason.DNS_ERROR,  # a domain can come back; the claims bound how often it is asked
    Reason.PROXY_ERROR,
    *(http_reason(status) for status in sorted(TRANSIENT_STATUSES)),
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None = None) -> str:
    """ISO 8601 UTC with microseconds and ``Z``: the format of every stored time
    (:data:`ISO_FORMAT`; built by ``isoformat``, which is several times faster than
    ``strftime`` and is called a few times for every page written)."""
    moment = moment or utcnow()
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def iso_at(timestamp: float) -> str:
    """:func:`iso` of a ``time.time()`` value."""
    return iso(datetime.fromtimestamp(timestamp, UTC))


def iso_in(seconds: float) -> str:
    return iso(utcnow() + timedelta(seconds=seconds))


@dataclass(frozen=True)
class FrontierEntry:
    """A URL the crawler wants (``state='queued'``) or refused (``state='skipped'``)."""

    url: str
    depth: int
    host: str
    found_on: str | None = None
    kind: str = "seed"
    post_url: str | None = None
    state: str = "queued"
    reason: str | None = None


@dataclass(frozen=True)
class FrontierRow:
    url: str
    depth: int
    host: str
    kind: str
    found_on: str | None
    post_url: str | None
    attempts: int
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class PageRecord:
    """What the engine learned about one URL, in database terms."""

    url: str
    final_url: str
    host: str
    blog: str
    depth: int
    status: int | None
    content_type: str | None
    error: str | None
    etag: str | None = None
    last_modified: str | None = None
    size: int = 0
    html: str | None = None
    title: str | None = None
    is_post: bool = False
    published: str | None = None
    author: str | None = None
    text: str | None = None
    canonical: str | None = None
    post_url: str | None = None
    pingback_endpoint: str | None = None
    webmention_endpoint: str | None = None
    feeds: Sequence[str] = ()
    next_fetch_at: str | None = None
    recrawl_interval: float | None = None


@dataclass(frozen=True)
class CommentRecord:
    post_url: str
    kind: str
    comment_id: str | None
    author: str | None
    author_url: str | None
    published: str | None
    text: str | None
    source_url: str | None
    source_title: str | None

    @property
    def id(self) -> str:
        if self.comment_id:
            return f"{self.post_url}#comment-{self.comment_id}"
        basis = "\x1f".join(
            [self.kind, self.source_url or "", self.author or "", (self.text or "")[:500]]
        )
        return f"{self.post_url}#h-{hashlib.sha1(basis.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class LinkRecord:
    src: str
    dst: str
    kind: str
    found_on: str
    anchor: str | None
    rel: str | None
    same_blog: bool


@dataclass(frozen=True)
class PageState:
    exists: bool
    comments_hash: str | None
    recrawl_interval: float | None


@dataclass(frozen=True)
class PageSave:
    """One page for :meth:`db.store.Store.save_pages`, with what the store knew of it."""

    page: PageRecord
    comments: Sequence[CommentRecord]
    links: Sequence[LinkRecord]
    comments_hash: str | None
    prior: PageState


@dataclass
class SaveOutcome:
    new_page: bool
    new_links: int
    new_comments: int
    comments_changed: bool


@dataclass
class RunCounters:
    fetched: int = 0
    failed: int = 0
    skipped: int = 0
    new_pages: int = 0
    new_links: int = 0
    new_comments: int = 0
    not_modified: int = 0

    def as_row(self) -> dict[str, int]:
        return {
            "fetched": self.fetched,
            "failed": self.failed,
            "skipped": self.skipped,
            "new_pages": self.new_pages,
            "new_links": self.new_links,
            "new_comments": self.new_comments,
            "not_modified": self.not_modified,
        }


def parse_iso(value: Any) -> float:
    """A stored time (any ISO 8601 form; naive means UTC) as ``time.time()``; 0 if none."""
    if not value:
        return 0.0
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return 0.0
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
