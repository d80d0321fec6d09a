"""Step 9 (CLI): what every command shares: exit codes, one-line errors, ``-c``/``--db``."""

from __future__ import annotations

import functools
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import sqlite_utils

from crawler.config import Config, ConfigError, load_config
from db.schema import open_database

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
        config = load(config_path, db_path)
        return command(config=config, **kwargs)

    return wrapper


def load(config_path: str | None, db_path: str | None) -> Config:
    try:
        config = load_config(config_path)
        if db_path:
            config = config.with_overrides(crawl={"database": db_path})
        return config
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def open_existing(config: Config) -> sqlite_utils.Database:
    """The crawl's database; a one-line error when there is none yet."""

    path = Path(config.crawl.database)
    if not path.exists():
        raise UsageError(f"database {path} does not exist (run 'pingcrawl crawl' first)")
    return open_database(path)


def override(config: Config, crawl: dict[str, Any]) -> Config:
    try:
        return config.with_overrides(crawl=crawl) if crawl else config
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
