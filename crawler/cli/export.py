"""Step 9 (CLI): ``pingcrawl export``, link lists for Gephi, Graphviz or a spreadsheet."""

from __future__ import annotations

from typing import TextIO, cast

import click

from crawler.cli.common import (
    Command,
    UsageError,
    common_options,
    fail,
    open_existing,
    output_file,
)
from crawler.config import Config
from crawler.records import LinkKind
from db.export import FORMATS, WHATS, ExportError
from db.export import export as export_rows


@click.command(cls=Command)
@click.argument("kind", type=click.Choice([*WHATS, "sqlite"]))
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

    KIND is links, pingbacks, citations or related (rows have source, target, kind),
    or the tables nodes, posts, comments; sqlite writes the whole crawl as a SQLite
    database for sqlite-utils and Datasette (-o FILE; a cluster crawl's too).

    Example: pingcrawl export related --format gexf -o related.gexf
    """
    target = output_file(output)
    if kind == "sqlite":
        export_database(config, target)
        return
    db = open_existing(config)
    try:
        with click.open_file(target, "w", encoding="utf-8") as out:
            count = export_rows(
                db, kind, fmt, cast(TextIO, out), blog=blog, kinds=list(kinds) or None
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
