"""How a run talks to people and to cron: a rich progress bar on a terminal, otherwise
plain or JSON log lines, and always a one-line summary.

Levels: ``quiet`` prints failures and the summary; ``normal`` adds a line per failed or
skipped URL; ``verbose`` prints every request.
"""

from __future__ import annotations

import json
import sys
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
    """A rich progress display for a person watching a terminal."""

    def __init__(self, max_pages: int, stream: TextIO | None = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.console = Console(file=stream or sys.stderr)
        self.progress = Progress(
            TextColumn("[bold]crawling"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[last]}", style="dim"),
            console=self.console,
            transient=True,
        )
        self.task = self.progress.add_task("crawl", total=max_pages, last="")

    def __enter__(self) -> ProgressReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, event: PageEvent) -> None:
        advance = 0 if event.result.skip_reason else 1
        self.progress.update(self.task, advance=advance, last=event.result.url[-60:])

    def summary(self, summary: RunSummary) -> None:
        self.console.print(summary.line())
