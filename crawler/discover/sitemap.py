"""Sitemaps (sitemaps.org 0.9): ``urlset`` and ``sitemapindex``, plain or gzipped, and the
protocol's plain-text form (one URL a line).

Parsed as a stream of parser events with no tree kept: the target below collects only
``<loc>``/``<lastmod>`` texts of ``<url>``/``<sitemap>`` entries, so memory is the entries
themselves. The XML parser is defusedxml's, which refuses entity declarations (billion
laughs) and external references; bodies are cut at the protocol's 50 MB decoded and
50,000 entries. Element names are matched without their namespace: real sitemaps carry
the wrong one (``https://www.sitemaps.org/…``) often enough.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import XMLParser  # type: ignore[import-untyped]

from crawler.discover.body import (
    MAX_SITEMAP_BYTES,
    MAX_SITEMAP_URLS,
    DecodingError,
    TooLarge,
    chunks,
    is_gzipped,
)
from crawler.discover.classify import classify_url, sitemap_kind
from crawler.discover.records import (
    FailReason,
    Failure,
    ListedUrl,
    Listing,
    ListingKind,
    Result,
    Step,
    UrlKind,
)
from crawler.discover.times import w3c_time
from crawler.urls import blog_of, normalize_url

MAX_LOC_CHARS = 2048  # the protocol's limit for a <loc>
_ROOTS = {"urlset": "url", "sitemapindex": "sitemap"}
_FIELDS = {"loc": MAX_LOC_CHARS, "lastmod": 64}
MAX_NOTES = 20


class _WrongShape(Exception):
    pass


class _TooMany(Exception):
    pass


@dataclass
class _Entry:
    loc: str | None = None
    lastmod: str | None = None


@dataclass
class _Target:
    """Parser target: keeps ``(loc, lastmod)`` of each entry directly under the root."""

    max_entries: int
    root: str | None = None
    entries: list[_Entry] = field(default_factory=list)
    depth: int = 0
    entry: _Entry | None = None
    field_name: str | None = None
    text: list[str] = field(default_factory=list)
    text_len: int = 0
    overlong: int = 0

    def start(self, tag: str, attrib: Mapping[str, str]) -> None:
        self.depth += 1
        name = _local(tag)
        if self.depth == 1:
            if name not in _ROOTS:
                raise _WrongShape(f"root element <{name}>")
            self.root = name
        elif self.depth == 2 and name == _ROOTS[self.root or ""]:
            self.entry = _Entry()
        elif self.depth == 3 and self.entry is not None and name in _FIELDS:
            self.field_name, self.text, self.text_len = name, [], 0

    def data(self, text: str) -> None:
        if self.field_name is None:
            return
        self.text_len += len(text)
        if self.text_len <= _FIELDS[self.field_name]:
            self.text.append(text)

    def end(self, tag: str) -> None:
        if self.depth == 3 and self.field_name is not None and self.entry is not None:
            self._keep_field()
        elif self.depth == 2 and self.entry is not None:
            if len(self.entries) >= self.max_entries:
                raise _TooMany(f"more than {self.max_entries} entries")
            self.entries.append(self.entry)
            self.entry = None
        self.depth -= 1

    def _keep_field(self) -> None:
        assert self.entry is not None and self.field_name is not None
        if self.text_len > _FIELDS[self.field_name]:
            self.overlong += 1
        else:
            setattr(self.entry, self.field_name, "".join(self.text).strip())
        self.field_name = None

    def close(self) -> None:
        return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_sitemap(
    body: bytes,
    url: str,
    headers: Mapping[str, str],
    *,
    max_bytes: int = MAX_SITEMAP_BYTES,
    max_urls: int = MAX_SITEMAP_URLS,
) -> Result:
    """A sitemap or sitemap index as a :class:`Listing`, or a :class:`Failure`.

    ``headers`` are not needed (gzip is recognised by its magic bytes) but taken like
    every parser's. An index lists its post sitemaps (and those whose name says nothing)
    in ``follow``; sitemaps of pages, taxonomies and users go to ``skipped``, unrequested.
    """
    target = _Target(max_entries=max_urls)
    if _is_text_sitemap(body):
        failure = _read_text(body, url, target, max_bytes)
    else:
        failure = _feed_parser(body, url, target, max_bytes)
    if failure is not None:
        return failure
    if target.root == "sitemapindex":
        return _index_listing(url, target)
    return _urlset_listing(url, target)


def _feed_parser(body: bytes, url: str, target: _Target, max_bytes: int) -> Failure | None:
    parser = XMLParser(target=target)  # defusedxml: forbids entities and external refs
    try:
        for piece in chunks(body, max_bytes):
            parser.feed(piece)
        parser.close()
    except TooLarge as exc:
        return Failure(url, FailReason.TOO_LARGE, str(exc))
    except _TooMany as exc:
        return Failure(url, FailReason.TOO_MANY, str(exc))
    except DefusedXmlException as exc:
        return Failure(url, FailReason.ENTITIES, type(exc).__name__)
    except _WrongShape as exc:
        return Failure(url, FailReason.WRONG_SHAPE, f"not a sitemap: {exc}")
    except (SyntaxError, DecodingError, ValueError, LookupError) as exc:
        # SyntaxError covers ElementTree's ParseError; LookupError an unknown encoding.
        return Failure(url, FailReason.MALFORMED, _one_line(exc))
    if target.root is None:
        return Failure(url, FailReason.MALFORMED, "empty document")
    return None


def _absolute(loc: str | None) -> str | None:
    """The protocol wants absolute URLs; a relative one is more likely garbage than a path."""
    if not loc or not loc.lower().startswith(("http://", "https://")):
        return None
    return normalize_url(loc)


def _is_text_sitemap(body: bytes) -> bool:
    """The protocol's other format: one URL a line, UTF-8 (``sitemap.txt``)."""
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"http://", b"https://")) and not is_gzipped(body)


def _read_text(body: bytes, url: str, target: _Target, max_bytes: int) -> Failure | None:
    if len(body) > max_bytes:
        return Failure(url, FailReason.TOO_LARGE, f"more than {max_bytes} bytes")
    target.root = "urlset"
    for line in body.decode("utf-8-sig", "replace").splitlines():
        loc = line.strip()
        if not loc:
            continue
        if len(target.entries) >= target.max_entries:
            return Failure(url, FailReason.TOO_MANY, f"more than {target.max_entries} entries")
        if len(loc) > MAX_LOC_CHARS:
            target.overlong += 1
        else:
            target.entries.append(_Entry(loc=loc))
    return None


def _urlset_listing(url: str, target: _Target) -> Listing:
    blog = blog_of(url)
    posts: dict[str, ListedUrl] = {}
    skipped: dict[str, ListedUrl] = {}
    notes = _Notes(target.overlong)
    for entry in target.entries:
        loc = _absolute(entry.loc)
        if loc is None:
            notes.add(f"unusable <loc> {entry.loc!r:.80}")
            continue
        if loc in posts or loc in skipped:
            continue  # listed twice: the first entry counts
        modified = w3c_time(entry.lastmod)
        if blog_of(loc) != blog:
            skipped[loc] = ListedUrl(loc, UrlKind.OTHER, f"not on {blog}", modified)
            continue
        kind, reason = classify_url(loc, listed_in=url)
        listed = ListedUrl(loc, kind, reason, modified)
        (posts if listed.is_post else skipped)[loc] = listed
    return Listing(
        url,
        ListingKind.SITEMAP,
        posts=tuple(posts.values()),
        skipped=tuple(skipped.values()),
        notes=notes.lines(),
    )


def _index_listing(url: str, target: _Target) -> Listing:
    follow: dict[str, Step] = {}
    skipped: dict[str, ListedUrl] = {}
    notes = _Notes(target.overlong)
    name = urlsplit(url).path.rsplit("/", 1)[-1] or url
    for entry in target.entries:
        loc = _absolute(entry.loc)
        if loc is None:
            notes.add(f"unusable <loc> {entry.loc!r:.80}")
            continue
        kind = sitemap_kind(loc)
        if kind in (None, UrlKind.POST):
            follow[loc] = Step(loc, ListingKind.SITEMAP, f"listed in sitemap index {name}")
        else:
            reason = f"a sitemap of {kind} URLs: not requested"
            skipped[loc] = ListedUrl(loc, kind, reason, w3c_time(entry.lastmod))
    return Listing(
        url,
        ListingKind.SITEMAP,
        skipped=tuple(skipped.values()),
        follow=tuple(follow.values()),
        notes=notes.lines(),
    )


class _Notes:
    """At most :data:`MAX_NOTES` lines about dropped entries, then a count."""

    def __init__(self, overlong: int = 0) -> None:
        self._lines: list[str] = []
        self._more = 0
        if overlong:
            self.add(f"{overlong} entries with a field over its length limit dropped")

    def add(self, line: str) -> None:
        if len(self._lines) < MAX_NOTES:
            self._lines.append(line)
        else:
            self._more += 1

    def lines(self) -> tuple[str, ...]:
        more = (f"{self._more} more entries dropped",) if self._more else ()
        return (*self._lines, *more)


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
