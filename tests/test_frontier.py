"""Frontier policy bounded by design: links per page, comment pages per post, huge pages.

A ``comment-page-N`` chain linking to N+1 forever was followed for 300 pages at depth 0
(comment pages add no depth); a page with a million links cost 338 MiB and 100 MB of
database. Here the chain stops at the cap with reason ``trap`` and the million-link page
stores at most the link cap within a memory bound measured in a fresh process.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import sqlite_utils
from siteserver import SiteServer

from crawler.config import Config
from crawler.engine import crawl
from crawler.extract.page import Extraction, Link
from crawler.frontier import (
    MAX_COMMENT_PAGES,
    MAX_LINKS_PER_PAGE,
    BoundedExtraction,
    bound_extraction,
    plan_links,
)
from crawler.records import CommentRecord, PageRecord
from crawler.urls import comment_page_number
from db.store import Store

TESTS = Path(__file__).parent
MEMORY_LIMIT_MIB = 250
WORKER_LIMIT_MIB = 400


def extraction(links: list[Link], comment_pages: list[str] = ()) -> Extraction:  # type: ignore[assignment]
    return Extraction(
        url="http://a.test/p/",
        canonical=None,
        title="p",
        is_post=True,
        published=None,
        author=None,
        blog=None,
        text="",
        links=links,
        comment_pages=list(comment_pages),
    )


def test_links_of_one_page_are_cut_at_the_cap_keeping_pingbacks_and_citations():
    navs = [Link(f"http://a.test/nav/{n}", "nav", "", "") for n in range(MAX_LINKS_PER_PAGE)]
    pings = [Link(f"http://b.test/{n}/", "pingback", "", "") for n in range(10)]
    cites = [Link(f"http://c.test/{n}", "citation", "", "") for n in range(10)]
    bounded = bound_extraction(extraction(navs + pings + cites))
    assert isinstance(bounded, BoundedExtraction)
    assert len(bounded.links) == MAX_LINKS_PER_PAGE
    assert bounded.links_cut == 20
    kinds = [link.kind for link in bounded.links]
    assert kinds.count("pingback") == 10 and kinds.count("citation") == 10
    assert bounded.links[:5] == navs[:5]  # page order kept among the survivors


def test_a_page_within_the_caps_is_unchanged():
    links = [Link(f"http://c.test/{n}", "citation", "a", "") for n in range(30)]
    bounded = bound_extraction(extraction(links, ["http://a.test/p/comment-page-2/"]))
    assert bounded.links == links and bounded.links_cut == 0
    assert bounded.comment_pages == ["http://a.test/p/comment-page-2/"]


def test_plan_links_follows_at_most_the_cap():
    cites = [Link(f"http://c.test/{n}", "citation", "", "") for n in range(3 * MAX_LINKS_PER_PAGE)]
    entries = plan_links("http://a.test/p/", 0, extraction(cites), Config(), None)
    assert len(entries) == MAX_LINKS_PER_PAGE


def test_comment_pages_past_the_cap_are_traps():
    post = "http://a.test/p/"
    pages = [f"{post}comment-page-{n}/" for n in (2, MAX_COMMENT_PAGES, MAX_COMMENT_PAGES + 1)]
    pages.append(f"{post}?cpage={MAX_COMMENT_PAGES + 50}")
    entries = {e.url: e for e in plan_links(post, 0, extraction([], pages), Config(), None)}
    assert entries[pages[0]].state == entries[pages[1]].state == "queued"
    assert entries[pages[2]].state == "skipped" and entries[pages[2]].reason == "trap"
    assert entries[pages[3]].reason == "trap"


def test_comment_pages_are_trap_checked_like_other_urls():
    post = "http://a.test/p/"
    looping = post + "x/x/x/comment-page-2/"
    entries = plan_links(post, 0, extraction([], [looping]), Config(), None)
    assert [(e.state, e.reason) for e in entries] == [("skipped", "trap")]


def test_comment_page_numbers():
    assert comment_page_number("http://a.test/p/comment-page-12/") == 12
    assert comment_page_number("http://a.test/p/?cpage=7") == 7
    assert comment_page_number("http://a.test/p/?x=1&cpage=3#c") == 3
    assert comment_page_number("http://a.test/p/") is None


def chain_page(n: int) -> str:
    """Comment page ``n`` of /post/, linking to page ``n + 1`` (the trap never ends)."""
    return (
        f"<html><head><title>post, comments page {n}</title></head><body><article>"
        f"<div class='entry-content'><p>{'words ' * 60}</p></div></article>"
        "<div id='comments'><ol class='comment-list'><li class='comment' id='comment-"
        f"{n}'><div class='comment-content'>comment {n}</div></li></ol>"
        f"<div class='nav-links'><a href='/post/comment-page-{n + 1}/'>Newer</a></div>"
        "</div></body></html>"
    )


def test_an_endless_comment_page_chain_stops_at_the_cap_with_reason_trap(site, tmp_path):
    site.add_page("/post/", chain_page(1))
    for n in range(2, MAX_COMMENT_PAGES + 40):
        site.add_page(f"/post/comment-page-{n}/", chain_page(n))
    database = tmp_path / "chain.db"
    config = Config().with_overrides(
        crawl={"database": str(database), "max_depth": 0, "max_pages": 1000},
        politeness={"delay": 0.0, "per_host": 4},
        safety={"allow_private": True},
    )
    summary = crawl(config, [site.url("/post/")])
    assert summary.status == "ok"
    db = sqlite_utils.Database(database)
    fetched = [h.path for h in site.hits() if "comment-page-" in h.path]
    assert len(fetched) == MAX_COMMENT_PAGES - 1  # pages 2..100; page 1 is the post
    first_cut = site.url(f"/post/comment-page-{MAX_COMMENT_PAGES + 1}/")
    row = db["frontier"].get(first_cut)
    assert (row["state"], row["reason"]) == ("skipped", "trap")
    assert db["frontier"].count_where("url like '%comment-page-%'") == MAX_COMMENT_PAGES


MILLION_LINKS_SCRIPT = """
import asyncio, io, json, resource, sys
sys.path.insert(0, {tests!r})
from siteserver import SiteServer
from crawler.config import Config
from crawler.page_records import link_records
from crawler.fetch.client import Fetcher
from crawler.frontier import plan_links
from crawler.parsing import PageParser
from db.store import Store

def peak_mib():
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024

def million_links():
    body = io.BytesIO()
    body.write(b"<html><head><title>links</title></head><body><article><div class=entry-content>")
    for n in range(1_000_000):
        body.write(b"<a href=/x/%d>x</a>" % n)
    body.write(b"</div></article></body></html>")
    return body.getvalue()

async def main(site, config):
    async with Fetcher(config) as fetcher:
        result = await fetcher.fetch(site.url("/many"))
    async with PageParser(workers=1, deadline=120) as parser:
        extraction = await parser.extract(result.text, result.final_url, result.headers)
    # The worker is reaped now: the largest peak of a reaped child is its peak.
    worker_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    store = Store.open({database!r})
    url = site.url("/many")
    from crawler.records import PageRecord
    page = PageRecord(url, url, "h", "h", 0, 200, "text/html", result.error, html=result.text)
    store.save_page(page, links=link_records(url, url, extraction))
    store.enqueue(plan_links(url, 0, extraction, config, None))
    store.commit()
    links = store.conn.execute("select count(*) from links").fetchone()[0]
    queued = store.conn.execute("select count(*) from frontier").fetchone()[0]
    return {{"error": result.error, "links": links, "queued": queued,
             "cut": extraction.links_cut, "worker_peak": worker_peak}}

with SiteServer() as site:
    site.add_page("/many", million_links())
    config = Config().with_overrides(
        politeness={{"delay": 0.0}}, safety={{"allow_private": True}},
        crawl={{"follow": ["citation", "nav"], "max_depth": 5}},
    )
    before = peak_mib()
    report = asyncio.run(main(site, config))
print(json.dumps({{"before": before, "peak": peak_mib(), **report}}))
"""


def test_a_page_with_a_million_links_stores_at_most_the_cap_within_the_memory_bound(tmp_path):
    database = tmp_path / "many.db"
    script = MILLION_LINKS_SCRIPT.format(tests=str(TESTS), database=str(database))
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=TESTS.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    print(report)  # shown with -s: the measured figures
    assert report["error"] == "too_large"  # cut at max_bytes (5 MB): ~170,000 links left
    assert report["cut"] > 100_000
    assert report["links"] <= MAX_LINKS_PER_PAGE
    assert report["queued"] <= MAX_LINKS_PER_PAGE
    assert report["peak"] < MEMORY_LIMIT_MIB, report
    # The parse worker's peak is the extractor's (a lexbor tree and ~170,000 Link objects
    # before the cut); it is transient (the worker retires) and capped by RLIMIT_AS.
    assert report["worker_peak"] < WORKER_LIMIT_MIB, report


def test_a_page_with_more_comments_than_sqlite_has_variables_stores(tmp_path):
    store = Store.open(tmp_path / "comments.db")
    # Builds differ (Debian's allows 250,000): hold this one to SQLite's standard limit.
    store.conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32_766)
    url = "http://a.test/p/"
    page = PageRecord(url, url, "a.test", "a.test", 0, 200, "text/html", None)
    many = 40_000  # SQLite's default limit of bound variables is 32,766
    comments = [
        CommentRecord(url, "comment", str(n), "a", None, None, "t", None, None) for n in range(many)
    ]
    outcome = store.save_page(page, comments)
    store.commit()
    assert outcome.new_comments == many
    assert store.conn.execute("select count(*) from comments").fetchone()[0] == many
    again = store.save_page(page, comments)  # a revisit looks every one of them up
    assert again.new_comments == 0


# -- changed settings re-open what they closed -------------------------------------------------
def post_html(title: str, cites: list[str], navs: list[str] = ()) -> str:  # type: ignore[assignment]
    """A post whose content cites ``cites``; ``navs`` sit in the menu."""
    anchors = "".join(f"<a href='{u}'>source</a> " for u in cites)
    menu = "".join(f"<a href='{u}'>menu</a>" for u in navs)
    return (
        f"<html><head><title>{title}</title><meta property='og:type' content='article'>"
        "<meta property='article:published_time' content='2024-05-01T10:00:00Z'></head>"
        f"<body><nav class='menu'>{menu}</nav><article class='post type-post hentry'>"
        f"<div class='entry-content'><p>{'words ' * 60}{anchors}</p></div></article>"
        "</body></html>"
    )


def crawl_config(site: SiteServer, database: Path, **sections: dict) -> Config:
    base: dict[str, dict] = {
        "crawl": {"database": str(database), "max_depth": 1},
        "politeness": {"delay": 0.0, "per_host": 4},
        "http": {"proxy": site.proxy_url, "timeout": 5.0, "retries": 0},
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return Config().with_overrides(**base)


def frontier_row(database: Path, url: str) -> tuple[str, str | None]:
    row = sqlite_utils.Database(database)["frontier"].get(url)
    return row["state"], row["reason"]


def test_allowing_private_targets_and_a_deeper_crawl_fetch_what_was_skipped(site, tmp_path):
    private = f"http://127.0.0.2:{site.port}/inside/"
    seed, near, far = "http://a.test/post/", "http://b.test/near/", "http://c.test/far/"
    site.add_page("/post/", post_html("seed", [near, private]), host="a.test")
    site.add_page("/near/", post_html("near", [far]), host="b.test")
    site.add_page("/far/", post_html("far", []), host="c.test")
    site.add_page("/inside/", post_html("inside", []))  # any host: what 127.0.0.2 gets
    database = tmp_path / "reopen.db"

    first = crawl(crawl_config(site, database), [seed])
    assert first.status == "ok"
    assert frontier_row(database, private) == ("skipped", "private")
    assert frontier_row(database, far) == ("skipped", "depth")
    assert not site.hits(path="/far/") and not site.hits(path="/inside/")

    wider = crawl_config(site, database, crawl={"max_depth": 2}, safety={"allow_private": True})
    second = crawl(wider)
    assert second.status == "ok"
    assert frontier_row(database, private)[0] == "done"
    assert frontier_row(database, far)[0] == "done"
    assert len(site.hits(path="/far/")) == 1 and len(site.hits(path="/inside/")) == 1


def test_a_kind_added_to_follow_queues_the_links_found_before(site, tmp_path):
    seed, menu = "http://a.test/post/", "http://a.test/about/"
    site.add_page("/post/", post_html("seed", [], navs=[menu]), host="a.test")
    site.add_page("/about/", post_html("about", []), host="a.test")
    database = tmp_path / "kinds.db"
    crawl(crawl_config(site, database), [seed])
    assert not site.hits(path="/about/")

    crawl(crawl_config(site, database, crawl={"follow": ["citation", "nav"]}))
    assert frontier_row(database, menu)[0] == "done"
    assert len(site.hits(path="/about/")) == 1


def test_turning_robots_off_fetches_what_robots_txt_refused(site, tmp_path):
    seed, hidden = "http://a.test/post/", "http://b.test/hidden/"
    site.add_page("/post/", post_html("seed", [hidden]), host="a.test")
    site.add_page("/hidden/", post_html("hidden", []), host="b.test")
    site.add_robots("User-agent: *\nDisallow: /hidden/\n", host="b.test")
    database = tmp_path / "robots.db"
    crawl(crawl_config(site, database), [seed])
    assert frontier_row(database, hidden) == ("skipped", "robots")

    crawl(crawl_config(site, database, politeness={"obey_robots": False}))
    assert frontier_row(database, hidden)[0] == "done"


def test_a_shorter_recrawl_after_applies_to_posts_already_fetched(site, tmp_path):
    seed = "http://a.test/post/"
    site.add_page("/post/", post_html("seed", []), host="a.test")
    database = tmp_path / "recrawl.db"
    crawl(crawl_config(site, database, crawl={"recrawl_after": "30d"}), [seed])
    crawl(crawl_config(site, database, crawl={"recrawl_after": "30d"}))
    assert len(site.hits(path="/post/")) == 1  # not due for a month

    crawl(crawl_config(site, database, crawl={"recrawl_after": "0s"}))
    assert len(site.hits(path="/post/")) == 2  # due at once under the new setting
    crawl(crawl_config(site, database, crawl={"recrawl_after": "1h"}))
    page = sqlite_utils.Database(database)["pages"].get(seed)
    assert page["recrawl_interval"] <= 16 * 3600
