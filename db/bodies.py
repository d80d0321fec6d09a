"""Stored HTML bodies, compressed with zstd (``bodies.zstd``), with a trained dictionary.

A body is kept once per SHA-256 of its decoded text. Since schema version 9 the text is
in ``zstd`` (UTF-8 with surrogates passed through) and ``html`` is empty; a row written
before then that the migration has not reached keeps ``html``.

Since schema version 11 a store trains a zstd dictionary on its first
:data:`TRAIN_AFTER` bodies (blog pages of one theme share most of their markup, which
compresses per page only once a dictionary holds it), keeps it in ``zstd_dicts`` and
compresses every later body with it at :data:`DICT_LEVEL` (the training bodies are
compressed again with it). A zstd frame names its dictionary in its header, so no column
says which one a body needs: frames without one (id 0) are read as before.

Readers call :func:`body_html` with the connection the row came from (it looks the
dictionary up there), or the SQL function ``pingcrawl_body(html, zstd)`` that
:func:`register` adds to a connection; both read every form.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime

import zstandard

LEVEL = 9  # without a dictionary: 4-5x smaller than the text on blog pages
# With a dictionary, level 3: 2.5x smaller than LEVEL alone on the benchmark's blogs
# (1.6 KB a page instead of 4.0) in a tenth of its time (0.03 ms a page, on the database
# thread every write waits for); level 12 gives 1.3 KB in 0.4 ms.
DICT_LEVEL = 3
TRAIN_AFTER = 300  # bodies stored without a dictionary before one is trained on them
DICT_SIZE = 200 * 1024
# fastcover's table of 2^16 entries (not 2^20): 7 MB to train instead of 16, same result.
TRAIN_F = 16

DICTS_TABLE = """
CREATE TABLE IF NOT EXISTS zstd_dicts (
    dict_id INTEGER PRIMARY KEY,
    data BLOB NOT NULL,
    trained_at TEXT
)"""

_local = threading.local()  # zstd contexts are not thread-safe: one set per thread
# Dictionaries by the id their frames carry. Ids are random 32-bit numbers drawn by zstd
# at training; a frame read with a dictionary that only shares its id fails its checksum,
# and the dictionary is then read again from the frame's own database.
_dicts: dict[int, zstandard.ZstdCompressionDict] = {}


def _compressor() -> zstandard.ZstdCompressor:
    if not hasattr(_local, "compressor"):
        _local.compressor = zstandard.ZstdCompressor(level=LEVEL)
    return _local.compressor  # type: ignore[no-any-return]


def _decompressor(dict_id: int = 0) -> zstandard.ZstdDecompressor:
    if not hasattr(_local, "decompressors"):
        _local.decompressors = {}
    found: tuple[zstandard.ZstdCompressionDict | None, zstandard.ZstdDecompressor] | None
    found = _local.decompressors.get(dict_id)
    wanted = _dicts.get(dict_id) if dict_id else None
    if found is None or found[0] is not wanted:
        found = (wanted, zstandard.ZstdDecompressor(dict_data=wanted))
        _local.decompressors[dict_id] = found
    return found[1]


def compress_html(html: str) -> bytes:
    """A body compressed without a dictionary (readable with no database at hand)."""
    return _compressor().compress(html.encode("utf-8", "surrogatepass"))


def _load_dict(conn: sqlite3.Connection | None, dict_id: int) -> None:
    if conn is None:
        raise ValueError(f"a body compressed with zstd dictionary {dict_id} needs its database")
    row = conn.execute("SELECT data FROM zstd_dicts WHERE dict_id = ?", (dict_id,)).fetchone()
    if row is None:
        raise ValueError(f"zstd dictionary {dict_id} is not in the database")
    _dicts[dict_id] = zstandard.ZstdCompressionDict(bytes(row[0]))


def decompress(zstd: bytes, conn: sqlite3.Connection | None = None) -> bytes:
    """The UTF-8 bytes of a compressed body; ``conn`` is where its dictionary is (if any)."""
    dict_id = zstandard.get_frame_parameters(zstd).dict_id
    if not dict_id:
        return _decompressor().decompress(zstd)  # type: ignore[no-any-return]
    if dict_id not in _dicts:
        _load_dict(conn, dict_id)
    try:
        return _decompressor(dict_id).decompress(zstd)  # type: ignore[no-any-return]
    except zstandard.ZstdError:
        if conn is None:
            raise
        _load_dict(conn, dict_id)  # another database's dictionary had the same id
        return _decompressor(dict_id).decompress(zstd)  # type: ignore[no-any-return]


def body_html(
    html: str | None, zstd: bytes | None, conn: sqlite3.Connection | None = None
) -> str | None:
    """The decoded HTML of a ``bodies`` row, whichever form it is stored in (``conn``:
    the connection it was read from, for a body compressed with a dictionary)."""
    if html is not None:
        return html
    if zstd is None:
        return None
    return decompress(zstd, conn).decode("utf-8", "surrogatepass")


def sql_body(
    html: str | None, zstd: bytes | None, conn: sqlite3.Connection | None = None
) -> str | None:
    """:func:`body_html` as SQLite can hold it: a lone surrogate becomes U+FFFD."""
    if html is not None or zstd is None:
        return html
    return decompress(zstd, conn).decode("utf-8", "replace")


def register(conn: sqlite3.Connection) -> None:
    """``pingcrawl_body(html, zstd)`` in SQL: the text of a body (exports, Datasette)."""

    def pingcrawl_body(html: str | None, zstd: bytes | None) -> str | None:
        return sql_body(html, zstd, conn)

    conn.create_function("pingcrawl_body", 2, pingcrawl_body, deterministic=True)


def compress_stored(conn: sqlite3.Connection, batch: int = 500) -> int:
    """Move every body still held as text into ``zstd`` (the schema v9 migration)."""
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


class BodyWriter:
    """Compresses the bodies one connection stores (used by one thread at a time), with
    the newest dictionary of its database; trains one after :data:`TRAIN_AFTER` bodies."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._dict: zstandard.ZstdCompressionDict | None = None
        self._dict_row: tuple[int, bytes, str] | None = None
        self._compressor: zstandard.ZstdCompressor | None = None
        self._without: int | None = None  # bodies stored without a dictionary (no dict yet)
        self._dict_committed = False  # its row is known to be in the database for good

    def _start(self) -> None:
        row = self.conn.execute(
            "SELECT dict_id, data, trained_at FROM zstd_dicts ORDER BY rowid DESC LIMIT 1"
        ).fetchone()
        if row is None:
            self._without = self.conn.execute("SELECT count(*) FROM bodies").fetchone()[0]
        else:
            self._use(int(row[0]), bytes(row[1]), row[2])

    def _use(self, dict_id: int, data: bytes, trained_at: str) -> None:
        self._dict = zstandard.ZstdCompressionDict(data)
        self._dict_row = (dict_id, data, trained_at)
        _dicts.setdefault(dict_id, self._dict)
        # A checksum in each frame: a dictionary that only shares the id fails, loudly.
        self._compressor = zstandard.ZstdCompressor(
            level=DICT_LEVEL, dict_data=self._dict, write_checksum=True
        )
        self._without = None

    def compress(self, html: str) -> bytes:
        """The ``zstd`` value of a new body (call before inserting its row)."""
        if self._dict is None and self._without is None:
            self._start()
        if self._without is not None and self._without >= TRAIN_AFTER:
            self.train()
        data = html.encode("utf-8", "surrogatepass")
        if self._compressor is None:
            if self._without is not None:
                self._without += 1
            return _compressor().compress(data)  # type: ignore[no-any-return]
        self._keep_dict()
        return self._compressor.compress(data)  # type: ignore[no-any-return]

    def _keep_dict(self) -> None:
        # A rolled-back batch may have taken the dictionary's row with it: put it back
        # before a body that needs it is written.
        assert self._dict_row is not None
        if self._dict_committed:
            return
        dict_id = self._dict_row[0]
        if self.conn.execute("SELECT 1 FROM zstd_dicts WHERE dict_id = ?", (dict_id,)).fetchone():
            return
        self.conn.execute(
            "INSERT INTO zstd_dicts (dict_id, data, trained_at) VALUES (?, ?, ?)", self._dict_row
        )

    def committed(self) -> None:
        """The open transaction was committed: the dictionary's row, if any, is there."""
        self._dict_committed = self._dict_row is not None

    def rolled_back(self) -> None:
        self._dict_committed = False

    def train(self, count: int = TRAIN_AFTER) -> int | None:
        """Train a dictionary on the newest ``count`` bodies, store it, and compress
        those bodies again with it. Returns its id (None: too few bodies to learn from)."""
        # Bytes only, no decoded copies: the samples (~4 MB) and the training's own tables
        # are the run's memory peak.
        samples = [
            (
                sha,
                html.encode("utf-8", "surrogatepass")
                if html is not None
                else decompress(z, self.conn),
            )
            for sha, html, z in self.conn.execute(
                "SELECT sha256, html, zstd FROM bodies WHERE html IS NOT NULL OR zstd IS NOT NULL"
                " ORDER BY rowid DESC LIMIT ?",
                (count,),
            )
        ]
        try:
            trained = zstandard.train_dictionary(
                DICT_SIZE, [data for _, data in samples], f=TRAIN_F, level=3
            )
        except zstandard.ZstdError:  # too few or too small samples: try again later
            self._without = 0
            return None
        dict_id = trained.dict_id()
        when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self._use(dict_id, trained.as_bytes(), when)
        self._keep_dict()
        compressor = self._compressor
        assert compressor is not None
        # Deleted and added again rather than updated: rows shrunk in place would leave
        # most of their pages empty; freed pages are reused by the next rows of any table.
        self.conn.executemany("DELETE FROM bodies WHERE sha256 = ?", [(sha,) for sha, _ in samples])
        self.conn.executemany(
            "INSERT INTO bodies (sha256, zstd) VALUES (?, ?)",
            ((sha, compressor.compress(data)) for sha, data in samples),
        )
        return dict_id
