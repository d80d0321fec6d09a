"""Bodies stored with zstd: new ones compressed, older text ones moved by the migration,
and every reader (reextract, show, SQL) gets the same HTML back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from db.bodies import body_html
from db.reextract import stored_page
from db.schema import SCHEMA_VERSION, open_database

HOSTILE = "<p>caf\u00e9, \U0001f600 and \x00 nul</p>" * 50


def test_an_older_database_has_its_bodies_compressed_on_open(tmp_path: Path):
    path = tmp_path / "old.db"
    db = open_database(path)
    db.execute("INSERT INTO bodies (sha256, html) VALUES ('abc', ?)", [HOSTILE])
    db.execute("INSERT INTO pages (url, sha256, is_post) VALUES ('http://a.test/', 'abc', 0)")
    db.execute("PRAGMA user_version = 7")  # as before compressed bodies
    db.conn.commit()
    db.conn.close()

    db = open_database(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    html, zstd = db.execute("SELECT html, zstd FROM bodies").fetchone()
    assert html is None and zstd is not None and len(zstd) < len(HOSTILE) / 4
    page = stored_page(db, "http://a.test/")
    assert page is not None and page.html == HOSTILE
    assert db.execute("SELECT pingcrawl_body(html, zstd) FROM bodies").fetchone()[0] == HOSTILE


def test_a_lone_surrogate_survives_python_and_is_replaced_in_sql():
    from db.bodies import compress_html, sql_body

    blob = compress_html("a\ud800b")
    assert body_html(None, blob) == "a\ud800b"
    assert sql_body(None, blob) == "a\ufffd\ufffd\ufffdb"  # SQLite holds UTF-8 only


def test_a_row_left_as_text_still_reads():
    assert body_html("<p>x</p>", None) == "<p>x</p>"
    assert body_html(None, None) is None


def test_the_sql_function_is_there_for_read_only_readers(tmp_path: Path):
    from db.schema import open_readonly

    db = open_database(tmp_path / "r.db")
    db.conn.close()
    ro = open_readonly(tmp_path / "r.db")
    assert ro.execute("SELECT pingcrawl_body(NULL, NULL)").fetchone()[0] is None
    assert isinstance(ro.conn, sqlite3.Connection)
    assert isinstance(ro, sqlite_utils.Database)
