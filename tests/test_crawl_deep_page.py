"""A page that takes the parser many seconds (100,000 nested <div>: about 24 s of
selectolax) next to healthy hosts: the crawl parses it in a worker process with a
deadline, so the other hosts' requests go out on time, none is timed out or repeated,
and SIGTERM ends the run at once instead of after the parse."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlite_utils
from siteserver import SiteServer

import crawler.engine
from crawler.config import Config
from crawler.engine import crawl

DEPTH = 100_000
HEALTHY_HOSTS = [f"ok{i}.test" for i in range(3)]
POSTS_PER_HOST = 6


def post(title: str, links: list[str] = (), body: str = "") -> str:
    cites = "".join(f'<p><a href="{u}">cited</a></p>' for u in links)
    return (
        f"<html><head><title>{title}</title><meta property='og:type' content='article'>"
        f'</head><body><article class="post hentry"><h1 class="entry-title">{title}</h1>'
        f'<div class="entry-content">{cites}{body}</div></article></body></html>'
    )


def build_web(site: SiteServer) -> list[str]:
    """The deep page on deep.test, and three healthy blogs whose seeds cite their posts."""
    site.add_page(
        "/", post("deep", body="<div>" * DEPTH + "deep" + "</div>" * DEPTH), host="deep.test"
    )
    for host in HEALTHY_HOSTS:
        posts = [f"http://{host}/p/{n}/" for n in range(POSTS_PER_HOST)]
        site.add_page("/", post(f"{host} home", posts), host=host)
        for url in posts:
            site.add_page(url.split(host, 1)[1], post(url), host=host)
    return ["http://deep.test/", *(f"http://{h}/" for h in HEALTHY_HOSTS)]


def page_hits(site: SiteServer) -> Counter[tuple[str, str]]:
    return Counter((h.host, h.path) for h in site.hits() if h.path != "/robots.txt")


def test_a_page_that_takes_seconds_to_parse_delays_no_other_host(
    site: SiteServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(crawler.engine, "PARSE_DEADLINE", 3.0)
    seeds = build_web(site)
    config = Config().with_overrides(
        crawl={"database": str(tmp_path / "c.db"), "seeds": seeds},
        politeness={"delay": 0.05, "concurrency": 4},
        http={"proxy": site.proxy_url, "timeout": 2.0, "retries": 2},
        safety={"allow_private": True},
    )
    summary = crawl(config)
    assert summary.status == "ok"
    pages = {r["url"]: r for r in sqlite_utils.Database(tmp_path / "c.db")["pages"].rows}
    assert pages["http://deep.test/"]["error"] == "parse_timeout"
    healthy = {u: p for u, p in pages.items() if "deep.test" not in u}
    assert len(healthy) == len(HEALTHY_HOSTS) * (POSTS_PER_HOST + 1)
    assert all(p["status"] == 200 and p["error"] is None for p in healthy.values())
    # Every page was asked for once: nothing timed out while the deep page was parsed.
    assert set(page_hits(site).values()) == {1}
    # ... and the healthy hosts were done before the deep page's parse deadline came
    # (server clock: from the deep page's request to the last healthy request).
    deep_at = site.hits(host="deep.test", path="/")[0].time
    last_healthy = max(h.time for h in site.hits() if h.host in HEALTHY_HOSTS)
    assert last_healthy - deep_at < 3.0, last_healthy - deep_at


def test_sigterm_while_a_page_is_being_parsed_ends_the_run_within_two_seconds(
    site: SiteServer, tmp_path: Path
) -> None:
    site.add_page(
        "/", post("deep", body="<div>" * DEPTH + "deep" + "</div>" * DEPTH), host="deep.test"
    )
    config = tmp_path / "config.toml"
    config.write_text(
        f'[crawl]\nseeds = ["http://deep.test/"]\ndatabase = "{tmp_path / "c.db"}"\n'
        f'[politeness]\ndelay = 0.0\n[http]\nproxy = "{site.proxy_url}"\n'
        "[safety]\nallow_private = true\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "PINGCRAWL_CONFIG"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "crawler", "crawl", "-c", str(config), "-q", "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 30
    while not site.hits(host="deep.test", path="/"):
        assert time.monotonic() < deadline, "the deep page was never requested"
        time.sleep(0.02)
    time.sleep(1.0)  # the page is in the parser's hands by now (it takes ~24 s there)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    took = time.monotonic() - sent
    assert proc.returncode == 143, err
    assert took < 2.0, took
    db = sqlite_utils.Database(tmp_path / "c.db")
    assert next(db["runs"].rows)["status"] == "interrupted"
    # The page was not judged: it waits for the next run, not failed by the stop.
    [row] = db["frontier"].rows_where("url = ?", ["http://deep.test/"])
    assert row["state"] == "queued", row
