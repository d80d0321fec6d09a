"""Step 9 (CLI): ``pingcrawl demo``, the bundled sample web crawled into demo.db."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from crawler.cli.common import EXIT_LOCKED
from crawler.runlock import LockHeld


@click.command()
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
