"""Step 9 (CLI): ``pingcrawl reextract``, the current extractor over the stored pages."""

from __future__ import annotations

import sqlite3
import sys

import click

from crawler.cli.common import EXIT_LOCKED, UsageError, common_options, open_existing
from crawler.config import Config
from crawler.runlock import LockHeld


@click.command()
@click.option("--blog", help="Only the pages of this blog (host without www.).")
@common_options
def reextract(config: Config, blog: str | None) -> None:
    """Re-run the extractor over the stored pages; replace their comments, links, verdicts.

    No request is sent: an extractor fix reaches an old crawl. URLs the new extraction
    finds are queued for the next crawl.

    Example: pingcrawl reextract --blog example.blogspot.com
    """
    from crawler.extract.reextract import reextract as run

    open_existing(config).close()  # a one-line error when there is no database yet
    try:
        summary = run(config, blog)
    except LockHeld as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_LOCKED)
    except (OSError, sqlite3.Error) as exc:
        raise UsageError(f"cannot use database {config.crawl.database}: {exc}") from None
    click.echo(summary.line())
