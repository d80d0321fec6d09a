"""``pingcrawl status`` during a real crawl (held still by a page that never answers) and
after it, and the progress display's rate, queue and errors."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
from pathlib import Path

import sqlite_utils
from click.testing import CliRunner
from siteserver import SiteServer

from crawler.cli.main import cli
from crawler.cli.progress import ProgressReporter
from crawler.config import Config
from crawler.engine import PageEvent, RunSummary, crawl
from crawler.fetch.client import FetchResult
from crawler.records import FrontierRow
from db.schema import open_database


def page(links: list[str]) -> str:
    cites = "".join(f'<a href="{u}">x</a> ' for u in links)
    return (
        "<html><head><title>p</title><meta property='og:type' content='article'></head>"
        f'<body><article class="post"><div class="entry-content">{cites}</div></article>'
        "</body></html>"
    )


def status_json(db: Path) -> dict:
    result = CliRunner().invoke(cli, ["status", "--json", "--db", str(db)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    """Poll ``condition`` (no fixed sleep decides the outcome; the deadline is generous)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def read(db: Path, sql: str) -> list[tuple]:
    return list(sqlite_utils.Database(db).execute(sql).fetchall())


def test_status_during_a_crawl_reports_what_the_database_holds(tmp_path):
    """The run is held still: fast.test's pages come at once, drip.test's one a second
    (Crawl-delay), slow.test's never. The database thread commits on a write half a second
    after the last commit, so drip.test's last page commits everything before it; from then
    on the database holds a fixed state while the run is still going."""
    db = tmp_path / "live.db"
    fast = [f"http://fast.test/{name}/" for name in ("a", "b", "c")]
    drip = [f"http://drip.test/{n}/" for n in (1, 2, 3)]
    with SiteServer() as site:
        site.add_page("/", page([*fast, *drip, "http://slow.test/hang/"]), host="fast.test")
        for url in fast + drip:
            host, path = url.removeprefix("http://").split("/", 1)
            site.add_page(f"/{path}", page([]), host=host)
        site.add_robots("User-agent: *\nCrawl-delay: 1\n", host="drip.test")
        site.hang("/hang/", host="slow.test")  # holds the run open until the server stops
        config = Config().with_overrides(
            crawl={"database": str(db), "seeds": ["http://fast.test/"], "max_pages": 100},
            politeness={"delay": 0.0},
            http={"proxy": site.proxy_url, "timeout": 120.0, "retries": 0},
        )
        summaries: list[RunSummary] = []
        runner = threading.Thread(target=lambda: summaries.append(crawl(config)))
        runner.start()
        try:
            wait_for(lambda: site.hits(host="slow.test", path="/hang/"), "the hanging request")
            wait_for(
                lambda: db.exists() and read(db, "SELECT count(*) FROM pages") == [(7,)],
                "every page but the hanging one to be committed",
            )
            live = status_json(db)
            frontier = dict(read(db, "SELECT state, count(*) FROM frontier GROUP BY state"))
            pages = dict(read(db, "SELECT host, count(*) FROM pages GROUP BY host"))
        finally:
            site.stop()  # the hanging request ends; the run finishes
            runner.join(timeout=120)
    assert not runner.is_alive()

    assert live["running"] and live["run"]["status"] == "running"
    assert (live["fetched"], live["failed"]) == (7, 0)
    assert live["frontier"] == frontier
    assert live["queued"] + live["in_flight"] == 1  # the hanging page, in flight
    assert live["rate"] > 0 and live["elapsed_seconds"] > 0
    assert live["eta_seconds"] is not None
    hosts = {h["host"]: h for h in live["hosts"]}
    assert {h: hosts[h]["fetched"] for h in pages} == pages == {"fast.test": 4, "drip.test": 3}
    assert (hosts["fast.test"]["fetched"], hosts["fast.test"]["queued"]) == (4, 0)
    assert (hosts["slow.test"]["fetched"], hosts["slow.test"]["queued"]) == (0, 1)
    assert hosts["fast.test"]["robots"] == "allow all (404)"

    after = status_json(db)
    (run,) = sqlite_utils.Database(db)["runs"].rows
    assert not after["running"] and after["run"]["status"] == run["status"] == "ok"
    assert (after["fetched"], after["failed"]) == (run["fetched"], run["failed"])
    assert after["fetched"] == summaries[0].counters.fetched
    assert after["eta_seconds"] is None


def test_status_text_shows_run_and_hosts(tmp_path):
    db = open_database(tmp_path / "t.db")
    db["runs"].insert(
        {
            "id": 1,
            "started_at": "2026-01-01T00:00:00Z",
            "finished_at": "2026-01-01T00:01:40Z",
            "status": "ok",
            "fetched": 50,
            "failed": 2,
        }  # fmt: skip
    )
    db["pages"].insert({"url": "http://a.test/", "host": "a.test", "status": 200})
    db["hosts"].insert(
        {"host": "a.test", "robots_status": 503, "paused_until": "2999-01-01T00:00:00Z"}
    )
    result = CliRunner().invoke(cli, ["status", "--db", str(tmp_path / "t.db")])
    assert result.exit_code == 0, result.output
    assert "run 1: ok" in result.output
    assert "fetched 50  failed 2" in result.output and "rate 0.50 pages/s" in result.output
    line = next(line for line in result.output.splitlines() if line.startswith("a.test"))
    assert "2999-01-01T00:00:00Z" in line and "disallow all (503)" in line


def test_status_opens_read_only_and_never_migrates(tmp_path):
    path = tmp_path / "old.db"
    db = open_database(path)
    db.execute("PRAGMA user_version = 2")
    db.conn.commit()
    db.conn.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    status_json(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sqlite_utils.Database(path).execute("PRAGMA user_version").fetchone()[0] == 2


def test_status_errors_are_one_line(tmp_path):
    missing = CliRunner().invoke(cli, ["status", "--db", str(tmp_path / "none.db")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    result = CliRunner().invoke(cli, ["status", "--db", str(junk)])
    assert result.exit_code == 2 and "not a pingcrawl database" in result.output
    assert "Traceback" not in result.output + missing.output


def _event(url: str, status: int | None = 200, error: str | None = None) -> PageEvent:
    row = FrontierRow(url, 1, "a.test", "citation", None, None, 1)
    return PageEvent(row, FetchResult(url, url, status=status, error=error), None)


def test_progress_display_shows_rate_queue_and_errors(tmp_path):
    path = tmp_path / "q.db"
    db = open_database(path)
    states = ["queued"] * 7 + ["claimed", "done"]
    db["frontier"].insert_all(
        {"url": f"http://a.test/{i}", "state": state} for i, state in enumerate(states)
    )
    db.conn.commit()
    reporter = ProgressReporter(100, stream=io.StringIO(), database=str(path))
    with reporter:
        wait_for(lambda: reporter.queue is not None and reporter.queue.value is not None, "queue")
        reporter(_event("http://a.test/ok"))
        reporter(_event("http://a.test/missing", status=404))
        reporter(_event("http://a.test/timeout", status=None, error="timeout"))
        text = reporter.status_text()
    assert "queue 8" in text  # queued and in flight
    assert "2 errors" in text
    assert "pages/s" in text and not text.startswith("0.0 ")


def test_crawl_with_progress_runs_and_stops_its_queue_watch(tmp_path, site):
    site.add_page("/", page(["/a/", "/missing/"]))
    site.add_page("/a/", page([]))
    config = tmp_path / "config.toml"
    config.write_text(
        f'[crawl]\nseeds = ["{site.url("/")}"]\ndatabase = "{tmp_path / "p.db"}"\n'
        "[politeness]\ndelay = 0.0\n[safety]\nallow_private = true\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["crawl", "--progress", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert not any(t.name == "queue-watch" for t in threading.enumerate())
    assert sqlite_utils.Database(tmp_path / "p.db")["pages"].count == 3
