"""Bounded extraction (crawler/parsing.py): worker processes with a deadline.

A page of 100,000 nested ``<div>`` takes about 12 s to parse; on the event loop it stalls
every other host. Through :class:`PageParser` it ends as a typed failure at the deadline
while other pages keep parsing, and closing the parser ends its workers at once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from crawler.extract.page import extract
from crawler.frontier import bound_extraction
from crawler.parsing import PageParser, ParseFailure, ParseReason

DEEP = "<html><body>" + "<div>" * 100_000 + "deep</body></html>"
PAGE = (
    "<html><head><title>Post {n}</title></head><body><article class='post'>"
    "<div class='entry-content'><p>" + "text " * 500 + "<a href='/cited/{n}'>source</a>"
    "</p></div></article></body></html>"
)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def test_a_page_parses_through_a_worker_as_it_does_inline() -> None:
    page = PAGE.format(n=1)

    async def main() -> object:
        async with PageParser(workers=1, deadline=30) as parser:
            return await parser.extract(page, "http://a.test/p/", {"x-pingback": "/xmlrpc"})

    inline = bound_extraction(extract(page, "http://a.test/p/", {"x-pingback": "/xmlrpc"}))
    assert asyncio.run(main()) == inline


def test_a_deep_page_fails_at_its_deadline_while_other_pages_parse() -> None:
    deadline = 2.0

    async def main() -> tuple[list[str], ParseFailure, float, list[float], float]:
        async with PageParser(workers=2, deadline=deadline) as parser:
            await parser.extract(PAGE.format(n=0), "http://a.test/warm/")
            started = time.monotonic()
            finished: list[float] = []

            async def ordinary(n: int) -> str:
                result = await parser.extract(PAGE.format(n=n), f"http://a.test/{n}/")
                finished.append(time.monotonic())
                return result.title or ""

            deep = asyncio.ensure_future(parser.extract(DEEP, "http://a.test/deep/"))
            titles = await asyncio.gather(*(ordinary(n) for n in range(30)))
            with pytest.raises(ParseFailure) as info:
                await deep
            failed_at = time.monotonic()
            return titles, info.value, failed_at - started, finished, failed_at

    titles, failure, elapsed, finished, failed_at = asyncio.run(main())
    assert titles == [f"Post {n}" for n in range(30)]
    assert failure.reason == ParseReason.TIMEOUT == "parse_timeout"
    assert elapsed < deadline + 8  # generous: a shared 2-core machine; the parse needs ~12 s
    # The ordinary pages did not wait for the deep one: all were done before it failed.
    assert len(finished) == 30 and max(finished) < failed_at


def test_the_worker_past_its_deadline_is_killed_and_replaced() -> None:
    async def main() -> tuple[list[int], list[int], str]:
        async with PageParser(workers=1, deadline=1.0) as parser:
            await parser.extract(PAGE.format(n=0), "http://a.test/0/")
            before = parser.pids
            with pytest.raises(ParseFailure, match="parse_timeout"):
                await parser.extract(DEEP, "http://a.test/deep/")
            after = await parser.extract(PAGE.format(n=7), "http://a.test/7/")
            return before, parser.pids, after.title or ""

    before, after, title = asyncio.run(main())
    assert title == "Post 7"
    assert len(before) == 1 and not alive(before[0])
    assert len(after) == 1 and after != before


def test_closing_the_parser_kills_a_busy_worker_at_once() -> None:
    async def main() -> tuple[ParseFailure, float, list[int]]:
        parser = PageParser(workers=1, deadline=120)
        await parser.__aenter__()
        await parser.extract(PAGE.format(n=0), "http://a.test/0/")
        pids = parser.pids
        busy = asyncio.ensure_future(parser.extract(DEEP, "http://a.test/deep/"))
        await asyncio.sleep(0.2)  # let it reach the worker (not a timing assertion)
        started = time.monotonic()
        await parser.close()
        with pytest.raises(ParseFailure) as info:
            await busy
        return info.value, time.monotonic() - started, pids

    failure, took, pids = asyncio.run(main())
    assert failure.reason == ParseReason.CLOSED
    assert took < 5  # the parse alone would take ~12 s
    assert pids and not any(alive(pid) for pid in pids)


def test_an_extractor_exception_is_a_parse_error_and_the_parser_goes_on() -> None:
    async def main() -> tuple[ParseFailure, str]:
        async with PageParser(workers=1, deadline=30) as parser:
            with pytest.raises(ParseFailure) as info:
                await parser.extract(PAGE.format(n=1), 5)  # type: ignore[arg-type]
            after = await parser.extract(PAGE.format(n=2), "http://a.test/2/")
            return info.value, after.title or ""

    failure, title = asyncio.run(main())
    assert failure.reason == ParseReason.ERROR and "AttributeError" in failure.detail
    assert title == "Post 2"


def test_json_ld_nested_3000_deep_ends_as_a_result_or_a_parse_error() -> None:
    page = (
        "<html><head><script type='application/ld+json'>"
        + "[" * 3000
        + "]" * 3000
        + "</script><title>J</title></head><body>"
        + "x" * 3000
        + "</body></html>"
    )

    async def main() -> object:
        async with PageParser(workers=1, deadline=30) as parser:
            try:
                return await parser.extract(page, "http://a.test/j/")
            except ParseFailure as failure:
                return failure.reason

    outcome = asyncio.run(main())
    assert outcome == ParseReason.ERROR or getattr(outcome, "title", None) == "J"


def test_a_worker_that_dies_is_a_parse_error_and_is_replaced() -> None:
    async def main() -> tuple[ParseFailure, str]:
        async with PageParser(workers=1, deadline=60) as parser:
            await parser.extract(PAGE.format(n=0), "http://a.test/0/")
            busy = asyncio.ensure_future(parser.extract(DEEP, "http://a.test/deep/"))
            await asyncio.sleep(0.2)
            os.kill(parser.pids[0], signal.SIGKILL)  # as the OOM killer would
            with pytest.raises(ParseFailure) as info:
                await busy
            after = await parser.extract(PAGE.format(n=3), "http://a.test/3/")
            return info.value, after.title or ""

    failure, title = asyncio.run(main())
    assert failure.reason == ParseReason.ERROR
    assert title == "Post 3"


def test_pages_longer_than_the_bound_are_too_complex() -> None:
    async def main() -> None:
        async with PageParser(workers=1, deadline=5, max_chars=10_000) as parser:
            await parser.extract("<p>small</p>" * 100, "http://a.test/s/")
            with pytest.raises(ParseFailure, match="too_complex"):
                await parser.extract("<p>big</p>" * 2_000, "http://a.test/b/")

    asyncio.run(main())


def test_small_pages_are_parsed_inline_without_a_worker() -> None:
    async def main() -> list[int]:
        async with PageParser(workers=1, deadline=5, inline_below=4096) as parser:
            result = await parser.extract("<title>tiny</title>", "http://a.test/t/")
            assert result.title == "tiny"
            return parser.pids

    assert asyncio.run(main()) == []


SIGTERM_SCRIPT = textwrap.dedent(  # a crawler's shape: close the parser on SIGTERM
    """
    import asyncio, signal, sys
    from crawler.parsing import PageParser, ParseFailure

    async def main():
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        async with PageParser(workers=1, deadline=120) as parser:
            await parser.extract("<title>warm</title>" + "x" * 5000, "http://a.test/")
            print(parser.pids[0], flush=True)
            deep = "<html><body>" + "<div>" * 100_000 + "deep</body></html>"
            busy = asyncio.ensure_future(parser.extract(deep, "http://a.test/deep/"))
            await stop.wait()
        try:
            await busy
        except ParseFailure as failure:
            print(failure.reason, flush=True)

    asyncio.run(main())
    """
)


def test_sigterm_ends_a_process_with_a_busy_parser_promptly() -> None:
    script = SIGTERM_SCRIPT
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=root, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    worker = int(proc.stdout.readline())
    time.sleep(0.3)  # the deep page is now being parsed (no assertion rests on this)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    took = time.monotonic() - started
    assert proc.returncode == 0 and out.strip() == "parser_closed"
    assert took < 5  # generous; without the kill the parse alone takes ~12 s
    assert not alive(worker)


def test_a_worker_dies_with_a_crawler_killed_by_sigkill() -> None:
    script = SIGTERM_SCRIPT
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=root, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    worker = int(proc.stdout.readline())
    time.sleep(0.3)  # the deep page (~12 s of parsing) is now in the worker
    proc.kill()
    proc.wait(timeout=10)
    deadline = time.monotonic() + 5
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(worker)


# -- pages queued behind one another in a worker's socket -------------------------------
def sleeper(seconds: float) -> str:
    """A job for ``parser.run(eval, ...)`` that sleeps in the worker: small, unlike a
    deep page, so pages can wait in the worker's socket behind it."""
    return f"__import__('time').sleep({seconds})  # " + "x" * 4000


async def _queued_behind_deep(parser: PageParser, numbers: tuple[int, ...]) -> list[asyncio.Future]:
    """A page that never ends, then pages sent to the worker behind it: all are queued
    while the worker is still busy with a slow one, so its thread sends them together."""
    await parser.extract(PAGE.format(n=0), "http://a.test/0/")
    slow = asyncio.ensure_future(parser.run(eval, sleeper(1.0)))
    await asyncio.sleep(0.1)  # the slow job reaches the worker first (not a timing assertion)
    deep = asyncio.ensure_future(parser.run(eval, sleeper(600)))
    later = [
        asyncio.ensure_future(parser.extract(PAGE.format(n=n), f"http://a.test/{n}/"))
        for n in numbers
    ]
    await slow
    return [deep, *later]


def test_pages_sent_behind_a_page_past_its_deadline_parse_on_a_fresh_worker() -> None:
    """While a worker parses, the next pages already wait in its socket; when it is
    killed at the deadline they were never started, and go to the next worker."""

    async def main() -> list[object]:
        async with PageParser(workers=1, deadline=3.0) as parser:
            futures = await _queued_behind_deep(parser, (1, 2, 3))
            return list(await asyncio.gather(*futures, return_exceptions=True))

    deep, *later = asyncio.run(main())
    assert isinstance(deep, ParseFailure) and deep.reason == ParseReason.TIMEOUT
    assert [page.title for page in later] == ["Post 1", "Post 2", "Post 3"]  # type: ignore[attr-defined]


def test_pages_waiting_on_a_worker_that_dies_parse_on_the_next() -> None:
    async def main() -> list[object]:
        async with PageParser(workers=1, deadline=60) as parser:
            futures = await _queued_behind_deep(parser, (4, 5))
            await asyncio.sleep(0.2)
            os.kill(parser.pids[0], signal.SIGKILL)  # as the OOM killer would
            return list(await asyncio.gather(*futures, return_exceptions=True))

    deep, *later = asyncio.run(main())
    assert isinstance(deep, ParseFailure) and deep.reason == ParseReason.ERROR
    assert [page.title for page in later] == ["Post 4", "Post 5"]  # type: ignore[attr-defined]


def test_pages_too_big_to_wait_in_a_socket_parse_in_their_turn() -> None:
    """A page of 4,000 links is ~210 KB and its answer ~400 KB: two of them in a socket
    of ~180 KB would leave the crawler blocked sending the second while the worker is
    blocked sending the first one's answer. Such a page waits for the pages before it,
    and the pages after it wait for it (one worker answers in the order asked)."""
    links = "".join(f"<a href='/links/{i}/page'>link number {i} text</a> " for i in range(4000))
    big = f"<html><head><title>Big</title></head><body><div class='entry-content'>{links}</div>"

    async def main() -> tuple[list[str], list[int]]:
        async with PageParser(workers=1, deadline=30) as parser:
            await parser.extract(PAGE.format(n=0), "http://a.test/warm/")
            finished: list[int] = []
            futures = []
            for n in range(12):
                page = big if n % 3 else PAGE.format(n=n)
                futures.append(asyncio.ensure_future(parser.extract(page, f"http://a.test/{n}/")))
                futures[-1].add_done_callback(lambda _, n=n: finished.append(n))
            got = await asyncio.wait_for(asyncio.gather(*futures), timeout=60)
            return [g.title or "" for g in got], finished

    titles, finished = asyncio.run(main())
    assert titles == ["Big" if n % 3 else f"Post {n}" for n in range(12)]
    assert finished == list(range(12))


def test_closing_fails_the_pages_still_waiting_for_a_worker() -> None:
    async def main() -> list[object]:
        parser = PageParser(workers=1, deadline=120)
        await parser.__aenter__()
        await parser.extract(PAGE.format(n=0), "http://a.test/0/")
        waiting = [
            asyncio.ensure_future(parser.extract(DEEP, f"http://a.test/d{n}/")) for n in range(8)
        ]
        await asyncio.sleep(0.2)
        await parser.close()
        return list(await asyncio.gather(*waiting, return_exceptions=True))

    outcomes = asyncio.run(main())
    assert all(isinstance(o, ParseFailure) and o.reason == ParseReason.CLOSED for o in outcomes)
