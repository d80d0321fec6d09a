"""Commands that cannot hurt: every bad invocation is one line on stderr and a documented
exit code (crawler/cli/common.py), never a traceback; read-only commands leave a file
that is not theirs byte for byte as it was; the demo never deletes a crawl; database
faults during a crawl (disk full, locked) are one line and the next run completes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from crawler.cli.common import EXIT_DISK, EXIT_LOCKED, EXIT_READONLY, EXIT_USAGE
from crawler.cli.main import cli
from crawler.demo import web
from crawler.records import PageRecord
from db.store import Store

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A text file, a directory, another program's SQLite file and a real crawl."""
    text = tmp_path / "notes.db"
    text.write_text("these are my notes, not a database\n" * 20)
    folder = tmp_path / "folder"
    folder.mkdir()
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO invoices (total) VALUES (12.5)")
    conn.close()
    crawl_db = tmp_path / "precious.db"
    store = Store.open(crawl_db)
    url = "https://blog.example/2024/05/post/"
    store.save_page(PageRecord(url, url, "blog.example", "blog.example", 0, 200, "text/html", None))
    store.close()
    config = tmp_path / "config.toml"
    config.write_text("")
    return {
        "text": text,
        "folder": folder,
        "foreign": foreign,
        "crawl": crawl_db,
        "missing_folder": tmp_path / "no" / "such" / "folder" / "x.db",
        "config": config,
        "tmp": tmp_path,
    }


def config_file(tmp: Path, text: str) -> str:
    path = tmp / "bad.toml"
    path.write_text(textwrap.dedent(text))
    return str(path)


# (name, argv builder, exit code, words the one line must contain)
BAD_INVOCATIONS = [
    ("stats on a text file", lambda f: ["stats", "--db", f["text"]], 2, "not an SQLite"),
    ("stats on a directory", lambda f: ["stats", "--db", f["folder"]], 2, "directory"),
    ("stats on a foreign SQLite file", lambda f: ["stats", "--db", f["foreign"]], 2, "pingcrawl"),
    ("export on a text file", lambda f: ["export", "links", "--db", f["text"]], 2, "SQLite"),
    ("export on a directory", lambda f: ["export", "links", "--db", f["folder"]], 2, "directory"),
    (
        "related on a text file",
        lambda f: ["related", web.A1, "--db", f["text"]],
        2,
        "not an SQLite",
    ),
    ("related on a directory", lambda f: ["related", web.A1, "--db", f["folder"]], 2, "directory"),
    (
        "export -o into a missing folder",
        lambda f: ["export", "links", "--db", f["crawl"], "-o", f["missing_folder"]],
        2,
        "does not exist",
    ),
    (
        "export -o onto a directory",
        lambda f: ["export", "links", "--db", f["crawl"], "-o", f["folder"]],
        2,
        "directory",
    ),
    (
        "export with a bad --kind",
        lambda f: ["export", "links", "--db", f["crawl"], "--kind", "pingbak"],
        2,
        "--kind",
    ),
    ("demo --db on a directory", lambda f: ["demo", "--db", f["folder"]], 2, "directory"),
    (
        "demo --db in a missing folder",
        lambda f: ["demo", "--db", f["missing_folder"]],
        2,
        "does not exist",
    ),
    ("demo --db on a crawl", lambda f: ["demo", "--db", f["crawl"]], 2, "--force"),
    ("demo --db on a text file", lambda f: ["demo", "--db", f["text"]], 2, "--force"),
    ("demo --db ''", lambda f: ["demo", "--db", ""], 2, "--db"),
    (
        "database = '' in the config",
        lambda f: ["crawl", "-c", config_file(f["tmp"], '[crawl]\ndatabase = ""\n'), web.A1],
        2,
        "crawl.database",
    ),
    ("crawl --db ''", lambda f: ["crawl", "--db", "", web.A1], 2, "--db"),
    ("stats --db ''", lambda f: ["stats", "--db", ""], 2, "--db"),
    (
        "crawl into another program's SQLite file",
        lambda f: ["crawl", "--db", f["foreign"], web.A1],
        2,
        "pingcrawl",
    ),
    (
        "crawl into a missing folder",
        lambda f: ["crawl", "--db", f["missing_folder"], web.A1],
        2,
        "does not exist",
    ),
    ("crawl -q -v", lambda f: ["crawl", "--db", f["crawl"], "-q", "-v"], 2, "-q"),
    (
        "delay = nan",
        lambda f: ["crawl", "-c", config_file(f["tmp"], "[politeness]\ndelay = nan\n"), web.A1],
        2,
        "politeness.delay",
    ),
    (
        "delay = 1e9",
        lambda f: ["crawl", "-c", config_file(f["tmp"], "[politeness]\ndelay = 1e9\n"), web.A1],
        2,
        "politeness.delay",
    ),
    (
        "timeout = inf",
        lambda f: ["crawl", "-c", config_file(f["tmp"], "[http]\ntimeout = inf\n"), web.A1],
        2,
        "http.timeout",
    ),
    (
        "a seed in the config that is not a URL",
        lambda f: ["crawl", "-c", config_file(f["tmp"], '[crawl]\nseeds = ["a b"]\n')],
        2,
        "crawl.seeds",
    ),
    ("crawl --max-pages abc", lambda f: ["crawl", "--max-pages", "abc"], 2, "--max-pages"),
    ("export of an unknown kind", lambda f: ["export", "nodez", "--db", f["crawl"]], 2, "nodez"),
    (
        "requeue on a text file",
        lambda f: ["requeue", "--reason", "robots", "--db", f["text"]],
        2,
        "pingcrawl",
    ),
    ("requeue without --reason", lambda f: ["requeue", "--db", f["crawl"]], 2, "--reason"),
    ("extract of a missing file", lambda f: ["extract", f["tmp"] / "nope.html"], 2, "no such"),
    ("a missing config file", lambda f: ["stats", "-c", f["tmp"] / "nope.toml"], 2, "nope.toml"),
]


@pytest.mark.parametrize(
    ("argv", "code", "words"),
    [pytest.param(argv, code, words, id=name) for name, argv, code, words in BAD_INVOCATIONS],
)
def test_a_bad_invocation_is_one_line_and_its_exit_code(files, argv, code, words):
    args = [str(a) for a in argv(files)]
    result = CliRunner().invoke(cli, args, env={"PINGCRAWL_CONFIG": str(files["config"])})
    assert result.exception is None or isinstance(result.exception, SystemExit), result
    assert result.exit_code == code, (result.exit_code, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output and words in lines[0], lines[0]


def test_read_only_commands_leave_a_foreign_sqlite_file_byte_identical(files):
    foreign = files["foreign"]
    before = foreign.read_bytes()
    for args in (["stats"], ["export", "links"], ["related", web.A1]):
        result = CliRunner().invoke(cli, [*args, "--db", str(foreign)])
        assert result.exit_code == 2
    assert foreign.read_bytes() == before
    assert sorted(p.name for p in foreign.parent.glob("foreign.db*")) == ["foreign.db"]
    with sqlite3.connect(foreign) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
    conn.close()
    assert tables == ["invoices"]


def test_stats_reads_a_crawl_without_writing_to_it(files):
    crawl_db = files["crawl"]
    os.chmod(crawl_db, 0o444)  # read-only commands must work on a read-only file
    try:
        result = CliRunner().invoke(cli, ["stats", "--db", str(crawl_db), "--json"])
    finally:
        os.chmod(crawl_db, 0o644)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["pages"]["total"] == 1


def test_demo_refuses_to_overwrite_a_crawl_and_force_replaces_it(files):
    crawl_db = files["crawl"]
    before = crawl_db.read_bytes()
    refused = CliRunner().invoke(cli, ["demo", "--db", str(crawl_db)])
    assert refused.exit_code == EXIT_USAGE and "refusing" in refused.stderr
    assert crawl_db.read_bytes() == before
    again = CliRunner().invoke(cli, ["demo", "--db", str(crawl_db), "--force"])
    assert again.exit_code == 0, again.output
    rerun = CliRunner().invoke(cli, ["demo", "--db", str(crawl_db)])  # a demo db: replaced
    assert rerun.exit_code == 0, rerun.output


def test_json_log_format_covers_errors(files):
    bad = config_file(files["tmp"], "[politeness]\ndelay = nan\n")
    for args in (
        ["crawl", "--log-format", "json", "-c", bad, web.A1],
        ["crawl", "--log-format", "json", "--db", str(files["foreign"]), web.A1],
        ["crawl", "--log-format", "json", "-q", "-v", web.A1],
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == EXIT_USAGE
        event = json.loads(result.stderr)
        assert event["event"] == "error" and event["exit_code"] == EXIT_USAGE
        assert event["error"] and event["time"]


def test_extract_reads_standard_input():
    page = web.render_post(web.POSTS[0])
    result = CliRunner().invoke(cli, ["extract", "-", "--url", web.A1], input=page)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["title"] == "Alliance politics after the summit"
    assert {c["kind"] for c in data["comments"]} == {"comment", "pingback", "trackback"}


def test_requeue_puts_a_reason_back_in_the_queue(files):
    store = Store.open(files["crawl"])
    store.conn.execute(
        "INSERT INTO frontier (url, depth, host, kind, state, reason, attempts) VALUES "
        "('http://a.test/1', 1, 'a.test', 'citation', 'failed', 'http_404', 1), "
        "('http://b.test/2', 1, 'b.test', 'citation', 'failed', 'http_404', 1), "
        "('http://a.test/3', 1, 'a.test', 'citation', 'skipped', 'robots', 0)"
    )
    store.close()
    args = ["requeue", "--db", str(files["crawl"]), "--reason", "http_404", "--host", "a.test"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("1 URL(s) requeued")
    with sqlite3.connect(files["crawl"]) as conn:
        states = dict(conn.execute("SELECT url, state FROM frontier"))
    conn.close()
    assert states["http://a.test/1"] == "queued"
    assert states["http://b.test/2"] == "failed" and states["http://a.test/3"] == "skipped"


# -- database faults during a crawl, in real processes -------------------------------------
def serve_blog(site, posts: int = 40) -> str:
    """``posts`` posts of ~30 KB on a.test, each citing the next: enough to fill pages."""
    for n in range(posts):
        cite = f"<a href='/p/{n + 1}/'>next</a>" if n + 1 < posts else ""
        body = (
            f"<html><head><title>post {n}</title></head><body><article class='post'>"
            f"<div class='entry-content'><p>{f'words of post {n} ' * 2000}{cite}</p></div>"
            "</article></body></html>"
        )
        site.add_page(f"/p/{n}/", body, host="a.test")
    return "http://a.test/p/0/"


def write_config(tmp: Path, site, database: Path) -> Path:
    path = tmp / "crawl.toml"
    path.write_text(
        f'[crawl]\ndatabase = "{database}"\nmax_depth = 100\n'
        "[politeness]\ndelay = 0.0\nper_host = 2\n"
        f'[http]\nproxy = "{site.proxy_url}"\ntimeout = 5.0\nretries = 0\n'
    )
    return path


def run_cli(args: list[str], cwd: Path, prelude: str = "") -> subprocess.CompletedProcess[str]:
    code = f"{prelude}\nfrom crawler.cli.main import main\nmain()"
    env = {k: v for k, v in os.environ.items() if k != "PINGCRAWL_CONFIG"}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**env, "PYTHONPATH": str(ROOT)},
    )


def assert_one_line(proc: subprocess.CompletedProcess[str], code: int, words: str) -> None:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and words in errors[0], proc.stderr


def integrity(database: Path) -> str:
    with sqlite3.connect(database) as conn:
        result = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.close()
    return result


# Every connection the crawler opens may grow the file by only a few pages: a full disk.
CAP_DATABASE = """
import sqlite3
_connect = sqlite3.connect
def _capped(*args, **kwargs):
    conn = _connect(*args, **kwargs)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 40}")
    return conn
sqlite3.connect = _capped
"""


def test_a_full_disk_is_one_line_and_the_next_run_completes(site, tmp_path):
    seed = serve_blog(site)
    database = tmp_path / "full.db"
    config = write_config(tmp_path, site, database)
    full = run_cli(["crawl", "-q", "-c", str(config), seed], tmp_path, CAP_DATABASE)
    assert_one_line(full, EXIT_DISK, "disk is full")
    assert integrity(database) == "ok"
    fetched_before = len(site.hits(host="a.test"))
    assert fetched_before < 40  # it really stopped short

    # The same cron line again (the disk has room now): it carries on where it stopped.
    after = run_cli(["crawl", "-q", "-c", str(config), seed], tmp_path)
    assert after.returncode == 0, after.stderr
    assert integrity(database) == "ok"
    with sqlite3.connect(database) as conn:
        stored = conn.execute("SELECT count(*) FROM pages WHERE status = 200").fetchone()[0]
    conn.close()
    assert stored == 40


def test_a_database_locked_by_another_program_exits_75_and_the_next_run_completes(site, tmp_path):
    seed = serve_blog(site, posts=3)
    database = tmp_path / "locked.db"
    config = write_config(tmp_path, site, database)
    assert run_cli(["crawl", "-q", "-c", str(config), seed], tmp_path).returncode == 0
    site.add_page("/p/3/", "<html><title>new</title></html>", host="a.test")

    other = sqlite3.connect(database, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another program writing, for longer than we wait
    try:
        locked = run_cli(["crawl", "-q", "-c", str(config), "http://a.test/p/3/"], tmp_path)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert_one_line(locked, EXIT_LOCKED, "locked")
    assert integrity(database) == "ok"

    after = run_cli(["crawl", "-q", "-c", str(config), "http://a.test/p/3/"], tmp_path)
    assert after.returncode == 0, after.stderr
    with sqlite3.connect(database) as conn:
        statuses = [r[0] for r in conn.execute("SELECT status FROM runs ORDER BY id")]
    conn.close()
    assert statuses[-1] == "ok"


# Every connection refuses writes, as on a read-only file or mount (root ignores chmod).
READ_ONLY = """
import sqlite3
_connect = sqlite3.connect
def _read_only(*args, **kwargs):
    conn = _connect(*args, **kwargs)
    conn.execute("PRAGMA query_only = 1")
    return conn
sqlite3.connect = _read_only
"""


def test_a_read_only_database_is_one_line_and_the_next_run_completes(site, tmp_path):
    seed = serve_blog(site, posts=2)
    database = tmp_path / "ro.db"
    config = write_config(tmp_path, site, database)
    assert run_cli(["crawl", "-q", "-c", str(config), seed], tmp_path).returncode == 0
    proc = run_cli(["crawl", "-q", "-c", str(config), seed], tmp_path, READ_ONLY)
    assert_one_line(proc, EXIT_READONLY, "read-only")
    assert integrity(database) == "ok"
    assert run_cli(["crawl", "-q", "-c", str(config)], tmp_path).returncode == 0


def test_stats_on_a_database_another_program_holds_locked_is_one_line(files):
    crawl_db = files["crawl"]
    with sqlite3.connect(crawl_db) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")  # so a writer's lock blocks readers
    conn.close()
    other = sqlite3.connect(crawl_db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        result = CliRunner().invoke(cli, ["stats", "--db", str(crawl_db)])
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert result.exit_code == EXIT_LOCKED, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "locked" in lines[0], result.stderr


def test_json_log_format_covers_the_lock_error(tmp_path):
    from crawler.runlock import RunLock

    database = tmp_path / "held.db"
    with RunLock(database):
        proc = run_cli(["crawl", "--log-format", "json", "--db", str(database), web.A1], tmp_path)
    assert proc.returncode == EXIT_LOCKED, proc.stderr
    event = json.loads(proc.stderr)
    assert event["event"] == "error" and event["exit_code"] == EXIT_LOCKED
    assert f"pid {os.getpid()}" in event["error"]
