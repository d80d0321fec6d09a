"""Step 9 (CLI): ``pingcrawl demo``, the bundled sample web crawled into demo.db."""

from __future__ import annotations

from pathlib import Path

import click

from crawler.cli.common import EXIT_LOCKED, Command, UsageError, database_fault, fail
from crawler.runlock import LockHeld


@click.command(cls=Command)
@click.option("--db", "db_path", default="demo.db", show_default=True)
@click.option("--keep", is_flag=True, help="Keep an existing demo.db instead of starting fresh.")
@click.option(
    "--force", is_flag=True, help="Replace the --db file even if it is not a demo database."
)
def demo(db_path: str, keep: bool, force: bool) -> None:
    """Crawl the bundled sample blogs (served on 127.0.0.1) into demo.db and show the result.

    An existing file is replaced only if it is a demo database (or with --force).

    Example: pingcrawl demo && sqlite-utils tables demo.db --counts
    """
    from crawler.demo.run import NotDemoDatabase, check_demo_target, run_demo

    if not db_path.strip():
        raise UsageError("--db must not be empty")
    try:
        check_demo_target(Path(db_path), replace=not keep, force=force)
        run_demo(Path(db_path), fresh=not keep, echo=click.echo)
    except NotDemoDatabase as exc:
        raise UsageError(str(exc)) from None
    except LockHeld as exc:
        fail(str(exc), EXIT_LOCKED)
    except Exception as exc:
        fault = database_fault(exc, db_path)
        if fault is None:
            raise
        fail(fault[1], fault[0])
