# ruff: noqa: F811  (pytest fixtures imported from tests/pgserver.py are parameters here)
"""Cluster crawls: workers on a real PostgreSQL (started by ``tests/pgserver.py``) leasing
hosts of a local virtual web (``tests/clusterweb.py``), checked by what the server saw."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
import sqlite_utils
from clusterweb import ClusterWeb
from pgserver import PgServer, pg_server, pg_url  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[1]
DELAY = 0.1
LATENCY = 0.02


def write_config(
    tmp_path: Path,
    web: ClusterWeb,
    database: str,
    delay: float = DELAY,
    per_host: int = 1,
    **extra: str,
) -> Path:
    settings = {
        "crawl": {"seeds": repr(web.web.seeds()).replace("'", '"'), "max_depth": "20"},
        "politeness": {"delay": str(delay), "per_host": str(per_host), "concurrency": "8"},
        "http": {"proxy": f'"{web.proxy}"', "timeout": "10", "retries": "1"},
        "safety": {"allow_private": "true"},
        "cluster": {"database": f'"{database}"', "lease": extra.get("lease", "30")},
    }
    settings["crawl"]["database"] = f'"{tmp_path / "unused.db"}"'
    lines = []
    for section, values in settings.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {value}" for key, value in values.items()]
    path = tmp_path / "cluster.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def start_worker(config: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "crawler", "worker", "-q", "-c", str(config)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(worker: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str]:
    """The worker's exit code and output; one still running after ``timeout`` is a
    failure (and is killed, so no worker outlives its test)."""
    try:
        out, err = worker.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        worker.kill()
        out, err = worker.communicate()
        return -999, f"worker still running after {timeout} s\n{out}{err}"
    return worker.returncode, out + err


def page_hits(log: list[dict]) -> list[dict]:
    return [h for h in log if h["path"] != "/robots.txt"]


def check_politeness(log: list[dict], delay: float, per_host: int) -> int:
    """Request starts to each host never closer than ``delay`` (a little clock slack),
    never more than ``per_host`` requests to one host open at once, as the server saw.
    Returns the most requests seen open at once to one host."""
    by_host: dict[str, list[dict]] = {}
    most = 0
    for hit in log:
        by_host.setdefault(hit["host"], []).append(hit)
    for host, hits in by_host.items():
        starts = sorted(h["start"] for h in hits)
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        assert min(gaps, default=delay) >= delay * 0.95, (host, min(gaps))
        events = sorted([(h["start"], 1) for h in hits] + [(h["end"], -1) for h in hits])
        open_now = peak = 0
        for _time, change in events:
            open_now += change
            peak = max(peak, open_now)
        assert peak <= per_host, (host, peak)
        most = max(most, peak)
    return most


@pytest.mark.parametrize(("delay", "per_host"), [(DELAY, 1), (0.0, 2)])
def test_three_workers_fetch_every_page_once_and_keep_each_hosts_delay(
    tmp_path, pg_url, delay, per_host
):
    # delay 0 with per_host 2 and slow answers: each host has two requests open at once
    # from its one worker; two workers on one host would show as three or four.
    with ClusterWeb(blogs=12, posts=8, latency=LATENCY if delay else 0.05) as web:
        config = write_config(tmp_path, web, pg_url, delay=delay, per_host=per_host)
        workers = [start_worker(config) for _ in range(3)]
        results = [finish(w) for w in workers]
        log = web.log()
    for code, output in results:
        assert code == 0, output
    fetched = Counter((h["host"], h["path"]) for h in page_hits(log))
    posts = {(url.split("/")[2], "/" + url.split("/", 3)[3]) for url in web.web.post_urls()}
    assert set(fetched) >= posts
    assert max(fetched.values()) == 1, fetched.most_common(3)
    assert check_politeness(log, delay, per_host=per_host) == per_host  # the bound is reached
    with psycopg.connect(pg_url) as conn:
        runs = conn.execute("SELECT status, fetched FROM runs").fetchall()
        states = dict(conn.execute("SELECT state, count(*) FROM frontier GROUP BY state"))
        leases = conn.execute("SELECT count(*) FROM host_leases WHERE holder IS NOT NULL")
        assert leases.fetchone()[0] == 0  # every worker gave its hosts back
    assert [status for status, _ in runs] == ["ok"] * 3
    # The work was shared (a worker slow to start may find little left, hence "two").
    assert sum(fetched_by > 0 for _, fetched_by in runs) >= 2, runs
    assert "claimed" not in states and "queued" not in states, states


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_killed_workers_hosts_are_taken_over_after_its_lease(tmp_path, pg_url):
    lease = 1.5
    with ClusterWeb(blogs=9, posts=16, latency=LATENCY) as web:
        config = write_config(tmp_path, web, pg_url, lease=str(lease))
        workers = [start_worker(config) for _ in range(3)]
        victim = workers[0]

        def victims_hosts() -> list[str]:
            with psycopg.connect(pg_url) as conn:
                rows = conn.execute(
                    "SELECT l.host FROM host_leases l JOIN runs r ON r.id = l.holder "
                    "WHERE r.pid = %s",
                    (victim.pid,),
                ).fetchall()
            return [r[0] for r in rows]

        # Mid-crawl: pages fetched already, and the victim holding hosts.
        wait_for(lambda: len(page_hits(web.log())) >= 40 and bool(victims_hosts()))
        held = victims_hosts()
        os.kill(victim.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        victim.wait()
        results = [finish(w) for w in workers[1:]]
        log = web.log()
    for code, output in results:
        assert code == 0, output
    assert held, "the killed worker held no host"
    fetched = Counter((h["host"], h["path"]) for h in page_hits(log))
    posts = {(url.split("/")[2], "/" + url.split("/", 3)[3]) for url in web.web.post_urls()}
    assert set(fetched) >= posts  # nothing lost
    twice = {key: n for key, n in fetched.items() if n > 1}
    # Only what the dead worker had in flight or not yet committed is fetched again: per
    # host it held, at most the request in flight, an answer waiting for the page parser
    # (a process of its own) and one parsed but not yet written.
    assert all(host in held for host, _path in twice), (twice, held)
    assert sum(n - 1 for n in twice.values()) <= 3 * len(held), twice
    # Its hosts went on only after the lease ran out, still paced by the delay.
    for host in held:
        later = [h["start"] for h in log if h["host"] == host and h["start"] > killed_at]
        assert later, host
        assert min(later) - killed_at >= lease * 0.5, host
    check_politeness(log, DELAY, per_host=1)
    with psycopg.connect(pg_url) as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM frontier GROUP BY state"))
    assert "claimed" not in states and "queued" not in states, states


def test_export_sqlite_of_a_cluster_crawl_has_the_related_posts_of_a_single_crawl(tmp_path, pg_url):
    from click.testing import CliRunner

    from crawler.cli.main import cli

    with ClusterWeb(blogs=6, posts=8, latency=0.0) as web:
        config = write_config(tmp_path, web, pg_url)
        workers = [start_worker(config) for _ in range(2)]
        for code, output in (finish(w) for w in workers):
            assert code == 0, output
        single = tmp_path / "single.db"
        text = config.read_text().replace(f'database = "{pg_url}"', 'database = ""')
        single_config = tmp_path / "single.toml"
        single_config.write_text(text)
        run = CliRunner().invoke(
            cli, ["crawl", "-q", "-c", str(single_config), "--db", str(single)]
        )
        assert run.exit_code == 0, run.output
    copy = tmp_path / "copy.db"
    run = CliRunner().invoke(cli, ["export", "sqlite", "-c", str(config), "-o", str(copy)])
    assert run.exit_code == 0, run.output
    query = "SELECT blog, a, b, kinds FROM related_posts ORDER BY blog, a, b"
    cluster_pairs = sqlite_utils.Database(copy).execute(query).fetchall()
    single_pairs = sqlite_utils.Database(single).execute(query).fetchall()
    assert cluster_pairs and cluster_pairs == single_pairs
    tables = subprocess.run(
        [str(Path(sys.executable).parent / "sqlite-utils"), "tables", str(copy), "--counts"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert '"pages"' in tables and '"link_edges"' in tables  # links: a view over it
    # stats, export and related read the cluster's database when [cluster] database is set
    stats = CliRunner().invoke(cli, ["stats", "-c", str(config)])
    assert stats.exit_code == 0, stats.output
    assert str(len(list(web.web.post_urls()))) in stats.output
    related = CliRunner().invoke(cli, ["export", "related", "-c", str(config)])
    assert related.exit_code == 0, related.output
    assert len(related.output.strip().splitlines()) == len(cluster_pairs) + 1
    report = CliRunner().invoke(cli, ["report", "-c", str(config), "-o", str(tmp_path / "r.html")])
    assert report.exit_code == 0, report.output
    assert (tmp_path / "r.html").stat().st_size > 0


def test_a_pgserver_is_really_there(pg_server: PgServer):  # noqa: F811
    with psycopg.connect(pg_server.url("postgres")) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


# -- the lease rules, on the store itself (two workers in one process) -------------------
def two_workers(url: str, delay: float = 0.5, lease: float = 30.0):
    from db.postgres.store import PgStore

    a = PgStore.open(url, delay=delay, lease=lease)
    b = PgStore.open(url, delay=delay, lease=lease)
    return a, a.start_run(1), b, b.start_run(2)


def entry(url: str):
    from crawler.records import FrontierEntry

    return FrontierEntry(url, 0, url.split("/")[2])


def test_a_host_is_held_by_one_worker_and_handed_on_with_its_delay(pg_url):
    a, run_a, b, run_b = two_workers(pg_url, delay=0.5)
    a.enqueue([entry("http://one.test/1"), entry("http://one.test/2")])
    assert [r.url for r in a.claim(run_a, 1)] == ["http://one.test/1"]
    assert b.claim(run_b, 10) == []  # one.test is a's, even with a URL of it due
    assert b.held_hosts(run_b) == []
    a.finish("http://one.test/1", "done")
    assert [r.url for r in a.claim(run_a, 10)] == ["http://one.test/2"]
    a.finish("http://one.test/2", "done")
    assert a.claim(run_a, 10) == [] and a.held_hosts(run_a) == []  # nothing left: given back
    a.enqueue([entry("http://one.test/3")])
    assert [r.url for r in b.claim(run_b, 10)] == ["http://one.test/3"]
    # b's first request waits out the delay a's last one started (at most) just now.
    assert 0.3 < b.hold_offs["one.test"] <= 0.5


def test_an_expired_lease_goes_to_the_next_worker_with_the_dead_ones_claims(pg_url):
    a, run_a, b, run_b = two_workers(pg_url, delay=0.25, lease=0.5)
    a.enqueue([entry("http://one.test/1"), entry("http://one.test/2")])
    assert len(a.claim(run_a, 10)) == 2  # then a dies: no renewal, nothing finished
    assert b.claim(run_b, 10) == []
    wait_for(lambda: bool(b.claim(run_b, 10)), timeout=10)
    assert b.held_hosts(run_b) == ["one.test"]
    with psycopg.connect(pg_url) as conn:
        claimed = conn.execute("SELECT claimed_by, count(*) FROM frontier GROUP BY 1").fetchall()
    assert claimed == [(run_b, 2)]  # both of a's URLs, now b's
    assert b.hold_offs["one.test"] == 0.25  # a may have sent a request just before it died


def test_a_worker_takes_its_share_of_hosts_and_gives_back_the_rest(pg_url):
    a, run_a, b, run_b = two_workers(pg_url, delay=0.0)
    hosts = [f"h{n}.test" for n in range(4)]
    a.enqueue([entry(f"http://{h}/{i}") for h in hosts for i in range(3)])
    a.claim(run_a, 4)  # alone so far: a takes every host
    assert a.held_hosts(run_a) == hosts
    b.renew_leases(run_b)  # b is alive now: two workers, two hosts each
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE frontier SET state = 'done' WHERE state = 'claimed'")
    a.claim(run_a, 4)  # nothing of a's in flight: the hosts above its share go back
    assert len(a.held_hosts(run_a)) == 2
    b.claim(run_b, 4)
    assert sorted(a.held_hosts(run_a) + b.held_hosts(run_b)) == hosts


def test_the_lease_keeper_holds_a_workers_hosts_while_it_lives(pg_url):
    from crawler.cluster import LeaseKeeper

    a, run_a, b, run_b = two_workers(pg_url, delay=0.0, lease=2.0)
    a.enqueue([entry("http://one.test/1")])
    assert a.claim(run_a, 10)  # a is busy with it now, and claims nothing more
    keeper = LeaseKeeper(a, run_a).start()
    try:
        claimed_at = time.monotonic()
        wait_for(lambda: time.monotonic() - claimed_at > 3.0)  # longer than the lease
        assert b.claim(run_b, 10) == [] and a.held_hosts(run_a) == ["one.test"]
    finally:
        keeper.stop()
    wait_for(lambda: bool(b.claim(run_b, 10)), timeout=10)  # a silent: b takes over


def test_sigterm_stops_a_worker_cleanly_and_gives_its_hosts_back(tmp_path, pg_url):
    with ClusterWeb(blogs=4, posts=30, latency=LATENCY) as web:
        config = write_config(tmp_path, web, pg_url)
        worker = start_worker(config)
        wait_for(lambda: len(page_hits(web.log())) >= 8)
        worker.send_signal(signal.SIGTERM)
        code, output = finish(worker)
    assert code == 143, output
    assert "Traceback" not in output
    with psycopg.connect(pg_url) as conn:
        held = conn.execute("SELECT count(*) FROM host_leases WHERE holder IS NOT NULL")
        assert held.fetchone()[0] == 0
        states = dict(conn.execute("SELECT state, count(*) FROM frontier GROUP BY state"))
        status = conn.execute("SELECT status FROM runs").fetchall()
    assert "claimed" not in states and states.get("queued", 0) > 0, states
    assert status == [("interrupted",)]


def test_an_unreachable_cluster_database_is_one_line_and_exit_75(tmp_path):
    from click.testing import CliRunner

    from crawler.cli.main import cli

    with ClusterWeb(blogs=1, posts=1) as web:
        config = write_config(tmp_path, web, "postgresql://nobody@127.0.0.1:1/none")
        for command in (["worker"], ["stats"], ["export", "sqlite", "-o", "x.db"]):
            run = CliRunner().invoke(cli, [*command, "-c", str(config)])
            assert run.exit_code == 75, (command, run.output)
            assert run.output.startswith("Error: database 127.0.0.1:1/none: postgresql:")
            assert len(run.output.strip().splitlines()) == 1, run.output


def test_text_postgresql_cannot_hold_is_stored_as_replacement_characters(pg_url):
    from crawler.records import PageRecord

    a, run_a, _b, _run_b = two_workers(pg_url)
    url = "http://one.test/nul"
    html = "<title>a\x00b</title>bad \ud800 surrogate"
    page = PageRecord(url, url, "one.test", "one.test", 0, 200, "text/html", None, html=html)
    page.title, page.text = "a\x00b", "bad \ud800 surrogate"
    a.save_page(page)
    with psycopg.connect(pg_url) as conn:
        title, text = conn.execute("SELECT title, text FROM pages").fetchone()
        (body,) = conn.execute("SELECT html FROM bodies").fetchone()
    assert title == "a\ufffdb" and text == "bad \ufffd surrogate"
    assert "\x00" not in body


def test_a_304_keeps_the_status_of_the_last_full_answer(pg_url):
    """As on SQLite (issue 15): the check is in ``fetches``, the page stays a 200."""
    from crawler.records import PageRecord

    a, _run_a, _b, _run_b = two_workers(pg_url)
    url = "http://one.test/kept"
    a.save_page(PageRecord(url, url, "one.test", "one.test", 0, 200, "text/html", None))
    a.mark_not_modified(url, "2030-01-01T00:00:00.000000Z", 3600.0)
    a.commit()
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT status, next_fetch_at FROM pages WHERE url = %s", (url,))
        assert row.fetchone() == (200, "2030-01-01T00:00:00.000000Z")
