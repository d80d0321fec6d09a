"""``pingcrawl datasette-metadata`` served by a real Datasette on 127.0.0.1 over the demo
database: every canned query answers JSON, links show page titles, comments are searchable."""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
import sqlite_utils
from click.testing import CliRunner

from crawler.cli.main import cli
from crawler.demo.run import run_demo
from db.datasette import CANNED_QUERIES, TABLES
from db.links import add_links

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
POST = "http://northwind.example/2024/03/alliance-politics/"


@pytest.fixture(scope="module")
def crawl(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("datasette")
    db = folder / "demo.db"
    run_demo(db, echo=lambda line: None)
    metadata = folder / "metadata.json"
    result = CliRunner().invoke(cli, ["datasette-metadata", "--db", str(db), "-o", str(metadata)])
    assert result.exit_code == 0, result.output
    return db, metadata


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def datasette(crawl) -> Iterator[str]:
    db, metadata = crawl
    port = _free_port()
    # -i: immutable, so Datasette never writes to the crawl's database.
    command = [sys.executable, "-m", "datasette", "serve", "-i", str(db), "-m", str(metadata)]
    log = (db.parent / "datasette.log").open("wb")  # a file: a full pipe would block it
    process = subprocess.Popen(
        [*command, "-h", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:  # poll until it answers; no fixed sleep
            try:
                urllib.request.urlopen(f"{base}/-/versions.json", timeout=2).read()
                break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    output = (db.parent / "datasette.log").read_text(errors="replace")
                    pytest.fail(f"datasette did not start: {output[-2000:]}")
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as answer:
        assert answer.status == 200
        return json.loads(answer.read())


def test_every_canned_query_answers_json(datasette):
    for name, (_, sql) in CANNED_QUERIES.items():
        params = {"post": POST} if ":post" in sql else {}
        params["_shape"] = "array"
        rows = get_json(f"{datasette}/demo/{name}.json?{urlencode(params)}")
        assert isinstance(rows, list), name
        if name in ("most_pinged_posts", "top_cited_domains", "who_cites_a_post", "last_runs"):
            assert rows, f"{name} found nothing in the demo crawl"
    spam = get_json(f"{datasette}/demo/spam_pingbacks.json?_shape=array")
    assert [r["source"] for r in spam] == ["http://cheap-pills.example/buy-now/"]


def test_the_metadata_titles_tables_and_describes_every_column(datasette, crawl):
    meta = get_json(f"{datasette}/-/metadata.json")
    assert meta["title"] == "pingcrawl: demo"
    tables = meta["databases"]["demo"]["tables"]
    db = sqlite_utils.Database(crawl[0])
    for table in db.table_names() + db.view_names():
        entry = tables[table]
        assert entry["description"], table
        if entry.get("hidden"):
            continue
        columns = {c.name for c in db[table].columns}
        assert set(entry["columns"]) == columns, table
        assert "no description" not in json.dumps(entry), f"{table}: describe it in TABLES"
    assert set(TABLES) <= set(tables)


def test_links_show_their_urls_and_link_edges_label_its_ids(datasette, crawl):
    # Since schema v10 links is a view (Datasette follows no foreign key of a view): it
    # shows the URLs themselves, and link_edges labels its URL ids with the URLs.
    db = sqlite_utils.Database(crawl[0])
    src, dst = db.execute(
        "SELECT l.src, l.dst FROM links l JOIN pages a ON a.url = l.src"
        " JOIN pages b ON b.url = l.dst WHERE l.kind = 'citation' LIMIT 1"
    ).fetchone()
    query = urlencode({"src": src, "dst": dst, "kind": "citation"})
    page = get_json(f"{datasette}/demo/links.json?{query}&_shape=objects")
    assert [(r["src"], r["dst"], r["kind"]) for r in page["rows"]] == [(src, dst, "citation")]
    src_id, dst_id = (
        db.execute("SELECT id FROM urls WHERE url = ?", [u]).fetchone()[0] for u in (src, dst)
    )
    page = get_json(
        f"{datasette}/demo/link_edges.json?src_id={src_id}&dst_id={dst_id}&_labels=on"
        "&_shape=objects"
    )
    row = page["rows"][0]
    assert row["src_id"] == {"value": src_id, "label": src}
    assert row["dst_id"] == {"value": dst_id, "label": dst}


def test_comments_are_searchable(datasette):
    rows = get_json(f"{datasette}/demo/comments.json?_search=alliance&_shape=array")
    assert rows and all("alliance" in json.dumps(r).lower() for r in rows)
    # and from the sqlite-utils CLI, as the README says
    assert 'sqlite-utils search pingcrawl.db comments "' in README


def test_readme_queries_are_the_canned_queries():
    readme = {
        shlex.split(line)[3]
        for line in README.splitlines()
        if line.startswith("sqlite-utils query ")
    }
    assert readme == {sql for _, sql in CANNED_QUERIES.values()}


def test_readme_shows_the_command_that_opens_the_crawl_with_it():
    command = re.search(r"^.*datasette-metadata.*datasette .*-m metadata\.json$", README, re.M)
    assert command, "the one command is missing from the README"


def test_a_version_2_database_gains_labelled_links_and_comment_search(tmp_path):
    from db import schema

    path = tmp_path / "v2.db"
    old = sqlite_utils.Database(path)
    for step in schema.MIGRATIONS[:2]:
        step(old)
    old.execute("PRAGMA user_version = 2")
    post, other = "https://a.example/p/", "https://b.example/q/"
    old["pages"].insert_all(
        [{"url": u, "is_post": 1, "blog": u.split("/")[2], "title": u} for u in (post, other)]
    )
    old["links"].insert_all(
        [
            {"src": other, "dst": post, "kind": "pingback", "found_on": post},
            {"src": post, "dst": "https://news.example/x", "kind": "citation", "found_on": post},
        ]
    )
    old["comments"].insert(
        {"id": f"{post}#c1", "post_url": post, "kind": "comment", "text": "On sanctions"}
    )
    old.conn.commit()
    old.conn.close()

    db = schema.open_database(path)
    assert schema.schema_version(db) == schema.SCHEMA_VERSION
    assert db["links"].count == 2 and db["comments"].count == 1  # nothing lost
    # Since v10 links is a view over link_edges, whose ends refer to urls.
    edges = db["link_edges"]
    references = {(fk.column, fk.other_table, fk.other_column) for fk in edges.foreign_keys}
    assert {("src_id", "urls", "id"), ("dst_id", "urls", "id")} <= references
    indexed = {tuple(i.columns) for i in edges.indexes}
    assert {("dst_id",), ("found_on_id",)} <= indexed
    assert [r["id"] for r in db["comments"].search("sanction")] == [f"{post}#c1"]
    assert db.execute("SELECT count(*) FROM related_posts").fetchone()[0] == 0  # view works
    # Not enforced: a link to a page never fetched is still stored.
    add_links(db, {"src": post, "dst": "https://never.example/", "kind": "citation"})
