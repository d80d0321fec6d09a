"""Step 9 (CLI): ``pingcrawl requeue``, give URLs that stopped for one reason another run."""

from __future__ import annotations

import click

from crawler.cli.common import (
    EXIT_LOCKED,
    Command,
    UsageError,
    common_options,
    database_fault,
    fail,
)
from crawler.config import Config
from crawler.runlock import LockHeld, RunLock


@click.command(cls=Command)
@click.option("--reason", required=True, help="The frontier reason, e.g. robots, http_404.")
@click.option("--host", help="Only URLs of this host (as stored: lower case, with port).")
@common_options
def requeue(config: Config, reason: str, host: str | None) -> None:
    """Queue again the URLs skipped or failed for REASON; the next crawl fetches them.

    Changed settings (max_depth, allow_private, obey_robots, follow) re-open what they
    closed by themselves at the start of a run; this is for everything else.

    Example: pingcrawl requeue --reason http_503 --host blog.example
    """
    from db import requeue as sql
    from db.schema import database_kind, open_database

    database = config.crawl.database
    if database_kind(database) != "pingcrawl":
        raise UsageError(f"database {database} is not a pingcrawl database")
    try:
        with RunLock(database):  # never under a running crawl's feet
            db = open_database(database)
            with db.conn:
                count = sql.requeue_reason(db.conn, reason, host=host.lower() if host else None)
                known = sql.reasons_in_frontier(db.conn)
            db.conn.close()
    except LockHeld as exc:
        fail(str(exc), EXIT_LOCKED)
    except Exception as exc:
        fault = database_fault(exc, database)
        if fault is None:
            raise
        fail(fault[1], fault[0])
    where = f" on {host}" if host else ""
    click.echo(f"{count} URL(s) requeued for reason {reason}{where}")
    if not count and known:
        shown = ", ".join(f"{name} ({n})" for name, n in list(known.items())[:10])
        click.echo(f"reasons of skipped or failed URLs: {shown}", err=True)
