"""The output seam: one Exchange per request that reached a server, with what a WARC writer
needs (request as sent, status line, raw header list, body before content decoding); bodies
of sitemaps, feeds and JSON kept. Through the production transport against a local server."""

from __future__ import annotations

import asyncio
import gzip
import time
from typing import Any

from siteserver import SiteServer

from crawler.config import Config
from crawler.fetch.client import Fetcher, FetchResult


def config(**sections: Any) -> Config:
    merged: dict[str, dict[str, Any]] = {
        "politeness": {"delay": 0.0},
        "http": {"timeout": 3.0},
        "safety": {"allow_private": True},
    }
    for name, values in sections.items():
        merged.setdefault(name, {}).update(values)
    return Config().with_overrides(**merged)


def fetch(cfg: Config, urls: list[str]) -> list[FetchResult]:
    async def go() -> list[FetchResult]:
        async with Fetcher(cfg, backoff_base=0.01, backoff_max=0.02) as fetcher:
            return [await fetcher.fetch(url) for url in urls]

    return asyncio.run(go())


def test_every_request_of_a_fetch_is_an_exchange_in_order(site: SiteServer) -> None:
    site.add_robots("User-agent: *\nAllow: /\n")
    site.add_redirect("/old", "/new")
    site.add_page("/new", "<html>new</html>")
    site.fail_times("/new", 1, status=503)
    before = time.time()
    result = fetch(config(http={"retries": 2}), [site.url("/old")])[0]
    after = time.time()
    assert result.status == 200 and result.attempts == 4  # every hop of every try counts
    summary = [(e.purpose, e.url.rsplit("/", 1)[1], e.status) for e in result.exchanges]
    assert summary == [
        ("robots", "robots.txt", 200),
        ("page", "old", 301),
        ("page", "new", 503),
        ("page", "old", 301),
        ("page", "new", 200),
    ]
    assert [e.reason for e in result.exchanges[:3]] == [
        "OK",
        "Moved Permanently",
        "Service Unavailable",
    ]
    times = [e.sent_at for e in result.exchanges]
    assert times == sorted(times) and before <= times[0] and times[-1] <= after
    assert all(e.method == "GET" and e.http_version == "1.1" for e in result.exchanges)
    assert all(e.elapsed > 0 and e.error is None for e in result.exchanges)
    # the next run reads robots.txt from memory: a second fetch has no robots exchange
    assert len(site.hits(path="/robots.txt")) == 1


def test_the_request_headers_are_those_sent(site: SiteServer) -> None:
    site.add_page("/a", "<html>a</html>")
    cfg = config(politeness={"user_agent": "seambot/2 (+https://x.example)", "obey_robots": False})
    exchange = fetch(cfg, [site.url("/a")])[0].exchanges[0]
    names = [name.lower() for name, _value in exchange.request_headers]
    assert {"host", "user-agent", "accept-encoding", "accept"} <= set(names)
    sent = {name.lower(): value for name, value in exchange.request_headers}
    hit = site.hits(path="/a")[0].headers
    assert sent["host"] == hit["Host"] == f"127.0.0.1:{site.port}"
    assert sent["user-agent"] == hit["User-Agent"] == "seambot/2 (+https://x.example)"
    assert sent["accept-encoding"] == hit["Accept-Encoding"]
    assert len(names) == len(hit)  # nothing added after the hook saw the headers


def test_response_headers_raw_in_order_and_raw_body_before_decoding(site: SiteServer) -> None:
    html = b"<html>" + b"squeeze me " * 2000 + b"</html>"
    packed = gzip.compress(html)
    headers = {"Content-Encoding": "gzip", "X-Zulu": "1", "X-Alpha": "2", "ETag": '"e"'}
    site.add_page("/z", packed, headers=headers)
    result = fetch(config(politeness={"obey_robots": False}), [site.url("/z")])[0]
    exchange = result.exchanges[0]
    assert result.text == html.decode() and result.body == html
    assert exchange.raw_body == packed and not exchange.truncated
    names = [name for name, _value in exchange.response_headers]
    assert names.index("X-Zulu") < names.index("X-Alpha") < names.index("ETag")
    assert ("Content-Encoding", "gzip") in exchange.response_headers
    assert names[:2] == ["Server", "Date"]  # as http.server writes them


def test_an_identity_body_is_kept_once(site: SiteServer) -> None:
    site.big("/big", 300_000)
    result = fetch(config(politeness={"obey_robots": False}), [site.url("/big")])[0]
    assert result.body is not None and len(result.body) == 300_000
    assert result.exchanges[0].raw_body is result.body  # the same object, not a copy


def test_a_cut_body_is_truncated_within_max_bytes(site: SiteServer) -> None:
    site.big("/big", 3_000_000)
    site.gzip_bomb("/bomb", 50_000_000)
    cfg = config(http={"max_bytes": 100_000}, politeness={"obey_robots": False})
    big, bomb = fetch(cfg, [site.url("/big"), site.url("/bomb")])
    for result in (big, bomb):
        exchange = result.exchanges[0]
        assert result.error == "too_large" and exchange.truncated
        assert len(exchange.raw_body) <= 100_000 and result.body is not None
        assert len(result.body) == 100_000
    assert big.exchanges[0].raw_body == big.body  # identity: the raw bytes are the body


def test_sitemaps_feeds_and_json_are_kept_not_dropped(site: SiteServer) -> None:
    kinds = {
        "/sitemap.xml": ("application/xml", b"<?xml version='1.0'?><urlset></urlset>"),
        "/feed": ("application/rss+xml; charset=utf-8", b"<rss><channel/></rss>"),
        "/atom": ("application/atom+xml", b"<feed xmlns='http://www.w3.org/2005/Atom'/>"),
        "/wp-json/wp/v2/posts": ("application/json; charset=UTF-8", b'[{"id": 1}]'),
        "/old-sitemap": ("text/xml", b"<urlset/>"),
        "/img.png": ("image/png", b"\x89PNG\r\n\x1a\n...."),
    }
    for path, (content_type, body) in kinds.items():
        site.add_page(path, body, content_type=content_type)
    results = fetch(config(politeness={"obey_robots": False}), [site.url(p) for p in kinds])
    for result, (content_type, body) in zip(results, kinds.values(), strict=True):
        assert result.status == 200 and result.text is None, result.url
        assert result.content_type == content_type.split(";")[0].lower()
        expected = None if content_type == "image/png" else body
        assert result.body == expected, result.url
        assert result.exchanges[0].raw_body == body  # the archive still has the image


def test_an_error_body_is_kept_in_the_exchange(site: SiteServer) -> None:
    site.add_page("/gone", "<p>gone for good</p>", status=410)
    result = fetch(config(politeness={"obey_robots": False}), [site.url("/gone")])[0]
    assert result.status == 410 and result.body is None and result.text is None
    exchange = result.exchanges[0]
    assert (exchange.status, exchange.reason, exchange.raw_body) == (
        410,
        "Gone",
        b"<p>gone for good</p>",
    )


def test_a_timeout_after_the_headers_is_an_exchange_with_an_error(site: SiteServer) -> None:
    site.hang("/h", after_headers=True)
    cfg = config(http={"timeout": 0.3, "retries": 0}, politeness={"obey_robots": False})
    result = fetch(cfg, [site.url("/h")])[0]
    assert result.error == "timeout" and result.status is None
    exchange = result.exchanges[0]
    assert exchange.status == 200 and exchange.error == "timeout" and exchange.truncated
    assert exchange.raw_body == b"<html>"


def test_skipped_urls_make_no_exchange_but_their_robots_request_does(site: SiteServer) -> None:
    site.add_robots("User-agent: *\nDisallow: /private\n")
    private, again = fetch(config(), [site.url("/private/x"), site.url("/private/y")])
    assert private.skip_reason == again.skip_reason == "robots"
    assert [e.purpose for e in private.exchanges] == ["robots"]
    assert private.exchanges[0].raw_body == b"User-agent: *\nDisallow: /private\n"
    assert again.exchanges == []  # the rules came from memory
    refused = fetch(config(safety={"allow_private": False}), ["http://10.0.0.1/"])[0]
    assert refused.skip_reason == "private" and refused.exchanges == []
