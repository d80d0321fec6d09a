"""The store: schema, frontier claims, page writes, runs — on real SQLite files."""

from __future__ import annotations

import sqlite_utils

from crawler.records import (
    CommentRecord,
    FrontierEntry,
    LinkRecord,
    PageRecord,
    RunCounters,
    iso_in,
)
from db.schema import SCHEMA_VERSION, open_database, schema_version
from db.store import Store


def entry(url: str, depth: int = 0, **kw) -> FrontierEntry:
    host = url.split("/")[2]
    return FrontierEntry(url, depth, host, **kw)


def page(url: str, **kw) -> PageRecord:
    host = url.split("/")[2]
    base = dict(
        url=url,
        final_url=url,
        host=host,
        blog=host,
        depth=0,
        status=200,
        content_type="text/html",
        error=None,
        html="<p>x</p>",
        title="T",
        is_post=True,
        text="some words",
    )
    base.update(kw)
    return PageRecord(**base)


def test_schema_is_created_with_version_and_wal(tmp_path):
    path = tmp_path / "c.db"
    db = open_database(path)
    assert schema_version(db) == SCHEMA_VERSION
    assert {"pages", "bodies", "comments", "frontier", "runs", "hosts"} <= set(db.table_names())
    assert {"links", "related_posts", "pingbacks"} <= set(db.view_names())  # links: v10
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    fks = {(fk.column, fk.other_table) for fk in db["comments"].foreign_keys}
    assert ("post_url", "pages") in fks


def test_reopening_keeps_data(tmp_path):
    path = tmp_path / "c.db"
    store = Store.open(path)
    store.save_page(page("https://a.example/p/"))
    store.close()
    assert sqlite_utils.Database(path)["pages"].count == 1
    assert Store.open(path).db["pages"].count == 1


def test_claim_interleaves_hosts_and_marks_claimed(tmp_path):
    store = Store.open(tmp_path / "c.db")
    urls = [f"https://a.example/{i}" for i in range(5)] + ["https://b.example/1"]
    store.enqueue(entry(u) for u in urls)
    run = store.start_run(pid=1)
    claimed = store.claim(run, 2)
    assert {r.host for r in claimed} == {"a.example", "b.example"}
    assert store.frontier_counts() == {"claimed": 2, "queued": 4}
    assert store.release_claims(run) == 2
    assert store.frontier_counts() == {"queued": 6}


def test_a_run_releases_only_its_own_claims(tmp_path):
    store = Store.open(tmp_path / "c.db")
    store.enqueue(entry(f"https://h{i}.example/") for i in range(4))
    mine, other = store.start_run(pid=1), store.start_run(pid=2)
    store.claim(mine, 2)
    theirs = {r.url for r in store.claim(other, 2)}
    store.finish_run(mine, "ok", RunCounters())
    claimed = {r["url"] for r in store.db["frontier"].rows_where("state = 'claimed'")}
    assert claimed == theirs
    assert store.db["runs"].get(other)["status"] == "running"


def test_enqueue_keeps_known_state_but_lifts_depth_skips(tmp_path):
    store = Store.open(tmp_path / "c.db")
    url = "https://a.example/p/"
    store.enqueue([entry(url, 3, state="skipped", reason="depth")])
    assert store.enqueue([entry(url, 4, state="skipped", reason="depth")]) == 0
    assert store.enqueue([entry(url, 1)]) == 1
    row = store.db["frontier"].get(url)
    assert (row["state"], row["depth"]) == ("queued", 1)
    store.finish(url, "done")
    assert store.enqueue([entry(url, 0)]) == 0
    assert store.db["frontier"].get(url)["state"] == "done"


def test_save_page_with_comments_and_links(tmp_path):
    store = Store.open(tmp_path / "c.db")
    post = "https://a.example/p/"
    comments = [
        CommentRecord(post, "comment", "7", "Ann", None, None, "hi", None, None),
        CommentRecord(post, "pingback", None, None, None, None, "", "https://b.example/s/", "S"),
    ]
    links = [LinkRecord("https://b.example/s/", post, "pingback", post, "S", "ugc", False)]
    outcome = store.save_page(page(post), comments, links, comments_hash="h1")
    assert (outcome.new_page, outcome.new_comments, outcome.new_links) == (True, 2, 1)
    again = store.save_page(page(post), comments, links, comments_hash="h1")
    assert (again.new_page, again.new_comments, again.new_links) == (False, 0, 0)
    assert not again.comments_changed
    store.commit()
    db = store.db
    assert db["comments"].count == 2 and db["links"].count == 1 and db["bodies"].count == 1
    assert db["comments"].get(f"{post}#comment-7")["author"] == "Ann"
    assert list(db.query("select source, target from pingbacks")) == [
        {"source": "https://b.example/s/", "target": post}
    ]


def test_full_text_search(tmp_path):
    store = Store.open(tmp_path / "c.db")
    store.save_page(page("https://a.example/p/", title="North Korea", text="sanctions"))
    store.commit()
    hits = list(store.db["pages"].search("korea"))
    assert [h["url"] for h in hits] == ["https://a.example/p/"]


def test_a_dead_run_is_known_by_its_lease_or_by_the_lock(tmp_path):
    store = Store.open(tmp_path / "c.db")
    store.enqueue(entry(f"https://h{i}.example/") for i in range(4))
    dead, alive = store.start_run(pid=1), store.start_run(pid=2)
    store.claim(dead, 2)
    kept = {r.url for r in store.claim(alive, 2)}
    store.conn.execute("UPDATE runs SET lease_until = ? WHERE id = ?", (iso_in(-1), dead))
    store.commit()

    assert store.end_dead_runs(holding_lock=False) == 1  # only the expired lease
    runs = {r["id"]: r["status"] for r in store.db["runs"].rows}
    assert runs == {dead: "crashed", alive: "running"}
    claimed = {r["url"] for r in store.db["frontier"].rows_where("state = 'claimed'")}
    assert claimed == kept and store.frontier_counts()["queued"] == 2

    # Holding the database's run lock proves no other run is alive.
    assert store.end_dead_runs(holding_lock=True) == 1
    assert store.db["runs"].get(alive)["status"] == "crashed"
    assert store.frontier_counts() == {"queued": 4}


def test_counters_are_written_with_the_lease(tmp_path):
    store = Store.open(tmp_path / "c.db")
    run = store.start_run(pid=1)
    before = store.db["runs"].get(run)["lease_until"]
    store.update_run(run, RunCounters(fetched=7))
    store.commit()
    row = sqlite_utils.Database(tmp_path / "c.db")["runs"].get(run)
    assert (row["status"], row["fetched"]) == ("running", 7) and row["lease_until"] >= before


def test_hosts_round_trip(tmp_path):
    store = Store.open(tmp_path / "c.db")
    assert store.get_host("a.example") is None
    store.save_host("a.example", robots_status=200, crawl_delay=2.0)
    store.save_host("a.example", errors=1)
    row = store.get_host("a.example")
    assert (row["robots_status"], row["crawl_delay"], row["errors"]) == (200, 2.0, 1)


def test_version_1_database_is_migrated_without_losing_data(tmp_path):
    from db import schema

    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    schema.MIGRATIONS[0](old)
    old.execute("PRAGMA user_version = 1")
    old["pages"].insert({"url": "https://a.example/p/", "is_post": 1, "blog": "a.example"})
    old.conn.commit()
    old.conn.close()

    db = open_database(path)
    assert schema_version(db) == SCHEMA_VERSION
    assert db["pages"].get("https://a.example/p/")["is_post"] == 1
    assert "WITH ends" in db["related_posts"].schema
    indexed = {tuple(i.columns) for i in db["pages"].indexes}
    assert ("final_url",) in indexed and ("canonical",) in indexed


def test_a_fresh_copy_replaces_the_links_found_on_a_page(tmp_path):
    store = Store.open(tmp_path / "c.db")
    src, gone, kept = "https://b.example/s/", "https://a.example/old/", "https://a.example/k/"
    links = [
        LinkRecord(src, gone, "citation", src, "old", None, False),
        LinkRecord(src, kept, "citation", src, "k", None, False),
    ]
    store.save_page(page(src), links=links)
    store.save_page(page(src), links=links[1:])  # e.g. an error page: nothing replaced
    assert store.db["links"].count == 2
    store.save_page(page(src), links=links[1:], replace_links=True)
    assert [r["dst"] for r in store.db["links"].rows] == [kept]
