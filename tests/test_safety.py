"""The SSRF guard: unit tests of the checks, and a crawl through a proxy proving that
private targets — literals, names and redirect hops — are never requested."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import pytest
from aiohttp.resolver import ThreadedResolver
from hypothesis import given
from hypothesis import strategies as st
from siteserver import SiteServer

from crawler.config import Config
from crawler.fetch import safety
from crawler.fetch.client import Fetcher, FetchResult
from crawler.fetch.transport import PrivateAddressError, PublicResolver

PRIVATE_URLS = [
    "http://127.0.0.1/",
    "http://127.0.0.1:8080/admin",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://0x7f000001/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://0/",
    "http://0.0.0.0/",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://api.localhost/",
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_private_targets_are_refused(url: str) -> None:
    assert safety.check_url(url) == "private"
    assert safety.check_url(url, allow_private=True) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/",
        "https://8.8.8.8/",
        "http://93.184.216.34:8080/x",
        "http://0x5d.example/",
    ],
)
def test_public_targets_pass(url: str) -> None:
    assert safety.check_url(url) is None


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "file:///etc/passwd", "gopher://x/", "http://"]
)
def test_only_http_and_https(url: str) -> None:
    assert safety.check_url(url, allow_private=True) == "scheme"


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_ipv4_literals_in_every_spelling(number: int) -> None:
    ip = ipaddress.IPv4Address(number)
    a, b, c, d = ip.packed
    spellings = [str(number), hex(number), f"0{number:o}", f"{a}.{b}.{(c << 8) | d}", str(ip)]
    spellings.append(".".join(f"0x{x:x}" for x in ip.packed))
    for spelling in spellings:
        assert safety.parse_ipv4_literal(spelling) == ip, spelling


@pytest.mark.parametrize("name", ["example.com", "1.2.3.4.5", "256.1.1.1", "1..2", "09.1.1.1"])
def test_names_are_not_ipv4_literals(name: str) -> None:
    assert safety.parse_ipv4_literal(name) is None


@pytest.mark.parametrize(
    ("literal", "address"),
    [
        ("0x", "0.0.0.0"),
        ("0x.0x.0x.0x", "0.0.0.0"),
        ("0x7f.1", "127.0.0.1"),
        ("0X7F.0.0.1", "127.0.0.1"),
    ],
)
def test_an_empty_or_upper_case_hex_part_is_a_number(literal: str, address: str) -> None:
    """The WHATWG URL parser reads a bare "0x" as 0: http://0x/ is 0.0.0.0, not a name."""
    assert safety.parse_ipv4_literal(literal) == ipaddress.IPv4Address(address)
    assert safety.check_url(f"http://{literal}/") == "private"


EMBEDDED_PRIVATE = [
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:7f00:1",  # the same, written in hex
    "::ffff:10.1.2.3",
    "::ffff:169.254.169.254",
    "::ffff:100.64.0.1",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:7f00:1::1",
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
    "2002:a00:1::",  # 6to4 of 10.0.0.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",
]
EMBEDDED_PUBLIC = ["::ffff:8.8.8.8", "::ffff:93.184.216.34", "2002:808:808::1"]


@pytest.mark.parametrize("address", EMBEDDED_PRIVATE)
def test_ipv6_addresses_carrying_a_private_ipv4_one_are_refused(address: str) -> None:
    assert safety.is_forbidden_ip(ipaddress.IPv6Address(address))
    assert safety.check_url(f"http://[{address}]:8080/") == "private"


@pytest.mark.parametrize("address", EMBEDDED_PUBLIC)
def test_ipv6_addresses_carrying_a_public_ipv4_one_pass(address: str) -> None:
    """Judged by the IPv4 address they carry, not by Python's "::ffff:0:0/96 is private"."""
    assert not safety.is_forbidden_ip(ipaddress.IPv6Address(address))
    assert safety.check_url(f"http://[{address}]/") is None


@pytest.mark.parametrize("address", ["::ffff:127.0.0.1", "2002:7f00:1::", "64:ff9b::a00:1"])
def test_the_resolver_refuses_embedded_private_answers(monkeypatch, address: str) -> None:
    async def resolve(self, host, port=0, family=socket.AF_INET6):
        return [{"hostname": host, "host": address, "port": port, "family": socket.AF_INET6,
                 "proto": 0, "flags": 0}]  # fmt: skip

    monkeypatch.setattr(ThreadedResolver, "resolve", resolve)

    async def ask() -> list[Any]:
        return await PublicResolver().resolve("aaaa.example", 80)

    with pytest.raises(PrivateAddressError):
        asyncio.run(ask())


def test_resolved_addresses_are_checked() -> None:
    assert asyncio.run(safety.check_resolved("http://localhost/")) == "private"
    assert asyncio.run(safety.check_resolved("http://no-such-host.invalid/")) is None


def test_private_links_and_redirects_are_never_requested(site: SiteServer) -> None:
    """Through a proxy (our server) so a refused target *would* show in the server's log."""
    site.add_redirect("/to-private", "http://10.1.2.3/secret", host="public.test")
    site.add_redirect("/to-loopback", f"{site.base_url}/secret", host="public.test")
    site.add_redirect("/to-metadata", "http://169.254.169.254/", host="public.test")
    site.add_page("/secret", "<html>secret</html>")
    config = Config().with_overrides(
        politeness={"delay": 0.0}, http={"proxy": site.proxy_url, "timeout": 2.0}
    )
    hops = ["/to-private", "/to-loopback", "/to-metadata"]
    targets = [*PRIVATE_URLS, site.url("/secret")]

    async def go() -> list[FetchResult]:
        async with Fetcher(config) as fetcher:
            direct = [await fetcher.fetch(u) for u in targets]
            return direct + [await fetcher.fetch(f"http://public.test{p}") for p in hops]

    results = asyncio.run(go())
    assert all(r.skip_reason == "private" for r in results[: len(targets)])
    assert [r.error for r in results[len(targets) :]] == ["redirect_private"] * 3
    assert results[-2].final_url == site.url("/secret") and results[-2].status == 301
    assert {h.host for h in site.hits()} == {"public.test"}
    assert sorted(h.path for h in site.hits()) == sorted(["/robots.txt", *hops])


def test_a_name_resolving_to_a_private_address_is_refused(site: SiteServer) -> None:
    """Without a proxy the fetcher resolves names itself: this machine's own name
    (in /etc/hosts as 127.0.0.1 on most test machines) must not be fetched."""
    name = socket.gethostname()
    url = f"http://{name}:{site.port}/secret"
    if safety.check_url(url) is not None or asyncio.run(safety.check_resolved(url)) is None:
        pytest.skip(f"{name} does not resolve to a private address here")
    site.add_page("/secret", "<html>secret</html>")
    config = Config().with_overrides(politeness={"delay": 0.0})

    async def go() -> FetchResult:
        async with Fetcher(config) as fetcher:
            return await fetcher.fetch(url)

    assert asyncio.run(go()).skip_reason == "private"
    assert site.hits() == []


# -- DNS rebinding: the addresses connected to are checked too ------------------------------


def _answer(host: str, port: int, address: str) -> list[dict[str, Any]]:
    return [
        {"hostname": host, "host": address, "port": port, "family": socket.AF_INET,
         "proto": 0, "flags": 0}
    ]  # fmt: skip


def test_public_resolver_keeps_public_answers_and_refuses_private_ones(monkeypatch) -> None:
    answers = {"news.example": "93.184.216.34", "rebind.example": "127.0.0.1"}

    async def resolve(self, host, port=0, family=socket.AF_INET):
        return _answer(host, port, answers[host])

    monkeypatch.setattr(ThreadedResolver, "resolve", resolve)

    async def ask(host: str) -> list[dict[str, Any]]:
        return await PublicResolver().resolve(host, 80)

    assert asyncio.run(ask("news.example"))[0]["host"] == "93.184.216.34"
    with pytest.raises(PrivateAddressError):
        asyncio.run(ask("rebind.example"))


def test_a_name_that_rebinds_to_a_private_address_is_not_connected_to(monkeypatch, site) -> None:
    # The check before the request saw a public address; the connection resolves again and
    # is told 127.0.0.1, where the test server listens.
    async def rebinding(self, host, port=0, family=socket.AF_INET):
        return _answer(host, port, "127.0.0.1")

    monkeypatch.setattr(ThreadedResolver, "resolve", rebinding)
    site.add_page("/", "<title>internal</title>")
    config = Config().with_overrides(
        http={"retries": 0, "timeout": 5.0}, politeness={"obey_robots": False}
    )

    async def fetch() -> FetchResult:
        async with Fetcher(config, check_dns=False) as fetcher:
            return await fetcher.fetch(f"http://rebind.example:{site.port}/")

    result = asyncio.run(fetch())
    assert result.error == "private"
    assert result.status is None
    assert site.hits() == []
