"""Stored HTML bodies, compressed with zstd (``bodies.zstd``).

A body is kept once per SHA-256 of its decoded text. Since schema version 8 the text is
in ``zstd`` (UTF-8 with surrogates passed through, zstd level :data:`LEVEL`) and ``html``
is empty; a row written before then that the migration has not reached keeps ``html``.
Readers call :func:`body_html` (or the SQL function ``pingcrawl_body(html, zstd)`` that
:func:`register` adds to a connection), which reads both forms.
"""

from __future__ import annotations

import sqlite3
import threading

import zstandard

LEVEL = 9  # 4-5x smaller than the text on blog pages, ~1 ms per 50 KB page
_local = threading.local()  # zstd contexts are not thread-safe: one pair per thread


def _compressor() -> zstandard.ZstdCompressor:
    if not hasattr(_local, "compressor"):
        _local.compressor = zstandard.ZstdCompressor(level=LEVEL)
    return _local.compressor  # type: ignore[no-any-return]


def _decompressor() -> zstandard.ZstdDecompressor:
    if not hasattr(_local, "decompressor"):
        _local.decompressor = zstandard.ZstdDecompressor()
    return _local.decompressor  # type: ignore[no-any-return]


def compress_html(html: str) -> bytes:
    return _compressor().compress(html.encode("utf-8", "surrogatepass"))


def body_html(html: str | None, zstd: bytes | None) -> str | None:
    """The decoded HTML of a ``bodies`` row, whichever form it is stored in."""
    if html is not None:
        return html
    if zstd is None:
        return None
    return _decompressor().decompress(zstd).decode("utf-8", "surrogatepass")


def sql_body(html: str | None, zstd: bytes | None) -> str | None:
    """:func:`body_html` as SQLite can hold it: a lone surrogate becomes U+FFFD."""
    if html is not None or zstd is None:
        return html
    return _decompressor().decompress(zstd).decode("utf-8", "replace")


def register(conn: sqlite3.Connection) -> None:
    """``pingcrawl_body(html, zstd)`` in SQL: the text of a body (exports, Datasette)."""
    conn.create_function("pingcrawl_body", 2, sql_body, deterministic=True)


def compress_stored(conn: sqlite3.Connection, batch: int = 500) -> int:
    """Move every body still held as text into ``zstd`` (the schema v8 migration)."""
    moved = 0
    while True:
        rows = conn.execute(
            "SELECT sha256, html FROM bodies WHERE html IS NOT NULL LIMIT ?", (batch,)
        ).fetchall()
        if not rows:
            return moved
        conn.executemany(
            "UPDATE bodies SET zstd = ?, html = NULL WHERE sha256 = ?",
            [(compress_html(html), sha) for sha, html in rows],
        )
        moved += len(rows)
