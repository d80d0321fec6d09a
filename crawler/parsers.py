"""Step 5 of the data flow: the parser for each response, chosen per response.

What was asked for (the frontier row's ``kind``: seed, citation, comment page, and next
feed, sitemap or REST listing) and what came back (the media type) choose the parser
(:meth:`Parsers.choose`); the first rule that matches wins, and a response no rule
takes is stored as a bare page record (status, type, size, no text). Today one rule: the
HTML page extractor for HTML answers. A feed, sitemap or REST-listing parser is one
:meth:`Parsers.add` call.

A parser is one awaitable call from a frontier row and its fetch result to
:class:`Parsed` records. The HTML page parser takes its extraction function as a
parameter (:data:`ExtractFn`, async), so an extractor running in a worker process
(``crawler/parsing.py``) plugs in at that one place; the default runs
:func:`crawler.extract.page.extract` on the loop.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from crawler.config import Config
from crawler.extract.page import Extraction, extract
from crawler.fetch.client import HTML_TYPES, FetchResult
from crawler.frontier import plan_links
from crawler.records import (
    PING_KINDS,
    CommentRecord,
    FrontierEntry,
    FrontierRow,
    LinkRecord,
    PageRecord,
    http_reason,
)
from crawler.urls import blog_of, comment_page_post, host_of

ExtractFn = Callable[[str, str, Mapping[str, str]], Awaitable[Extraction]]


@dataclass
class Parsed:
    """The records one response gives the store."""

    page: PageRecord
    comments: list[CommentRecord] = field(default_factory=list)
    links: list[LinkRecord] = field(default_factory=list)
    entries: list[FrontierEntry] = field(default_factory=list)
    digest: str | None = None  # of the comment ids: tells a changed comment list
    fresh: bool = False  # a complete, parsed copy: links no longer on it are dropped


class Parser(Protocol):
    async def __call__(self, row: FrontierRow, result: FetchResult) -> Parsed: ...


async def extract_on_loop(html: str, url: str, headers: Mapping[str, str]) -> Extraction:
    return extract(html, url, headers)


class HtmlPageParser:
    """A blog page: metadata, comments, links and the URLs to follow."""

    def __init__(self, config: Config, extract_fn: ExtractFn = extract_on_loop) -> None:
        self.config = config
        self.extract = extract_fn

    async def __call__(self, row: FrontierRow, result: FetchResult) -> Parsed:
        if not result.text:
            return await bare_page(row, result)
        extraction = await self.extract(result.text, result.final_url, result.headers)
        post_url = row.post_url or comment_page_post(row.url)
        owner = post_url or row.url
        comments = comment_records(owner, extraction)
        return Parsed(
            page=page_record(row, result, extraction, post_url),
            comments=comments,
            links=link_records(row.url, owner, extraction),
            entries=plan_links(row.url, row.depth, extraction, self.config, post_url),
            digest=comments_digest(comments),
            fresh=result.status == 200,
        )


async def bare_page(row: FrontierRow, result: FetchResult) -> Parsed:
    """What any answer gives without parsing: its status, type, size and error."""
    post_url = row.post_url or comment_page_post(row.url)
    return Parsed(page_record(row, result, None, post_url))


@dataclass(frozen=True)
class Rule:
    parser: Parser
    kinds: frozenset[str] | None  # frontier kinds it takes (None: any)
    media_types: frozenset[str | None] | None  # media types it takes (None: any)

    def matches(self, row: FrontierRow, result: FetchResult) -> bool:
        kind_ok = self.kinds is None or row.kind in self.kinds
        type_ok = self.media_types is None or result.content_type in self.media_types
        return kind_ok and type_ok


class Parsers:
    """The registry: rules tried in the order added; :func:`bare_page` when none matches."""

    def __init__(self) -> None:
        self._rules: list[Rule] = []

    def add(
        self,
        parser: Parser,
        *,
        kinds: Collection[str] | None = None,
        media_types: Collection[str | None] | None = None,
    ) -> None:
        self._rules.append(
            Rule(
                parser,
                None if kinds is None else frozenset(kinds),
                None if media_types is None else frozenset(media_types),
            )
        )

    def choose(self, row: FrontierRow, result: FetchResult) -> Parser:
        if result.ok and (result.status or 0) < 400:
            for rule in self._rules:
                if rule.matches(row, result):
                    return rule.parser
        return bare_page


def default_parsers(config: Config, extract_fn: ExtractFn = extract_on_loop) -> Parsers:
    """The parsers of a crawl: the HTML page extractor for HTML (or unlabelled) answers."""
    parsers = Parsers()
    parsers.add(HtmlPageParser(config, extract_fn), media_types={*HTML_TYPES, None})
    return parsers


# -- records --------------------------------------------------------------------------------
def failure_reason(result: FetchResult) -> str | None:
    if result.error:
        return result.error
    if result.status is not None and result.status >= 400:
        return http_reason(result.status)
    return None


def page_record(
    row: FrontierRow, result: FetchResult, extraction: Extraction | None, post_url: str | None
) -> PageRecord:
    page = PageRecord(
        url=row.url,
        final_url=result.final_url,
        host=host_of(row.url),
        blog=blog_of(row.url),
        depth=row.depth,
        status=result.status,
        content_type=result.content_type,
        error=failure_reason(result),
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
    owner_blog = blog_of(owner)  # one end of every edge is the owner
    for link in extraction.links:
        if link.dst == owner:
            continue
        # A pingback on post T from source S means "S links to T".
        src, dst = (link.dst, owner) if link.kind in PING_KINDS else (owner, link.dst)
        same = blog_of(link.dst) == owner_blog
        records.append(LinkRecord(src, dst, link.kind, url, link.anchor, link.rel, same))
    return records


def comments_digest(comments: list[CommentRecord]) -> str:
    return hashlib.sha1("\n".join(sorted(c.id for c in comments)).encode()).hexdigest()
