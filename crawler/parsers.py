"""Step 5 of the data flow: the parser for each response, chosen per response.

What was asked for (the frontier row's ``kind``: seed, citation, comment page, and next
feed, sitemap or REST listing) and what came back (the media type) choose the parser
(:meth:`Parsers.choose`); the first rule that matches wins, and a response no rule
takes is stored as a bare page record (status, type, size, no text). Today one rule: the
HTML page extractor for HTML answers. A feed, sitemap or REST-listing parser is one
:meth:`Parsers.add` call.

A parser is one awaitable call from a frontier row and its fetch result to
:class:`Parsed` records. The HTML page parser takes a :data:`Runner` as a parameter: it
runs :func:`parse_html_page` (extraction and the records made from it, a pure function)
in a worker process (``crawler/parsing.py``, :meth:`~crawler.parsing.PageParser.run`),
or, by default, on the loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from crawler.config import Config
from crawler.extract.page import extract
from crawler.fetch.client import HTML_TYPES, FetchResult
from crawler.page_records import AnswerMeta, ExtractFn, Parsed, page_record, parse_html_page
from crawler.records import FrontierRow
from crawler.urls import comment_page_post

T = TypeVar("T")
# ``await run(fn, html, *args)`` is ``fn(html, *args)``, perhaps in a worker process.
Runner = Callable[..., Awaitable[Any]]


class Parser(Protocol):
    async def __call__(self, row: FrontierRow, result: FetchResult) -> Parsed: ...


async def run_on_loop(fn: Callable[..., T], html: str, *args: Any) -> T:
    return fn(html, *args)


class HtmlPageParser:
    """A blog page: metadata, comments, links and the URLs to follow."""

    def __init__(
        self, config: Config, run: Runner = run_on_loop, extract_fn: ExtractFn = extract
    ) -> None:
        self.config = config
        self.run = run
        self.extract_fn = extract_fn

    async def __call__(self, row: FrontierRow, result: FetchResult) -> Parsed:
        if not result.text:
            return await bare_page(row, result)
        # The worker needs the answer's metadata, not its bytes a second time.
        answer = AnswerMeta.of(result, result.headers)
        parsed: Parsed = await self.run(
            parse_html_page, result.text, row, answer, self.config, self.extract_fn
        )
        parsed.page.html = result.text
        return parsed


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


def default_parsers(
    config: Config, run: Runner = run_on_loop, extract_fn: ExtractFn = extract
) -> Parsers:
    """The parsers of a crawl: the HTML page extractor for HTML (or unlabelled) answers
    (``extract_fn``, run by ``run``: with a worker's runner a module-level function)."""
    parsers = Parsers()
    parsers.add(HtmlPageParser(config, run, extract_fn), media_types={*HTML_TYPES, None})
    return parsers
