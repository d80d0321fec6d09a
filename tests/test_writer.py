"""The database thread (crawler/writer.py): order, claims first, failures surface."""

from __future__ import annotations

import asyncio
import threading

import pytest

from crawler.fetch.client import FetchResult
from crawler.records import FrontierEntry, FrontierRow, LinkRecord, PageRecord, RunCounters
from crawler.sinks import DatabaseSink
from crawler.writer import PageWrite, StoreWriter, _DatabaseThread, weight
from db.store import Store


def test_urgent_calls_go_before_queued_ones() -> None:
    thread = _DatabaseThread()
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


def test_a_failure_reaches_the_caller_and_the_thread_goes_on() -> None:
    thread = _DatabaseThread()
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
