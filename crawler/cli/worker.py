"""Step 9 (CLI): ``pingcrawl worker``, one worker of a crawl shared through PostgreSQL."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Coroutine
from typing import Any

import click

from crawler.cli.common import (
    EXIT_DISK,
    EXIT_INTERNAL,
    EXIT_LOCKED,
    EXIT_READONLY,
    EXIT_SIGNAL,
    EXIT_USAGE,
    Command,
    UsageError,
    common_options,
    fail,
    override,
    run_output_options,
    run_until_signal,
)
from crawler.config import Config
from db.store import DatabaseBusy, DatabaseFault, DatabaseFull, DatabaseReadOnly


def fault_exit(exc: DatabaseFault) -> int:
    """The exit code of a database fault met by a cluster command."""
    if isinstance(exc, DatabaseReadOnly):
        return EXIT_READONLY
    if isinstance(exc, DatabaseFull):
        return EXIT_DISK
    if isinstance(exc, DatabaseBusy):
        return EXIT_LOCKED
    return EXIT_LOCKED  # the server cannot be reached (down, restarting): try again later


@click.command(cls=Command)
@click.argument("seeds", nargs=-1)
@click.option("--max-pages", type=click.IntRange(min=0), help="Fetch at most N pages.")
@run_output_options
@common_options
def worker(
    config: Config, seeds: tuple[str, ...], max_pages: int | None, quiet: bool, log_format: str
) -> None:
    """Crawl as one of many workers sharing the [cluster] database (PostgreSQL).

    Each worker leases hosts, so politeness holds across all of them; start any number,
    on any machines. It stops when the crawl has nothing left, or on SIGTERM (its hosts
    go back to the others).

    Example: pingcrawl worker -c cluster.toml https://blog.example/2024/05/post/
    """
    from crawler.cli.progress import NORMAL, QUIET, LogReporter
    from crawler.frontier import seed_entries

    if not config.cluster.database:
        fail("cluster.database is not set: give it a postgresql:// URL", EXIT_USAGE, log_format)
    if max_pages is not None:
        config = override(config, {"max_pages": max_pages})
    _, invalid = seed_entries([*seeds, *config.crawl.seeds])
    if invalid:
        raise UsageError(f"not an http(s) URL: {invalid[0]}")
    reporter = LogReporter(QUIET if quiet else NORMAL, log_format)
    received: list[int] = []
    summary = _run(config, seeds, reporter, received, log_format)
    reporter.summary(summary)
    if received:
        sys.exit(EXIT_SIGNAL[signal.Signals(received[0])])


def _run(
    config: Config, seeds: tuple[str, ...], reporter: Any, received: list[int], log_format: str
) -> Any:
    from crawler.cluster import work_async

    def start(stop: asyncio.Event) -> Coroutine[Any, Any, Any]:
        return work_async(config, seeds, on_page=reporter, stop=stop)

    try:
        return run_until_signal(start, received)
    except DatabaseFault as exc:
        fail(f"database {config.cluster.database.split('@')[-1]}: {exc}", fault_exit(exc))
    except Exception as exc:
        fail(f"internal error ({type(exc).__name__}: {exc})", EXIT_INTERNAL, log_format)
