"""Step 9 (CLI): ``pingcrawl export``, link lists for Gephi, Graphviz or a spreadsheet."""

from __future__ import annotations

import time
from typing import Any, TextIO, cast

import click

from crawler.cli.common import (
    Command,
    UsageError,
    common_options,
    fail,
    open_existing,
    output_file,
)
from crawler.config import Config, ConfigError, parse_duration
from crawler.records import LinkKind, iso_at
from db.export import FORMATS, WHATS, ExportError, run_window
from db.export import export as export_rows


@click.command(cls=Command)
@click.argument("kind", type=click.Choice([*WHATS, "sqlite", "wacz"]))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="csv",
    show_default=True,
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="File [default: stdout].")
@click.option("--blog", help="Only this blog (host without www.).")
@click.option(
    "--kind",
    "kinds",
    type=click.Choice([str(kind) for kind in LinkKind]),
    multiple=True,
    help="Only links of this kind (repeatable).",
)
@click.option(
    "--since",
    metavar="DURATION",
    help="Only what was found in the last DURATION (1d, 12h): pings, comments, links, posts.",
)
@click.option("--run", "run", type=int, metavar="N", help="Only what run N found.")
@common_options
def export(
    config: Config,
    kind: str,
    fmt: str,
    output: str | None,
    blog: str | None,
    kinds: tuple[str, ...],
    since: str | None,
    run: int | None,
) -> None:
    """Export link lists for Gephi, Graphviz or a spreadsheet.

    KIND is links, pingbacks, citations or related (rows have source, target, kind),
    or the tables nodes, posts, comments; sqlite writes the whole crawl as a SQLite
    database for sqlite-utils and Datasette (-o FILE; a cluster crawl's too).

    --since and --run keep what those runs found: the morning mail of a nightly cron is
    'pingcrawl export pingbacks --since 1d' (with each ping's verdict).
    wacz packs the WARC archive ([archive] warc_dir) with its index and the stored pages
    into one WACZ file (-o required).

    Example: pingcrawl export related --format gexf -o related.gexf
    """
    target = output_file(output)
    if kind == "sqlite":
        export_database(config, target)
        return
    if kind == "wacz":
        export_wacz(config, target)
        return
    db = open_existing(config)
    try:
        window = _window(db, since, run)
        with click.open_file(target, "w", encoding="utf-8") as out:
            count = export_rows(
                db,
                kind,
                fmt,
                cast(TextIO, out),
                blog=blog,
                kinds=list(kinds) or None,
                window=window,
            )
    except ExportError as exc:  # e.g. a table (posts) asked for as a graph format
        raise UsageError(str(exc)) from None
    except OSError as exc:  # permission denied, disk full while writing the file
        raise UsageError(f"cannot write {output or 'stdout'}: {exc.strerror or exc}") from None
    if output:
        click.echo(f"{count} rows written to {output}", err=True)


def export_database(config: Config, target: str) -> None:
    """``export sqlite -o FILE``: the crawl (PostgreSQL's or SQLite's) as a SQLite file."""
    from crawler.cli.worker import fault_exit
    from db.store import DatabaseFault
    from db.to_sqlite import copy_to_sqlite

    if target == "-":
        raise UsageError("export sqlite needs -o FILE (a database cannot go to stdout)")
    try:
        if config.cluster.database:
            counts = copy_to_sqlite(config.cluster.database, target)
        else:
            db = open_existing(config)
            db.execute("VACUUM INTO ?", [target])
            counts = {t: db[t].count for t in db.table_names() if "_fts" not in t}
    except DatabaseFault as exc:
        fail(f"database {config.cluster.database.split('@')[-1]}: {exc}", fault_exit(exc))
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    click.echo(f"{sum(counts.values())} rows of {len(counts)} tables written to {target}", err=True)


def _window(db: Any, since: str | None, run: int | None) -> tuple[str | None, str | None]:
    """(start, end) of --since DURATION or --run N as stored times (both open if neither)."""
    if since is not None and run is not None:
        raise UsageError("--since and --run cannot be used together")
    if run is not None:
        return run_window(db, run)
    if since is None:
        return None, None
    try:
        seconds = parse_duration(since, "--since")
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    return iso_at(time.time() - seconds), None


def export_wacz(config: Config, target: str) -> None:
    """WARCs + CDXJ + pages.jsonl of the stored pages → one WACZ at ``target``."""
    from crawler.archive.wacz import WaczPage, build_wacz
    from crawler.archive.warc import ArchiveError
    from db.show import archived_pages

    if target == "-":
        raise UsageError("export wacz needs -o FILE (a WACZ is a zip file)")
    if not config.archive.warc_dir:
        raise UsageError("export wacz: set [archive] warc_dir (where the crawl wrote WARCs)")
    db = open_existing(config)
    pages = [WaczPage(url, ts, title) for url, ts, title in archived_pages(db)]
    try:
        build_wacz(config.archive.warc_dir, pages, target)
    except ArchiveError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    click.echo(f"{len(pages)} pages packed into {target}", err=True)
