"""Step 9 (CLI): ``pingcrawl export``, link lists for Gephi, Graphviz or a spreadsheet."""

from __future__ import annotations

from typing import TextIO, cast

import click

from crawler.cli.common import Command, UsageError, common_options, open_existing, output_file
from crawler.config import Config
from crawler.records import LinkKind
from db.export import FORMATS, WHATS, ExportError
from db.export import export as export_rows


@click.command(cls=Command)
@click.argument("kind", type=click.Choice([*WHATS, "wacz"]))
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
    or the tables nodes, posts, comments; or wacz: the WARC archive ([archive] warc_dir)
    packed with its index and the stored pages into one WACZ file (-o required).

    Example: pingcrawl export related --format gexf -o related.gexf
    """
    target = output_file(output)
    if kind == "wacz":
        export_wacz(config, target)
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
