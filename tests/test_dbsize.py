"""The compact database of issue 15: links by URL id behind the ``links`` view (schema
v10), 16 KB pages, bodies compressed with a trained zstd dictionary (schema v11)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import sqlite_utils
import zstandard

from crawler.records import CommentRecord, LinkRecord, PageRecord, iso
from db import bodies, schema
from db.links import add_links
from db.reextract import replace_extraction, stored_page
from db.schema import open_database, open_readonly
from db.store import Store

A, B, C = "https://a.example/p/", "https://b.example/q/", "https://c.example/r/"
OLD_LINKS = [
    # found on its src (citation), on its dst (pingback), nowhere recorded; ISO times as the
    # store wrote them, one in another format, one missing.
    {"src": A, "dst": C, "kind": "citation", "found_on": A, "anchor": "see", "rel": None,
     "same_blog": 0, "first_seen": "2024-05-01T02:03:04.123456Z"},
    {"src": B, "dst": A, "kind": "pingback", "found_on": A, "anchor": "B says", "rel": "ugc",
     "same_blog": 0, "first_seen": "2024-05-02T00:00:00.000001Z"},
    {"src": A, "dst": B, "kind": "nav", "found_on": None, "anchor": None, "rel": None,
     "same_blog": None, "first_seen": "2024-05-03"},
    {"src": C, "dst": A, "kind": "comment", "found_on": C, "anchor": "x", "rel": "nofollow",
     "same_blog": 0, "first_seen": None},
    {"src": C, "dst": B, "kind": "mention", "found_on": B, "anchor": None, "rel": None,
     "same_blog": 0, "first_seen": None},  # a kind of another program: kept as text
]  # fmt: skip
COLUMNS = ("src", "dst", "kind", "found_on", "anchor", "rel", "same_blog", "first_seen")


def _version_9(path: Path) -> None:
    old = sqlite_utils.Database(path)
    for step in schema.MIGRATIONS[:9]:
        step(old)
    old.execute("PRAGMA user_version = 9")
    old["pages"].insert_all([{"url": u, "is_post": 1, "blog": u.split("/")[2]} for u in (A, B)])
    old["links"].insert_all(OLD_LINKS)
    old.conn.commit()
    old.conn.close()


def _links(db: sqlite_utils.Database) -> list[dict]:
    return [dict(zip(COLUMNS, row, strict=True)) for row in db.execute(
        f"SELECT {', '.join(COLUMNS)} FROM links ORDER BY src, dst, kind"
    )]  # fmt: skip


def test_a_version_9_database_keeps_every_link_through_the_view(tmp_path: Path):
    path = tmp_path / "v9.db"
    _version_9(path)
    db = open_database(path)
    assert schema.schema_version(db) == schema.SCHEMA_VERSION
    assert "links" in db.view_names() and "links" not in db.table_names()
    assert _links(db) == sorted(OLD_LINKS, key=lambda r: (r["src"], r["dst"], r["kind"]))
    assert db["urls"].count == 3  # each URL once
    assert db.execute("SELECT 1 FROM link_edges WHERE kind = 'mention'").fetchone()  # text
    db.execute("DELETE FROM links WHERE kind = 'mention'")
    db.execute("UPDATE links SET rel = 'me' WHERE kind = 'pingback'")
    assert db["link_edges"].count == len(OLD_LINKS) - 1
    assert db.execute("SELECT rel FROM links WHERE kind = 'pingback'").fetchone() == ("me",)
    stored = dict(db.execute("SELECT kind, first_seen FROM link_edges").fetchall())
    assert stored[1] == 1714528984123456  # citation; microseconds, shown back as ISO text
    assert stored[0] == "2024-05-03"  # nav; another format stays as it was
    assert db.execute("SELECT count(*) FROM related_posts").fetchone() == (0,)  # two blogs


def test_plain_sql_on_the_view_writes_link_edges(tmp_path: Path):
    db = open_database(tmp_path / "t.db")
    when = iso()
    db.execute(
        "INSERT INTO links (src, dst, kind, found_on, anchor, first_seen)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [B, A, "pingback", A, "ping", when],
    )
    add_links(db, {"src": A, "dst": C, "kind": "citation", "found_on": A})
    db.execute("INSERT OR IGNORE INTO links (src, dst, kind) VALUES (?, ?, 'citation')", [A, C])
    db.execute("UPDATE links SET anchor = 'cited' WHERE src = ? AND dst = ?", [A, C])
    rows = _links(db)
    assert [(r["src"], r["dst"], r["found_on"], r["anchor"]) for r in rows] == [
        (A, C, A, "cited"),
        (B, A, A, "ping"),
    ]
    assert rows[1]["first_seen"] == when
    db.execute("DELETE FROM links WHERE src = ? AND dst = ? AND kind = 'pingback'", [B, A])
    assert db["links"].count == 1 and db["link_edges"].count == 1
    assert db["urls"].count == 3  # an id, once given, stays that URL's


def test_the_store_writes_links_by_url_id(tmp_path: Path):
    store = Store.open(tmp_path / "s.db")
    page = PageRecord(A, A, "a.example", "a.example", 0, 200, "text/html", None)
    links = [
        LinkRecord(A, C, "citation", A, "see", None, False),
        LinkRecord(B, A, "pingback", A, "B says", "ugc", False),
        LinkRecord(A, B, "nav", A, "next", None, False),
    ]
    assert store.save_page(page, links=links).new_links == 3
    assert store.save_page(page, links=links).new_links == 0
    rows = _links(store.db)
    assert {(r["src"], r["dst"], r["kind"], r["found_on"]) for r in rows} == {
        (A, C, "citation", A), (B, A, "pingback", A), (A, B, "nav", A)
    }  # fmt: skip
    assert all(r["first_seen"] == iso_like(r["first_seen"]) for r in rows)
    found_on = dict(store.db.execute("SELECT kind, found_on_id FROM link_edges").fetchall())
    assert found_on[1] is None and found_on[2] is not None  # citation: NULL (src); pingback
    store.save_page(page, links=links[1:], replace_links=True)  # the citation was removed
    assert {r["kind"] for r in _links(store.db)} == {"pingback", "nav"}
    store.close()


def iso_like(value: str) -> str:
    from datetime import datetime

    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_link_queries_use_indexes_through_the_view(tmp_path: Path):
    db = open_database(tmp_path / "q.db")

    def plan(sql: str) -> str:
        return " | ".join(r[3] for r in db.execute("EXPLAIN QUERY PLAN " + sql, [A]))

    by_src = plan("SELECT * FROM links WHERE src = ?")
    by_dst = plan("SELECT * FROM links WHERE dst = ?")
    assert "SCAN e" not in by_src and "USING PRIMARY KEY (src_id=?)" in by_src, by_src
    assert "SCAN e" not in by_dst and "idx_link_edges_dst_id (dst_id=?)" in by_dst, by_dst


def test_new_databases_use_16_kb_pages_and_old_ones_keep_theirs(tmp_path: Path):
    assert open_database(tmp_path / "new.db").execute("PRAGMA page_size").fetchone()[0] == 16384
    old = tmp_path / "old.db"
    _version_9(old)
    assert sqlite3.connect(old).execute("PRAGMA page_size").fetchone()[0] == 4096
    assert open_database(old).execute("PRAGMA page_size").fetchone()[0] == 4096


def _page(i: int) -> PageRecord:
    # Pages of one theme: the same chrome around a different post.
    words = " ".join(f"word{(i * 7 + k) % 97}" for k in range(60))
    html = (
        f"<html><head><title>Post {i} | A blog</title><link rel='stylesheet' href='/s.css'>"
        "</head><body><nav><a href='/'>Home</a> <a href='/about/'>About</a></nav>"
        f"<article class='post'><h1>Post number {i}</h1><p>{words}</p></article>"
        "<footer>Proudly powered by WordPress | Theme: Twenty Twelve</footer></body></html>"
    )
    url = f"https://a.example/{i}/"
    return PageRecord(url, url, "a.example", "a.example", 0, 200, "text/html", None, html=html)


def test_bodies_get_a_dictionary_and_read_back_from_another_process(tmp_path: Path):
    path = tmp_path / "d.db"
    store = Store.open(path)
    count = bodies.TRAIN_AFTER + 20
    for i in range(count):
        store.save_page(_page(i))
    store.close()

    db = sqlite_utils.Database(path)
    (dict_id,) = db.execute("SELECT dict_id FROM zstd_dicts").fetchone()
    ids = [zstandard.get_frame_parameters(z).dict_id for (z,) in db.execute(
        "SELECT zstd FROM bodies"
    )]  # fmt: skip
    assert ids.count(dict_id) == count  # the training bodies were compressed again too
    db.conn.close()

    # A fresh process knows no dictionary: it reads it from the database.
    script = (
        "import sys; from db.schema import open_readonly; from db.reextract import stored_page\n"
        "db = open_readonly(sys.argv[1])\n"
        "print(stored_page(db, 'https://a.example/7/').html == sys.argv[2])\n"
        'print(db.execute("SELECT pingcrawl_body(b.html, b.zstd) FROM pages p JOIN bodies b'
        " ON b.sha256 = p.sha256 WHERE p.url = 'https://a.example/8/'\").fetchone()[0]"
        " == sys.argv[3])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path), _page(7).html or "", _page(8).html or ""],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    assert result.stdout.split() == ["True", "True"], result.stderr
    ro = open_readonly(path)
    page = stored_page(ro, f"https://a.example/{count - 1}/")
    assert page is not None and page.html == _page(count - 1).html


def test_a_rolled_back_dictionary_is_stored_again_before_it_is_used(tmp_path: Path):
    path = tmp_path / "r.db"
    store = Store.open(path)
    for i in range(bodies.TRAIN_AFTER):
        store.save_page(_page(i))
    store.commit()
    store.save_page(_page(1000))  # trains the dictionary, in the open batch
    assert store.db["zstd_dicts"].count == 1
    store.rollback()  # e.g. the batch failed: the dictionary's row is gone
    assert store.db["zstd_dicts"].count == 0
    store.save_page(_page(1001))
    store.close()
    db = open_database(path)
    assert stored_page(db, "https://a.example/1001/").html == _page(1001).html  # type: ignore[union-attr]
    assert stored_page(db, "https://a.example/5/").html == _page(5).html  # type: ignore[union-attr]


def test_a_dictionary_of_the_same_id_from_another_database_is_not_used(tmp_path: Path):
    first = Store.open(tmp_path / "one.db")
    for i in range(bodies.TRAIN_AFTER + 1):
        first.save_page(_page(i))
    first.close()
    one = open_database(tmp_path / "one.db")
    (dict_id,) = one.execute("SELECT dict_id FROM zstd_dicts").fetchone()
    # Another database whose dictionary has the same id (and other contents) was read first.
    bodies._dicts[dict_id] = zstandard.train_dictionary(
        8192, [f"<p>other {i} text</p>".encode() * 20 for i in range(200)]
    )
    page = stored_page(one, "https://a.example/3/")
    assert page is not None and page.html == _page(3).html


def _comment(n: int) -> CommentRecord:
    return CommentRecord(A, "comment", str(n), "Reader", None, None, f"comment {n}", None, None)


def test_comments_found_on_the_post_leave_found_on_empty_and_reextract_replaces_both(
    tmp_path: Path,
):
    store = Store.open(tmp_path / "c.db")
    post = PageRecord(A, A, "a.example", "a.example", 0, 200, "text/html", None)
    store.save_page(post, comments=[_comment(1)])
    second = PageRecord(A + "comment-page-2/", A + "comment-page-2/", "a.example",
                        "a.example", 0, 200, "text/html", None, post_url=A)  # fmt: skip
    store.save_page(second, comments=[_comment(2)])
    # A row written before schema v12 names the post itself.
    store.conn.execute(
        "INSERT INTO comments (id, post_url, kind, text, found_on) VALUES (?, ?, 'comment', ?, ?)",
        [f"{A}#comment-3", A, "old", A],
    )
    store.commit()
    found = dict(store.db.execute("SELECT comment_id, found_on FROM comments").fetchall())
    assert found == {"1": None, "2": A + "comment-page-2/", None: A}
    # Re-extracting the post: comments 1 and 3 are no longer on it, 4 is new; 2 stays.
    replace_extraction(store.db, post, "h", [_comment(4)], [])
    store.commit()
    kept = dict(store.db.execute("SELECT comment_id, found_on FROM comments").fetchall())
    assert kept == {"2": A + "comment-page-2/", "4": None}
    store.close()


def test_a_rolled_back_page_does_not_leave_its_url_ids_cached(tmp_path: Path):
    # The store keeps URL ids in memory; a page whose write fails takes back the URLs it
    # added, and SQLite then gives their ids to other URLs: links written afterwards must
    # still name the right URLs.
    store = Store.open(tmp_path / "s.db")
    page = PageRecord(A, A, "a.example", "a.example", 0, 200, "text/html", None)
    store.save_page(page, links=[LinkRecord(A, B, "nav", A, "home", None, False)])
    store.commit()
    doomed = [LinkRecord(A, "https://gone.example/x/", "citation", A, "gone", None, False)]
    try:
        with store.atomic():
            store.save_page(page, links=doomed)
            raise RuntimeError("the page's write fails after its links went in")
    except RuntimeError:
        pass
    other = "https://d.example/s/"  # now takes the id the rolled-back URL had
    store.save_page(page, links=[LinkRecord(A, other, "citation", A, "d", None, False)])
    store.save_page(page, links=doomed)  # its URL must be added again, not found in memory
    store.commit()
    rows = {(r["dst"], r["anchor"]) for r in _links(store.db)}
    assert rows == {(B, "home"), (other, "d"), ("https://gone.example/x/", "gone")}
    store.close()


def test_a_verdict_does_not_rewrite_the_search_index(tmp_path: Path):
    # Pingback verdicts and next visits update comments and pages after every batch: the
    # full-text triggers must not re-index their text each time (v13), only on new text.
    db = open_database(tmp_path / "s.db")
    db.execute("INSERT INTO pages (url, title, text) VALUES (?, 'T', 'old words')", [A])
    db.execute(
        "INSERT INTO comments (id, post_url, kind, text) VALUES ('c1', ?, 'pingback', 'hi')", [A]
    )
    for sql in (
        "UPDATE comments SET verified = 1 WHERE id = 'c1'",
        "UPDATE pages SET next_fetch_at = 'later', status = 200",
    ):
        before = db.conn.total_changes  # counts the rows triggers write too
        db.execute(sql)
        assert db.conn.total_changes - before == 1, sql
    db.execute("UPDATE pages SET text = 'new words'")
    assert [r[0] for r in db.execute("SELECT rowid FROM pages_fts WHERE pages_fts MATCH 'new'")]
    assert not list(db.execute("SELECT rowid FROM pages_fts WHERE pages_fts MATCH 'old'"))
