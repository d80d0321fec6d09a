"""Step 5 of the data flow, bounded: extraction in worker processes with a deadline.

``crawler.extract.page.extract`` is pure and fast on real pages (about 1 ms), but
pathological HTML is not: 100,000 nested ``<div>`` take 12 s to parse, 200,000 take
91 s, and on the event loop that stalls every other host's requests and the stop
signal. :class:`PageParser` runs extraction in separate processes (which also lets a
second core parse): a worker past its deadline is killed and replaced, a worker that
dies or raises is replaced too, and the caller gets a typed :class:`ParseFailure`
whose ``reason`` is stored like any other error reason. Small pages can be parsed
inline (``inline_below``), where a process round trip would cost more than the parse.
Results are cut to the frontier's caps in the worker (:func:`bound_extraction`: 5,000
links, 100 comment pages), so a page of a million links never crosses into the crawler;
the :class:`BoundedExtraction` returned says how many were cut (``links_cut``).
:meth:`PageParser.run` runs any module-level function of the page in a worker the same
way: the crawl's HTML parser makes the page's records there too
(:func:`crawler.parsers.parse_html_page`), which leaves the event loop's process only the
fetching.

    async with PageParser(workers=2, deadline=10.0) as parser:
        try:
            extraction = await parser.extract(html, url, headers)
        except ParseFailure as failure:
            record(url, failure.reason)
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing.connection
import os
import queue
import resource
import signal
import socket
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from crawler.extract.page import extract
from crawler.frontier import BoundedExtraction, bound_extraction

T = TypeVar("T")

DEFAULT_DEADLINE = 10.0  # seconds of parsing one page may cost at most
DEFAULT_MAX_CHARS = 6_000_000  # pages longer than this are not parsed (max_bytes is 5 MB)
DEFAULT_MEMORY = 1 << 30  # address space of one worker: a runaway parse ends as MemoryError
# Below this many characters a page is parsed on the caller's thread: the round trip to
# a worker costs its caller about 0.27 ms of CPU (pickling both ways), more than such a
# page takes to parse, and no page this small can nest deep enough to stall the loop.
# (Measured on the benchmark's 14,000-character posts: inline 0.85-1.07 ms of the
# caller's CPU a page; through the pool 0.27 ms of it, 1.3-1.4 ms wall, 700-800 pages/s.)
DEFAULT_INLINE_BELOW = 2048
# Pages sent to a busy worker, at most: as many, and as many bytes (all of them must fit
# the socket's buffer, ~180 KB on Linux, or a send could block while the worker does).
PIPELINE_DEPTH, PIPELINE_BYTES = 4, 128 << 10
RETIRE_ABOVE = 160 << 20  # resident bytes after a page that make a worker retire
_PR_SET_PDEATHSIG = 1  # prctl(2) option
_REAP = 2.0  # seconds to wait for a killed worker to be reaped


class ParseReason(StrEnum):
    """Why a page was fetched but not parsed (stored as its error reason)."""

    TIMEOUT = "parse_timeout"  # the worker passed its deadline and was killed
    ERROR = "parse_error"  # the extractor raised, ran out of memory or its worker died
    TOO_COMPLEX = "too_complex"  # refused before parsing (longer than max_chars)
    CLOSED = "parser_closed"  # the parser was closed while the page waited or parsed


class ParseFailure(Exception):
    """Extraction of one page did not produce a result; ``reason`` says why."""

    def __init__(self, reason: ParseReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else str(reason))
        self.reason = reason
        self.detail = detail


def _import_path() -> str:
    """``PYTHONPATH`` for a worker: this checkout first, so it runs the same code."""
    root = str(Path(__file__).resolve().parents[1])
    return os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])


def serve_fd(fd: int, memory: int, parent: int) -> None:
    """A worker's main: serve extraction requests on the socket ``fd``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the crawler to handle
    _die_with_parent(parent)
    _serve(multiprocessing.connection.Connection(fd), memory)


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this worker when the crawler dies (even by ``kill -9``), instead of
    letting it finish a pathological parse nobody waits for. Elsewhere the closed socket
    ends it after the current page."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


def extract_bounded(html: str, url: str, headers: Mapping[str, str]) -> BoundedExtraction:
    """The page's extraction, cut to the frontier's caps (what :meth:`PageParser.extract`
    runs in a worker)."""
    return bound_extraction(extract(html, url, headers))


def _serve(conn: multiprocessing.connection.Connection, memory: int) -> None:
    """A worker's life: take ``(fn, html, args)``, answer ``(status, value, retire)``
    — ``("ok", fn(html, *args), …)`` or ``("error", detail, …)`` — until the socket closes.
    ``retire`` says the worker exits after this answer: a huge page left it holding more
    memory than :data:`RETIRE_ABOVE`, which Python would not give back to the system."""
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    while True:
        try:
            fn, html, args = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        try:
            answer: tuple[str, Any] = ("ok", fn(html, *args))
        except MemoryError:
            answer = ("error", "out of memory")
        except Exception as exc:  # any exception of the extractor is this page's error
            answer = ("error", f"{type(exc).__name__}: {exc}"[:200])
        retire = _resident_bytes() > RETIRE_ABOVE
        try:
            conn.send((*answer, retire))
        except (OSError, ValueError):
            return
        if retire:
            return


def _resident_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


class _Worker:
    """One worker process and our end of its socket; used by one thread.

    A fresh interpreter (``python -c``), not a fork: it inherits none of the crawler's
    threads, sockets or database connections, and never re-runs the caller's main
    module the way multiprocessing's spawn and forkserver do.
    """

    def __init__(self, memory: int) -> None:
        ours, theirs = socket.socketpair()
        code = (
            "from crawler.parsing import serve_fd; "
            f"serve_fd({theirs.fileno()}, {memory}, {os.getpid()})"
        )
        env = {**os.environ, "PYTHONPATH": _import_path()}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code], pass_fds=[theirs.fileno()], env=env
            )
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        self.conn = multiprocessing.connection.Connection(ours.detach())

    def send(self, data: memoryview) -> None:
        """Hand over one pickled job; a worker that has ended shows at :meth:`receive`."""
        with contextlib.suppress(OSError, ValueError):
            self.conn.send_bytes(data)

    def receive(self, deadline: float) -> Any:
        """The answer to the oldest job sent; raises :class:`ParseFailure`."""
        try:
            if not self.conn.poll(deadline):
                self.kill()
                raise ParseFailure(ParseReason.TIMEOUT, f"no result within {deadline:g}s")
            status, value, retire = self.conn.recv()
        except (EOFError, OSError, ValueError) as exc:
            self.kill()
            raise ParseFailure(ParseReason.ERROR, f"worker ended ({type(exc).__name__})") from None
        if retire:  # it exits now; the next page starts a fresh one
            self.kill()
        if status != "ok":
            raise ParseFailure(ParseReason.ERROR, str(value))
        return value

    @property
    def alive(self) -> bool:
        return self.process.poll() is None and not self.conn.closed

    def stop(self) -> None:
        """SIGKILL the process and reap it; a thread waiting on the socket then sees EOF.
        (A parse inside lexbor cannot be interrupted politely, and holds nothing to save.)"""
        if self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(_REAP)

    def kill(self) -> None:
        """Stop the process and close the pipe (only from the thread that uses it)."""
        self.stop()
        self.conn.close()


@dataclass
class _Job:
    """One page for a worker: the pickled ``(fn, html, args)`` and who waits for it."""

    data: memoryview
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]

    def settle(self, value: Any = None, failure: ParseFailure | None = None) -> None:
        """Hand the outcome to the waiting task on its loop (it may have given up)."""

        def settle() -> None:
            if not self.future.done():
                if failure is None:
                    self.future.set_result(value)
                else:
                    self.future.set_exception(failure)

        with contextlib.suppress(RuntimeError):  # a closed event loop: nobody waits for it
            self.loop.call_soon_threadsafe(settle)


_STOP: Any = object()  # tells a parser thread to end


def _fits(job: _Job, sent: deque[_Job]) -> bool:
    """Whether ``job`` can wait in the socket behind ``sent``: a send blocked on a full
    socket while the worker blocks sending its answer would hold both for ever."""
    return not sent or len(job.data) + sum(len(j.data) for j in sent) <= PIPELINE_BYTES


class PageParser:
    """Extraction bounded in time and size, off the event loop; an async context manager.

    ``workers`` processes parse in parallel; each page may take ``deadline`` seconds.
    Pages shorter than ``inline_below`` characters are parsed in the calling thread.

    Each worker has a thread of its own that takes pages from one queue. While its
    worker parses a page, the thread sends it the next ones (up to
    :data:`PIPELINE_DEPTH`, when no other worker is free to take them and they fit the
    socket's buffer): the worker starts each the moment it has answered the one before,
    instead of waiting for the crawler's process — busy with the event loop and the
    database, one GIL — to take the answer and send more (with one worker and one page
    at a time it was idle ~1 ms of every 2.5 ms a page, measured on the benchmark web).
    A page too big to wait in the socket waits in the thread until the worker has
    answered the ones before it. A page's deadline starts when the one before it is
    answered.
    """

    def __init__(
        self,
        workers: int = 1,
        deadline: float = DEFAULT_DEADLINE,
        *,
        max_chars: int = DEFAULT_MAX_CHARS,
        inline_below: int = DEFAULT_INLINE_BELOW,
        memory: int = DEFAULT_MEMORY,
    ) -> None:
        if workers < 1 or not deadline > 0:
            raise ValueError("PageParser needs at least one worker and a positive deadline")
        self.workers = workers
        self.deadline = deadline
        self.max_chars = max_chars
        self.inline_below = inline_below
        self.memory = memory
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()  # guards _all, _closed and _waiting across threads
        self._closed = False
        self._open = False
        self._waiting = 0  # threads waiting for a page (one of them takes the next)
        self._threads: list[threading.Thread] = []

    async def __aenter__(self) -> PageParser:
        self._threads = [
            threading.Thread(target=self._serve, name=f"page-parser_{n}", daemon=True)
            for n in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def extract(
        self, html: str, url: str, headers: Mapping[str, str] | None = None
    ) -> BoundedExtraction:
        """The page's extraction within the caps, or :class:`ParseFailure` (never a hang)."""
        return await self.run(extract_bounded, html, url, dict(headers or {}))  # type: ignore[no-any-return]

    async def run(self, fn: Callable[..., T], html: str, *args: Any) -> T:
        """``fn(html, *args)`` in a worker, bounded like :meth:`extract`; ``fn`` is a
        module-level function and the arguments pickle (the page's records can be made
        there too, off the event loop's GIL)."""
        if not self._open or self._closed:
            raise ParseFailure(ParseReason.CLOSED, "the parser is not open")
        if len(html) > self.max_chars:
            raise ParseFailure(ParseReason.TOO_COMPLEX, f"{len(html):,} characters")
        if len(html) < self.inline_below:
            return self._inline(fn, html, args)
        loop = asyncio.get_running_loop()
        job = _Job(ForkingPickler.dumps((fn, html, args)), loop, loop.create_future())
        self._jobs.put(job)
        return await job.future  # type: ignore[no-any-return]

    def _inline(self, fn: Callable[..., T], html: str, args: tuple[Any, ...]) -> T:
        try:
            return fn(html, *args)
        except (Exception, RecursionError) as exc:  # this page's error, not the run's
            raise ParseFailure(ParseReason.ERROR, f"{type(exc).__name__}: {exc}"[:200]) from None

    # -- a parser thread: one worker, the pages sent to it, their answers in order ------------
    def _serve(self) -> None:
        worker: _Worker | None = None
        sent: deque[_Job] = deque()  # in the worker's socket; answers come in this order
        held: _Job | None = None  # too big to wait in the socket: sent once it is empty
        while True:
            job = None
            if held is None:
                job = self._next_job(sent)
                if job is not None and job is not _STOP and not _fits(job, sent):
                    held, job = job, None
            elif not sent:
                job, held = held, None
            if job is _STOP:
                self._fail([*sent, *([held] if held else [])])
                return
            if job is not None:
                sent.append(job)
                worker = self._send(worker, job, sent)
            elif sent:
                worker = self._answer(worker, sent)

    def _next_job(self, sent: deque[_Job]) -> _Job | None:
        """The next page: waited for when none is in flight; while some are, taken only
        if no other thread waits for it (one that does takes it first)."""
        if not sent:
            with self._lock:
                self._waiting += 1
            try:
                return self._jobs.get()
            finally:
                with self._lock:
                    self._waiting -= 1
        with self._lock:
            if self._waiting or len(sent) >= PIPELINE_DEPTH:
                return None
            try:
                return self._jobs.get_nowait()
            except queue.Empty:
                return None

    def _send(self, worker: _Worker | None, job: _Job, sent: deque[_Job]) -> _Worker | None:
        if job.future.cancelled():  # its task gave up while it waited
            sent.remove(job)
            return worker
        if worker is None or not worker.alive:
            try:
                worker = self._start()
            except ParseFailure as failure:
                sent.remove(job)
                job.settle(failure=failure)
                return None
        worker.send(job.data)
        return worker

    def _answer(self, worker: _Worker | None, sent: deque[_Job]) -> _Worker | None:
        """Wait for the oldest page's answer; if the worker ended, send the pages behind
        it (never started) to a fresh one."""
        job = sent.popleft()
        try:
            if worker is None:
                raise ParseFailure(ParseReason.ERROR, "no worker")
            job.settle(worker.receive(self.deadline))
        except ParseFailure as failure:
            if self._closed:
                failure = ParseFailure(ParseReason.CLOSED, failure.detail)
            job.settle(failure=failure)
        except Exception as exc:  # an answer that does not unpickle: this page's error
            if worker is not None:
                worker.kill()
            detail = f"unreadable answer: {type(exc).__name__}: {exc}"[:200]
            job.settle(failure=ParseFailure(ParseReason.ERROR, detail))
        if sent and (worker is None or not worker.alive):
            waiting, worker = list(sent), None
            sent.clear()
            for later in waiting:
                sent.append(later)
                worker = self._send(worker, later, sent)
        return worker

    def _fail(self, jobs: Iterable[_Job]) -> None:
        for job in jobs:
            job.settle(failure=ParseFailure(ParseReason.CLOSED, "the parser was closed"))

    def _start(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise ParseFailure(ParseReason.CLOSED, "the parser was closed")
            try:
                worker = _Worker(self.memory)
            except OSError as exc:  # no interpreter to start, out of processes or fds
                raise ParseFailure(ParseReason.ERROR, f"cannot start a worker: {exc}") from None
            self._all = [w for w in self._all if w.process.poll() is None] + [worker]
            return worker

    async def close(self) -> None:
        """Kill every worker now; a page being parsed or waiting fails with
        ``parser_closed``."""
        with self._lock:
            self._closed = True
            workers, self._all = self._all, []
        for worker in workers:
            worker.stop()  # a waiting thread sees EOF and fails its pages
        for _ in self._threads:
            self._jobs.put(_STOP)
        threads, self._threads = self._threads, []
        for thread in threads:
            await asyncio.to_thread(thread.join)
        left = []
        with contextlib.suppress(queue.Empty):
            while True:
                left.append(self._jobs.get_nowait())
        self._fail(job for job in left if job is not _STOP)
        for worker in workers:
            worker.conn.close()

    @property
    def pids(self) -> list[int]:
        """Process ids of the running workers (for tests and diagnostics)."""
        with self._lock:
            return [w.process.pid for w in self._all if w.alive and w.process.pid]
