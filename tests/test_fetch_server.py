"""The fetch stage against a real local server (tests/siteserver.py): issue 3's done-when."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from siteserver import SiteProcess, SiteServer

from crawler.config import Config
from crawler.fetch.client import Fetcher, FetchResult
from crawler.records import iso_at

SLACK = 0.005  # clock granularity between the client's start and the server's timestamp


def config(site: SiteServer | None = None, *, proxy: bool = False, **sections: Any) -> Config:
    """A test config: no delay, private addresses allowed (the server is 127.0.0.1)."""
    merged: dict[str, dict[str, Any]] = {
        "politeness": {"delay": 0.0},
        "http": {"timeout": 2.0},
        "safety": {"allow_private": True},
    }
    if proxy and site is not None:
        merged["http"]["proxy"] = site.proxy_url
    for name, values in sections.items():
        merged.setdefault(name, {}).update(values)
    return Config().with_overrides(**merged)


def fast_fetcher(cfg: Config, **kwargs: Any) -> Fetcher:
    """Production logic with test-sized backoff and pauses."""
    options = {"backoff_base": 0.01, "backoff_max": 0.05, "pause_base": 0.2, "pause_max": 1.0}
    options.update(kwargs)
    return Fetcher(cfg, **options)


def fetch_all(cfg: Config, urls: list[str], **kwargs: Any) -> list[FetchResult]:
    async def go() -> list[FetchResult]:
        async with fast_fetcher(cfg, **kwargs) as fetcher:
            return await asyncio.gather(*(fetcher.fetch(u) for u in urls))

    return asyncio.run(go())


def fetch_one(cfg: Config, url: str, **kwargs: Any) -> FetchResult:
    return fetch_all(cfg, [url], **kwargs)[0]


def test_plain_page(site: SiteServer) -> None:
    site.add_page("/a", "<html><title>A</title></html>", headers={"ETag": '"v1"'})
    result = fetch_one(config(), site.url("/a"))
    assert (result.status, result.error, result.skip_reason) == (200, None, None)
    assert result.text == "<html><title>A</title></html>"
    assert result.etag == '"v1"' and result.attempts == 1 and result.final_url == site.url("/a")
    hit = site.hits(path="/a")[0]
    assert hit.headers["User-Agent"] == Config().politeness.user_agent


def test_503_twice_then_200(site: SiteServer) -> None:
    site.add_page("/p", "<html>ok</html>")
    site.fail_times("/p", 2, status=503)
    result = fetch_one(config(http={"retries": 3}), site.url("/p"))
    assert result.status == 200 and result.error is None and result.text == "<html>ok</html>"
    assert result.attempts == 3
    assert len(site.hits(path="/p")) == 3


def test_404_is_not_retried(site: SiteServer) -> None:
    result = fetch_one(config(http={"retries": 3}), site.url("/missing"))
    assert result.status == 404 and result.attempts == 1 and result.text is None
    assert len(site.hits(path="/missing")) == 1


def test_retries_exhausted_keep_the_last_status(site: SiteServer) -> None:
    site.add_page("/p", "<html>ok</html>")
    site.fail_times("/p", 5, status=500)
    result = fetch_one(config(http={"retries": 2}), site.url("/p"))
    assert result.status == 500 and result.attempts == 3


def test_retry_after_delays_the_retry_at_the_server(site: SiteServer) -> None:
    site.add_page("/p", "<html>ok</html>")
    site.retry_after("/p", 1, status=429)
    result = fetch_one(config(http={"retries": 2}), site.url("/p"))
    assert result.status == 200
    first, second = site.starts()[-2:]
    assert second - first >= 1.0 - SLACK


def test_retry_after_delays_the_next_request_to_that_host(site: SiteServer) -> None:
    site.add_page("/p", "<html>ok</html>")
    site.add_page("/q", "<html>ok</html>")
    site.retry_after("/p", 1, status=503)

    async def go() -> tuple[FetchResult, FetchResult]:
        async with fast_fetcher(config(http={"retries": 0})) as fetcher:
            first = await fetcher.fetch(site.url("/p"))
            return first, await fetcher.fetch(site.url("/q"))

    first, second = asyncio.run(go())
    assert first.status == 503 and second.status == 200
    gap = site.hits(path="/q")[0].time - site.hits(path="/p")[0].time
    assert gap >= 1.0 - SLACK


def test_robots_500_means_no_page_is_fetched(site: SiteServer) -> None:
    site.add_robots("", status=500)
    site.add_page("/a", "<html>a</html>")
    results = fetch_all(config(), [site.url("/a"), site.url("/b")])
    assert {(r.skip_reason, r.error) for r in results} == {("robots", "robots_unavailable")}
    assert [h.path for h in site.hits()] == ["/robots.txt"]


def test_redirect_loop_is_an_error_quickly(site: SiteServer) -> None:
    site.add_redirect("/a", "/b")
    site.add_redirect("/b", "/a")
    started = time.monotonic()
    result = fetch_one(config(), site.url("/a"))
    assert result.error == "redirect_loop" and result.redirects == [site.url("/b")]
    assert time.monotonic() - started < 1.0
    assert len(site.hits(path="/a")) == 1 and len(site.hits(path="/b")) == 1


def test_too_many_redirects(site: SiteServer) -> None:
    for i in range(8):
        site.add_redirect(f"/r{i}", f"/r{i + 1}", status=302)
    result = fetch_one(config(http={"max_redirects": 3}), site.url("/r0"))
    assert result.error == "too_many_redirects" and len(result.redirects) == 3
    assert not site.hits(path="/r4")


def test_redirect_is_followed_and_recorded(site: SiteServer) -> None:
    site.add_redirect("/old", "/new#frag", status=308)
    site.add_page("/new", "<html>new</html>")
    result = fetch_one(config(), site.url("/old"))
    assert result.status == 200 and result.final_url == site.url("/new")
    assert result.redirects == [site.url("/new")] and result.attempts == 2


@pytest.mark.parametrize("after_headers", [False, True])
def test_hanging_server_is_a_timeout(site: SiteServer, after_headers: bool) -> None:
    site.hang("/h", after_headers=after_headers)
    started = time.monotonic()
    result = fetch_one(config(http={"timeout": 0.3, "retries": 1}), site.url("/h"))
    assert result.error == "timeout" and result.attempts == 2
    assert time.monotonic() - started < 1.5


def test_refused_connection_is_recorded(site_factory: Any) -> None:
    gone = site_factory()
    url = gone.url("/x")
    gone.stop()
    result = fetch_one(config(http={"retries": 1}, politeness={"obey_robots": False}), url)
    assert result.error == "connection_error" and result.status is None


def test_a_hanging_host_does_not_hold_up_the_others(site: SiteServer) -> None:
    site.hang("/h", host="slow.test")
    site.add_page("/a", "<html>a</html>", host="fast.test")
    cfg = config(site, proxy=True, http={"timeout": 1.5, "retries": 0})
    done: dict[str, float] = {}

    async def timed(fetcher: Fetcher, url: str) -> None:
        await fetcher.fetch(url)
        done[url] = time.monotonic()

    async def go() -> float:
        async with fast_fetcher(cfg) as fetcher:
            started = time.monotonic()
            slow = asyncio.create_task(timed(fetcher, "http://slow.test/h"))
            await asyncio.sleep(0.05)  # the slow request is in flight first
            await asyncio.gather(*(timed(fetcher, f"http://fast.test/a?{i}") for i in range(5)))
            fast_done = time.monotonic() - started
            await slow
            return fast_done

    assert asyncio.run(go()) < 1.0


def test_pacing_many_hosts_through_the_proxy() -> None:
    hosts = [f"blog{i}.test" for i in range(6)]
    with SiteProcess() as site:  # its own GIL: the server's clock readings stay sharp
        for host in hosts:
            for page in range(4):
                site.add_page(f"/p{page}", f"<html>{host} {page}</html>", host=host)
        cfg = config(site, proxy=True, politeness={"delay": 0.2, "per_host": 2, "concurrency": 8})
        urls = [f"http://{host}/p{page}" for page in range(4) for host in hosts]
        started = time.monotonic()
        results = fetch_all(cfg, urls)
        elapsed = time.monotonic() - started
        gaps = {host: site.gaps(host) for host in hosts}
    assert all(r.status == 200 and r.text for r in results)
    assert sorted(gaps) == hosts and all(len(g) == 4 for g in gaps.values())  # robots + 4 pages
    smallest = min(min(g) for g in gaps.values())
    assert smallest >= 0.2 - SLACK, gaps
    # Five starts per host 0.2 s apart take 0.8 s; hosts in turn would take six times that.
    assert elapsed < 2.0, elapsed


def test_304_answers_a_conditional_request(site: SiteServer) -> None:
    site.add_page("/a", b"", status=304, headers={"ETag": '"v1"'})

    async def go() -> FetchResult:
        async with fast_fetcher(config()) as fetcher:
            return await fetcher.fetch(site.url("/a"), etag='"v1"', last_modified="yesterday")

    result = asyncio.run(go())
    assert (result.status, result.text, result.error) == (304, None, None)
    headers = site.hits(path="/a")[0].headers
    assert headers["If-None-Match"] == '"v1"' and headers["If-Modified-Since"] == "yesterday"


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_compression_bombs_are_cut(site: SiteServer, encoding: str) -> None:
    site.gzip_bomb("/bomb", 50_000_000, encoding=encoding)
    result = fetch_one(config(http={"max_bytes": 1_000_000}), site.url("/bomb"))
    assert result.error == "too_large" and result.size == 1_000_000
    assert result.text is not None and result.text.startswith("<!doctype html>")
    assert len(result.text) == 1_000_000


def test_big_page_is_cut_and_text_kept(site: SiteServer) -> None:
    site.big("/big", 3_000_000)
    result = fetch_one(config(http={"max_bytes": 200_000}), site.url("/big"))
    assert result.status == 200 and result.error == "too_large" and result.size == 200_000
    assert result.text is not None and len(result.text) == 200_000


def test_non_html_is_recorded_without_text(site: SiteServer) -> None:
    site.add_page("/doc.pdf", b"%PDF-1.4 ...", content_type="application/pdf")
    result = fetch_one(config(), site.url("/doc.pdf"))
    assert result.status == 200 and result.content_type == "application/pdf"
    assert result.text is None and result.size == len(b"%PDF-1.4 ...")


class _HostRows:
    """A HostStore in a dict, standing in for db/store.py."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def get_host(self, host: str) -> dict[str, Any] | None:
        return self.rows.get(host)

    def save_host(self, host: str, **values: Any) -> None:
        self.rows.setdefault(host, {}).update(values)


def test_a_host_pause_is_lifted_when_it_ends(site: SiteServer) -> None:
    site.add_page("/p", "<html>ok</html>")
    site.fail_times("/p", 1, status=503)
    store = _HostRows()
    cfg = config(http={"retries": 0})
    options: dict[str, Any] = {"pause_after": 1, "pause_base": 0.2, "pause_max": 0.2}

    async def go() -> list[FetchResult]:
        async with fast_fetcher(cfg, host_store=store, **options) as fetcher:
            first = await fetcher.fetch(site.url("/p"))
            during = await fetcher.fetch(site.url("/p"))
            await asyncio.sleep(0.3)  # the pause (at most pause_max) is over by then
            return [first, during, await fetcher.fetch(site.url("/p"))]

    first, during, after = asyncio.run(go())
    assert (first.status, first.error) == (503, "host_paused")
    assert (during.error, during.attempts) == ("host_paused", 0)
    assert (after.status, after.error) == (200, None)
    assert len(site.hits(path="/p")) == 2  # nothing was sent during the pause
    row = store.rows[f"127.0.0.1:{site.port}"]
    assert row["paused_until"] is None and row["pause_seconds"] == 0.0  # lifted for good


def test_a_stored_pause_holds_until_it_ends_and_not_after(site: SiteServer) -> None:
    site.add_page("/p", "<html>ok</html>")
    host = f"127.0.0.1:{site.port}"
    store = _HostRows()
    store.rows[host] = {"paused_until": iso_at(time.time() + 3600), "pause_seconds": 60.0}
    assert fetch_one(config(), site.url("/p"), host_store=store).error == "host_paused"
    store.rows[host] = {"paused_until": iso_at(time.time() - 1), "pause_seconds": 60.0}
    assert fetch_one(config(), site.url("/p"), host_store=store).status == 200
    assert len(site.hits(path="/p")) == 1
