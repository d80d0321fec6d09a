"""How a run talks to people and to cron: a rich progress bar on a terminal, otherwise
plain or JSON log lines, and always a one-line summary.

Levels: ``quiet`` prints failures and the summary; ``normal`` adds a line per failed or
skipped URL; ``verbose`` prints every request.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
from typing import Any, TextIO

from crawler.engine import PageEvent, RunSummary
from crawler.records import iso

QUIET, NORMAL, VERBOSE = 0, 1, 2


class LogReporter:
    """Plain text or JSON lines on a stream (stderr by default), one per event."""

    def __init__(self, level: int = NORMAL, fmt: str = "text", stream: TextIO | None = None):
        self.level = level
        self.fmt = fmt
        self.stream = stream or sys.stderr

    def __call__(self, event: PageEvent) -> None:
        result = event.result
        problem = result.skip_reason or result.error
        failed = bool(result.error) or (result.status or 0) >= 400
        wanted = self.level >= VERBOSE or (failed and self.level >= QUIET)
        wanted = wanted or (self.level >= NORMAL and problem is not None)
        if not wanted:
            return
        fields: dict[str, Any] = {
            "event": "skip" if result.skip_reason else "fetch",
            "url": result.url,
            "status": result.status,
            "depth": event.row.depth,
            "kind": event.row.kind,
            "reason": problem,
            "ms": round(result.elapsed * 1000),
        }
        if event.outcome is not None:
            fields["new_links"] = event.outcome.new_links
            fields["new_comments"] = event.outcome.new_comments
        self.emit(fields)

    def emit(self, fields: dict[str, Any]) -> None:
        if self.fmt == "json":
            line = json.dumps({"time": iso(), **fields}, ensure_ascii=False)
        else:
            parts = [f"{k}={v}" for k, v in fields.items() if v is not None and k != "event"]
            line = f"{iso()} {fields.get('event', 'log')} " + " ".join(parts)
        print(line, file=self.stream, flush=True)

    def summary(self, summary: RunSummary) -> None:
        if self.fmt == "json":
            self.emit(
                {
                    "event": "summary",
                    "run": summary.run_id,
                    "status": summary.status,
                    **summary.counters.as_row(),
                    "queued": summary.frontier.get("queued", 0),
                    "seconds": round(summary.elapsed, 2),
                }
            )
        else:
            print(summary.line(), file=self.stream, flush=True)


class ProgressReporter:
    """A rich progress display for a person watching a terminal: pages done of the run's
    maximum, pages per second, the queue (read from the database, see :class:`QueueWatch`)
    and the errors so far."""

    def __init__(
        self, max_pages: int, stream: TextIO | None = None, database: str | None = None
    ) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = Console(file=stream or sys.stderr)
        self.progress = Progress(
            TextColumn("[bold]crawling"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[last]}", style="dim"),
            console=self.console,
            transient=True,
        )
        self.task = self.progress.add_task("crawl", total=max_pages, last="", status="")
        self.started = time.monotonic()
        self.done = 0
        self.errors = 0
        self.queue = QueueWatch(database) if database else None

    def __enter__(self) -> ProgressReporter:
        if self.queue is not None:
            self.queue.start()
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()
        if self.queue is not None:
            self.queue.stop()

    def __call__(self, event: PageEvent) -> None:
        result = event.result
        advance = 0 if result.skip_reason else 1
        self.done += advance
        if result.error or (result.status or 0) >= 400:
            self.errors += 1
        self.progress.update(
            self.task, advance=advance, last=result.url[-60:], status=self.status_text()
        )

    def status_text(self) -> str:
        """``12.3 pages/s · queue 456 · 2 errors`` (the queue as last read, ``?`` before)."""
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        queued = self.queue.value if self.queue is not None else None
        queue = "?" if queued is None else str(queued)
        errors = f"[red]{self.errors} errors[/red]" if self.errors else "0 errors"
        return f"{rate:.1f} pages/s · queue {queue} · {errors}"

    def summary(self, summary: RunSummary) -> None:
        self.console.print(summary.line())


class QueueWatch:
    """The frontier's queue length, read every ``interval`` seconds in a thread of its own
    over a read-only connection: the event loop never waits for the count."""

    def __init__(self, database: str, interval: float = 1.0) -> None:
        self.database = database
        self.interval = interval
        self.value: int | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="queue-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        from db.status import StatusError, open_read_only, queue_length

        conn = None
        while not self._stopping.is_set():
            try:
                conn = conn or open_read_only(self.database)
                self.value = queue_length(conn)
            except (StatusError, sqlite3.Error):
                pass  # not created yet, or busy: keep the last figure, try again
            self._stopping.wait(self.interval)
        if conn is not None:
            conn.close()
