"""Statement shapes for the store's many-row writes and lookups (step 6 of the data flow).

A multi-row ``INSERT … VALUES (…), (…)`` or an ``IN (?, ?, …)`` lookup is one call into
SQLite instead of one per row, but every row count is a statement text of its own, and
preparing one costs several times what running it does (a 44-row insert of link edges:
~117 µs prepared afresh, ~21 µs from the connection's statement cache). So rows go in
chunks whose sizes are powers of two (44 = 32 + 8 + 4) and lookups are padded to one:
a handful of texts per statement, all of which the cache keeps
(:data:`STATEMENT_CACHE`, given to every connection the store opens).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from functools import lru_cache
from itertools import chain
from typing import Any, TypeVar

T = TypeVar("T")

STATEMENT_CACHE = 512  # prepared statements a connection keeps (sqlite3's default: 128)
ROWS_PER_INSERT = 64  # the largest chunk of a multi-row INSERT
KEYS_PER_LOOKUP = 512  # the largest "IN (...)" list, far below SQLite's variable limit


def chunks(items: Sequence[T], largest: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive chunks of power-of-two sizes, none above ``largest``
    (itself a power of two), the biggest first."""
    start, left = 0, len(items)
    while left:
        size = largest if left >= largest else 1 << (left.bit_length() - 1)
        yield items[start : start + size]
        start, left = start + size, left - size


def padded(keys: Sequence[T]) -> list[T]:
    """``keys`` (not empty) made up to a power of two by repeating the last: the same
    answer from ``IN (...)``, one statement text for every length up to that size."""
    size = 1 << (len(keys) - 1).bit_length()
    return [*keys, *[keys[-1]] * (size - len(keys))]


@lru_cache(maxsize=512)
def values_sql(head: str, tail: str, rows: int, columns: int) -> str:
    """``head``, ``rows`` groups of ``columns`` placeholders, ``tail``."""
    group = "(" + ", ".join("?" * columns) + ")"
    return head + ", ".join([group] * rows) + tail


def insert_rows(
    conn: sqlite3.Connection, statement: tuple[str, str], rows: Sequence[Sequence[Any]]
) -> None:
    """A multi-row INSERT, ``statement`` = (its head up to VALUES, its tail), over
    ``rows`` (all of one length), in chunks."""
    head, tail = statement
    for chunk in chunks(rows, ROWS_PER_INSERT):
        conn.execute(values_sql(head, tail, len(chunk), len(chunk[0])), list(chain(*chunk)))


def insert_padded(
    conn: sqlite3.Connection, statement: tuple[str, str], rows: Sequence[Sequence[Any]]
) -> int:
    """An ``INSERT OR IGNORE`` over ``rows`` into a table with a unique key, each chunk
    padded to a power of two by repeating its last row (which the key then ignores): one
    statement per :data:`ROWS_PER_INSERT` rows instead of one per power of two in the
    count. Returns the rows added."""
    before = conn.total_changes
    head, tail = statement
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = padded(rows[start : start + ROWS_PER_INSERT])
        conn.execute(values_sql(head, tail, len(chunk), len(chunk[0])), list(chain(*chunk)))
    return conn.total_changes - before


def _over_keys(
    conn: sqlite3.Connection, sql: str, keys: Sequence[Any], params: Sequence[Any]
) -> Iterator[sqlite3.Cursor]:
    """``sql`` (whose ``{marks}`` is the ``IN`` list) run once per padded chunk of keys,
    ``params`` bound before the keys."""
    for start in range(0, len(keys), KEYS_PER_LOOKUP):
        chunk = padded(keys[start : start + KEYS_PER_LOOKUP])
        yield conn.execute(sql.format(marks=",".join("?" * len(chunk))), [*params, *chunk])


def lookup(
    conn: sqlite3.Connection, sql: str, keys: Sequence[Any], *params: Any
) -> Iterator[tuple[Any, ...]]:
    """Rows of the SELECT ``sql`` for every key (see :func:`_over_keys`)."""
    for cursor in _over_keys(conn, sql, keys, params):
        yield from cursor


def update(conn: sqlite3.Connection, sql: str, keys: Sequence[Any], *params: Any) -> int:
    """Run the UPDATE ``sql`` over every key (see :func:`_over_keys`); rows changed."""
    return sum(cursor.rowcount for cursor in _over_keys(conn, sql, keys, params))
