"""The send path's decisions: retries, pauses, redirects, errors.

Retries, pauses and redirects go through the production transport (a real aiohttp
connection to the local test server, virtual hosts through it as the proxy): what is
counted is what reached the server. httpx.MockTransport remains only where the point is
an injected transport itself (errors it raises, bodies httpx already decoded).
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from siteserver import SiteServer

from crawler.config import Config
from crawler.fetch.client import Fetcher, FetchResult, _retry_after, looks_like_html

Handler = Callable[[httpx.Request], httpx.Response]
HTML = {"content-type": "text/html"}


def run(handler: Handler, urls: list[str], config: dict[str, Any] | None = None, **kw: Any):
    sections: dict[str, dict[str, Any]] = {"politeness": {"delay": 0.0}}
    for name, values in (config or {}).items():
        sections.setdefault(name, {}).update(values)
    cfg = Config().with_overrides(**sections)
    options = {"backoff_base": 0.001, "backoff_max": 0.005, "pause_base": 0.3, "pause_max": 1.0}
    options.update(kw)

    async def go() -> list[FetchResult]:
        async with Fetcher(cfg, transport=httpx.MockTransport(handler), **options) as fetcher:
            return [await fetcher.fetch(url) for url in urls]

    return asyncio.run(go())


class Recorder:
    """A MockTransport handler answering from a script of (path -> responses)."""

    def __init__(self, script: dict[str, list[httpx.Response] | httpx.Response]) -> None:
        self.script = script
        self.paths: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.paths.append(path)
        answer = self.script.get(path, httpx.Response(404))
        if isinstance(answer, list):
            return answer.pop(0) if len(answer) > 1 else answer[0]
        return answer


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        (httpx.ConnectError("refused"), "connection_error"),
        (httpx.ReadError("reset by peer"), "connection_reset"),
        (httpx.RemoteProtocolError("closed"), "connection_reset"),
        (httpx.ReadTimeout("slow"), "timeout"),
        (httpx.ConnectTimeout("slow"), "timeout"),
    ],
)
def test_network_errors_are_retried_then_recorded(exc: Exception, error: str) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/robots.txt":
            return httpx.Response(404)
        calls.append(request.url.path)
        raise exc

    result = run(handler, ["http://b.example/a"], {"http": {"retries": 1}}, pause_after=10)[0]
    assert result.error == error and result.status is None and len(calls) == 2


def test_retry_after_parsing() -> None:
    assert _retry_after("5", 3600) == 5
    assert _retry_after("99999", 3600) == 3600
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= (_retry_after(future, 3600) or 0) <= 31
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 3600) == 0
    assert _retry_after("soon", 3600) is None and _retry_after(None, 3600) is None


def test_content_types() -> None:
    rec = Recorder(
        {
            "/img": httpx.Response(200, headers={"content-type": "image/png"}, content=b"\x89PNG"),
            "/x": httpx.Response(
                200, headers={"content-type": "Application/XHTML+XML"}, text="<html/>"
            ),
            "/bare": httpx.Response(200, content=b"  <!DOCTYPE html><title>t</title>"),
            "/bin": httpx.Response(200, content=b"\x00\x01binary"),
        }
    )
    img, xhtml, bare, binary = run(
        rec, [f"http://b.example/{p}" for p in ("img", "x", "bare", "bin")]
    )
    assert img.content_type == "image/png" and img.text is None and img.size == 4
    assert xhtml.content_type == "application/xhtml+xml" and xhtml.text == "<html/>"
    assert bare.content_type is None and bare.text is not None
    assert binary.text is None and binary.size == 8


def test_looks_like_html() -> None:
    assert looks_like_html(b"\xef\xbb\xbf\n<!doctype HTML>")
    assert not looks_like_html(b"%PDF-1.4")


def test_an_injected_transport_never_reaches_the_network() -> None:
    """Safety still applies before the transport: a private literal is skipped."""
    rec = Recorder({})
    result = run(rec, ["http://169.254.169.254/latest/meta-data/"])[0]
    assert result.skip_reason == "private" and rec.paths == []


# -- through the production transport: a real aiohttp connection to the local server ------
# (virtual hosts b.example, c.example … with the server as the proxy)


def run_wire(site: SiteServer, urls: list[str], config: dict[str, Any] | None = None, **kw: Any):
    sections: dict[str, dict[str, Any]] = {
        "politeness": {"delay": 0.0},
        "http": {"proxy": site.proxy_url, "timeout": 3.0},
    }
    for name, values in (config or {}).items():
        sections.setdefault(name, {}).update(values)
    cfg = Config().with_overrides(**sections)
    options = {"backoff_base": 0.001, "backoff_max": 0.005, "pause_base": 0.3, "pause_max": 1.0}
    options.update(kw)

    async def go() -> list[FetchResult]:
        async with Fetcher(cfg, **options) as fetcher:
            return [await fetcher.fetch(url) for url in urls]

    return asyncio.run(go())


def paths(site: SiteServer, host: str) -> list[str]:
    return [hit.path for hit in site.hits(host)]


def test_every_request_carries_the_user_agent(site: SiteServer) -> None:
    site.add_page("/a", "<html></html>", host="b.example")
    run_wire(site, ["http://b.example/a"], {"politeness": {"user_agent": "testbot/1 (+x)"}})
    seen = [hit.headers["User-Agent"] for hit in site.hits("b.example")]
    assert seen == ["testbot/1 (+x)", "testbot/1 (+x)"]  # robots.txt and the page


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_retried_statuses(site: SiteServer, status: int) -> None:
    site.add_page("/a", "ok", host="b.example")
    site.fail_times("/a", 1, status=status, host="b.example")
    result = run_wire(site, ["http://b.example/a"], {"http": {"retries": 2}})[0]
    assert result.status == 200 and result.attempts == 2
    assert paths(site, "b.example") == ["/robots.txt", "/a", "/a"]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
def test_other_4xx_are_not_retried(site: SiteServer, status: int) -> None:
    site.add_page("/a", "no", status=status, host="b.example")
    result = run_wire(site, ["http://b.example/a"], {"http": {"retries": 3}})[0]
    assert result.status == status and result.attempts == 1 and result.error is None
    assert paths(site, "b.example") == ["/robots.txt", "/a"]


def test_host_is_paused_after_repeated_throttling(site: SiteServer) -> None:
    site.fail_times("/a", 100, status=503, host="b.example")
    urls = ["http://b.example/a", "http://b.example/b", "http://other.example/x"]
    started = time.monotonic()
    results = run_wire(site, urls, {"http": {"retries": 5}}, pause_after=3)
    assert results[0].error == "host_paused" and results[0].status == 503
    assert results[0].attempts == 3  # paused on the third 503, not hammered five times
    assert results[1].error == "host_paused" and results[1].attempts == 0  # returns at once
    assert results[2].status == 404  # other hosts carry on
    assert paths(site, "b.example") == ["/robots.txt", "/a", "/a", "/a"]
    assert time.monotonic() - started < 1.5


def test_pause_doubles_and_is_persisted(site: SiteServer) -> None:
    saved: dict[str, dict[str, Any]] = {}

    class Store:
        def get_host(self, host: str) -> dict[str, Any] | None:
            return saved.get(host)

        def save_host(self, host: str, **values: Any) -> None:
            saved.setdefault(host, {}).update(values)

    site.fail_times("/a", 100, status=429, host="b.example")
    cfg = Config().with_overrides(
        politeness={"delay": 0.0}, http={"retries": 0, "proxy": site.proxy_url}
    )

    async def go() -> None:
        options: dict[str, Any] = {"pause_after": 1, "pause_base": 0.05, "pause_max": 10.0}
        async with Fetcher(cfg, host_store=Store(), **options) as fetcher:
            await fetcher.fetch("http://b.example/a")
            assert saved["b.example"]["pause_seconds"] == 0.05
            await asyncio.sleep(0.07)
            await fetcher.fetch("http://b.example/a")
            assert saved["b.example"]["pause_seconds"] == 0.1
            assert saved["b.example"]["paused_until"] is not None

    asyncio.run(go())
    assert paths(site, "b.example") == ["/robots.txt", "/a", "/a"]


def test_long_retry_after_pauses_the_host_instead_of_waiting(site: SiteServer) -> None:
    site.retry_after("/a", 7200, status=429, times=100, host="b.example")
    started = time.monotonic()
    urls = ["http://b.example/a", "http://b.example/b"]
    results = run_wire(site, urls, {"http": {"retries": 3}})
    assert [r.error for r in results] == ["host_paused", "host_paused"]
    assert results[0].attempts == 1 and time.monotonic() - started < 1.0
    assert paths(site, "b.example") == ["/robots.txt", "/a"]


def test_redirect_to_a_disallowed_host_path_is_not_followed(site: SiteServer) -> None:
    site.add_robots("User-agent: *\nDisallow: /secret", host="c.example")
    site.add_redirect("/a", "http://c.example/secret", status=302, host="b.example")
    result = run_wire(site, ["http://b.example/a"])[0]
    assert result.error == "redirect_robots" and result.final_url == "http://c.example/secret"
    assert paths(site, "c.example") == ["/robots.txt"]


def test_redirect_to_another_scheme_is_refused(site: SiteServer) -> None:
    site.add_redirect("/a", "ftp://b.example/file", host="b.example")
    assert run_wire(site, ["http://b.example/a"])[0].error == "redirect_scheme"


def test_redirect_without_location_is_the_final_answer(site: SiteServer) -> None:
    site.add_page("/a", "", status=301, host="b.example")
    result = run_wire(site, ["http://b.example/a"])[0]
    assert result.status == 301 and result.error is None and result.redirects == []
