"""End-to-end crawls of the bundled sample web, served by a real local HTTP server and
reached through the crawler's proxy setting, into real SQLite files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils

from crawler.demo import web
from crawler.demo.run import demo_config, serve_demo_web
from crawler.engine import crawl


@pytest.fixture(scope="module")
def proxy() -> Iterator[str]:
    with serve_demo_web() as url:
        yield url


@pytest.fixture(scope="module")
def crawled(tmp_path_factory, proxy) -> sqlite_utils.Database:
    path = tmp_path_factory.mktemp("crawl") / "demo.db"
    summary = crawl(demo_config(path, proxy))
    assert summary.status == "ok"
    return sqlite_utils.Database(path)


def test_every_reachable_post_and_source_is_stored(crawled):
    urls = {r["url"] for r in crawled["pages"].rows_where("status = 200")}
    posts = {p.url for p in web.POSTS}
    assert posts <= urls
    assert {web.THINKTANK, web.NEWS, web.NGO, web.SPAM} <= urls
    assert f"{web.A1}comment-page-2/" in urls
    is_post = {r["url"] for r in crawled["pages"].rows_where("is_post = 1")}
    assert is_post == posts


def test_comments_have_kinds_and_attach_to_the_post(crawled):
    rows = list(crawled.query("select kind, count(*) n from comments group by kind"))
    counts = {r["kind"]: r["n"] for r in rows}
    assert counts == {"comment": 4, "pingback": 4, "trackback": 1}
    second_page = crawled["comments"].rows_where("source_url = ?", [web.A3])
    assert [c["post_url"] for c in second_page] == [web.A1]


def test_links_have_kinds_and_same_blog(crawled):
    def link(src, dst, kind):
        rows = list(
            crawled["links"].rows_where("src = ? and dst = ? and kind = ?", [src, dst, kind])
        )
        return rows[0] if rows else None

    assert link(web.A1, web.THINKTANK, "citation")["same_blog"] == 0
    assert link(web.A1, web.A2, "citation")["same_blog"] == 1
    ping = link(web.B1, web.A1, "pingback")
    assert ping["found_on"] == web.A1 and ping["same_blog"] == 0
    assert link(web.C1, web.A1, "trackback") is not None
    assert link(web.A3, web.A1, "pingback")["found_on"] == f"{web.A1}comment-page-2/"
    nav = crawled.execute("select count(*) from links where kind = 'nav'").fetchone()[0]
    assert nav > 0
    assert link(web.A1, web.SPAM, "comment") is not None


def test_pingbacks_are_verified(crawled):
    verified = {r["source"]: r["verified"] for r in crawled.query("select * from pingbacks")}
    assert verified[web.B1] == 1
    assert verified[web.C1] == 1
    assert verified[web.SPAM] == 0


def test_related_posts_follow_citations_and_pingbacks_not_nav(crawled):
    pairs = {(r["a"], r["b"]) for r in crawled.query("select a, b from related_posts")}
    expected = {
        tuple(sorted(p))
        for p in [(web.A1, web.A2), (web.A1, web.A3), (web.A2, web.A3), (web.B1, web.B2)]
    }
    assert pairs == expected


def test_nothing_is_fetched_from_comment_links_or_nav_by_default(crawled):
    assert crawled["frontier"].count_where("url = ?", ["http://robert.example/"]) == 0
    assert crawled["pages"].count_where("url = ?", ["http://northwind.example/about/"]) == 0


def test_a_second_run_continues(tmp_path, proxy):
    path = tmp_path / "c.db"
    config = demo_config(path, proxy)
    first = crawl(config.with_overrides(crawl={"max_pages": 3}))
    assert first.counters.fetched == 3
    assert first.frontier.get("queued", 0) > 0
    second = crawl(config)
    db = sqlite_utils.Database(path)
    assert second.counters.fetched > 0
    assert db["runs"].count == 2
    assert db["frontier"].count_where("state = 'queued'") == 0
    full_web = len({(h, p) for (h, p) in web.build_site() if p != "/robots.txt"})
    fetched = db["pages"].count
    assert fetched == first.counters.fetched + second.counters.fetched
    assert fetched <= full_web


def test_run_records_counts(crawled):
    run = next(crawled["runs"].rows)
    assert run["status"] == "ok"
    assert run["fetched"] == crawled["pages"].count
    assert run["finished_at"] >= run["started_at"]


def test_database_file_is_reported_by_sqlite_utils(crawled):
    names = set(crawled.table_names()) | set(crawled.view_names())  # links is a view
    assert {"pages", "comments", "links", "frontier", "runs", "hosts", "bodies"} <= names
    assert Path(crawled.conn.execute("PRAGMA database_list").fetchone()[2]).exists()


def test_sqlite_utils_cli_lists_tables_and_searches(crawled):
    from click.testing import CliRunner
    from sqlite_utils.cli import cli as sqlite_utils_cli

    path = crawled.conn.execute("PRAGMA database_list").fetchone()[2]
    runner = CliRunner()
    tables = runner.invoke(sqlite_utils_cli, ["tables", path, "--counts"])
    assert tables.exit_code == 0
    assert '"table": "pages", "count": 11' in tables.output
    search = runner.invoke(sqlite_utils_cli, ["search", path, "pages", "deterrence"])
    assert search.exit_code == 0
    found = {row["url"] for row in json.loads(search.output)}
    assert {web.THINKTANK, web.B2} <= found
