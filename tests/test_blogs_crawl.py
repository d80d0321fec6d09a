"""Whole blogs through the engine (issue 13): discovery through the polite fetcher, the
``blogs`` table, and the nightly watch, against tests/blogweb.py's four blogs."""

from __future__ import annotations

import csv
import io
import json
import resource
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils
from blogweb import BLOGS, WORDPRESS, YOAST, BlogWeb
from click.testing import CliRunner
from test_discover_hostile import laughs, zeros_gzipped

from crawler.cli.main import cli
from crawler.config import Config
from crawler.engine import RunSummary, crawl

DELAY = 0.05


@pytest.fixture
def web() -> Iterator[BlogWeb]:
    with BlogWeb(posts_per_blog=6) as server:
        yield server


def blog_config(web: BlogWeb, db: Path, **crawl_keys: object) -> Config:
    return Config().with_overrides(
        crawl={
            "database": str(db),
            "blogs": [web.home(host) for host in BLOGS],
            "recrawl_after": "0s",
            "max_depth": 1,
            **crawl_keys,
        },
        politeness={"delay": DELAY},
        http={"proxy": web.proxy_url, "timeout": 5.0, "retries": 0},
    )


def posts_stored(db: Path) -> set[str]:
    rows = sqlite_utils.Database(db).query(
        "select url from pages where is_post = 1 and status = 200"
    )
    return {r["url"] for r in rows}


def without_robots(web: BlogWeb, host: str, since: float) -> list[str]:
    return [h.path for h in web.requests(host, since) if h.path != "/robots.txt"]


def first_crawl(web: BlogWeb, db: Path) -> RunSummary:
    summary = crawl(blog_config(web, db))
    assert summary.status == "ok"
    return summary


def test_every_post_of_every_blog_is_fetched_and_the_orphans_are_in_the_graph(
    web: BlogWeb, tmp_path: Path
) -> None:
    db = tmp_path / "b.db"
    first_crawl(web, db)
    stored = posts_stored(db)
    for host in BLOGS:
        missing = set(web.posts(host)) - stored
        assert not missing, f"{host}: posts not stored: {missing}"
        assert web.orphans(host), "the web must hold posts nothing links to"
    pairs = {
        (r["a"], r["b"]) for r in sqlite_utils.Database(db).query("select a, b from related_posts")
    }
    for host in BLOGS:
        for orphan in web.orphans(host):
            assert any(orphan in pair for pair in pairs), f"{orphan} has no related pair"


def test_blogs_table_records_what_was_found(web: BlogWeb, tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    first_crawl(web, db)
    rows = {r["blog"]: r for r in sqlite_utils.Database(db)["blogs"].rows}
    assert len(rows) == len(BLOGS)
    for host in BLOGS:
        row = rows[host]
        assert row["posts_listed"] == len(web.posts(host))
        assert row["comment_feed"], host
        assert row["comment_feed_etag"] or row["comment_feed_last_modified"], host
    assert rows[WORDPRESS]["api"]
    assert rows[YOAST]["sitemaps"]
    assert not rows[YOAST]["api"]


def test_a_second_run_with_nothing_changed_asks_each_blog_at_most_three_times(
    web: BlogWeb, tmp_path: Path
) -> None:
    db = tmp_path / "b.db"
    first_crawl(web, db)
    since = web.mark()
    summary = crawl(blog_config(web, db))
    assert summary.status == "ok"
    for host in BLOGS:
        asked = without_robots(web, host, since)
        assert len(asked) <= 3, f"{host}: {asked}"
        posts = {p.split("://", 1)[1].split("/", 1)[1] for p in web.posts(host)}
        assert not [p for p in asked if p.lstrip("/") in posts], f"{host} re-fetched a post"


# -- the command line ------------------------------------------------------------------------
def cli_config(web: BlogWeb, tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[crawl]\ndatabase = "{tmp_path / "c.db"}"\nmax_depth = 0\n'
        f"[politeness]\ndelay = {DELAY}\n"
        f'[http]\nproxy = "{web.proxy_url}"\ntimeout = 5.0\nretries = 0\n'
    )
    return path


def test_blogs_and_seeds_from_files_and_stdin(web: BlogWeb, tmp_path: Path) -> None:
    config = cli_config(web, tmp_path)
    seeds = tmp_path / "seeds.txt"
    seed = web.posts(YOAST)[0]
    seeds.write_text(f"# one post of another blog\n\n{seed}   # the oldest\n")
    stdin = f"# blogs to map\n{web.home(WORDPRESS)}\n"
    args = ["crawl", "-c", str(config), "--seeds-file", str(seeds), "--blogs-file", "-"]
    result = CliRunner().invoke(cli, args, input=stdin)
    assert result.exit_code == 0, result.output
    db = sqlite_utils.Database(tmp_path / "c.db")
    assert [r["blog"] for r in db["blogs"].rows] == [WORDPRESS]
    assert set(web.posts(WORDPRESS)) <= posts_stored(tmp_path / "c.db")
    assert seed in posts_stored(tmp_path / "c.db")


def test_a_front_page_as_a_plain_seed_says_how_to_crawl_the_blog(
    web: BlogWeb, tmp_path: Path
) -> None:
    config = cli_config(web, tmp_path)
    home = web.home(YOAST)
    result = CliRunner().invoke(cli, ["crawl", "-c", str(config), home])
    assert result.exit_code == 0, result.output
    assert f"--blog {home}" in result.output
    as_blog = CliRunner().invoke(cli, ["crawl", "-c", str(config), "--blog", home, home])
    assert f"--blog {home}" not in as_blog.output


def test_a_blog_that_is_not_a_url_is_a_usage_error(web: BlogWeb, tmp_path: Path) -> None:
    config = cli_config(web, tmp_path)
    result = CliRunner().invoke(cli, ["crawl", "-c", str(config), "--blog", "ftp://x/"])
    assert result.exit_code == 2
    assert "ftp://x/" in result.output and "Traceback" not in result.output


def new_pingback(web: BlogWeb) -> tuple[str, str]:
    """A ping on an old wp.test post from a new yoast.test post that cites it."""
    target = web.posts(WORDPRESS)[1]
    source = web.add_post(YOAST, cites=[target]).url
    web.add_pingback(target, source, title="A new post citing it")
    return target, source


def test_one_new_pingback_is_stored_fetched_and_verified_in_few_requests(
    web: BlogWeb, tmp_path: Path
) -> None:
    db = tmp_path / "b.db"
    first_crawl(web, db)
    target, source = new_pingback(web)
    since = web.mark()
    summary = crawl(blog_config(web, db))
    assert summary.status == "ok"
    asked = without_robots(web, WORDPRESS, since)
    assert len(asked) <= 8, asked
    pings = list(
        sqlite_utils.Database(db).query(
            "select verified from comments where post_url = ? and source_url = ?",
            [target, source],
        )
    )
    assert pings == [{"verified": 1}]
    assert source in posts_stored(db)


def export_pingbacks(db: Path, *window: str) -> list[list[str]]:
    args = ["export", "pingbacks", "--db", str(db), "--format", "csv", *window]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.output)))
    return [row[:4] for row in rows[1:]]


def test_export_since_and_run_list_exactly_the_new_pingback(web: BlogWeb, tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    first_crawl(web, db)
    assert len(export_pingbacks(db)) > 1  # the first crawl found the chain's pings
    target, source = new_pingback(web)
    before = time.time()
    summary = crawl(blog_config(web, db))
    since = f"{time.time() - before + 0.01:.3f}s"
    expected = [[source, target, "pingback", "1"]]
    assert export_pingbacks(db, "--since", since) == expected
    assert export_pingbacks(db, "--run", str(summary.run_id)) == expected
    assert export_pingbacks(db, "--run", str(summary.run_id - 1)) != expected


def test_export_window_errors_are_one_line(web: BlogWeb, tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    first_crawl(web, db)
    for window in (["--run", "99"], ["--since", "soon"], ["--since", "1d", "--run", "1"]):
        result = CliRunner().invoke(cli, ["export", "pingbacks", "--db", str(db), *window])
        assert result.exit_code == 2, (window, result.output)
        assert "Traceback" not in result.output


def test_stats_shows_each_blogs_coverage_and_last_check(web: BlogWeb, tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    first_crawl(web, db)
    crawl(blog_config(web, db))
    result = CliRunner().invoke(cli, ["stats", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    blogs = {b["blog"]: b for b in json.loads(result.output)["blogs"]}
    for host in BLOGS:
        assert blogs[host]["posts_listed"] == blogs[host]["posts_stored"] == len(web.posts(host))
        assert blogs[host]["last_checked"] and "unchanged" in blogs[host]["last_check"]
    text = CliRunner().invoke(cli, ["stats", "--db", str(db)]).output
    assert f"blog={WORDPRESS}" in text and "posts_stored=6" in text


# -- politeness and hostile listings ------------------------------------------------------------
def test_robots_txt_is_obeyed_for_every_listing_and_starts_keep_the_delay(
    web: BlogWeb, tmp_path: Path
) -> None:
    web.add_robots("User-agent: *\nDisallow: /wp-json/\nDisallow: /wp-sitemap", host=WORDPRESS)
    web.add_robots("User-agent: *\nDisallow: /sitemap\nSitemap: /sitemap_index.xml", host=YOAST)
    db = tmp_path / "b.db"
    first_crawl(web, db)
    assert set(web.all_posts()) <= posts_stored(db)  # the feeds list them all
    for path in [h.path for h in web.requests(WORDPRESS)]:
        assert not path.startswith(("/wp-json/", "/wp-sitemap")), path
    assert not [h.path for h in web.requests(YOAST) if h.path.startswith("/sitemap")]
    refused = sqlite_utils.Database(db).query(
        "select url, reason from frontier where kind like 'listing_%' and state = 'skipped'"
    )
    reasons = {r["url"]: r["reason"] for r in refused}
    assert reasons["http://wp.test/wp-json/wp/v2/posts?per_page=100&_fields=link,modified_gmt"] == (
        "robots"
    )
    assert reasons["http://yoast.test/sitemap_index.xml"] == "robots"
    for host in BLOGS:
        starts = sorted(h.time for h in web.requests(host))
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        assert min(gaps) >= DELAY * 0.9, f"{host}: requests {min(gaps):.3f}s apart"


def _hostile(web: BlogWeb, kind: str) -> None:
    path, host = "/sitemap_index.xml", YOAST
    xml = "application/xml"
    if kind == "huge":
        web.big(path, 60_000_000, host=host, content_type=xml)  # past the 50 MB limit
    elif kind == "malformed":
        web.add_page(
            path, b"<sitemapindex><sitemap><loc>http://yoast.test/", host=host, content_type=xml
        )
    elif kind == "gzip_bomb":  # a sitemap.xml.gz that unpacks to 1 GB
        bomb = zeros_gzipped(b"<urlset><url><loc>", 1 << 30)
        web.add_page(path, bomb, host=host, content_type="application/x-gzip")
    elif kind == "transfer_bomb":  # Content-Encoding: gzip of 1 GB
        body = zeros_gzipped(b"<urlset><url><loc>", 1 << 30)
        web.add_page(path, body, host=host, headers={"Content-Encoding": "gzip"}, content_type=xml)
    else:  # entities: billion laughs
        web.add_page(path, laughs("urlset", "<urlset>&lol9;</urlset>"), host=host, content_type=xml)


@pytest.mark.parametrize("kind", ["huge", "malformed", "gzip_bomb", "transfer_bomb", "entities"])
def test_a_hostile_sitemap_is_a_recorded_error_and_the_run_goes_on(
    web: BlogWeb, tmp_path: Path, kind: str
) -> None:
    _hostile(web, kind)
    db = tmp_path / "b.db"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    first_crawl(web, db)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 300, f"peak memory grew {grown_mb:.0f} MB"
    row = sqlite_utils.Database(db)["frontier"].get("http://yoast.test/sitemap_index.xml")
    assert row["state"] == "skipped" and row["reason"], row
    assert row["reason"] != "robots"
    assert set(web.all_posts()) <= posts_stored(db)  # yoast's feed, and the other blogs
    failures = sqlite_utils.Database(db)["blogs"].get(YOAST)["failures"]
    assert "sitemap_index.xml" in failures


def test_a_sitemap_over_the_page_byte_limit_is_still_read(web: BlogWeb, tmp_path: Path) -> None:
    url = "http://yoast.test/post-sitemap.xml"
    original = web.fetch(url)
    padding = b"<!--" + b"x" * 300_000 + b"-->"  # a big sitemap: 3x http.max_bytes
    web.add_page(
        "/post-sitemap.xml", original.body + padding, host=YOAST, content_type="application/xml"
    )
    db = tmp_path / "b.db"
    config = blog_config(web, db).with_overrides(http={"max_bytes": 100_000})
    assert crawl(config).status == "ok"
    row = sqlite_utils.Database(db)["frontier"].get(url)
    assert (row["state"], row["kind"]) == ("done", "listing_sitemap"), row


def post_paths(web: BlogWeb, host: str) -> set[str]:
    return {"/" + url.split("/", 3)[3] for url in web.posts(host)}


def test_a_comment_feed_that_no_longer_reaches_the_last_check_sweeps_the_blog(
    web: BlogWeb, tmp_path: Path
) -> None:
    db = tmp_path / "b.db"
    first_crawl(web, db)
    posts = web.posts(WORDPRESS)
    for n in range(web.comment_feed_size + 1):  # more than the feed shows
        web.add_pingback(posts[0], f"http://elsewhere.test/{n}/")  # news names one post
    since = web.mark()
    crawl(blog_config(web, db))
    asked = set(without_robots(web, WORDPRESS, since))
    assert post_paths(web, WORDPRESS) <= asked
    assert sqlite_utils.Database(db)["blogs"].get(WORDPRESS)["last_swept"]
    assert not post_paths(web, YOAST) & set(without_robots(web, YOAST, since))


def test_a_blog_without_a_comment_feed_keeps_the_per_post_recrawl(
    web: BlogWeb, tmp_path: Path
) -> None:
    web.add_page("/comments/feed/", "gone", status=404, host=WORDPRESS)
    db = tmp_path / "b.db"
    first_crawl(web, db)
    assert sqlite_utils.Database(db)["blogs"].get(WORDPRESS)["comment_feed"] is None
    since = web.mark()
    crawl(blog_config(web, db))
    assert post_paths(web, WORDPRESS) <= set(without_robots(web, WORDPRESS, since))
    assert not post_paths(web, YOAST) & set(without_robots(web, YOAST, since))


def test_a_listing_that_hangs_does_not_hold_the_run_past_max_runtime(
    web: BlogWeb, tmp_path: Path
) -> None:
    web.hang("/sitemap_index.xml", host=YOAST)
    config = blog_config(web, tmp_path / "b.db", max_runtime="2s").with_overrides(
        http={"timeout": 60.0}
    )
    started = time.monotonic()
    summary = crawl(config)
    assert summary.status == "ok"
    assert time.monotonic() - started < 30  # the hanging answer alone would take 60 s
