"""A crawl with ``[archive] warc_dir`` set: WARC files warcio accepts, a fetch log that
matches the server's own log, 304 recrawls as server-not-modified revisits."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import sqlite_utils
from click.testing import CliRunner
from siteserver import SiteServer, page_html
from test_archive_wacz import WAYBACK, fetch_when_up, free_port
from warcio.archiveiterator import ArchiveIterator

from crawler.archive.wacz import validate_wacz
from crawler.cli.main import cli
from crawler.config import Config
from crawler.engine import crawl
from db.status import crawl_status, open_read_only

BIN = Path(sys.executable).parent
NOT_MODIFIED = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"


def _web(site: SiteServer) -> str:
    site.add_robots("User-agent: *\nDisallow: /private/\n", host="blog.test")
    posts = [f"http://blog.test/post/{n}/" for n in range(3)]
    home = page_html("Home", [*posts, "http://blog.test/old/"])
    site.add_page("/", home, host="blog.test", headers={"ETag": '"home-1"'})
    for n in range(3):
        body = page_html(f"Post {n}", ["http://blog.test/"])
        site.add_page(f"/post/{n}/", body, host="blog.test", headers={"ETag": f'"p{n}"'})
    site.add_redirect("/old/", "/post/0/", host="blog.test")
    return "http://blog.test/"


def _config(site: SiteServer, tmp_path: Path) -> Config:
    return Config().with_overrides(
        crawl={
            "database": str(tmp_path / "a.db"),
            "seeds": [_web(site)],
            "max_depth": 2,
            "follow": ["nav", "citation"],
        },
        politeness={"delay": 0.0},
        http={"proxy": site.proxy_url, "timeout": 5.0, "retries": 0},
        archive={"warc_dir": str(tmp_path / "warc"), "warc_max_size": "1MB"},
    )


def _records(warc_dir: Path) -> list[tuple[str, str, str | None, str | None]]:
    """(type, target URI, profile, status) of every record of every finished file."""
    out = []
    for path in sorted(warc_dir.glob("*.warc.gz")):
        with path.open("rb") as stream:
            for record in ArchiveIterator(stream):
                headers = record.rec_headers
                status = record.http_headers.get_statuscode() if record.http_headers else None
                out.append(
                    (
                        record.rec_type,
                        headers.get_header("WARC-Target-URI"),
                        headers.get_header("WARC-Profile"),
                        status,
                    )
                )
    return out


def _warcio(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "warcio"), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_crawl_archives_every_request_and_logs_each_fetch(site: SiteServer, tmp_path: Path):
    config = _config(site, tmp_path)
    assert crawl(config).status == "ok"
    files = sorted((tmp_path / "warc").glob("*.warc.gz"))
    assert files and not list((tmp_path / "warc").glob("*.open"))
    check = _warcio("check", "-v", *map(str, files))
    assert check.returncode == 0, check.stdout + check.stderr

    index = _warcio("index", "-f", "warc-type,warc-target-uri", *map(str, files)).stdout
    responses = {
        line.split('"warc-target-uri": "')[1].split('"')[0]
        for line in index.splitlines()
        if '"warc-type": "response"' in line
    }
    db = sqlite_utils.Database(tmp_path / "a.db")
    stored = {row["final_url"] or row["url"] for row in db["pages"].rows if row["status"] == 200}
    assert len(stored) == 4
    assert stored | {"http://blog.test/robots.txt"} <= responses
    assert "http://blog.test/old/" in responses  # the redirect hop is archived too

    # One fetches row per request the server saw, in its order, each naming its record.
    seen = sorted((h.host, h.path) for h in site.hits())
    rows = list(
        db.execute("SELECT url, warc_file, warc_offset, warc_type, host, elapsed FROM fetches")
    )
    logged = sorted((url.split("/")[2], "/" + url.split("/", 3)[3]) for url, *_ in rows)
    assert logged == seen
    # (the redirect's target, fetched twice, is an identical-payload revisit the second time)
    assert all(f and o is not None and t in ("response", "revisit") for _, f, o, t, _h, _e in rows)
    assert all(host == "blog.test" and elapsed >= 0 for *_, host, elapsed in rows)
    kinds = [kind for kind, *_ in _records(tmp_path / "warc")]
    assert kinds[0] == "warcinfo" and kinds[-1] == "resource"  # the run log comes last
    assert kinds.count("metadata") == db["pages"].count  # one per page written


def test_recrawl_with_304s_writes_revisits_and_keeps_status(site: SiteServer, tmp_path: Path):
    config = _config(site, tmp_path)
    assert crawl(config).status == "ok"
    db = sqlite_utils.Database(tmp_path / "a.db")
    db.execute("UPDATE frontier SET state = 'queued' WHERE url LIKE 'http://blog.test/post/%'")
    db.conn.commit()
    db.conn.close()
    site.clear_log()
    summary = crawl(config)
    assert summary.counters.not_modified == 3
    db = sqlite_utils.Database(tmp_path / "a.db")
    statuses = {r["url"]: r["status"] for r in db["pages"].rows}
    assert all(statuses[f"http://blog.test/post/{n}/"] == 200 for n in range(3))
    checks = list(db.execute("SELECT url, status, warc_type FROM fetches WHERE status = 304"))
    assert len(checks) == 3 and {t for *_, t in checks} == {"revisit"}
    revisits = [r for r in _records(tmp_path / "warc") if r[0] == "revisit" and r[3] == "304"]
    assert len(revisits) == 3 and {r[2] for r in revisits} == {NOT_MODIFIED}
    # Each refers to the first run's response record of the same URL.
    files = sorted((tmp_path / "warc").glob("*.warc.gz"))
    refers = {}
    for path in files:
        with path.open("rb") as stream:
            for record in ArchiveIterator(stream):
                if record.rec_headers.get_header("WARC-Profile") == NOT_MODIFIED:
                    h = record.rec_headers
                    refers[h.get_header("WARC-Target-URI")] = h.get_header("WARC-Refers-To-Date")
    first = dict(
        db.execute("SELECT url, warc_date FROM fetches WHERE run_id = 1 AND warc_type = 'response'")
    )
    assert refers == {url: first[url] for url in refers} and len(refers) == 3
    assert _warcio("check", *map(str, files)).returncode == 0


def test_status_reports_mean_latency_per_host_from_the_fetch_log(site: SiteServer, tmp_path):
    config = _config(site, tmp_path).with_overrides(archive={"warc_dir": ""})
    site.slow("/post/1/", 0.5, host="blog.test")
    assert crawl(config).status == "ok"
    assert not (tmp_path / "warc").exists()  # the archive is off: the fetch log is not
    with open_read_only(tmp_path / "a.db") as conn:
        hosts = {h["host"]: h for h in crawl_status(conn)["hosts"]}
        requests = conn.execute("SELECT count(*) FROM fetches").fetchone()[0]
    assert requests == len(site.hits())
    # One answer took at least 0.5 s: the mean over the host's requests shows it.
    assert hosts["blog.test"]["mean_latency_ms"] >= 500 / requests


def test_show_prints_what_was_stored(site: SiteServer, tmp_path: Path):
    config = _config(site, tmp_path)
    assert crawl(config).status == "ok"
    db_args = ["--db", str(tmp_path / "a.db")]
    env = {"PINGCRAWL_CONFIG": str(_config_file(tmp_path, config))}
    url = "http://blog.test/post/1/"
    runner = CliRunner()
    html = runner.invoke(cli, ["show", url, "--html", *db_args], env=env)
    assert html.exit_code == 0, html.output
    assert html.output.strip() == page_html("Post 1", ["http://blog.test/"])
    text = runner.invoke(cli, ["show", url, "--text", *db_args], env=env)
    stored_text = sqlite_utils.Database(tmp_path / "a.db")["pages"].get(url)["text"]
    assert text.exit_code == 0 and text.output == stored_text + "\n" and "<" not in text.output
    headers = runner.invoke(cli, ["show", url, "--headers", *db_args], env=env)
    assert headers.exit_code == 0, headers.output
    assert headers.output.startswith("HTTP/1.") and 'ETag: "p1"' in headers.output
    summary = runner.invoke(cli, ["show", url, *db_args], env=env)
    assert "status:       200" in summary.output and "warc:" in summary.output
    missing = runner.invoke(cli, ["show", "http://blog.test/nope", *db_args], env=env)
    assert missing.exit_code == 2 and "not a page" in missing.output
    # The body is stored compressed: the database holds no plain copy of it.
    db = sqlite_utils.Database(tmp_path / "a.db")
    assert all(row["html"] is None and row["zstd"] for row in db["bodies"].rows)


def _config_file(tmp_path: Path, config: Config) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[archive]\nwarc_dir = "{config.archive.warc_dir}"\n', encoding="utf-8")
    return path


def test_export_wacz_validates_and_replays_a_stored_post(site: SiteServer, tmp_path: Path):
    config = _config(site, tmp_path)
    assert crawl(config).status == "ok"
    env = {"PINGCRAWL_CONFIG": str(_config_file(tmp_path, config))}
    out = tmp_path / "crawl.wacz"
    args = ["export", "wacz", "-o", str(out), "--db", str(tmp_path / "a.db")]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    valid, said = validate_wacz(out)
    assert valid, said
    with zipfile.ZipFile(out) as archive:
        lines = archive.read("pages/pages.jsonl").decode().splitlines()
    listed = {json.loads(line).get("url") for line in lines[1:]}
    assert {f"http://blog.test/post/{n}/" for n in range(3)} <= listed

    manager = str(Path(WAYBACK).with_name("wb-manager"))
    subprocess.run([manager, "init", "c"], cwd=tmp_path, check=True, capture_output=True)
    add = [manager, "add", "--unpack-wacz", "c", str(out)]
    subprocess.run(add, cwd=tmp_path, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [WAYBACK, "-b", "127.0.0.1", "-p", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/c/2030id_/http://blog.test/post/2/"
        body = fetch_when_up(url)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert body.decode() == page_html("Post 2", ["http://blog.test/"])


def test_export_wacz_without_an_archive_is_one_line(tmp_path: Path):
    args = ["export", "wacz", "-o", str(tmp_path / "x.wacz"), "--db", str(tmp_path / "a.db")]
    (tmp_path / "empty.toml").write_text("", encoding="utf-8")
    result = CliRunner().invoke(cli, args, env={"PINGCRAWL_CONFIG": str(tmp_path / "empty.toml")})
    assert result.exit_code == 2 and "warc_dir" in result.output


def test_a_warc_dir_that_cannot_be_made_is_one_line(site: SiteServer, tmp_path: Path):
    (tmp_path / "afile").write_text("not a directory", encoding="utf-8")
    config = tmp_path / "c.toml"
    config.write_text(
        f'[crawl]\ndatabase = "{tmp_path / "a.db"}"\n'
        f'[archive]\nwarc_dir = "{tmp_path / "afile" / "warc"}"\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli, ["crawl", "-c", str(config), "-q", "--no-progress", _web(site)]
    )
    assert result.exit_code == 2, result.output
    assert "cannot create WARC directory" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert site.hits() == []  # nothing was fetched that could not be archived


def test_archive_settings_are_checked():
    import pytest

    from crawler.config import ConfigError

    assert Config().archive.warc_dir == "" and Config().archive.warc_max_bytes == 10**9
    for bad in ("lots", "0", "-1GB", 5):
        with pytest.raises(ConfigError, match="archive.warc_max_size"):
            Config().with_overrides(archive={"warc_max_size": bad})


def test_a_sink_before_the_database_is_flushed_before_its_commit(tmp_path: Path):
    """The archive runs before the database; its fsync must still come before the commit."""
    from crawler.records import RunCounters
    from crawler.sinks import DatabaseSink
    from crawler.writer import StoreWriter
    from db.store import Store

    store = Store.open(tmp_path / "w.db")
    run_id = store.start_run(pid=1)
    order: list[str] = []

    class Recorder:
        def write_many(self, items):
            return [None] * len(items)

        def flush(self) -> None:
            order.append("archive")

        def close(self) -> None:
            pass

    class Database(DatabaseSink):
        def flush(self) -> None:
            order.append("database")
            super().flush()

    database = Database(store, run_id, RunCounters(), recrawl_after=86400)
    writer = StoreWriter(store, run_id, [Recorder(), database])
    writer.checkpoint()
    writer.close()
    store.close()
    assert order == ["archive", "database"]


def test_the_page_metadata_names_outlinks_and_pingback_verdicts(site: SiteServer, tmp_path):
    from test_cron import post_html

    a, b = "http://blog.test/a/", "http://blog.test/b/"
    site.add_page("/a/", post_html("A", citations=[b]), host="blog.test")
    site.add_page("/b/", post_html("B", pings=[a]), host="blog.test")
    config = _config(site, tmp_path).with_overrides(crawl={"seeds": [b], "follow": ["pingback"]})
    assert crawl(config).status == "ok"
    db = sqlite_utils.Database(tmp_path / "a.db")
    db.execute("UPDATE frontier SET state = 'queued' WHERE url = ?", [b])
    db.conn.commit()
    db.conn.close()
    assert crawl(config).status == "ok"  # B again: its pingback's verdict is known now

    metadata = []
    for path in sorted((tmp_path / "warc").glob("*.warc.gz")):
        with path.open("rb") as stream:
            for record in ArchiveIterator(stream):
                if record.rec_type == "metadata" and record.rec_headers.get_header(
                    "WARC-Target-URI"
                ) in (a, b):
                    uri = record.rec_headers.get_header("WARC-Target-URI")
                    metadata.append((uri, record.content_stream().read().decode()))
    [first_b, first_a, second_b] = metadata
    assert first_b[0] == b and f"pingback: {a} pending" in first_b[1]
    assert first_a[0] == a and f"via: {b}" in first_a[1] and f"outlink: {b} citation" in first_a[1]
    assert "hopsFromSeed: 1" in first_a[1] and "fetchTimeMs: " in first_a[1]
    assert second_b[0] == b and f"pingback: {a} verified" in second_b[1]
