"""The engine against what breaks runs: a response whose processing raises, a host that
drips its body, a paused host, a failed URL on the next run, a page whose links changed,
the depth limit, and database faults (full, locked, read-only). Every crawl here goes
through the real fetch path to the local test server and into a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils
from siteserver import Route, SiteServer

from crawler.config import Config
from crawler.engine import Engine, crawl
from crawler.fetch.client import FetchResult
from crawler.page_records import Parsed
from crawler.parsers import HtmlPageParser, Parsers
from crawler.records import FrontierRow, iso_in
from db.store import DatabaseBusy, DatabaseFull, DatabaseReadOnly, Store


def post(title: str, links: list[str] = (), extra: str = "") -> str:
    cites = "".join(f'<p><a href="{u}">cited</a></p>' for u in links)
    return (
        f"<html><head><title>{title}</title><meta property='og:type' content='article'>"
        f'</head><body><article class="post hentry"><h1 class="entry-title">{title}</h1>'
        f'<div class="entry-content">{cites}{extra}</div></article></body></html>'
    )


def config_for(tmp_path: Path, site: SiteServer, seeds: list[str], **crawl: object) -> Config:
    politeness = crawl.pop("politeness", {"delay": 0.0})
    http = {"proxy": site.proxy_url, "timeout": 5.0, "retries": 0, **crawl.pop("http", {})}
    return Config().with_overrides(
        crawl={"database": str(tmp_path / "c.db"), "seeds": seeds, **crawl},
        politeness=politeness,
        http=http,
        safety={"allow_private": True},
    )


def frontier(tmp_path: Path) -> dict[str, tuple[str, str | None]]:
    db = sqlite_utils.Database(tmp_path / "c.db")
    return {r["url"]: (r["state"], r["reason"]) for r in db["frontier"].rows}


def stored(tmp_path: Path) -> dict[str, dict]:
    return {r["url"]: r for r in sqlite_utils.Database(tmp_path / "c.db")["pages"].rows}


def two_healthy_blogs(site: SiteServer) -> list[str]:
    """a.test and b.test: a seed citing two posts each. Returns the seeds."""
    for host in ("a.test", "b.test"):
        posts = [f"http://{host}/p/{n}/" for n in (1, 2)]
        site.add_page("/", post(f"{host} seed", posts), host=host)
        for url in posts:
            site.add_page(url.split(host, 1)[1], post(url), host=host)
    return ["http://a.test/", "http://b.test/"]


HEALTHY = {f"http://{h}/{p}" for h in ("a.test", "b.test") for p in ("", "p/1/", "p/2/")}


# -- poison pages --------------------------------------------------------------------------
class Poisoned(HtmlPageParser):
    """The real page parser, except that pages saying POISON make it raise (as a parser
    bug or a pathological page would), and pages saying SURROGATE give a title SQLite
    cannot store."""

    async def __call__(self, row: FrontierRow, result: FetchResult) -> Parsed:
        if "POISON" in (result.text or ""):
            raise RecursionError("maximum recursion depth exceeded")
        parsed = await super().__call__(row, result)
        if "SURROGATE" in (result.text or ""):
            parsed.page.title = "bad \ud800 title"
        return parsed


def poisoned_parsers(config: Config) -> Parsers:
    parsers = Parsers()
    parsers.add(Poisoned(config), media_types={"text/html", None})
    return parsers


def run_engine(config: Config, **options: object) -> str:
    async def go() -> str:
        store = Store.open(config.crawl.database)
        try:
            engine = Engine(config, store, holding_lock=True, **options)  # type: ignore[arg-type]
            return (await engine.run(config.crawl.seeds)).status
        finally:
            store.close()

    return asyncio.run(go())


def test_a_page_that_breaks_processing_is_recorded_and_never_offered_again(tmp_path, site):
    seeds = two_healthy_blogs(site)
    site.add_page("/", post("poison", extra="POISON"), host="bad.test")
    site.add_page("/", post("surrogate", extra="SURROGATE"), host="worse.test")
    seeds += ["http://bad.test/", "http://worse.test/"]
    config = config_for(tmp_path, site, seeds)

    for _ in range(2):  # the second run neither crashes nor asks for the poison again
        assert run_engine(config, parsers=poisoned_parsers(config)) == "ok"
        states = frontier(tmp_path)
        assert states["http://bad.test/"] == ("failed", "parse_error")
        assert states["http://worse.test/"] == ("failed", "store_error")
        assert set(stored(tmp_path)) >= HEALTHY
        assert all(states[url] == ("done", None) for url in HEALTHY)
    assert stored(tmp_path)["http://bad.test/"]["error"] == "parse_error"
    assert len(site.hits("bad.test", "/")) == 1
    assert len(site.hits("worse.test", "/")) == 1


# -- no stall behind a slow host -----------------------------------------------------------
def drip(nbytes: int, every: float) -> Iterator[bytes]:
    """A body sent one byte at a time (the server thread sleeps, not the test)."""
    for _ in range(nbytes):
        time.sleep(every)
        yield b"x"


def test_urls_found_while_a_host_drips_start_at_once(tmp_path, site):
    site._set("slow.test", "/", Route(stream=lambda: drip(40, 0.5), length=40))
    seeds = two_healthy_blogs(site) + ["http://slow.test/"]
    config = config_for(tmp_path, site, seeds, http={"timeout": 4.0, "retries": 1})
    assert crawl(config).status == "ok"

    # Server-measured: each healthy seed's posts were asked for soon after the seed, not
    # after the slow host's timeouts (2 x 4 s) ran out.
    for host in ("a.test", "b.test"):
        seed_at = site.hits(host, "/")[0].time
        posts_at = max(site.hits(host, f"/p/{n}/")[0].time for n in (1, 2))
        assert posts_at - seed_at < 2.0, (host, posts_at - seed_at)
    slow = site.hits("slow.test", "/")
    assert len(slow) == 2 and slow[-1].time - slow[0].time >= 4.0
    assert frontier(tmp_path)["http://slow.test/"] == ("failed", "timeout")


# -- regressions the suite must catch --------------------------------------------------------
def test_a_url_that_failed_for_a_passing_reason_is_offered_on_the_next_run(tmp_path, site):
    site.add_page("/", post("flaky"), host="flaky.test")
    site.fail_times("/", 1, status=503, host="flaky.test")
    config = config_for(tmp_path, site, ["http://flaky.test/"])
    crawl(config)
    assert frontier(tmp_path)["http://flaky.test/"] == ("failed", "http_503")
    crawl(config)
    assert frontier(tmp_path)["http://flaky.test/"] == ("done", None)
    assert stored(tmp_path)["http://flaky.test/"]["status"] == 200


def test_links_gone_from_a_refetched_page_are_dropped(tmp_path, site):
    targets = ["http://x.test/kept/", "http://y.test/gone/"]
    site.add_page("/post/", post("post", targets), host="src.test")
    config = config_for(tmp_path, site, ["http://src.test/post/"], recrawl_after="0s")
    crawl(config)
    site.add_page("/post/", post("post", targets[:1]), host="src.test")
    crawl(config)
    assert len(site.hits("src.test", "/post/")) == 2
    db = sqlite_utils.Database(tmp_path / "c.db")
    dsts = {r["dst"] for r in db["links"].rows_where("src = ?", ["http://src.test/post/"])}
    assert dsts == {"http://x.test/kept/"}


def test_a_paused_host_is_fetched_once_its_pause_is_over(tmp_path, site):
    # A host paused by an earlier run (for 1 s from now) next to one whose chain of
    # posts, paced by the delay, keeps the run going for longer.
    chain = [f"http://busy.test/{n}/" for n in range(8)]
    for n, url in enumerate(chain):
        site.add_page(f"/{n}/", post(url, chain[n + 1 : n + 2]), host="busy.test")
    site.add_page("/", post("paused"), host="paused.test")
    config = config_for(
        tmp_path, site, [chain[0], "http://paused.test/"], politeness={"delay": 0.4}, max_depth=10
    )
    store = Store.open(config.crawl.database)
    pause_ends = time.monotonic() + 1.0  # the server logs monotonic times
    store.save_host("paused.test", paused_until=iso_in(1.0), pause_seconds=60.0)
    store.close()

    assert crawl(config).status == "ok"
    hits = site.hits("paused.test", "/")
    assert len(hits) == 1 and hits[0].time >= pause_ends - 0.05
    assert frontier(tmp_path)["http://paused.test/"] == ("done", None)
    assert len(site.hits("busy.test")) >= len(chain)


def test_the_depth_limit_is_inclusive(tmp_path, site):
    site.add_page("/0/", post("0", ["http://d.test/1/"]), host="d.test")
    site.add_page("/1/", post("1", ["http://d.test/2/"]), host="d.test")
    site.add_page("/2/", post("2", ["http://d.test/3/"]), host="d.test")
    config = config_for(tmp_path, site, ["http://d.test/0/"], max_depth=1)
    crawl(config)
    states = frontier(tmp_path)
    assert states["http://d.test/1/"] == ("done", None)
    assert states["http://d.test/2/"] == ("skipped", "depth")
    assert "http://d.test/3/" not in states
    assert {h.path for h in site.hits("d.test")} == {"/robots.txt", "/0/", "/1/"}


# -- database faults ---------------------------------------------------------------------
def big_web(site: SiteServer, pages: int) -> list[str]:
    filler = "<p>" + "words " * 2000 + "</p>"
    urls = [f"http://big.test/{n}/" for n in range(pages)]
    site.add_page("/", post("index", urls), host="big.test")
    for url in urls:
        site.add_page(url.split("big.test", 1)[1], post(url, extra=filler), host="big.test")
    return ["http://big.test/"]


def check_after_fault(tmp_path: Path, config: Config, pages: int) -> None:
    """The run row is closed, no claim is left, the file is sound; the next run finishes."""
    db = sqlite_utils.Database(tmp_path / "c.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert [r["status"] for r in db["runs"].rows] == ["crashed"]
    assert db["frontier"].count_where("state = 'claimed'") == 0
    db.close()
    summary = crawl(config)
    assert summary.status == "ok"
    assert len(stored(tmp_path)) == pages + 1


def test_a_full_database_ends_the_run_with_a_typed_error_and_the_next_run_goes_on(tmp_path, site):
    config = config_for(tmp_path, site, big_web(site, 30))
    store = Store.open(config.crawl.database)
    size, page_size = (
        store.conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "page_size")
    )
    room = 40 * 4096 // page_size  # 160 KB: room for a few pages, whatever the page size
    store.conn.execute(f"PRAGMA max_page_count = {size + room}")

    async def go() -> None:
        await Engine(config, store, holding_lock=True).run(config.crawl.seeds)

    with pytest.raises(DatabaseFull, match="full"):
        asyncio.run(go())
    store.close()
    check_after_fault(tmp_path, config, 30)


def test_a_database_locked_by_another_program_gives_a_busy_error(tmp_path, site):
    config = config_for(tmp_path, site, big_web(site, 3))
    Store.open(config.crawl.database).close()
    other = sqlite3.connect(tmp_path / "c.db")
    other.execute("BEGIN IMMEDIATE")  # holds the write lock, as another program may
    started = time.monotonic()
    try:
        with pytest.raises(DatabaseBusy, match="locked|busy"):
            crawl(config)
    finally:
        other.rollback()
        other.close()
    assert time.monotonic() - started < 30
    summary = crawl(config)
    assert summary.status == "ok" and len(stored(tmp_path)) == 4


def test_a_read_only_database_gives_a_read_only_error(tmp_path, site):
    config = config_for(tmp_path, site, big_web(site, 3))
    store = Store.open(config.crawl.database)
    store.conn.execute("PRAGMA query_only = ON")

    async def go() -> None:
        await Engine(config, store, holding_lock=True).run(config.crawl.seeds)

    with pytest.raises(DatabaseReadOnly, match="read-only"):
        asyncio.run(go())
    store.close()
    assert crawl(config).status == "ok" and len(stored(tmp_path)) == 4
