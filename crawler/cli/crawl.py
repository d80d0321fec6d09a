"""Step 9 (CLI): ``pingcrawl crawl``, one crawl run from the command line or cron."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

import click

from crawler.cli.common import (
    EXIT_INTERNAL,
    EXIT_LOCKED,
    EXIT_SIGNAL,
    UsageError,
    common_options,
    override,
)
from crawler.config import Config
from crawler.runlock import LockHeld


@click.command()
@click.argument("seeds", nargs=-1)
@click.option("--max-pages", type=click.IntRange(min=0), help="Fetch at most N pages this run.")
@click.option("--max-depth", type=click.IntRange(min=0), help="Hops from a seed to follow.")
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar [default: on a terminal]."
)
@click.option("-q", "--quiet", is_flag=True, help="Only errors and the one-line summary.")
@click.option("-v", "--verbose", is_flag=True, help="A log line for every request.")
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@common_options
def crawl(
    config: Config,
    seeds: tuple[str, ...],
    max_pages: int | None,
    max_depth: int | None,
    progress: bool | None,
    quiet: bool,
    verbose: bool,
    log_format: str,
) -> None:
    """Run one crawl: resume the frontier, re-visit due posts, fetch from the SEEDS.

    Safe to run from cron: one run per database at a time (a second one exits 75).

    Example: pingcrawl crawl --max-pages 200 https://blog.example/2024/05/post/
    """
    from crawler.cli.progress import NORMAL, QUIET, VERBOSE, LogReporter, ProgressReporter
    from crawler.engine import crawl_async
    from crawler.frontier import seed_entries

    overrides = {"max_pages": max_pages, "max_depth": max_depth}
    config = override(config, {k: v for k, v in overrides.items() if v is not None})
    _, invalid = seed_entries(seeds)
    if invalid:
        raise UsageError(f"not an http(s) URL: {invalid[0]}")
    if not seeds and not config.crawl.seeds and not Path(config.crawl.database).exists():
        raise UsageError("no seeds: give SEED_URL arguments or set crawl.seeds in the config")
    level = QUIET if quiet else VERBOSE if verbose else NORMAL
    use_progress = progress if progress is not None else sys.stderr.isatty() and not quiet
    log = LogReporter(level, log_format)
    reporter: Any = (
        ProgressReporter(config.crawl.max_pages, database=config.crawl.database)
        if use_progress
        else log
    )
    stop = asyncio.Event()
    received: list[int] = []

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        for signum in EXIT_SIGNAL:
            loop.add_signal_handler(signum, lambda s=signum: (received.append(s), stop.set()))
        return await crawl_async(config, seeds, on_page=reporter, stop=stop)

    try:
        with reporter if use_progress else contextlib.nullcontext():
            summary = asyncio.run(main())
    except LockHeld as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_LOCKED)
    except (OSError, sqlite3.Error) as exc:
        raise UsageError(f"cannot use database {config.crawl.database}: {exc}") from None
    except Exception as exc:  # a bug: say so in one line, the run is recorded as crashed
        if verbose:
            raise
        click.echo(f"Error: internal error ({type(exc).__name__}: {exc}); rerun with -v", err=True)
        sys.exit(EXIT_INTERNAL)
    reporter.summary(summary)
    if received:
        sys.exit(EXIT_SIGNAL[signal.Signals(received[0])])
