"""Step 9 (CLI): ``pingcrawl crawl``, one crawl run from the command line or cron."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import click

from crawler.archive.warc import ArchiveError
from crawler.cli.common import (
    EXIT_INTERNAL,
    EXIT_LOCKED,
    EXIT_SIGNAL,
    EXIT_USAGE,
    Command,
    UsageError,
    common_options,
    database_fault,
    fail,
    override,
    run_output_options,
    run_until_signal,
)
from crawler.config import Config
from crawler.runlock import LockHeld


@click.command(cls=Command)
@click.argument("seeds", nargs=-1)
@click.option("--max-pages", type=click.IntRange(min=0), help="Fetch at most N pages this run.")
@click.option("--max-depth", type=click.IntRange(min=0), help="Hops from a seed to follow.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar [default: on a terminal, unless -q or --log-format json].",
)
@click.option(
    "--blog",
    "blogs",
    multiple=True,
    metavar="URL",
    help="A blog front page: crawl every post it lists, watch it nightly (repeatable).",
)
@click.option(
    "--seeds-file",
    type=click.File("r", encoding="utf-8", errors="replace"),
    help="Seed URLs, one a line ('#' starts a comment; '-' reads standard input).",
)
@click.option(
    "--blogs-file",
    type=click.File("r", encoding="utf-8", errors="replace"),
    help="Blog front pages, one a line, as --blog ('-' reads standard input).",
)
@run_output_options
@click.option("-v", "--verbose", is_flag=True, help="A log line for every request.")
@common_options
def crawl(
    config: Config,
    seeds: tuple[str, ...],
    max_pages: int | None,
    max_depth: int | None,
    blogs: tuple[str, ...],
    seeds_file: TextIO | None,
    blogs_file: TextIO | None,
    progress: bool | None,
    quiet: bool,
    verbose: bool,
    log_format: str,
) -> None:
    """Run one crawl: resume the frontier, re-visit due posts, fetch from the SEEDS.

    Safe to run from cron: one run per database at a time (a second one exits 75).

    A blog front page given as a plain SEED is crawled as one page; the run says how to
    crawl it as a blog (--blog URL).

    Example: pingcrawl crawl --max-pages 200 https://blog.example/2024/05/post/
    """
    try:
        seeds = (*seeds, *url_lines(seeds_file, "--seeds-file"))
        blogs = (*blogs, *url_lines(blogs_file, "--blogs-file"))
        if blogs:
            config = override(config, {"blogs": [*config.crawl.blogs, *blogs]})
        received = _crawl(config, seeds, max_pages, max_depth, progress, quiet, verbose, log_format)
    except UsageError as exc:
        fail(exc.format_message(), EXIT_USAGE, log_format)
    if received:
        sys.exit(EXIT_SIGNAL[signal.Signals(received[0])])


def url_lines(file: TextIO | None, option: str) -> list[str]:
    """The URLs of a seeds or blogs file: one a line, blank lines and '#' comments skipped."""
    if file is None:
        return []
    try:
        lines = file.read().splitlines()
    except OSError as exc:
        raise UsageError(f"{option}: cannot read: {exc}") from None
    return [u for u in (line.split("#", 1)[0].strip() for line in lines) if u]


def front_page_hints(seeds: tuple[str, ...], blogs: list[str]) -> list[str]:
    """One line for each seed that is a blog's front page not crawled as a blog."""
    from crawler.urls import blog_of, normalize_url

    as_blogs = {blog_of(u) for u in (normalize_url(b) for b in blogs) if u}
    hints = []
    for seed in seeds:
        url = normalize_url(seed)
        if url and urlsplit(url).path in ("", "/") and blog_of(url) not in as_blogs:
            hints.append(f"note: {seed} is a front page; to crawl all its posts: --blog {seed}")
    return hints


def _crawl(
    config: Config,
    seeds: tuple[str, ...],
    max_pages: int | None,
    max_depth: int | None,
    progress: bool | None,
    quiet: bool,
    verbose: bool,
    log_format: str,
) -> list[int]:
    """Check the invocation, run, print the summary; the signals received."""
    from crawler.blogs import blog_homes
    from crawler.cli.progress import NORMAL, QUIET, VERBOSE, LogReporter, ProgressReporter
    from crawler.frontier import seed_entries
    from db.schema import NotADatabase, check_writable_target

    if quiet and verbose:
        raise UsageError("-q/--quiet and -v/--verbose cannot be used together")
    overrides = {"max_pages": max_pages, "max_depth": max_depth}
    config = override(config, {k: v for k, v in overrides.items() if v is not None})
    _, invalid = seed_entries(seeds)
    if invalid:
        raise UsageError(f"not an http(s) URL: {invalid[0]}")
    _, invalid = seed_entries(config.crawl.seeds)
    if invalid:
        raise UsageError(f"crawl.seeds: not an http(s) URL: {invalid[0]}")
    _, invalid = blog_homes(config.crawl.blogs)
    if invalid:
        raise UsageError(f"not a blog's http(s) URL: {invalid[0]}")
    try:
        check_writable_target(config.crawl.database)
    except NotADatabase as exc:
        raise UsageError(str(exc)) from None
    nothing = not seeds and not config.crawl.seeds and not config.crawl.blogs
    if nothing and not Path(config.crawl.database).exists():
        raise UsageError(
            "no seeds: give SEED_URL arguments or --blog URL, or set crawl.seeds or crawl.blogs"
        )
    if not quiet and log_format == "text":
        for hint in front_page_hints((*seeds, *config.crawl.seeds), config.crawl.blogs):
            click.echo(hint, err=True)
    level = QUIET if quiet else VERBOSE if verbose else NORMAL
    interactive = sys.stderr.isatty() and not quiet and log_format == "text"
    use_progress = progress if progress is not None else interactive
    log = LogReporter(level, log_format)
    reporter: Any = (
        ProgressReporter(config.crawl.max_pages, database=config.crawl.database)
        if use_progress
        else log
    )
    received: list[int] = []
    summary = _run(config, seeds, reporter, use_progress, received, verbose, log_format)
    reporter.summary(summary)
    return received


def _run(
    config: Config,
    seeds: tuple[str, ...],
    reporter: Any,
    use_progress: bool,
    received: list[int],
    verbose: bool,
    log_format: str,
) -> Any:
    """The run itself; every way it can fail becomes :func:`fail`'s one line."""
    from crawler.engine import crawl_async

    def start(stop: asyncio.Event) -> Coroutine[Any, Any, Any]:
        return crawl_async(config, seeds, on_page=reporter, stop=stop)

    database = config.crawl.database
    try:
        with reporter if use_progress else contextlib.nullcontext():
            return run_until_signal(start, received)
    except LockHeld as exc:
        fail(str(exc), EXIT_LOCKED, log_format)
    except ArchiveError as exc:  # [archive] warc_dir cannot be written (a file, full disk)
        fail(str(exc), EXIT_USAGE, log_format)
    except Exception as exc:
        fault = database_fault(exc, database)
        if fault is not None:
            fail(fault[1], fault[0], log_format)
        if isinstance(exc, OSError):
            fail(f"cannot use database {database}: {exc}", EXIT_USAGE, log_format)
        if verbose:  # a bug: its traceback, for the report
            raise
        message = f"internal error ({type(exc).__name__}: {exc}); rerun with -v"
        fail(message, EXIT_INTERNAL, log_format)
