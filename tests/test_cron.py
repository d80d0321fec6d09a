"""Cron-grade operation (SPEC section 8), with real crawler processes against a local server:
kill -9 and resume, one run at a time, SIGTERM, and recrawls that find new pingbacks."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlite_utils
from siteserver import SiteServer

from crawler.config import Config
from crawler.engine import crawl

HOSTS = [f"blog{i}.test" for i in range(4)]
PAGES_PER_HOST = 40


def post_html(title: str, citations: list[str] = (), pings: list[str] = (), extra: str = "") -> str:
    cites = "".join(f'<p><a href="{u}">cited {i}</a></p>' for i, u in enumerate(citations))
    items = "".join(
        f'<li class="pingback" id="comment-{i + 1}"><div class="comment-body">Pingback: '
        f'<a href="{u}" class="url">source {i}</a></div></li>'
        for i, u in enumerate(pings)
    )
    comments = f'<ol class="comment-list">{items}</ol>' if items else ""
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
        "<meta property='og:type' content='article'></head><body>"
        f'<article class="post hentry"><h1 class="entry-title">{title}</h1>'
        f'<div class="entry-content">{cites}</div></article>'
        f'<div id="comments" class="comments-area">{comments}{extra}</div></body></html>'
    )


def build_web(site: SiteServer, hosts: int = len(HOSTS), pages: int = PAGES_PER_HOST) -> list[str]:
    """Four blogs; each seed post cites the other posts of its blog, and each post cites
    the next one, which lists it as a pingback. Returns the seeds."""
    seeds = []
    for host in [f"blog{i}.test" for i in range(hosts)]:
        posts = [f"http://{host}/p/{n}/" for n in range(1, pages)]
        site.add_page("/", post_html(f"{host} seed", posts), host=host)
        for n, url in enumerate(posts):
            cites = posts[n + 1 : n + 2]
            pings = posts[n - 1 : n] if n else []
            html = post_html(f"{host} post {n + 1}", cites, pings)
            site.add_page(urlsplit(url).path, html, host=host)
        seeds.append(f"http://{host}/")
    return seeds


def write_config(tmp_path: Path, site: SiteServer, seeds: list[str], delay: float) -> Path:
    config = tmp_path / "config.toml"
    quoted = ", ".join(f'"{s}"' for s in seeds)
    config.write_text(
        f'[crawl]\nseeds = [{quoted}]\ndatabase = "{tmp_path / "crawl.db"}"\nmax_depth = 2\n'
        f"[politeness]\ndelay = {delay}\nper_host = 1\nconcurrency = 8\n"
        f'[http]\nproxy = "{site.proxy_url}"\ntimeout = 5.0\nretries = 1\n'
        "[safety]\nallow_private = true\n",
        encoding="utf-8",
    )
    return config


def start_crawl(config: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "PINGCRAWL_CONFIG"}
    return subprocess.Popen(
        [sys.executable, "-m", "crawler", "crawl", "-c", str(config), "-q", "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def page_hits(site: SiteServer) -> Counter[tuple[str, str]]:
    return Counter((h.host, h.path) for h in site.hits() if h.path != "/robots.txt")


def wait_for_hits(site: SiteServer, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while len(page_hits(site)) < count:
        assert time.monotonic() < deadline, f"server saw fewer than {count} pages"
        time.sleep(0.02)


@pytest.fixture
def web(site: SiteServer) -> Iterator[tuple[SiteServer, list[str]]]:
    yield site, build_web(site)


def test_kill_9_then_resume_stores_every_page_once(tmp_path, web):
    site, seeds = web
    config = write_config(tmp_path, site, seeds, delay=0.1)
    proc = start_crawl(config)
    wait_for_hits(site, 60)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    killed_at = len(page_hits(site))
    # What was committed is whole: a pingback whose source page is stored has its verdict.
    unsettled = sqlite_utils.Database(tmp_path / "crawl.db").execute(
        "SELECT count(*) FROM comments c JOIN pages p ON p.url = c.source_url"
        " WHERE c.kind = 'pingback' AND p.status = 200 AND c.verified IS NULL"
    )
    assert unsettled.fetchone()[0] == 0

    second = start_crawl(config)
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err

    db = sqlite_utils.Database(tmp_path / "crawl.db")
    total = len(HOSTS) * PAGES_PER_HOST
    assert db["pages"].count == total
    hits = page_hits(site)
    assert len(hits) == total
    twice = sum(1 for n in hits.values() if n > 1)
    print(f"killed after {killed_at} pages; {twice} of {total} fetched twice")
    # At most ~1 s of work (4 hosts at 10 pages/s) plus what was in flight is redone.
    assert twice <= 50, (twice, killed_at)
    statuses = [r["status"] for r in db.query("select status from runs order by id")]
    assert statuses == ["crashed", "ok"]
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_kill_9_at_100_pages_a_second_refetches_under_5_percent(tmp_path, site):
    # Ten blogs of 90 posts at a delay of 0.1 s: 100 pages/s.
    seeds = build_web(site, hosts=10, pages=90)
    config = write_config(tmp_path, site, seeds, delay=0.1)
    config.write_text(config.read_text().replace("concurrency = 8", "concurrency = 16"))
    proc = start_crawl(config)
    wait_for_hits(site, 300)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    killed_at = len(page_hits(site))
    db = sqlite_utils.Database(tmp_path / "crawl.db")
    crashed = next(iter(db["runs"].rows))
    stored_then = db["pages"].count
    # The counters go in with every commit: the crashed run shows what it fetched.
    assert crashed["fetched"] > 0.8 * stored_then > 0, (crashed, stored_then)

    second = start_crawl(config)
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    total = 10 * 90
    assert db["pages"].count == total
    twice = sum(1 for n in page_hits(site).values() if n > 1)
    print(f"killed after {killed_at} pages, {stored_then} stored; {twice} of {total} twice")
    assert twice < 0.05 * total, (twice, killed_at, stored_then)


def test_a_second_run_exits_75_at_once(tmp_path, web):
    site, seeds = web
    config = write_config(tmp_path, site, seeds, delay=0.2)
    first = start_crawl(config)
    try:
        wait_for_hits(site, 2)
        started = time.monotonic()
        second = start_crawl(config)
        _, err = second.communicate(timeout=30)
        took = time.monotonic() - started
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    assert second.returncode == 75
    assert f"pid {first.pid}" in err
    print(f"second run refused after {took:.2f}s")
    assert took < 5.0, took  # includes interpreter start-up; the lock check itself is instant


def test_sigterm_stops_cleanly_and_records_interrupted(tmp_path, web):
    site, seeds = web
    config = write_config(tmp_path, site, seeds, delay=0.2)
    proc = start_crawl(config)
    wait_for_hits(site, 5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 15
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    path = tmp_path / "crawl.db"
    db = sqlite_utils.Database(path)
    run = next(db["runs"].rows)
    assert run["status"] == "interrupted"
    assert db["frontier"].count_where("state = 'claimed'") == 0
    assert db["frontier"].count_where("state = 'queued'") > 0
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def recrawl_config(tmp_path: Path, site: SiteServer, seed: str) -> Config:
    return Config().with_overrides(
        crawl={
            "database": str(tmp_path / "re.db"),
            "seeds": [seed],
            "recrawl_after": "0s",
            "max_depth": 2,
        },
        politeness={"delay": 0.0},
        http={"proxy": site.proxy_url, "timeout": 5.0, "retries": 0},
        safety={"allow_private": True},
    )


def test_recrawl_sends_conditional_requests_and_finds_new_pingbacks(tmp_path, site):
    post = "http://news.test/2024/post/"
    page2 = post + "comment-page-2/"
    older = '<nav class="comment-navigation"><a href="{}">Older Comments</a></nav>'
    etag = {"ETag": '"v1"'}
    site.add_page(
        "/2024/post/",
        post_html("Post", pings=[]) + older.format(page2),
        headers=etag,
        host="news.test",
    )
    site.add_page(
        "/2024/post/comment-page-2/", post_html("Post", pings=[]), headers=etag, host="news.test"
    )
    config = recrawl_config(tmp_path, site, post)

    first = crawl(config)
    assert first.counters.fetched == 2

    site.clear_log()
    again = crawl(config)
    hits = site.hits(host="news.test")
    paths = sorted(h.path for h in hits if h.path != "/robots.txt")
    assert paths == ["/2024/post/", "/2024/post/comment-page-2/"]
    sent = [{k.lower(): v for k, v in h.headers.items()} for h in hits if h.path != "/robots.txt"]
    assert all(headers.get("if-none-match") == '"v1"' for headers in sent)
    assert again.counters.not_modified == 2

    source = "http://other.test/a-reply/"
    site.add_page("/a-reply/", post_html("A reply", citations=[post]), host="other.test")
    site.add_page(
        "/2024/post/comment-page-2/",
        post_html("Post", pings=[source]),
        headers={"ETag": '"v2"'},
        host="news.test",
    )
    site.clear_log()
    third = crawl(config)
    assert third.counters.new_comments == 1
    db = sqlite_utils.Database(tmp_path / "re.db")
    ping = next(db.query("select * from pingbacks"))
    assert (ping["source"], ping["target"], ping["verified"]) == (source, post, 1)
    assert db["pages"].get(source)["status"] == 200
    assert db["pages"].get(post)["next_fetch_at"] is not None


def test_max_runtime_stops_cleanly_and_keeps_the_frontier(tmp_path, web):
    site, seeds = web
    config = Config().with_overrides(
        crawl={"database": str(tmp_path / "rt.db"), "seeds": seeds, "max_runtime": "1s"},
        politeness={"delay": 0.2},
        http={"proxy": site.proxy_url, "timeout": 5.0},
        safety={"allow_private": True},
    )
    summary = crawl(config)
    assert summary.status == "ok"
    assert summary.elapsed < 10
    assert 0 < summary.counters.fetched < len(HOSTS) * PAGES_PER_HOST
    assert summary.frontier.get("queued", 0) > 0
    assert summary.frontier.get("claimed", 0) == 0


def test_json_log_lines_for_cron(tmp_path, web):
    site, seeds = web
    config = write_config(tmp_path, site, seeds[:1], delay=0.0)
    env = {k: v for k, v in os.environ.items() if k != "PINGCRAWL_CONFIG"}
    args = ["crawl", "-c", str(config), "-v", "--log-format", "json", "--max-pages", "5"]
    proc = subprocess.run(
        [sys.executable, "-m", "crawler", *args], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stderr.splitlines()]
    fetches = [line for line in lines if line["event"] == "fetch"]
    assert len(fetches) == 5
    assert all(line["status"] == 200 for line in fetches)
    assert lines[-1]["event"] == "summary" and lines[-1]["fetched"] == 5


def test_recrawl_interval_adapts_to_comment_activity(tmp_path, site):
    post = "http://quiet.test/p/"
    site.add_page("/p/", post_html("Quiet"), host="quiet.test")
    config = recrawl_config(tmp_path, site, post).with_overrides(crawl={"recrawl_after": "1h"})
    db_path = tmp_path / "re.db"

    def interval() -> float:
        return sqlite_utils.Database(db_path)["pages"].get(post)["recrawl_interval"]

    crawl(config)
    assert interval() == 3600
    with sqlite3.connect(db_path) as conn:  # make the post due now
        conn.execute("update pages set next_fetch_at = '2000-01-01T00:00:00Z'")
    crawl(config)
    assert interval() == 5400  # unchanged comments: back off
    site.add_page("/p/", post_html("Quiet", pings=["http://x.test/a/"]), host="quiet.test")
    with sqlite3.connect(db_path) as conn:
        conn.execute("update pages set next_fetch_at = '2000-01-01T00:00:00Z'")
    crawl(config)
    assert interval() == 2700  # the comment list changed: come back sooner
