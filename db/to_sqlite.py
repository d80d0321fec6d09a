"""Step 8 of the data flow, cluster edition: a crawl in PostgreSQL written out as SQLite.

``pingcrawl export sqlite -o FILE`` and the read-only commands (``stats``, ``export``,
``related``, ``report``) of a cluster crawl use :func:`copy_to_sqlite`: it creates a
pingcrawl SQLite database with :func:`db.schema.open_database` (the same tables, views,
indexes and full-text search as a single-machine crawl, so sqlite-utils and Datasette
open it as usual), copies every table of :data:`db.postgres.schema.TABLES` column for
column in chunks, then gives every pingback its verdict over the whole crawl (the workers
leave them to this step, see :mod:`db.postgres.store`). The file is written beside its
final name and moved into place only when complete.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import psycopg

from db import links as link_graph
from db.graph import verify_pingbacks
from db.postgres.schema import TABLES, ensure_schema
from db.postgres.store import connect, pg_fault
from db.schema import open_database
from db.store import DatabaseBroken

CHUNK = 2000  # rows per fetch and per insert


def copy_to_sqlite(url: str, path: str | Path) -> dict[str, int]:
    """Write the crawl in the PostgreSQL database ``url`` to the SQLite file ``path``
    (replacing it); returns the rows copied per table."""
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        counts = _copy(url, partial)
        os.replace(partial, target)
    except psycopg.Error as exc:
        partial.unlink(missing_ok=True)
        raise pg_fault(exc) or DatabaseBroken(f"postgresql: {exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return counts


def _copy(url: str, partial: Path) -> dict[str, int]:
    source = connect(url)
    db = open_database(partial)
    try:
        ensure_schema(source)
        counts = {}
        with source.transaction():  # one snapshot of the whole crawl
            source.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            for table in TABLES:
                counts[table] = _copy_table(source, db.conn, table)
        verify_pingbacks(db)
        db.conn.commit()
    finally:
        source.close()
        db.conn.close()
    return counts


def _copy_table(source: psycopg.Connection, target: sqlite3.Connection, table: str) -> int:
    wanted = [row[1] for row in target.execute(f"PRAGMA table_info({table})")]
    probe = source.execute(f"SELECT * FROM {table} LIMIT 0")  # type: ignore[arg-type]
    present = {column.name for column in probe.description or ()}
    columns = [c for c in wanted if c in present]
    names = ", ".join(columns)
    insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
    copied = 0
    with source.cursor(name=f"copy_{table}") as cursor:  # server side: chunks, not all
        cursor.execute(f"SELECT {names} FROM {table}")  # type: ignore[arg-type]
        while rows := cursor.fetchmany(CHUNK):
            if table == "links" and columns == wanted:  # a view: rows go in by URL id
                link_graph.insert_links(target, rows)
            else:
                target.executemany(insert, rows)
            copied += len(rows)
    return copied
