"""The Scrapy side of the benchmark: a spider doing pingcrawl's job on the virtual web.

It obeys robots.txt, starts at the same seeds, follows the pingback/trackback source
links of the comment list and the links inside ``.entry-content`` (never comment or nav
links), with the same depth limit and concurrency, through the same HTTP proxy. Each
page is parsed (title, date, author, text, comments, every link with its kind) and the
item is stored in SQLite by a pipeline (page, body, comments, links; WAL, commits every
half second), so the work is comparable with pingcrawl, which stores everything.

Scrapy is configured the way its documentation recommends for broad crawls: breadth-first
order (``DEPTH_PRIORITY = 1`` with FIFO queues), cookies off, no random delay.

    python -m benchmarks.scrapy_spider --seeds seeds.json --db scrapy.db \\
        --proxy http://127.0.0.1:8765 [--delay 0] [--depth 10] [--stats stats.json]

Run by :mod:`benchmarks.run` in a subprocess, which measures its wall time and peak RSS.
Needs the ``bench`` extra (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.http import Response

ENTRY_CONTENT = "contains(concat(' ', normalize-space(@class), ' '), ' entry-content ')"
COMMENT_LIST = "contains(concat(' ', normalize-space(@class), ' '), ' comment-list ')"
NAV_ANCHORS = f"//a[@href][not(ancestor::*[{ENTRY_CONTENT}])][not(ancestor::ol[{COMMENT_LIST}])]"
PING_KINDS = ("pingback", "trackback")

SCHEMA = """
CREATE TABLE IF NOT EXISTS pages (url TEXT PRIMARY KEY, status INTEGER, title TEXT,
    canonical TEXT, published TEXT, author TEXT, blog TEXT, depth INTEGER, sha256 TEXT,
    text TEXT, fetched_at TEXT);
CREATE TABLE IF NOT EXISTS bodies (sha256 TEXT PRIMARY KEY, html TEXT);
CREATE TABLE IF NOT EXISTS comments (id TEXT PRIMARY KEY, post_url TEXT, comment_id TEXT,
    kind TEXT, author TEXT, author_url TEXT, published TEXT, text TEXT, source_url TEXT,
    source_title TEXT);
CREATE TABLE IF NOT EXISTS links (src TEXT, dst TEXT, kind TEXT, found_on TEXT, anchor TEXT,
    rel TEXT, same_blog INTEGER, PRIMARY KEY (src, dst, kind));
"""


def _clean(parts: list[str]) -> str:
    return " ".join(" ".join(parts).split())


def _host(url: str) -> str:
    host = urlsplit(url).hostname or ""
    return host.removeprefix("www.")


class BlogSpider(scrapy.Spider):
    """Start at the seeds; follow pingback/trackback sources and entry-content links."""

    name = "blogs"

    def __init__(self, seeds: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seeds = seeds or []

    # Seeds go through the duplicate filter (Scrapy's default start requests bypass it, so a
    # seed found again as a link would be fetched twice). ``start()`` is Scrapy >= 2.13.
    async def start(self) -> AsyncIterator[scrapy.Request]:
        for request in self.start_requests():
            yield request

    def start_requests(self) -> Iterator[scrapy.Request]:
        for url in self.seeds:
            yield scrapy.Request(url, callback=self.parse)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        if not hasattr(response, "css"):  # not HTML: nothing to parse
            return
        url = response.url
        content = response.css(".entry-content")
        comments, links, follow = [], [], []
        for anchor in content.css("a[href]"):
            dst = response.urljoin(anchor.attrib["href"])
            links.append((url, dst, "citation", _clean(anchor.css("::text").getall()), ""))
            follow.append(dst)
        for entry in response.css("ol.comment-list > li"):
            classes = (entry.attrib.get("class") or "").split()
            kind = next((k for k in PING_KINDS if k in classes), "comment")
            comment_id = (entry.attrib.get("id") or "").removeprefix("comment-") or None
            published = entry.css("time::attr(datetime)").get()
            if kind == "comment":
                author_link = entry.css(".comment-author a[href]")
                author_url = response.urljoin(author_link.attrib["href"]) if author_link else None
                if author_url:
                    links.append((url, author_url, "comment", "", author_link.attrib.get("rel")))
                author = _clean(entry.css(".comment-author .fn ::text").getall()) or None
                text = _clean(entry.css(".comment-content ::text").getall())
                source_url = source_title = None
            else:
                source = entry.css("a.url[href]")
                source_url = response.urljoin(source.attrib["href"]) if source else None
                source_title = _clean(source.css("::text").getall()) or None
                author, author_url = source_title, source_url
                text = _clean(entry.css(".comment-body ::text").getall())
                if source_url:
                    # A pingback on this post from S means "S links here".
                    links.append((source_url, url, kind, source_title or "", ""))
                    follow.append(source_url)
            comments.append(
                (
                    f"{url}#comment-{comment_id}",
                    url,
                    comment_id,
                    kind,
                    author,
                    author_url,
                    published,
                    text,
                    source_url,
                    source_title,
                )
            )
        for anchor in response.xpath(NAV_ANCHORS):
            dst = response.urljoin(anchor.attrib["href"])
            links.append((url, dst, "nav", _clean(anchor.css("::text").getall()), ""))
        yield {
            "url": url,
            "status": response.status,
            "title": response.css("h1.entry-title::text").get()
            or response.css("title::text").get(),
            "canonical": response.css("link[rel=canonical]::attr(href)").get(),
            "published": response.css(
                "meta[property='article:published_time']::attr(content)"
            ).get(),
            "author": response.css(".entry-meta .author a::text").get(),
            "blog": response.css("meta[property='og:site_name']::attr(content)").get(),
            "depth": response.meta.get("depth", 0),
            "text": _clean(content.css("::text").getall()),
            "html": response.text,
            "comments": comments,
            "links": links,
        }
        for dst in follow:
            if dst.startswith(("http://", "https://")):
                yield response.follow(dst, callback=self.parse)


class SqlitePipeline:
    """Store every item: page, body (by sha256), comments, links; commit every 0.5 s."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None
        self.last_commit = time.monotonic()

    @classmethod
    def from_crawler(cls, crawler: Any) -> SqlitePipeline:
        return cls(crawler.settings.get("BENCH_DB", "scrapy.db"))

    def open_spider(self, spider: scrapy.Spider | None = None) -> None:
        self.conn = sqlite3.connect(self.path)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.executescript(SCHEMA)

    def close_spider(self, spider: scrapy.Spider | None = None) -> None:
        if self.conn is not None:
            self.conn.commit()
            self.conn.close()

    def process_item(self, item: dict[str, Any], spider: scrapy.Spider | None = None) -> dict:
        conn = self.conn
        assert conn is not None
        html = item.pop("html")
        sha = hashlib.sha256(html.encode("utf-8", "surrogatepass")).hexdigest()
        conn.execute("INSERT OR IGNORE INTO bodies (sha256, html) VALUES (?, ?)", (sha, html))
        conn.execute(
            "INSERT OR REPLACE INTO pages (url, status, title, canonical, published, author, "
            "blog, depth, sha256, text, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                item["url"],
                item["status"],
                item["title"],
                item["canonical"],
                item["published"],
                item["author"],
                item["blog"],
                item["depth"],
                sha,
                item["text"],
                datetime.now(UTC).isoformat(),
            ),
        )
        conn.executemany(
            "INSERT OR REPLACE INTO comments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            item["comments"],
        )
        conn.executemany(
            "INSERT OR IGNORE INTO links VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (src, dst, kind, item["url"], anchor, rel, int(_host(src) == _host(dst)))
                for src, dst, kind, anchor, rel in item["links"]
            ],
        )
        if time.monotonic() - self.last_commit >= 0.5:
            conn.commit()
            self.last_commit = time.monotonic()
        return {"url": item["url"]}


def settings(args: argparse.Namespace) -> dict[str, Any]:
    from scrapy.settings import default_settings

    # Scrapy randomises the delay by default; the bound of the politeness mode needs it exact.
    jitter = (
        {"DOWNLOAD_DELAY_JITTER": 0}
        if hasattr(default_settings, "DOWNLOAD_DELAY_JITTER")
        else {"RANDOMIZE_DOWNLOAD_DELAY": False}
    )
    return {
        **jitter,
        "BENCH_DB": args.db,
        "ITEM_PIPELINES": {f"{__name__}.SqlitePipeline": 300},
        "ROBOTSTXT_OBEY": True,
        "USER_AGENT": "benchbot/1.0 (+https://example.invalid/bench)",
        "CONCURRENT_REQUESTS": args.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": args.per_host,
        "DOWNLOAD_DELAY": args.delay,
        "DEPTH_LIMIT": args.depth,
        # Broad-crawl settings from Scrapy's documentation.
        "DEPTH_PRIORITY": 1,
        "SCHEDULER_DISK_QUEUE": "scrapy.squeues.PickleFifoDiskQueue",
        "SCHEDULER_MEMORY_QUEUE": "scrapy.squeues.FifoMemoryQueue",
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "DOWNLOAD_TIMEOUT": 30,
        "LOG_LEVEL": args.log_level,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Scrapy spider for the pingcrawl benchmark")
    parser.add_argument("--seeds", required=True, help="JSON file with a list of seed URLs")
    parser.add_argument("--db", required=True, help="SQLite file to write")
    parser.add_argument("--proxy", required=True, help="HTTP proxy URL (the virtual web)")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--per-host", type=int, default=4)
    parser.add_argument("--stats", help="write Scrapy's stats here as JSON")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    with open(args.seeds, encoding="utf-8") as f:
        seeds = json.load(f)
    # HttpProxyMiddleware reads the environment: robots.txt requests go through it too.
    os.environ["http_proxy"] = os.environ["HTTP_PROXY"] = args.proxy
    os.environ.pop("no_proxy", None)
    os.environ.pop("NO_PROXY", None)
    process = CrawlerProcess(settings(args))
    crawler = process.create_crawler(BlogSpider)
    process.crawl(crawler, seeds=seeds)
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    if args.stats:
        with open(args.stats, "w", encoding="utf-8") as f:
            json.dump(stats, f, default=str, indent=1)
    return 0 if stats.get("finish_reason") == "finished" else 1


if __name__ == "__main__":
    raise SystemExit(main())
