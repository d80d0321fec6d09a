"""Politeness and safety as the whole crawler applies them (the fetch stage's own tests are
in test_fetch*.py): skipped URLs get a reason in the frontier, hosts are remembered."""

from __future__ import annotations

import sqlite_utils
from siteserver import SiteServer

from crawler.config import Config
from crawler.engine import crawl


def page(links: list[str]) -> str:
    cites = "".join(f'<a href="{u}">x</a> ' for u in links)
    return (
        "<html><head><title>p</title><meta property='og:type' content='article'></head>"
        f'<body><article class="post"><div class="entry-content">{cites}</div></article>'
        "</body></html>"
    )


def test_skips_have_reasons_and_hosts_are_recorded(tmp_path, site: SiteServer):
    seed = "http://open.test/post/"
    targets = [
        "http://open.test/private/x",  # disallowed by robots.txt
        "http://down.test/a/",  # robots.txt answers 500: nothing of this host is fetched
        "http://127.0.0.1:9/admin",  # private address
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://0x7f000001/",  # loopback written in hex
        "http://open.test/a/a/a/",  # trap: repeated segment
    ]
    site.add_page("/post/", page(targets), host="open.test")
    site.add_page("/private/x", page([]), host="open.test")
    site.add_robots("User-agent: pingcrawl\nDisallow: /private/\n", host="open.test")
    site.add_robots("oops", host="down.test", status=500)
    site.add_page("/a/", page([]), host="down.test")
    config = Config().with_overrides(
        crawl={"database": str(tmp_path / "p.db"), "seeds": [seed]},
        politeness={"delay": 0.0},
        http={"proxy": site.proxy_url, "timeout": 5.0, "retries": 0},
    )
    summary = crawl(config)
    assert summary.status == "ok"

    db = sqlite_utils.Database(tmp_path / "p.db")
    reasons = {r["url"]: (r["state"], r["reason"]) for r in db["frontier"].rows}
    assert reasons["http://open.test/private/x"] == ("skipped", "robots")
    assert reasons["http://down.test/a/"] == ("queued", "robots_unavailable")
    assert reasons["http://127.0.0.1:9/admin"] == ("skipped", "private")
    assert reasons["http://169.254.169.254/latest/meta-data/"] == ("skipped", "private")
    assert reasons["http://0x7f000001/"] == ("skipped", "private")
    assert reasons["http://open.test/a/a/a/"] == ("skipped", "trap")
    requested = {(h.host, h.path) for h in site.hits()}
    assert requested == {
        ("open.test", "/robots.txt"),
        ("open.test", "/post/"),
        ("down.test", "/robots.txt"),
    }
    hosts = {r["host"]: r for r in db["hosts"].rows}
    assert hosts["open.test"]["robots_status"] == 200
    assert hosts["down.test"]["robots_status"] == 500
