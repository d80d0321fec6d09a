"""The database thread (crawler/writer.py): order, claims first, failures surface."""

from __future__ import annotations

import asyncio
import threading

import pytest

from crawler.fetch.client import FetchResult
from crawler.records import (
    CommentRecord,
    FrontierEntry,
    FrontierRow,
    LinkRecord,
    PageRecord,
    RunCounters,
)
from crawler.sinks import DatabaseSink
from crawler.writer import PageWrite, StoreWriter, _DatabaseThread, weight
from db.store import Store


def _no_writes(items):
    raise AssertionError("no writes expected")


def test_urgent_calls_go_before_queued_ones() -> None:
    thread = _DatabaseThread(_no_writes)
    gate, order = threading.Event(), []
    try:
        thread.submit(gate.wait)  # holds the thread while the rest queue up
        later = [thread.submit(order.append, n) for n in (1, 2, 3)]
        urgent = thread.submit(order.append, "claim", urgent=True)
        gate.set()
        for future in [*later, urgent]:
            future.result(timeout=5)
    finally:
        thread.shutdown()
    assert order == ["claim", 1, 2, 3]


def test_writes_queued_together_are_written_together_in_order() -> None:
    order: list[object] = []

    def write_many(items):
        order.append(list(items))
        return [f"saved {item}" for item in items]

    thread = _DatabaseThread(write_many)
    gate = threading.Event()
    try:
        thread.submit(gate.wait)  # holds the thread while the rest queue up
        futures = [thread.submit_write(n) for n in (1, 2)]  # type: ignore[arg-type]
        call = thread.submit(order.append, "call")
        futures.append(thread.submit_write(3))  # type: ignore[arg-type]
        gate.set()
        call.result(timeout=5)
        answers = [future.result(timeout=5) for future in futures]
    finally:
        thread.shutdown()
    # A call queued between writes splits the group and keeps its place.
    assert order == [[1, 2], "call", [3]]
    assert answers == ["saved 1", "saved 2", "saved 3"]


def test_a_failed_group_fails_every_write_in_it() -> None:
    def write_many(items):
        raise ValueError("broken")

    thread = _DatabaseThread(write_many)
    gate = threading.Event()
    try:
        thread.submit(gate.wait)
        futures = [thread.submit_write(n) for n in (1, 2)]  # type: ignore[arg-type]
        gate.set()
        for future in futures:
            with pytest.raises(ValueError):
                future.result(timeout=5)
    finally:
        thread.shutdown()


def test_a_failure_reaches_the_caller_and_the_thread_goes_on() -> None:
    thread = _DatabaseThread(_no_writes)
    try:
        failed = thread.submit(int, "not a number")
        fine = thread.submit(int, "42")
        with pytest.raises(ValueError):
            failed.result(timeout=5)
        assert fine.result(timeout=5) == 42
    finally:
        thread.shutdown()


def _row(url: str) -> FrontierRow:
    return FrontierRow(url, 0, "blog.example", "seed", None, None, 1)


def _page_write(url: str, links_to: str) -> PageWrite:
    page = PageRecord(url, url, "blog.example", "blog.example", 0, 200, "text/html", None)
    entry = FrontierEntry(links_to, 1, "blog.example", url, "citation")
    result = FetchResult(url, url, status=200)
    return PageWrite(_row(url), result, "page", page=page, entries=[entry])


def test_writes_are_stored_in_order_and_a_claim_says_what_it_saw(tmp_path) -> None:
    store = Store.open(tmp_path / "w.db")
    first, second = "http://blog.example/1/", "http://blog.example/2/"
    store.enqueue([FrontierEntry(first, 0, "blog.example")])
    run_id = store.start_run(pid=1)
    store.claim(run_id, 10)

    async def run() -> tuple[list[FrontierRow], int]:
        sink = DatabaseSink(store, run_id, RunCounters(), recrawl_after=86400)
        writer = StoreWriter(store, run_id, [sink])
        try:
            writer.write(_page_write(first, links_to=second))
            await writer.settle()
            assert [item.row.url for item, _ in writer.written()] == [first]
            return await writer.claim(10)
        finally:
            writer.close()

    rows, written = asyncio.run(run())
    assert [r.url for r in rows] == [second]  # enqueued by the write before the claim
    assert written == 1
    states = dict(store.conn.execute("SELECT url, state FROM frontier"))
    assert states == {first: "done", second: "claimed"}
    store.close()


def test_the_weight_of_a_write_in_hand_counts_its_links() -> None:
    # A page of a million links holds far more memory than its text says.
    text_only = _page_write("http://blog.example/1/", links_to="http://blog.example/2/")
    text_only.result.text = "x" * 1000
    linked = _page_write("http://blog.example/1/", links_to="http://blog.example/2/")
    linked.result.text = "x" * 1000
    link = LinkRecord("http://blog.example/1/", "http://o.example/", "citation", "", None, None, 0)
    linked.links = [link] * 100_000
    assert weight(linked) >= weight(text_only) + 100_000 * 100


# -- pages written as a group store what one-by-one writes store -------------------------
B = "http://blog.example"


def _post(path: str, cites: list[str], comments: list[CommentRecord], size: int = 100) -> PageWrite:
    url = f"{B}{path}"
    page = PageRecord(url, url, "blog.example", "blog.example", 1, 200, "text/html", None)
    page.html, page.text, page.is_post, page.size = f"<p>{path} {cites}</p>", path, True, size
    links = [LinkRecord(url, dst, "citation", url, f"to {dst}", None, True) for dst in cites]
    links.append(LinkRecord(url, f"{B}/about/", "nav", url, "About", None, True))
    entries = [FrontierEntry(dst, 2, "blog.example", url, "citation") for dst in cites]
    result = FetchResult(url, url, status=200)
    digest = ",".join(sorted(c.id for c in comments))
    return PageWrite(
        _row(url), result, "page", page=page, comments=comments, links=links,
        entries=entries, digest=digest, fresh=True,
    )  # fmt: skip


def _comment(post: str, n: int, source: str | None = None) -> CommentRecord:
    kind = "pingback" if source else "comment"
    return CommentRecord(f"{B}{post}", kind, str(n), f"a{n}", None, None, f"c{n}", source, None)


def _items() -> list[PageWrite]:
    """Pages whose writes overlap: shared comments and links, a URL written twice, a
    re-fetch of a page stored before that dropped a link, a skip between them."""
    c1, c2 = _comment("/1/", 1), _comment("/1/", 2, source=f"{B}/2/")
    skipped = PageWrite(
        _row(f"{B}/robots/"), FetchResult(f"{B}/robots/", f"{B}/robots/"), "skip", "robots"
    )
    first, shares = _post("/1/", [f"{B}/2/", f"{B}/3/"], [c1, c2]), _post("/3/", [f"{B}/1/"], [c2])
    ping = LinkRecord(f"{B}/2/", f"{B}/1/", "pingback", f"{B}/1/", None, None, True)
    first.links.append(ping)
    shares.links.append(LinkRecord(ping.src, ping.dst, ping.kind, f"{B}/3/", None, None, True))
    return [
        first,
        _post("/2/", [f"{B}/1/", f"{B}/3/"], []),
        shares,  # a comment and a link the first page had too
        _post("/1/", [f"{B}/2/", f"{B}/4/"], [c1, c2, _comment("/1/", 3)]),  # again, changed
        skipped,
        _post("/0/", [f"{B}/3/"], []),  # stored before the run, one link gone now
        _post("/5/", [f"{B}/2/"], [_comment("/5/", 1)]),
    ]  # fmt: skip


def _store_with_history(path) -> tuple[Store, DatabaseSink]:
    store = Store.open(path)
    run_id = store.start_run(pid=1)
    sink = DatabaseSink(store, run_id, RunCounters(), recrawl_after=86400)
    before = _post("/0/", [f"{B}/3/", f"{B}/9/"], [])
    sink.write(before)
    urls = {item.row.url for item in _items()}
    store.enqueue([FrontierEntry(url, 1, "blog.example") for url in urls])
    store.claim(run_id, 100)
    store.commit()
    return store, sink


def _contents(store: Store) -> dict[str, list]:
    queries = {
        "pages": "SELECT url, status, title, text, is_post, size, comments_hash, sha256,"
        " next_fetch_at IS NOT NULL, recrawl_interval FROM pages ORDER BY url",
        "comments": "SELECT id, post_url, kind, text, source_url, found_on FROM comments"
        " ORDER BY id",
        "links": "SELECT src, dst, kind, found_on, anchor FROM links ORDER BY 1, 2, 3",
        "frontier": "SELECT url, state, reason, depth, found_on FROM frontier ORDER BY url",
        "bodies": "SELECT sha256 FROM bodies ORDER BY 1",
    }
    return {name: store.conn.execute(sql).fetchall() for name, sql in queries.items()}


def test_a_group_of_writes_stores_and_counts_what_one_by_one_writes_do(tmp_path) -> None:
    alone, alone_sink = _store_with_history(tmp_path / "alone.db")
    one_by_one = [alone_sink.write(item) for item in _items()]
    grouped, grouped_sink = _store_with_history(tmp_path / "grouped.db")
    together = grouped_sink.write_many(_items())
    assert together == one_by_one
    assert [o.new_links if o else None for o in together] == [4, 3, 2, 1, None, 0, 2]
    assert _contents(grouped) == _contents(alone)
    assert (f"{B}/0/", f"{B}/9/", "citation") not in {
        row[:3] for row in _contents(grouped)["links"]
    }  # the re-fetch dropped the link that is gone
    alone.close()
    grouped.close()


def test_a_page_the_store_refuses_fails_alone_in_its_group(tmp_path) -> None:
    store, sink = _store_with_history(tmp_path / "g.db")
    items = _items()
    items[1].page.size = 2**70  # type: ignore[union-attr]  # too big for an SQLite integer
    outcomes = sink.write_many(items)
    assert outcomes[1] is None and outcomes[4] is None  # the refused page and the skip
    assert all(o is not None for n, o in enumerate(outcomes) if n not in (1, 4))
    states = dict(store.conn.execute("SELECT url, reason FROM frontier WHERE state = 'failed'"))
    assert states == {f"{B}/2/": "store_error"}
    stored = {row[0] for row in store.conn.execute("SELECT url FROM pages")}
    assert {f"{B}/1/", f"{B}/3/", f"{B}/5/"} <= stored and f"{B}/2/" not in stored
    store.close()
