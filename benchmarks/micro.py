"""Micro-benchmarks of the per-page work, on the virtual web's pages (issue 7).

* ``extract``: pages/s of :func:`crawler.extract.extract` alone, next to a bare selectolax
  parse of the same pages (the floor any extractor pays);
* ``store``: pages/s of :meth:`db.store.Store.save_page` with each page's comments and
  links, committed in batches as the engine does (``commit_due``), and of the whole
  per-page database path of the engine (save, enqueue the followed links, finish);
* ``http`` (``--http``): pages/s of bare HTTP clients fetching every post through the
  virtual web as a proxy with 64 requests in flight and at most 4 per host: httpx as
  ``crawler.fetch.client`` configures it, aiohttp, and httpx over aiohttp
  (``httpx-aiohttp``, when installed). No parsing, no database: the ceiling of a client.

    python -m benchmarks.micro [--blogs 20] [--posts 50] [--seconds 3] [--http]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from selectolax.lexbor import LexborHTMLParser

from benchmarks.virtual_web import VirtualWeb, VirtualWebServer
from crawler.config import Config
from crawler.extract.page import Extraction, extract
from crawler.frontier import plan_links
from crawler.page_records import comment_records, comments_digest, link_records
from crawler.records import CommentRecord, FrontierEntry, LinkRecord, PageRecord
from crawler.urls import blog_of, host_of
from db.store import Store

HTML_HEADERS = {"content-type": "text/html; charset=UTF-8"}


def pages_of(web: VirtualWeb) -> list[tuple[str, str]]:
    """``(url, html)`` of every post of ``web``, rendered in this process."""
    return [(f"http://{host}{path}", html) for host, path, html in web.render_all()]


def rate(work: Callable[[str, str], object], pages: list[tuple[str, str]], seconds: float) -> float:
    """Pages per second of ``work(url, html)``, cycling over ``pages`` for ``seconds``."""
    done, started = 0, time.perf_counter()
    deadline = started + seconds
    while True:
        for url, html in pages:
            work(url, html)
        done += len(pages)
        if time.perf_counter() >= deadline:
            return done / (time.perf_counter() - started)


# -- extraction -----------------------------------------------------------------------------
def bench_extract(pages: list[tuple[str, str]], seconds: float) -> list[tuple[str, float]]:
    def parse_only(url: str, html: str) -> None:
        tree = LexborHTMLParser(html)
        tree.css("a[href]")

    return [
        ("selectolax parse + css('a[href]')", rate(parse_only, pages, seconds)),
        ("crawler.extract.extract", rate(lambda u, h: extract(h, u, HTML_HEADERS), pages, seconds)),
    ]


# -- database writes ---------------------------------------------------------------------------
def records(
    url: str, html: str, extraction: Extraction
) -> tuple[PageRecord, list[CommentRecord], list[LinkRecord]]:
    """What the engine hands the store for one page (mirrors ``Engine._store_page``)."""
    page = PageRecord(
        url=url, final_url=url, host=host_of(url), blog=blog_of(url), depth=1, status=200,
        content_type="text/html", error=None, size=len(html), html=html,
        title=extraction.title, is_post=extraction.is_post, published=extraction.published,
        author=extraction.author, text=extraction.text, canonical=extraction.canonical,
        pingback_endpoint=extraction.pingback_endpoint,
        webmention_endpoint=extraction.webmention_endpoint, feeds=extraction.feeds,
    )  # fmt: skip
    return page, comment_records(url, extraction), link_records(url, url, extraction)


def bench_store(pages: list[tuple[str, str]], seconds: float) -> list[tuple[str, float]]:
    prepared = []
    for url, html in pages:
        extraction = extract(html, url, HTML_HEADERS)
        page, comments, links = records(url, html, extraction)
        digest = comments_digest(comments)
        prepared.append((page, comments, links, digest, extraction))
    config = Config().with_overrides(crawl={"max_depth": 10})
    results = []
    for label, full in (
        ("Store.save_page (+ batched commits)", False),
        ("save_page + enqueue + finish", True),
    ):
        with tempfile.TemporaryDirectory(prefix="pingcrawl-micro-") as tmp:
            store = Store.open(Path(tmp) / "micro.db")
            store.enqueue(FrontierEntry(p[0].url, 1, p[0].host) for p in prepared)
            store.commit()
            done, started = 0, time.perf_counter()
            deadline = started + seconds
            while time.perf_counter() < deadline:
                for page, comments, links, digest, extraction in prepared:
                    store.save_page(page, comments, links, digest)
                    if full:
                        store.enqueue(plan_links(page.url, 1, extraction, config, None))
                        store.finish(page.url, "done")
                    if store.commit_due():
                        store.commit()
                done += len(prepared)
            store.commit()
            elapsed = time.perf_counter() - started
            store.close()
        results.append((label, done / elapsed))
    return results


# -- HTTP clients -------------------------------------------------------------------------------
async def _crawl_all(
    urls: list[str], fetch: Callable[[str], Awaitable[int]], concurrency: int, per_host: int
) -> int:
    total = asyncio.Semaphore(concurrency)
    hosts: dict[str, asyncio.Semaphore] = {}
    ok = 0

    async def one(url: str) -> None:
        nonlocal ok
        host = url.split("/", 3)[2]
        slot = hosts.setdefault(host, asyncio.Semaphore(per_host))
        async with slot, total:
            status = await fetch(url)  # (not ``ok += await ...``: that loses updates)
        ok += status == 200

    # Interleave hosts as the crawlers do, so per-host slots are not the limit.
    await asyncio.gather(*(one(u) for u in urls))
    return ok


def _interleaved(web: VirtualWeb) -> list[str]:
    return [web.url(b, p) for p in range(web.posts) for b in range(web.blogs)]


async def _httpx_run(urls: list[str], proxy: str, transport: Any = None) -> int:
    import httpx

    client = httpx.AsyncClient(
        proxy=None if transport is not None else proxy,
        transport=transport,
        trust_env=False,
        timeout=30,
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=128),
    )

    async def fetch(url: str) -> int:
        async with client.stream("GET", url) as response:
            async for _ in response.aiter_raw():
                pass
            return response.status_code

    async with client:
        return await _crawl_all(urls, fetch, 64, 4)


async def _aiohttp_run(urls: list[str], proxy: str) -> int:
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def fetch(url: str) -> int:
            async with session.get(url, proxy=proxy) as response:
                await response.read()
                return response.status

        return await _crawl_all(urls, fetch, 64, 4)


async def _httpx_aiohttp_run(urls: list[str], proxy: str) -> int:
    import httpx
    from httpx_aiohttp import AiohttpTransport

    return await _httpx_run(urls, proxy, AiohttpTransport(proxy=httpx.Proxy(proxy)))


def bench_http(web: VirtualWeb) -> list[tuple[str, float]]:
    clients: list[tuple[str, Callable[[list[str], str], Awaitable[int]]]] = [
        ("httpx (httpcore pool, as crawler.fetch.client)", _httpx_run),
    ]
    try:
        import aiohttp  # noqa: F401

        clients.append(("aiohttp", _aiohttp_run))
        import httpx_aiohttp  # noqa: F401

        clients.append(("httpx over httpx-aiohttp transport", _httpx_aiohttp_run))
    except ImportError:
        pass
    urls = _interleaved(web)
    results = []
    with VirtualWebServer(web) as server:
        for label, run in clients:
            started = time.perf_counter()
            ok = asyncio.run(run(urls, server.proxy))
            elapsed = time.perf_counter() - started
            if ok != len(urls):
                label += f" ({len(urls) - ok} failed)"
            results.append((label, ok / elapsed))
    return results


def show(title: str, rows: list[tuple[str, float]]) -> None:
    print(title)
    for label, value in rows:
        print(f"  {label:<44} {value:>9,.0f} pages/s  ({1000 / value:.3f} ms/page)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="pingcrawl micro-benchmarks")
    parser.add_argument("--blogs", type=int, default=20)
    parser.add_argument("--posts", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--http", action="store_true", help="also the bare HTTP clients")
    parser.add_argument("--http-blogs", type=int, default=100, help="blogs for --http")
    args = parser.parse_args(argv)
    web = VirtualWeb(args.blogs, args.posts)
    pages = pages_of(web)
    size = sum(len(h.encode()) for _, h in pages) / len(pages) / 1024
    print(f"{len(pages):,} virtual-web posts, {size:.1f} KB on average")
    show("extraction (one process, no I/O):", bench_extract(pages, args.seconds))
    show(
        "database writes (SQLite in WAL mode on a temporary file):",
        bench_store(pages, 0 + args.seconds),
    )
    if args.http:
        http_web = VirtualWeb(args.http_blogs, args.posts)
        show(
            f"bare HTTP clients, {http_web.total_pages:,} posts through the virtual web as a "
            "proxy, 64 in flight, 4 per host:",
            bench_http(http_web),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
