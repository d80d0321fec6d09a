"""RSS and Atom feeds, parsed with feedparser: post feeds for listing, comment feeds for watching.

Post feeds page three ways, and :func:`parse_feed` names the next pages in ``follow``:
Blogger's ``openSearch`` totals (``/feeds/posts/default?start-index=26&max-results=25``;
the first page names every later one, on the blog's own host — Blogger's ``rel="next"``
points at www.blogger.com), an RFC 5005 ``<link rel="next">``, or WordPress's
``/feed/?paged=N`` (no total is given: each non-empty page names the next, and WordPress
answers 404 past the last). Comment feeds (WordPress ``/comments/feed/``, Blogger
``/feeds/comments/default``) name the post of each comment: Blogger's
``<thr:in-reply-to href>``, else the comment's link without its fragment, Blogger's
``showComment`` or WordPress's ``comment-page-N/``.

Hostile bodies: feedparser is handed a stream (given bytes or a str it may open them as a
file name or URL), never fetches anything, and its expat parser has its own amplification
limit; a DTD declaring entities is refused before it is parsed at all, bodies are cut at
:data:`MAX_FEED_BYTES` decoded, and a body that is not well-formed XML is read leniently
only up to :data:`MAX_LENIENT_BYTES`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import XMLParser  # type: ignore[import-untyped]

from crawler.discover.body import DecodingError, TooLarge, declares_entities, header, read_bounded
from crawler.discover.records import (
    FailReason,
    Failure,
    FeedItem,
    ListedUrl,
    Listing,
    ListingKind,
    Result,
    Step,
    UrlKind,
)
from crawler.discover.times import struct_time_iso
from crawler.urls import blog_of, comment_page_post, normalize_url

MAX_FEED_BYTES = 10 * 1024 * 1024
MAX_FEED_ITEMS = 10_000
MAX_LENIENT_BYTES = 512 * 1024  # a broken feed larger than this is refused (see _check_xml)
MAX_FEED_PAGES = 1000
BLOGGER_PAGE_SIZE = 150  # Blogger's feeds return at most this many entries per request


def parse_feed(body: bytes, url: str, headers: Mapping[str, str]) -> Result:
    """A post feed as a :class:`Listing` of its items' posts, with its next pages."""
    parsed = _parse(body, url, headers)
    if isinstance(parsed, Failure):
        return parsed
    items, dropped = _items(parsed, url, post_of=lambda link, entry: link)
    blog = blog_of(url)
    posts: dict[str, ListedUrl] = {}
    skipped: dict[str, ListedUrl] = {}
    for item in items:
        if blog_of(item.post) == blog:
            posts[item.post] = ListedUrl(item.post, UrlKind.POST, "a post feed item", item.time)
        else:
            skipped[item.post] = ListedUrl(item.post, UrlKind.OTHER, f"not on {blog}", item.time)
    total = _blogger_total_pages(parsed)
    return Listing(
        url,
        ListingKind.FEED,
        posts=tuple(posts.values()),
        skipped=tuple(skipped.values()),
        follow=_next_pages(parsed, url, bool(items)),
        items=tuple(items),
        total_pages=total,
        notes=_notes(parsed, dropped),
    )


def parse_comment_feed(body: bytes, url: str, headers: Mapping[str, str]) -> Result:
    """A comment feed: ``items`` are the comments (newest first, as served), ``posts`` the
    posts they are on. Nothing to follow: the newest page is what a nightly check reads."""
    parsed = _parse(body, url, headers)
    if isinstance(parsed, Failure):
        return parsed
    items, dropped = _items(parsed, url, post_of=_commented_post)
    blog = blog_of(url)
    posts: dict[str, ListedUrl] = {}
    for item in items:
        if blog_of(item.post) == blog and item.post not in posts:
            posts[item.post] = ListedUrl(item.post, UrlKind.POST, "commented on", item.time)
    return Listing(
        url,
        ListingKind.COMMENT_FEED,
        posts=tuple(posts.values()),
        items=tuple(items),
        notes=_notes(parsed, dropped),
    )


def _parse(body: bytes, url: str, headers: Mapping[str, str]) -> Any:
    if declares_entities(body):
        return Failure(url, FailReason.ENTITIES, "the DTD declares entities")
    try:
        data = read_bounded(body, MAX_FEED_BYTES)
    except TooLarge as exc:
        return Failure(url, FailReason.TOO_LARGE, str(exc))
    except DecodingError as exc:
        return Failure(url, FailReason.MALFORMED, f"bad gzip: {exc}"[:200])
    if declares_entities(data):  # a gzipped body's prolog, now readable
        return Failure(url, FailReason.ENTITIES, "the DTD declares entities")
    refused = _check_xml(data, url)
    if refused is not None:
        return refused
    # Without a Content-Type feedparser flags the feed as suspect; the XML declaration
    # then decides the encoding, as it does under application/xml.
    content_type = header(headers, "Content-Type") or "application/xml"
    response_headers = {"content-location": url, "content-type": content_type}
    # Imported at the first feed (~10 MB in memory): a crawl of posts never reads one.
    import feedparser  # type: ignore[import-untyped]

    try:
        parsed = feedparser.parse(
            io.BytesIO(data),
            response_headers=response_headers,
            resolve_relative_uris=False,
            sanitize_html=False,
        )
    except Exception as exc:  # noqa: BLE001 - feedparser's loose parser has raised odd things
        return Failure(url, FailReason.MALFORMED, f"feedparser: {type(exc).__name__}: {exc}"[:200])
    if not parsed.get("version") and not parsed.get("entries"):
        if parsed.get("bozo"):
            detail = str(parsed.get("bozo_exception", "not well-formed")).splitlines()[0]
            return Failure(url, FailReason.MALFORMED, detail[:200])
        return Failure(url, FailReason.WRONG_SHAPE, "not an RSS or Atom feed")
    return parsed


class _Ignore:
    """A parser target that keeps nothing: the pass only checks well-formedness."""

    def start(self, tag: str, attrib: Mapping[str, str]) -> None: ...
    def end(self, tag: str) -> None: ...
    def data(self, text: str) -> None: ...
    def close(self) -> None: ...


def _check_xml(data: bytes, url: str) -> Failure | None:
    """One cheap streaming pass (defusedxml, no tree). A well-formed feed goes on to
    feedparser; a broken one only when small, because feedparser's lenient parser costs
    about 35 bytes of memory and 4 µs per byte (9 MB of broken markup: 300 MB, 40 s)."""
    parser = XMLParser(target=_Ignore())
    try:
        for start in range(0, len(data), 64 * 1024):
            parser.feed(data[start : start + 64 * 1024])
        parser.close()
    except DefusedXmlException as exc:
        return Failure(url, FailReason.ENTITIES, type(exc).__name__)
    except (SyntaxError, ValueError, LookupError) as exc:
        if len(data) > MAX_LENIENT_BYTES:
            detail = f"not well-formed and over {MAX_LENIENT_BYTES} bytes: {exc}"
            return Failure(url, FailReason.MALFORMED, detail.splitlines()[0][:200])
    return None


def _items(parsed: Any, url: str, post_of: Any) -> tuple[list[FeedItem], int]:
    items: list[FeedItem] = []
    dropped = 0
    for entry in parsed.entries[:MAX_FEED_ITEMS]:
        link = normalize_url(entry.get("link") or "", url)
        if link is None:
            dropped += 1
            continue
        post = post_of(link, entry)
        if post is None:
            dropped += 1
            continue
        # dict.get: feedparser's own get() maps a missing updated_parsed to published_parsed
        published = struct_time_iso(dict.get(entry, "published_parsed"))
        updated = struct_time_iso(dict.get(entry, "updated_parsed"))
        items.append(FeedItem(link, post, published, updated))
    dropped += max(0, len(parsed.entries) - MAX_FEED_ITEMS)
    return items, dropped


def _commented_post(link: str, entry: Any) -> str | None:
    """The post a comment is on: Blogger says so; WordPress's link is the post's plus a
    fragment (already dropped) or ``comment-page-N/``."""
    reply_to = entry.get("thr_in-reply-to")
    if isinstance(reply_to, dict) and reply_to.get("href"):
        post = normalize_url(reply_to["href"], link)
        if post is not None:
            return post
    without = _drop_params(link, {"showComment"})
    return comment_page_post(without) or without


def _next_pages(parsed: Any, url: str, had_items: bool) -> tuple[Step, ...]:
    if not had_items:
        return ()
    opensearch = _blogger_pages(parsed, url)
    if opensearch is not None:
        return opensearch
    rel_next = _rel_next(parsed, url)
    if rel_next is not None:
        return (Step(rel_next, ListingKind.FEED, "the feed's rel=next link"),)
    if _is_wordpress(parsed, url):
        page = _int(dict(parse_qsl(urlsplit(url).query)).get("paged")) or 1
        following = _set_params(url, {"paged": str(page + 1)})
        return (Step(following, ListingKind.FEED, f"WordPress feed page {page + 1}"),)
    return ()


def _blogger_pages(parsed: Any, url: str) -> tuple[Step, ...] | None:
    """All later pages, named by the first page only, on the host we asked."""
    feed = parsed.get("feed", {})
    total = _int(feed.get("opensearch_totalresults"))
    start = _int(feed.get("opensearch_startindex"))
    per_page = _int(feed.get("opensearch_itemsperpage"))
    if total is None or start is None or not per_page:
        return None
    if start != 1:
        return ()
    starts = range(start + per_page, total + 1, per_page)[: MAX_FEED_PAGES - 1]
    return tuple(
        Step(
            _set_params(url, {"start-index": str(s), "max-results": str(per_page)}),
            ListingKind.FEED,
            f"feed entries {s}-{min(s + per_page - 1, total)} of {total}",
        )
        for s in starts
    )


def _blogger_total_pages(parsed: Any) -> int | None:
    feed = parsed.get("feed", {})
    total = _int(feed.get("opensearch_totalresults"))
    per_page = _int(feed.get("opensearch_itemsperpage"))
    if total is None or not per_page:
        return None
    return math.ceil(total / per_page)


def _rel_next(parsed: Any, url: str) -> str | None:
    for link in parsed.get("feed", {}).get("links", []):
        if link.get("rel") == "next" and link.get("href"):
            target = normalize_url(link["href"], url)
            if target is not None and blog_of(target) == blog_of(url):
                return target
    return None


def _is_wordpress(parsed: Any, url: str) -> bool:
    generator = str(parsed.get("feed", {}).get("generator", "")).lower()
    path = urlsplit(url).path.rstrip("/")
    return "wordpress" in generator or path.endswith("/feed") or path == "/feed"


def _set_params(url: str, values: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    params = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in values]
    params.extend(values.items())
    return urlunsplit(parts._replace(query=urlencode(params)))


def _drop_params(url: str, names: set[str]) -> str:
    parts = urlsplit(url)
    if not parts.query:
        return url
    params = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in names]
    return urlunsplit(parts._replace(query=urlencode(params)))


def _int(value: object) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _notes(parsed: Any, dropped: int) -> tuple[str, ...]:
    notes: list[str] = []
    import feedparser

    error = parsed.get("bozo_exception")
    # feedparser's notes on the declared type or encoding, not on the XML itself
    harmless = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
    if parsed.get("bozo") and not isinstance(error, harmless):
        exc = str(error or "").splitlines()
        notes.append(f"not well-formed, read leniently: {exc[0] if exc else ''}"[:200])
    if dropped:
        notes.append(f"{dropped} entries without a usable link")
    return tuple(notes)
