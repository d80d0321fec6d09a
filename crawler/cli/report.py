"""Step 9 (CLI): the researcher's face: ``report`` (HTML), ``status`` (live), and
``datasette-metadata``."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import click

from crawler.cli.common import EXIT_LOCKED, UsageError, common_options, open_existing
from crawler.config import Config


@click.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default="report.html",
    show_default=True,
    help="The HTML file to write.",
)
@click.option("--blog", "blogs", multiple=True, help="Only this blog's graph (repeatable).")
@click.option("--title", default="pingcrawl report", show_default=True)
@common_options
def report(config: Config, output: str, blogs: tuple[str, ...], title: str) -> None:
    """Write one self-contained HTML report: graphs per blog and across blogs, top lists.

    Example: pingcrawl report -o report.html && xdg-open report.html
    """
    from crawler.report import write_report

    db = open_existing(config)
    try:
        path = write_report(db, output, title=title, blogs=list(blogs) or None)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(f"report written to {path}", err=True)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--hosts", "top", type=click.IntRange(min=0), default=15, show_default=True)
@common_options
def status(config: Config, as_json: bool, top: int) -> None:
    """How the crawl is doing (during a run or after); reads without disturbing it.

    Example: pingcrawl status --db pingcrawl.db
    """
    from db.status import StatusError, crawl_status, open_read_only

    try:
        conn = open_read_only(config.crawl.database)
    except StatusError as exc:
        raise UsageError(str(exc)) from None
    try:
        data = crawl_status(conn, max_pages=config.crawl.max_pages)
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            click.echo(f"Error: {config.crawl.database} is busy ({exc}); try again", err=True)
            sys.exit(EXIT_LOCKED)
        raise UsageError(f"{config.crawl.database}: {exc}") from None
    finally:
        conn.close()
    if data["running"] and not _alive(data["run"].get("pid")):
        data["running"] = False
        data["run"]["status"] = "crashed (its process is gone)"
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        _print_status(data, top)


def _alive(pid: int | None) -> bool:
    if not pid:
        return True  # nothing to check against: believe the database
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _print_status(data: dict[str, Any], top: int) -> None:
    run = data["run"]
    if run is None:
        click.echo("no run yet")
    else:
        until = "" if data["running"] else f", finished {run.get('finished_at') or '?'}"
        click.echo(f"run {run['id']}: {run['status']}, started {run['started_at']}{until}")
    click.echo(
        f"fetched {data['fetched']}  failed {data['failed']}  queued {data['queued']}"
        f" ({data['in_flight']} in flight)  rate {data['rate']:.2f} pages/s"
        f"  elapsed {_duration(data['elapsed_seconds'])}"
        f"  left {_duration(data['eta_seconds']) if data['running'] else '-'}"
    )
    hosts = data["hosts"][:top]
    if not hosts:
        return
    click.echo(
        f"\n{'host':<32} {'fetched':>7} {'failed':>6} {'queued':>6}  {'paused until':<27}"
        f" {'robots':<26} {'latency':>8}"
    )
    for h in hosts:
        latency = "-" if h["mean_latency_ms"] is None else f"{h['mean_latency_ms']:.0f} ms"
        click.echo(
            f"{h['host'][:32]:<32} {h['fetched']:>7} {h['failed']:>6} {h['queued']:>6}"
            f"  {h['paused_until'] or '-':<27} {h['robots']:<26} {latency:>8}"
        )
    if len(data["hosts"]) > top:
        click.echo(f"… and {len(data['hosts']) - top} more hosts (--hosts N)")


@click.command("datasette-metadata")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default="metadata.json",
    show_default=True,
)
@common_options
def datasette_metadata(config: Config, output: str) -> None:
    """Write Datasette metadata: titles, descriptions, canned queries, labelled links.

    Example: pingcrawl datasette-metadata && datasette pingcrawl.db -m metadata.json
    """
    from db.datasette import metadata

    db = open_existing(config)
    data = metadata(db, Path(config.crawl.database).stem)
    try:
        Path(output).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(
        f"metadata written to {output}; open with: datasette {config.crawl.database} -m {output}",
        err=True,
    )
