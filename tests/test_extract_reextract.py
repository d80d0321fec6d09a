"""``pingcrawl reextract`` (issue 14): the current extractor over a database crawled with
an older one yields the rows a fresh crawl gives, and sends no request."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner
from siteserver import SiteServer

from crawler.cli.main import cli
from crawler.config import Config
from crawler.engine import crawl
from crawler.extract.page import Extraction, Link, extract
from crawler.extract.reextract import reextract
from crawler.parsers import default_parsers
from crawler.runlock import RunLock

PLATFORMS = Path(__file__).parent / "fixtures" / "platforms"
PAGES = {  # served at the address each fixture was written for (over http)
    "http://www.ledger.example/blog/2011/06/double-entry.html": "movabletype.html",
    "http://birdnotes.typepad.com/birdnotes/2010/05/the-swifts-are-back.html": "typepad.html",
    "http://fieldnotes.blogspot.com/2009/03/reading-old-maps.html": "blogger-classic.html",
    "http://deskdiary.example/2023/02/paper-notebooks/": "wordpress-variants.html",
    "http://pia.example/2024/03/static-sites/": "indieweb.html",
}
# The source of one trackback, linking back: its verdict needs the re-extracted links.
SOURCE = "http://numbersblog.example.com/archives/2011/06/summa.php"
SOURCE_HTML = """<html><head><title>The Summa at 517</title></head><body>
<div class="entry-content"><p>Reading <a href="http://www.ledger.example/blog/2011/06/double-entry.html">
Ada's post</a> on Pacioli reminded me that the Summa is mostly about arithmetic, and that
the bookkeeping part is a short treatise near the end of a very long book.</p></div>
</body></html>"""

PAGE_COLUMNS = (
    "url, title, is_post, published, author, text, canonical, pingback_endpoint, "
    "webmention_endpoint, feeds, comments_hash"
)
COMMENT_COLUMNS = (
    "id, post_url, comment_id, kind, author, author_url, published, text, source_url, "
    "source_title, verified, found_on"
)
LINK_COLUMNS = "src, dst, kind, found_on, anchor, rel, same_blog"


def serve(site: SiteServer) -> None:
    for url, name in PAGES.items():
        host, path = url.split("/", 3)[2], "/" + url.split("/", 3)[3]
        site.add_page(path, (PLATFORMS / name).read_text(encoding="utf-8"), host=host)
    site.add_page("/archives/2011/06/summa.php", SOURCE_HTML, host="numbersblog.example.com")


def config_for(site: SiteServer, database: Path) -> Config:
    return Config().with_overrides(
        crawl={"database": str(database), "max_depth": 0},
        politeness={"delay": 0.0, "per_host": 2},
        http={"proxy": site.proxy_url, "timeout": 10.0, "retries": 0},
        safety={"allow_private": True},
    )


def older_extract(html: str, url: str, headers: object = None) -> Extraction:
    """The extractor as it was before the platform families: no trackbacks or mentions,
    every body link "nav", the <title> with the blog name as the title."""
    got = extract(html, url, headers)  # type: ignore[arg-type]
    comments = [c for c in got.comments if c.kind not in ("trackback", "webmention")]
    links = [
        Link(link.dst, "nav", link.anchor, link.rel) if link.kind == "citation" else link
        for link in got.links
        if link.kind not in ("trackback", "webmention")
    ]
    return replace(got, comments=comments, links=links, title=f"Old: {got.title}")


def crawl_all(site: SiteServer, database: Path, **options: object) -> None:
    summary = crawl(config_for(site, database), [*PAGES, SOURCE], **options)
    assert summary.status == "ok" and summary.counters.fetched == len(PAGES) + 1


def rows(database: Path) -> dict[str, list[tuple]]:
    db = sqlite_utils.Database(database)
    return {
        "pages": db.execute(f"SELECT {PAGE_COLUMNS} FROM pages ORDER BY url").fetchall(),
        "comments": db.execute(f"SELECT {COMMENT_COLUMNS} FROM comments ORDER BY id").fetchall(),
        "links": db.execute(f"SELECT {LINK_COLUMNS} FROM links ORDER BY src, dst, kind").fetchall(),
    }


@pytest.fixture
def old_crawl(site: SiteServer, tmp_path: Path) -> Path:
    serve(site)
    database = tmp_path / "old.db"
    config = config_for(site, database)
    crawl_all(site, database, parsers=default_parsers(config, extract_fn=older_extract))
    return database


def test_reextract_gives_the_rows_of_a_fresh_crawl_without_a_request(
    site: SiteServer, old_crawl: Path, tmp_path: Path
) -> None:
    fresh = tmp_path / "fresh.db"
    crawl_all(site, fresh)
    before = rows(old_crawl)
    assert before != rows(fresh)  # the older extractor really did miss things
    requests = len(site.hits())

    summary = reextract(config_for(site, old_crawl))

    assert len(site.hits()) == requests  # not one request
    assert summary.pages == len(PAGES) + 1 and not summary.failed
    after, expected = rows(old_crawl), rows(fresh)
    assert after["pages"] == expected["pages"]
    assert after["comments"] == expected["comments"]
    assert after["links"] == expected["links"]
    db = sqlite_utils.Database(old_crawl)
    trackback = db.execute(
        "SELECT verified FROM comments WHERE source_url = ?", [SOURCE]
    ).fetchone()
    assert trackback == (1,)  # verified against the source's re-extracted links
    mentions = db.execute("SELECT src, dst FROM links WHERE kind = 'webmention'").fetchall()
    assert len(mentions) == 4  # each an edge source -> post, like a pingback
    assert {dst for _, dst in mentions} == {"http://pia.example/2024/03/static-sites/"}
    assert ("https://omar.example/2024/03/07/re-static-sites/",) in [(s,) for s, _ in mentions]
    # the pingbacks view and export list them with the pings
    listed = dict(db.execute("SELECT kind, count(*) FROM pingbacks GROUP BY kind").fetchall())
    assert listed == {"pingback": 4, "trackback": 5, "webmention": 4}
    exported = CliRunner().invoke(
        cli, ["export", "pingbacks", "--format", "jsonl", "--db", str(old_crawl)]
    )
    assert exported.output.count('"kind": "webmention"') == 4


def test_reextract_of_one_blog_leaves_the_others(site: SiteServer, old_crawl: Path) -> None:
    summary = reextract(config_for(site, old_crawl), blog="www.ledger.example")
    assert summary.pages == 1
    db = sqlite_utils.Database(old_crawl)
    titles = dict(db.execute("SELECT url, title FROM pages").fetchall())
    assert titles["http://www.ledger.example/blog/2011/06/double-entry.html"] == (
        "Double entry, five centuries on"
    )
    assert titles["http://pia.example/2024/03/static-sites/"].startswith("Old: ")


def test_reextract_queues_what_the_new_extraction_finds(site: SiteServer, old_crawl: Path) -> None:
    db = sqlite_utils.Database(old_crawl)
    source = "http://riverwatch.example.net/2010/05/04/swifts-everywhere.html"
    assert not db.execute("SELECT 1 FROM frontier WHERE url = ?", [source]).fetchall()
    reextract(config_for(site, old_crawl))
    assert db.execute("SELECT kind FROM frontier WHERE url = ?", [source]).fetchall() == [
        ("trackback",)
    ]


def test_cli_reextract(site: SiteServer, old_crawl: Path) -> None:
    result = CliRunner().invoke(cli, ["reextract", "--db", str(old_crawl)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"reextracted {len(PAGES) + 1} pages")
    db = sqlite_utils.Database(old_crawl)
    trackbacks = db.execute("SELECT count(*) FROM comments WHERE kind = 'trackback'").fetchone()
    assert trackbacks == (5,)  # Movable Type 2, Typepad 2, a WordPress theme 1


def test_cli_reextract_without_a_database_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["reextract", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 2
    assert "does not exist" in result.output and "Traceback" not in result.output


def test_cli_reextract_while_a_crawl_holds_the_database_exits_75(old_crawl: Path) -> None:
    with RunLock(old_crawl):
        result = CliRunner().invoke(cli, ["reextract", "--db", str(old_crawl)])
    assert result.exit_code == 75
    assert "holds" in result.output and "Traceback" not in result.output
