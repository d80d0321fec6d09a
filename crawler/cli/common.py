"""Step 9 (CLI): what every command shares: exit codes, one-line errors, ``-c``/``--db``.

Every failure a user can cause or meet ends as one line on stderr (a JSON object with
``--log-format json``) and a documented exit code, never a traceback:

==== =========================================================================
0    the run completed (single page failures are data, not errors)
2    bad usage or configuration; a path that is not (or cannot become) a database
73   the database is read-only (a read-only file, folder or mount): fix permissions
74   the disk is full, or another I/O error writing the database: free space, rerun
75   another run holds the lock, or another program holds the database (EX_TEMPFAIL)
130  stopped by SIGINT, 143 by SIGTERM, after a clean shutdown
==== =========================================================================
"""

from __future__ import annotations

import asyncio
import functools
import json
import signal
import sqlite3
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn

import click
import sqlite_utils

from crawler.config import Config, ConfigError, load_config
from crawler.records import iso
from db.schema import NotADatabase, open_readonly

EXIT_USAGE = 2
EXIT_INTERNAL = 1
EXIT_READONLY = 73  # EX_CANTCREAT: the database cannot be written
EXIT_DISK = 74  # EX_IOERR: disk full or an I/O error while writing
EXIT_LOCKED = 75  # EX_TEMPFAIL: cron should simply try again later
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}

# sqlite3.OperationalError messages and what they mean for the user, in one place
# (until db/store.py raises typed faults, whose chained cause carries the same message).
_FAULTS = (
    ("database is locked", EXIT_LOCKED, "is locked by another program; try again later"),
    ("database table is locked", EXIT_LOCKED, "is locked by another program; try again later"),
    ("database or disk is full", EXIT_DISK, "cannot grow: the disk is full"),
    ("disk i/o error", EXIT_DISK, "could not be written (disk I/O error)"),
    ("readonly database", EXIT_READONLY, "is read-only (check the file's permissions)"),
    ("read-only", EXIT_READONLY, "is read-only (check the file's permissions)"),
    ("unable to open database file", EXIT_USAGE, "cannot be opened (missing folder?)"),
    ("file is not a database", EXIT_USAGE, "is not an SQLite database"),
)


class UsageError(click.ClickException):
    exit_code = EXIT_USAGE


class Command(click.Command):
    """A click command whose own usage errors (bad option values, missing arguments)
    are one line too, naming the option, instead of click's usage block."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            hint = f"see 'pingcrawl {self.name} --help'"
            raise UsageError(f"{exc.format_message()} ({hint})") from None


def fail(message: str, code: int = EXIT_USAGE, log_format: str = "text") -> NoReturn:
    """Print one error line on stderr (JSON with ``--log-format json``) and exit."""
    if log_format == "json":
        fields = {"time": iso(), "event": "error", "error": message, "exit_code": code}
        click.echo(json.dumps(fields, ensure_ascii=False), err=True)
    else:
        click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def database_fault(exc: BaseException, database: str) -> tuple[int, str] | None:
    """The exit code and one line for a database error (or one caused by it), or None
    if ``exc`` is not one."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, sqlite3.Error | NotADatabase) or "Database" in type(seen).__name__:
            text = str(seen).lower()
            for needle, code, problem in _FAULTS:
                if needle in text:
                    return code, f"database {database} {problem}"
            if isinstance(seen, NotADatabase):
                return EXIT_USAGE, str(seen)
            if isinstance(seen, sqlite3.Error):
                return EXIT_USAGE, f"cannot use database {database}: {seen}"
        seen = seen.__cause__ or seen.__context__
    return None


def run_output_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``-q/--quiet`` and ``--log-format``: what a run (crawl, worker) prints."""
    command = click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="Log lines, errors and the summary as text or as one JSON object a line.",
    )(command)
    return click.option(
        "-q", "--quiet", is_flag=True, help="Only errors and the one-line summary."
    )(command)


def common_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``-c/--config`` and ``--db`` for every command; passes a loaded ``config``.
    A bad configuration is one line, in the command's ``--log-format`` if it has one, and
    so is a database error met while the command runs (a locked or corrupt file)."""

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
        log_format = kwargs.get("log_format", "text")
        try:
            config = load(config_path, db_path)
        except UsageError as exc:
            fail(exc.format_message(), EXIT_USAGE, log_format)
        try:
            return command(config=config, **kwargs)
        except sqlite3.Error as exc:
            code, message = database_fault(exc, config.crawl.database) or (EXIT_USAGE, str(exc))
            fail(message, code, log_format)

    return wrapper


def load(config_path: str | None, db_path: str | None) -> Config:
    try:
        config = load_config(config_path)
        if db_path is not None:
            config = config.with_overrides(crawl={"database": db_path})
        return config
    except ConfigError as exc:
        message = str(exc)
        if db_path is not None and "crawl.database" in message:
            message = message.replace("crawl.database", "--db")
        raise UsageError(message) from None


def open_existing(config: Config) -> sqlite_utils.Database:
    """The crawl's database, opened read-only; one line when it is missing, a directory,
    not SQLite or another program's database (which is then left byte for byte as it
    was). With ``[cluster] database`` set, a SQLite copy of the cluster's crawl."""
    if config.cluster.database:
        return _cluster_snapshot(config.cluster.database)
    try:
        return open_readonly(config.crawl.database)
    except NotADatabase as exc:
        raise UsageError(str(exc)) from None
    except sqlite3.Error as exc:
        code, message = database_fault(exc, config.crawl.database) or (EXIT_USAGE, str(exc))
        fail(message, code)


def _cluster_snapshot(url: str) -> sqlite_utils.Database:
    """The PostgreSQL crawl copied into a temporary SQLite file (removed at exit), so the
    read-only commands run the same queries on it as on a single-machine crawl."""
    import atexit
    import shutil
    import tempfile

    from crawler.cli.worker import fault_exit
    from db.store import DatabaseFault
    from db.to_sqlite import copy_to_sqlite

    folder = tempfile.mkdtemp(prefix="pingcrawl-cluster-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = Path(folder) / "cluster.db"
    try:
        copy_to_sqlite(url, path)
    except DatabaseFault as exc:
        fail(f"database {url.split('@')[-1]}: {exc}", fault_exit(exc))
    return open_readonly(path)


def output_file(path: str | None) -> str:
    """``-o FILE`` checked before anything is written: its folder must exist."""
    if path is None or path == "-":
        return "-"
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"-o {path} is a directory; give a file name")
    if not target.parent.is_dir():
        raise UsageError(f"-o {path}: folder {target.parent} does not exist")
    return path


def override(config: Config, crawl: dict[str, Any]) -> Config:
    try:
        return config.with_overrides(crawl=crawl) if crawl else config
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def run_until_signal(
    start: Callable[[asyncio.Event], Coroutine[Any, Any, Any]], received: list[int]
) -> Any:
    """Run ``start(stop)`` in a new event loop; SIGINT/SIGTERM set ``stop`` (the run ends
    cleanly) and are appended to ``received`` for the exit code."""
    stop = asyncio.Event()

    def on_signal(signum: int) -> None:
        received.append(signum)
        stop.set()

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        for signum in EXIT_SIGNAL:
            loop.add_signal_handler(signum, on_signal, signum)
        return await start(stop)

    return asyncio.run(main())
