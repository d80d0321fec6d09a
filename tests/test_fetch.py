"""Fetcher unit tests through httpx.MockTransport: retries, pauses, redirects, errors."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

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


def test_every_request_carries_the_user_agent() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["user-agent"])
        return httpx.Response(200, headers=HTML, text="<html></html>")

    run(handler, ["http://b.example/a"], {"politeness": {"user_agent": "testbot/1 (+x)"}})
    assert seen == ["testbot/1 (+x)", "testbot/1 (+x)"]  # robots.txt and the page


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_retried_statuses(status: int) -> None:
    rec = Recorder({"/a": [httpx.Response(status), httpx.Response(200, headers=HTML, text="ok")]})
    result = run(rec, ["http://b.example/a"], {"http": {"retries": 2}})[0]
    assert result.status == 200 and result.attempts == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
def test_other_4xx_are_not_retried(status: int) -> None:
    rec = Recorder({"/a": httpx.Response(status)})
    result = run(rec, ["http://b.example/a"], {"http": {"retries": 3}})[0]
    assert result.status == status and result.attempts == 1 and result.error is None


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


def test_host_is_paused_after_repeated_throttling() -> None:
    rec = Recorder({"/robots.txt": httpx.Response(404), "/a": httpx.Response(503)})
    urls = ["http://b.example/a", "http://b.example/b", "http://other.example/x"]
    started = time.monotonic()
    results = run(rec, urls, {"http": {"retries": 5}}, pause_after=3)
    assert results[0].error == "host_paused" and results[0].status == 503
    assert results[0].attempts == 3  # paused on the third 503, not hammered five times
    assert results[1].error == "host_paused" and results[1].attempts == 0  # returns at once
    assert results[2].status == 404  # other hosts carry on
    assert time.monotonic() - started < 0.5


def test_pause_doubles_and_is_persisted() -> None:
    saved: dict[str, dict[str, Any]] = {}

    class Store:
        def get_host(self, host: str) -> dict[str, Any] | None:
            return saved.get(host)

        def save_host(self, host: str, **values: Any) -> None:
            saved.setdefault(host, {}).update(values)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404 if request.url.path == "/robots.txt" else 429)

    async def go() -> None:
        cfg = Config().with_overrides(politeness={"delay": 0.0}, http={"retries": 0})
        options: dict[str, Any] = {"pause_after": 1, "pause_base": 0.05, "pause_max": 10.0}
        async with Fetcher(
            cfg, transport=httpx.MockTransport(handler), host_store=Store(), **options
        ) as fetcher:
            await fetcher.fetch("http://b.example/a")
            assert saved["b.example"]["pause_seconds"] == 0.05
            await asyncio.sleep(0.07)
            await fetcher.fetch("http://b.example/a")
            assert saved["b.example"]["pause_seconds"] == 0.1
            assert saved["b.example"]["paused_until"] is not None

    asyncio.run(go())


def test_long_retry_after_pauses_the_host_instead_of_waiting() -> None:
    rec = Recorder(
        {
            "/robots.txt": httpx.Response(404),
            "/a": httpx.Response(429, headers={"retry-after": "7200"}),
        }
    )
    started = time.monotonic()
    results = run(rec, ["http://b.example/a", "http://b.example/b"], {"http": {"retries": 3}})
    assert [r.error for r in results] == ["host_paused", "host_paused"]
    assert results[0].attempts == 1 and time.monotonic() - started < 0.5


def test_retry_after_parsing() -> None:
    assert _retry_after("5", 3600) == 5
    assert _retry_after("99999", 3600) == 3600
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= (_retry_after(future, 3600) or 0) <= 31
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 3600) == 0
    assert _retry_after("soon", 3600) is None and _retry_after(None, 3600) is None


def test_redirect_to_a_disallowed_host_path_is_not_followed() -> None:
    rec = Recorder(
        {
            "/robots.txt": httpx.Response(200, text="User-agent: *\nDisallow: /secret"),
            "/a": httpx.Response(302, headers={"location": "http://c.example/secret"}),
        }
    )
    result = run(rec, ["http://b.example/a"])[0]
    assert result.error == "redirect_robots" and result.final_url == "http://c.example/secret"
    assert "/secret" not in rec.paths


def test_redirect_to_another_scheme_is_refused() -> None:
    rec = Recorder({"/a": httpx.Response(301, headers={"location": "ftp://b.example/file"})})
    assert run(rec, ["http://b.example/a"])[0].error == "redirect_scheme"


def test_redirect_without_location_is_the_final_answer() -> None:
    rec = Recorder({"/a": httpx.Response(301)})
    result = run(rec, ["http://b.example/a"])[0]
    assert result.status == 301 and result.error is None and result.redirects == []


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
