"""robots.txt per RFC 9309: what answers mean, caching, Crawl-delay, and the fetcher obeying."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import sqlite_utils
from siteserver import SiteServer

from crawler.config import Config
from crawler.fetch.client import Fetcher, FetchResult
from crawler.fetch.robots import RobotsRules, robots_url
from db.store import Store

TOKEN = "pingcrawl"
RULES = """
User-agent: *
Disallow: /

User-agent: pingcrawl
Allow: /private/open
Disallow: /private
Crawl-delay: 0.3
"""


class MemoryHostStore:
    """A HostStore in a dict, standing in for db/store.py."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def get_host(self, host: str) -> dict[str, Any] | None:
        return self.rows.get(host)

    def save_host(self, host: str, **values: Any) -> None:
        self.rows.setdefault(host, {"host": host}).update(values)


def test_rules_match_the_product_token_with_longest_match() -> None:
    rules = RobotsRules(200, RULES)
    assert rules.allows("http://b.example/post", TOKEN)
    assert not rules.allows("http://b.example/private/x", TOKEN)
    assert rules.allows("http://b.example/private/open", TOKEN)
    assert not rules.allows("http://b.example/post", "othercrawler")
    assert rules.crawl_delay(TOKEN) == 0.3


def test_status_meanings() -> None:
    assert RobotsRules(404).allows("http://b.example/x", TOKEN)
    assert RobotsRules(403).allows("http://b.example/x", TOKEN)
    for status in (500, 503, 429, 0):
        assert not RobotsRules(status).reachable
        assert not RobotsRules(status).allows("http://b.example/x", TOKEN)


def test_freshness_and_store_round_trip() -> None:
    rules = RobotsRules(200, RULES)
    row = rules.to_store(TOKEN)
    assert row["crawl_delay"] == 0.3 and row["robots_status"] == 200
    again = RobotsRules.from_store(row)
    assert again is not None and not again.allows("http://b.example/private", TOKEN)
    assert RobotsRules(200, RULES, time.time() - 25 * 3600).is_fresh() is False
    assert RobotsRules.from_store(RobotsRules(503).to_store(TOKEN)) is None  # ask again
    assert RobotsRules.from_store({"robots_status": None}) is None


def test_robots_url() -> None:
    assert robots_url("https://b.example:8443/a/b?c#d") == "https://b.example:8443/robots.txt"


def config(**politeness: Any) -> Config:
    return Config().with_overrides(
        politeness={"delay": 0.0, **politeness},
        http={"timeout": 2.0, "retries": 0},
        safety={"allow_private": True},
    )


def fetch(cfg: Config, urls: list[str], store: MemoryHostStore | None = None) -> list[FetchResult]:
    async def go() -> list[FetchResult]:
        async with Fetcher(cfg, host_store=store) as fetcher:
            return [await fetcher.fetch(url) for url in urls]

    return asyncio.run(go())


def test_fetcher_obeys_and_caches_robots(site: SiteServer) -> None:
    site.add_robots(RULES.replace("0.3", "0"))
    site.add_page("/post", "<html>post</html>")
    store = MemoryHostStore()
    urls = [site.url("/post"), site.url("/private/x"), site.url("/post")]
    results = fetch(config(), urls, store)
    assert [r.skip_reason for r in results] == [None, "robots", None]
    assert len(site.hits(path="/robots.txt")) == 1
    assert not site.hits(path="/private/x")
    row = store.rows[f"127.0.0.1:{site.port}"]
    assert row["robots_status"] == 200 and "pingcrawl" in row["robots_txt"]
    # The next run reads the rules from the store, not from the server.
    fetch(config(), [site.url("/post")], store)
    assert len(site.hits(path="/robots.txt")) == 1


def test_robots_redirect_is_followed(site: SiteServer) -> None:
    site.add_redirect("/robots.txt", "/real-robots.txt")
    site.add_page("/real-robots.txt", "User-agent: *\nDisallow: /", content_type="text/plain")
    assert fetch(config(), [site.url("/post")])[0].skip_reason == "robots"


def test_robots_timeout_disallows(site: SiteServer) -> None:
    site.hang("/robots.txt")
    cfg = config().with_overrides(http={"timeout": 0.3})
    result = fetch(cfg, [site.url("/post")])[0]
    assert (result.skip_reason, result.error) == ("robots", "robots_unavailable")
    assert [h.path for h in site.hits()] == ["/robots.txt"]


def test_missing_robots_allows_all(site: SiteServer) -> None:
    site.add_page("/post", "<html>post</html>")
    assert fetch(config(), [site.url("/post")])[0].status == 200


def test_obey_robots_false_skips_robots(site: SiteServer) -> None:
    site.add_robots("User-agent: *\nDisallow: /")
    site.add_page("/post", "<html>post</html>")
    assert fetch(config(obey_robots=False), [site.url("/post")])[0].status == 200
    assert not site.hits(path="/robots.txt")


def test_crawl_delay_raises_the_host_delay(site: SiteServer) -> None:
    site.add_robots(RULES)
    for i in range(3):
        site.add_page(f"/p{i}", "<html>p</html>")
    results = fetch(config(delay=0.05), [site.url(f"/p{i}") for i in range(3)])
    assert all(r.status == 200 for r in results)
    assert min(site.gaps()) >= 0.3 - 0.005


def test_crawl_delay_above_the_maximum_skips_the_host(site: SiteServer) -> None:
    site.add_robots("User-agent: *\nCrawl-delay: 120\n")
    site.add_page("/post", "<html>post</html>")
    result = fetch(config(max_crawl_delay=60), [site.url("/post")])[0]
    assert result.skip_reason == "crawl_delay" and not site.hits(path="/post")


# -- Sitemap lines, unreachable answers asked again ------------------------------------------

SITEMAPS = """User-agent: *
Disallow: /wp-admin/
Sitemap: https://blog.example/wp-sitemap.xml
Sitemap: https://blog.example/news-sitemap.xml
"""


def test_sitemap_lines_are_kept_in_order() -> None:
    rules = RobotsRules(200, SITEMAPS)
    expected = ["https://blog.example/wp-sitemap.xml", "https://blog.example/news-sitemap.xml"]
    assert rules.sitemaps == expected
    assert json.loads(rules.to_store(TOKEN)["sitemaps"]) == expected
    again = RobotsRules.from_store(rules.to_store(TOKEN))
    assert again is not None and again.sitemaps == expected
    assert RobotsRules(404).sitemaps == [] and RobotsRules(500, SITEMAPS).sitemaps == []


def test_sitemaps_are_persisted_with_the_hosts_robots_row(site: SiteServer, tmp_path) -> None:
    site.add_robots(SITEMAPS)
    site.add_page("/post", "<html>post</html>")
    store = Store.open(tmp_path / "crawl.db")
    assert fetch(config(), [site.url("/post")], store)[0].status == 200  # type: ignore[arg-type]
    store.close()
    row = sqlite_utils.Database(tmp_path / "crawl.db")["hosts"].get(f"127.0.0.1:{site.port}")
    assert json.loads(row["sitemaps"]) == RobotsRules(200, SITEMAPS).sitemaps
    assert row["robots_status"] == 200


def test_unreachable_rules_expire_sooner() -> None:
    two_hours_ago = time.time() - 2 * 3600
    assert RobotsRules(200, RULES, two_hours_ago).is_fresh()
    for status in (0, 429, 500, 503):
        assert not RobotsRules(status, "", two_hours_ago).is_fresh(), status
        assert RobotsRules(status, "").is_fresh(), status


def test_an_unreachable_robots_txt_is_asked_again_within_a_run(site: SiteServer) -> None:
    site.add_robots("", status=503)
    site.add_page("/post", "<html>post</html>")

    async def go() -> list[FetchResult]:
        async with Fetcher(config(), robots_unreachable_ttl=0.2) as fetcher:
            first = await fetcher.fetch(site.url("/post"))
            site.add_robots("User-agent: *\nAllow: /\n")  # the server recovers
            await asyncio.sleep(
                0.3
            )  # past the (test-sized) unreachable TTL; the day-long one holds
            return [first, await fetcher.fetch(site.url("/post"))]

    first, second = asyncio.run(go())
    assert (first.skip_reason, first.error) == ("robots", "robots_unavailable")
    assert second.status == 200 and len(site.hits(path="/robots.txt")) == 2


def test_an_unreachable_robots_txt_is_asked_again_on_the_next_run(site: SiteServer) -> None:
    site.add_robots("", status=500)
    site.add_page("/post", "<html>post</html>")
    store = MemoryHostStore()
    assert fetch(config(), [site.url("/post")], store)[0].skip_reason == "robots"
    assert store.rows[f"127.0.0.1:{site.port}"]["robots_status"] == 500
    site.add_robots("User-agent: *\nAllow: /\n")
    assert fetch(config(), [site.url("/post")], store)[0].status == 200
    assert len(site.hits(path="/robots.txt")) == 2
