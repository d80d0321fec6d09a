"""Step 9: the ``pingcrawl`` command line, a thin click layer over the library.

Each command loads the configuration, calls one library function and turns library
exceptions into one-line errors: exit 2 for bad usage or configuration, 75 when another
run holds the database, 130/143 after a clean stop on SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import signal
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from crawler.config import Config, ConfigError, load_config
from crawler.runlock import LockHeld

EXIT_USAGE = 2
EXIT_INTERNAL = 1
EXIT_LOCKED = 75  # EX_TEMPFAIL: cron should simply try again later
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


class UsageError(click.ClickException):
    exit_code = EXIT_USAGE


def common_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``-c/--config`` and ``--db`` for every command; passes a loaded ``config``."""

    @click.option(
        "-c",
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        envvar="PINGCRAWL_CONFIG",
        help="Configuration file [default: ./config.toml; env PINGCRAWL_CONFIG].",
    )
    @click.option("--db", "db_path", help="SQLite database (overrides crawl.database).")
    @functools.wraps(command)
    def wrapper(config_path: str | None, db_path: str | None, **kwargs: Any) -> Any:
        config = _load(config_path, db_path)
        return command(config=config, **kwargs)

    return wrapper


def _load(config_path: str | None, db_path: str | None) -> Config:
    try:
        config = load_config(config_path)
        if db_path:
            config = config.with_overrides(crawl={"database": db_path})
        return config
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def _open_existing(config: Config):  # noqa: ANN202 - sqlite_utils.Database
    from db.schema import open_database

    path = Path(config.crawl.database)
    if not path.exists():
        raise UsageError(f"database {path} does not exist (run 'pingcrawl crawl' first)")
    return open_database(path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pingcrawl")
def cli() -> None:
    """pingcrawl: a polite crawler for the blog web.

    It starts from blog posts, follows their pingbacks, trackbacks and cited sources,
    stores every page in SQLite and builds the graph of related posts.

    \b
    Start with:  pingcrawl demo
    Then:        pingcrawl crawl https://example.blog/2024/05/a-post/
                 pingcrawl stats
                 pingcrawl export related --format csv
    """


@cli.command()
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
    config = _override(config, {k: v for k, v in overrides.items() if v is not None})
    _, invalid = seed_entries(seeds)
    if invalid:
        raise UsageError(f"not an http(s) URL: {invalid[0]}")
    if not seeds and not config.crawl.seeds and not Path(config.crawl.database).exists():
        raise UsageError("no seeds: give SEED_URL arguments or set crawl.seeds in the config")
    level = QUIET if quiet else VERBOSE if verbose else NORMAL
    use_progress = progress if progress is not None else sys.stderr.isatty() and not quiet
    log = LogReporter(level, log_format)
    reporter: Any = ProgressReporter(config.crawl.max_pages) if use_progress else log
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


def _override(config: Config, crawl: dict[str, Any]) -> Config:
    try:
        return config.with_overrides(crawl=crawl) if crawl else config
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


@cli.command()
@click.argument("kind", type=click.Choice(["links", "pingbacks", "citations", "related"]))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "tsv", "json", "jsonl", "graphml", "gexf", "dot"]),
    default="csv",
    show_default=True,
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="File [default: stdout].")
@click.option("--blog", help="Only this blog (host without www.).")
@click.option("--kind", "kinds", multiple=True, help="Only links of this kind (repeatable).")
@common_options
def export(
    config: Config,
    kind: str,
    fmt: str,
    output: str | None,
    blog: str | None,
    kinds: tuple[str, ...],
) -> None:
    """Export link lists for Gephi, Graphviz or a spreadsheet.

    KIND is links, pingbacks, citations or related. Rows have source, target, kind.

    Example: pingcrawl export related --format gexf -o related.gexf
    """
    db = _open_existing(config)
    from db.export import export as export_rows

    with click.open_file(output or "-", "w", encoding="utf-8") as out:
        count = export_rows(db, kind, fmt, out, blog=blog, kinds=list(kinds) or None)
    if output:
        click.echo(f"{count} rows written to {output}", err=True)


@cli.command()
@click.argument("url")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@common_options
def related(config: Config, url: str, limit: int, as_json: bool) -> None:
    """The posts related to URL on its blog, ranked, with how they are linked.

    Example: pingcrawl related https://blog.example/2024/05/post/
    """
    from crawler.urls import normalize_url
    from db.graph import NotFound, related_to

    normal = normalize_url(url)
    if normal is None:
        raise UsageError(f"not an http(s) URL: {url}")
    try:
        rows = related_to(_open_existing(config), normal, limit=limit)
    except NotFound:
        raise UsageError(f"{normal} is not a page in {config.crawl.database}") from None
    if as_json:
        click.echo(json.dumps([_as_dict(r) for r in rows], indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo(f"no related posts known for {normal}")
    for rank, row in enumerate(rows, start=1):
        item = _as_dict(row)
        title = item.get("title") or ""
        click.echo(f"{rank:>3}. {item.get('url')}  {title}\n     {item.get('how', '')}")


def _as_dict(row: Any) -> dict[str, Any]:
    if isinstance(row, dict):
        return row
    if hasattr(row, "_asdict"):
        return row._asdict()
    return dict(vars(row))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@common_options
def stats(config: Config, as_json: bool) -> None:
    """Counts, last runs, errors by reason, top cited hosts, hosts waiting.

    Example: pingcrawl stats --db pingcrawl.db
    """
    from crawler.cli.stats_view import print_stats
    from db.graph import stats as compute_stats

    data = compute_stats(_open_existing(config))
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        print_stats(data)


@cli.command()
@click.argument("source")
@click.option("--url", "base_url", help="The page's URL (for a saved file) [default: file://].")
def extract(source: str, base_url: str | None) -> None:
    """Run the extractor on one saved page (or URL) and print its JSON; no database.

    Example: pingcrawl extract saved-post.html --url https://blog.example/2024/05/post/
    """
    from crawler.cli.pagesource import read_source
    from crawler.extract.page import extract as run_extract

    try:
        html, url, headers = read_source(source, base_url)
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    result = run_extract(html, url, headers)
    click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))


@cli.command()
@click.option("--db", "db_path", default="demo.db", show_default=True)
@click.option("--keep", is_flag=True, help="Keep an existing demo.db instead of starting fresh.")
def demo(db_path: str, keep: bool) -> None:
    """Crawl the bundled sample blogs (served on 127.0.0.1) into demo.db and show the result.

    Example: pingcrawl demo && sqlite-utils tables demo.db --counts
    """
    from crawler.demo.run import run_demo

    try:
        run_demo(Path(db_path), fresh=not keep, echo=click.echo)
    except LockHeld as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_LOCKED)


def main() -> None:
    cli(prog_name="pingcrawl")
