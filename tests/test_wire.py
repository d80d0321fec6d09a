"""What reaches the wire: every request through the host's slot, through the production
transport (aiohttp) against a local server — no silent re-sends, the real send moment,
exact error names."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from siteserver import SiteProcess, SiteServer

from crawler.config import Config
from crawler.fetch.client import Fetcher, FetchResult
from crawler.fetch.transport import build_transport

SLACK = 0.005  # clock granularity between the client's start and the server's timestamp


def config(**sections: Any) -> Config:
    merged: dict[str, dict[str, Any]] = {
        "politeness": {"delay": 0.0},
        "http": {"timeout": 3.0},
        "safety": {"allow_private": True},
    }
    for name, values in sections.items():
        merged.setdefault(name, {}).update(values)
    return Config().with_overrides(**merged)


def fetcher(cfg: Config, **kwargs: Any) -> Fetcher:
    options = {"backoff_base": 0.01, "backoff_max": 0.05, "pause_base": 0.2, "pause_max": 1.0}
    options.update(kwargs)
    return Fetcher(cfg, **options)


class Resolver(AbstractResolver):
    """Names of our choosing: ``answers`` maps a name to 127.0.0.1 (after ``wait`` seconds)
    or to None (the name does not exist)."""

    def __init__(self, answers: dict[str, str | None], wait: float = 0.0) -> None:
        self.answers = answers
        self.wait = wait
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        await asyncio.sleep(self.wait)
        address = self.answers.get(host.rstrip("."))
        if address is None:
            raise OSError(socket.EAI_NONAME, "Name or service not known")
        return [
            {"hostname": host, "host": address, "port": port, "family": socket.AF_INET,
             "proto": 0, "flags": socket.AI_NUMERICHOST}
        ]  # fmt: skip

    async def close(self) -> None:
        pass


@pytest.mark.parametrize("retries", [0, 2])
def test_a_reset_after_each_request_is_retried_exactly_as_configured(retries: int) -> None:
    """aiohttp re-sends an idempotent request once on its own when the connection drops
    after sending: the server would see 2 × (retries + 1) requests, some 1 ms apart."""
    delay = 0.25
    with SiteProcess() as site:  # its own GIL: the server's clock readings stay sharp
        site.add_page("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
        site.reset("/r")
        cfg = config(politeness={"delay": delay}, http={"retries": retries})

        async def go() -> FetchResult:
            async with fetcher(cfg) as f:
                return await f.fetch(site.url("/r"))

        result = asyncio.run(go())
        starts = sorted(h.time for h in site.hits(path="/r"))
        everything = site.starts()
    assert result.error == "connection_reset" and result.status is None
    assert len(starts) == retries + 1 and result.attempts == retries + 1
    assert all(b - a >= delay - SLACK for a, b in zip(everything, everything[1:], strict=False))
    pages = [e for e in result.exchanges if e.purpose == "page"]
    assert [e.error for e in pages] == ["connection_reset"] * (retries + 1)
    assert all(e.status is None for e in pages)


def test_the_slot_paces_from_the_moment_the_request_went_out() -> None:
    """A name that takes 0.4 s to resolve: the request goes out 0.4 s after it took its
    slot. A second request must wait ``delay`` from the first one's real send, which only
    the transport's trace hook knows (the first answer is still 1 s away)."""
    delay = 0.3
    with SiteProcess() as site:
        site.add_page("/a", "<html>a</html>")
        site.slow("/a", 1.0)
        site.add_page("/b", "<html>b</html>")
        resolver = Resolver({"slow.test": "127.0.0.1"}, wait=0.4)
        cfg = config(politeness={"delay": delay, "per_host": 2, "obey_robots": False})
        transport = build_transport("", allow_private=True, resolver=resolver)

        async def seen(path: str) -> None:
            while not await asyncio.to_thread(site.hits, None, path):
                await asyncio.sleep(0.01)

        async def go() -> list[FetchResult]:
            async with fetcher(cfg, transport=transport) as f:
                first = asyncio.create_task(f.fetch(f"http://slow.test:{site.port}/a"))
                await seen("/a")  # the first request is at the server, its answer is not
                second = await f.fetch(f"http://slow.test:{site.port}/b")
                return [await first, second]

        results = asyncio.run(go())
        gap = site.hits(path="/b")[0].time - site.hits(path="/a")[0].time
    assert [r.status for r in results] == [200, 200]
    assert gap >= delay - SLACK, gap
    assert results[0].exchanges[0].sent_at < results[1].exchanges[0].sent_at


def test_a_host_that_does_not_resolve_is_a_dns_error(site: SiteServer) -> None:
    site.add_page("/ok", "<html>ok</html>")
    resolver = Resolver({"healthy.test": "127.0.0.1", "gone.test": None})
    transport = build_transport("", allow_private=True, resolver=resolver)

    async def go() -> list[FetchResult]:
        async with fetcher(config(http={"retries": 3}), transport=transport) as f:
            urls = [f"http://gone.test:{site.port}/a", f"http://gone.test:{site.port}/b"]
            urls.append(f"http://healthy.test:{site.port}/ok")
            return [await f.fetch(url) for url in urls]

    gone_a, gone_b, healthy = asyncio.run(go())
    assert (gone_a.error, gone_a.skip_reason, gone_a.status) == ("dns_error", None, None)
    assert (gone_b.error, gone_b.skip_reason) == ("dns_error", None)
    assert gone_a.exchanges == [] and gone_b.exchanges == []  # nothing reached a server
    # robots.txt asked once; the rules' failure is remembered, not asked again per URL
    assert resolver.asked.count("gone.test") == 1
    assert healthy.status == 200 and healthy.text == "<html>ok</html>"


def test_dns_error_without_robots(site: SiteServer) -> None:
    transport = build_transport("", allow_private=True, resolver=Resolver({}))
    cfg = config(http={"retries": 2}, politeness={"obey_robots": False})

    async def go() -> FetchResult:
        async with fetcher(cfg, transport=transport) as f:
            return await f.fetch(f"http://gone.test:{site.port}/a")

    result = asyncio.run(go())
    assert result.error == "dns_error" and result.attempts == 1  # a missing name: no retry


def test_error_names_are_exact(site_factory: Any) -> None:
    site = site_factory()
    site.reset("/reset")
    site.hang("/hang")
    gone = site_factory("127.0.0.2")
    refused = gone.url("/x")
    gone.stop()
    cfg = config(http={"retries": 0, "timeout": 0.5}, politeness={"obey_robots": False})

    async def go() -> list[FetchResult]:
        async with fetcher(cfg, pause_after=10) as f:
            urls = [site.url("/reset"), site.url("/hang"), refused]
            return await asyncio.gather(*(f.fetch(u) for u in urls))

    reset, hang, refused_result = asyncio.run(go())
    assert reset.error == "connection_reset"
    assert hang.error == "timeout"
    assert refused_result.error == "connection_error" and refused_result.exchanges == []
    assert len(site.hits(path="/reset")) == 1
