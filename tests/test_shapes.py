"""db/shapes.py: many-row statements in few shapes, so the statement cache keeps them."""

from __future__ import annotations

import sqlite3

from crawler.records import LinkRecord, PageRecord
from db import shapes
from db.store import Store


def test_chunks_cover_every_item_once_in_power_of_two_sizes() -> None:
    for n in range(0, 300):
        items = list(range(n))
        parts = list(shapes.chunks(items, 64))
        assert [i for part in parts for i in part] == items
        assert all(len(p) <= 64 and len(p) & (len(p) - 1) == 0 for p in parts)


def test_padding_keeps_the_keys_and_reaches_a_power_of_two() -> None:
    for n in range(1, 100):
        keys = [f"k{i}" for i in range(n)]
        padded = shapes.padded(keys)
        assert set(padded) == set(keys) and padded[:n] == keys
        assert len(padded) >= n and len(padded) & (len(padded) - 1) == 0


def test_pages_of_any_link_count_share_a_few_statement_texts(tmp_path) -> None:
    """Each distinct text is a statement SQLite prepares afresh (~5x the cost of running
    one from the cache): 200 pages with 1..200 links must not make 200 texts of each."""
    store = Store.open(tmp_path / "s.db")
    shapes.values_sql.cache_clear()  # one entry per statement text built
    for n in range(1, 201):
        url = f"http://blog.example/{n}/"
        page = PageRecord(url, url, "blog.example", "blog.example", 0, 200, "text/html", None)
        links = [
            LinkRecord(url, f"http://other{n}.example/{i}/", "citation", url, f"a{i}", None, 0)
            for i in range(n)
        ]
        store.save_page(page, links=links)
    store.commit()
    # edges, URLs and anchor texts: 7 sizes each (1, 2, 4, ... 64), not one per count
    assert shapes.values_sql.cache_info().currsize <= 3 * 7
    assert store.conn.execute("SELECT count(*) FROM link_edges").fetchone()[0] == 200 * 201 // 2
    store.close()


def test_the_store_connection_keeps_enough_statements() -> None:
    assert shapes.STATEMENT_CACHE >= 256
    assert isinstance(
        sqlite3.connect(":memory:", cached_statements=shapes.STATEMENT_CACHE), sqlite3.Connection
    )


def test_a_claim_padded_with_repeats_counts_each_attempt_once(tmp_path) -> None:
    from crawler.records import FrontierEntry

    store = Store.open(tmp_path / "c.db")
    urls = [f"http://blog.example/{n}/" for n in range(3)]  # padded to 4: one repeated
    store.enqueue([FrontierEntry(u, 0, "blog.example") for u in urls])
    run_id = store.start_run(pid=1)
    assert sorted(r.url for r in store.claim(run_id, 10)) == urls
    rows = store.conn.execute("SELECT state, claimed_by, attempts FROM frontier").fetchall()
    assert rows == [("claimed", run_id, 1)] * 3
    assert (
        shapes.update(store.conn, "UPDATE frontier SET attempts = 5 WHERE url IN ({marks})", urls)
        == 3
    )
    store.close()


def test_a_padded_insert_adds_each_new_row_once_and_counts_them() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    statement = ("INSERT OR IGNORE INTO t (k, v) VALUES ", "")
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    assert shapes.insert_padded(conn, statement, [(k, f"v{k}") for k in range(44)]) == 44
    inserts = [s for s in statements if s.startswith("INSERT")]
    assert len(inserts) == 1  # 44 rows padded to 64, not 32 + 8 + 4
    # Rows already there are not counted; the padding repeats a row, never adds one.
    assert shapes.insert_padded(conn, statement, [(k, "new") for k in range(40, 110)]) == 66
    assert conn.execute("SELECT count(*), min(k), max(k) FROM t").fetchone() == (110, 0, 109)
    assert conn.execute("SELECT v FROM t WHERE k = 43").fetchone() == ("v43",)
