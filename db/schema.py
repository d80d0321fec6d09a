"""Step 6 of the data flow: the SQLite schema (SPEC section 5), created with sqlite-utils.

Tables get explicit primary keys, foreign keys and indexes so `sqlite-utils` and
Datasette show the link graph as relationships. The schema version lives in
``PRAGMA user_version``; :func:`ensure_schema` migrates an older database forward
step by step and never drops data.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import sqlite_utils

from db import links as link_graph
from db import shapes
from db.bodies import DICTS_TABLE, compress_stored
from db.bodies import register as register_body_function

SCHEMA_VERSION = 13  # == len(MIGRATIONS)

PAGE_COLUMNS: dict[str, type] = {
    "url": str,
    "final_url": str,
    "host": str,
    "blog": str,
    "status": int,
    "content_type": str,
    "fetched_at": str,
    "etag": str,
    "last_modified": str,
    "sha256": str,
    "title": str,
    "is_post": int,
    "published": str,
    "author": str,
    "depth": int,
    "error": str,
    "text": str,
    "next_fetch_at": str,
    "canonical": str,
    "post_url": str,  # for a comment page: the post it belongs to
    "size": int,
    "pingback_endpoint": str,
    "webmention_endpoint": str,
    "feeds": str,  # JSON list
    "recrawl_interval": float,  # seconds until the next visit (adapted per post)
    "comments_hash": str,  # detects a changed comment list between visits
}

# Version 1: posts joined by their stored URL only.
RELATED_POSTS_VIEW_V1 = """
SELECT pa.blog AS blog,
       min(l.src, l.dst) AS a,
       max(l.src, l.dst) AS b,
       group_concat(DISTINCT l.kind) AS kinds
FROM links l
JOIN pages pa ON pa.url = l.src
JOIN pages pb ON pb.url = l.dst
WHERE l.kind IN ('pingback', 'trackback', 'citation')
  AND pa.is_post = 1 AND pb.is_post = 1
  AND pa.blog = pb.blog
  AND l.src != l.dst
GROUP BY pa.blog, min(l.src, l.dst), max(l.src, l.dst)
"""

# Version 2: a post is also known by its final (redirected) URL and its canonical URL,
# and a pingback found to be spam (verified = 0) relates nothing.
RELATED_POSTS_VIEW = """
WITH ends AS (
  SELECT url AS alias, url, blog FROM pages WHERE is_post = 1
  UNION SELECT final_url, url, blog FROM pages WHERE is_post = 1 AND final_url IS NOT NULL
  UNION SELECT canonical, url, blog FROM pages WHERE is_post = 1 AND canonical IS NOT NULL
)
SELECT ea.blog AS blog, min(ea.url, eb.url) AS a, max(ea.url, eb.url) AS b,
       group_concat(DISTINCT l.kind) AS kinds
FROM links l
JOIN ends ea ON ea.alias = l.src
JOIN ends eb ON eb.alias = l.dst
WHERE l.kind IN ('pingback', 'trackback', 'citation')
  AND ea.blog = eb.blog AND ea.url != eb.url
  AND NOT (l.kind IN ('pingback', 'trackback') AND EXISTS (
      SELECT 1 FROM comments c WHERE c.source_url = l.src AND c.post_url = l.dst
        AND +c.kind = l.kind AND c.verified = 0))
GROUP BY ea.blog, min(ea.url, eb.url), max(ea.url, eb.url)
"""

PINGBACKS_VIEW_V1 = """
SELECT c.id, c.post_url AS target, c.source_url AS source, c.kind, c.source_title,
       c.author, c.published, c.verified, p.blog AS blog, p.title AS target_title
FROM comments c
LEFT JOIN pages p ON p.url = c.post_url
WHERE c.kind IN ('pingback', 'trackback')
"""

# Version 3: webmentions (IndieWeb mentions shown on a post) are pings too.
PINGBACKS_VIEW = PINGBACKS_VIEW_V1.replace(
    "('pingback', 'trackback')", "('pingback', 'trackback', 'webmention')"
)


PAGE_SIZE = 16384


def open_database(path: str | Path) -> sqlite_utils.Database:
    """Open (creating if needed) a pingcrawl database in WAL mode with an up-to-date schema."""
    # The crawler hands its connection to a database thread for the run (one thread at a
    # time uses it: see crawler/writer.py); the store's statements are many (db/shapes.py).
    conn = sqlite3.connect(
        str(path), check_same_thread=False, cached_statements=shapes.STATEMENT_CACHE
    )
    db = sqlite_utils.Database(conn)
    db.execute("PRAGMA busy_timeout = 5000")
    register_body_function(db.conn)
    # A new file only (SQLite ignores it once the first table exists), before WAL: rows of
    # pages (~3 KB) and bodies share pages instead of each leaving most of 4 KB unused.
    db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
    if str(path) != ":memory:":
        db.enable_wal()
    db.execute("PRAGMA synchronous = NORMAL")
    ensure_schema(db)
    return db


def schema_version(db: sqlite_utils.Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create or migrate the schema to :data:`SCHEMA_VERSION`."""
    version = schema_version(db)
    for target, step in enumerate(MIGRATIONS, start=1):
        if version < target:
            with db.conn:
                step(db)
                db.execute(f"PRAGMA user_version = {target}")


def _create_v1(db: sqlite_utils.Database) -> None:
    db.table("bodies").create({"sha256": str, "html": str}, pk="sha256", if_not_exists=True)
    db.table("pages").create(
        PAGE_COLUMNS,
        pk="url",
        not_null={"url"},
        defaults={"is_post": 0},
        foreign_keys=[("sha256", "bodies", "sha256")],
        if_not_exists=True,
    )
    db.table("comments").create(
        {
            "id": str,
            "post_url": str,
            "comment_id": str,
            "kind": str,
            "author": str,
            "author_url": str,
            "published": str,
            "text": str,
            "source_url": str,
            "source_title": str,
            "verified": int,
            "found_on": str,
            "first_seen": str,
        },
        pk="id",
        not_null={"post_url", "kind"},
        foreign_keys=[("post_url", "pages", "url")],
        if_not_exists=True,
    )
    db.table("links").create(
        {
            "src": str,
            "dst": str,
            "kind": str,
            "found_on": str,
            "anchor": str,
            "rel": str,
            "same_blog": int,
            "first_seen": str,
        },
        pk=("src", "dst", "kind"),
        foreign_keys=[("found_on", "pages", "url")],
        if_not_exists=True,
    )
    db.table("frontier").create(
        {
            "url": str,
            "depth": int,
            "found_on": str,
            "kind": str,
            "state": str,
            "reason": str,
            "attempts": int,
            "next_attempt_at": str,
            "host": str,
            "post_url": str,
            "added_at": str,
        },
        pk="url",
        not_null={"state"},
        defaults={"attempts": 0, "state": "queued"},
        if_not_exists=True,
    )
    db.table("runs").create(
        {
            "id": int,
            "started_at": str,
            "finished_at": str,
            "status": str,
            "pid": int,
            "fetched": int,
            "failed": int,
            "skipped": int,
            "new_pages": int,
            "new_links": int,
            "new_comments": int,
            "not_modified": int,
        },
        pk="id",
        if_not_exists=True,
    )
    db.table("hosts").create(
        {
            "host": str,
            "robots_status": int,
            "robots_txt": str,
            "robots_fetched_at": str,
            "crawl_delay": float,
            "last_request_at": str,
            "errors": int,
            "paused_until": str,
            "pause_seconds": float,
        },
        pk="host",
        if_not_exists=True,
    )
    _create_indexes(db)
    _create_views(db)
    if "pages_fts" not in db.table_names():
        db.table("pages").enable_fts(["title", "text"], create_triggers=True, tokenize="porter")


def _create_indexes(db: sqlite_utils.Database) -> None:
    indexes = {
        "pages": [["sha256"], ["blog"], ["post_url"], ["next_fetch_at"]],
        "comments": [["post_url"], ["source_url"], ["kind"]],
        "links": [["dst"], ["found_on"], ["kind"]],
        "frontier": [["state", "next_attempt_at"], ["host"]],
    }
    for table, columns_list in indexes.items():
        for columns in columns_list:
            db.table(table).create_index(columns, if_not_exists=True)


def _create_views(db: sqlite_utils.Database) -> None:
    db.create_view("related_posts", RELATED_POSTS_VIEW_V1, replace=True)
    db.create_view("pingbacks", PINGBACKS_VIEW_V1, replace=True)


def _v2_related_by_final_and_canonical_url(db: sqlite_utils.Database) -> None:
    db.table("pages").create_index(["final_url"], if_not_exists=True)
    db.table("pages").create_index(["canonical"], if_not_exists=True)
    db.create_view("related_posts", RELATED_POSTS_VIEW, replace=True)


def _v3_comments_search_and_labelled_links(db: sqlite_utils.Database) -> None:
    """Full-text search over comments (``sqlite-utils search pingcrawl.db comments …``) and
    ``links.src``/``links.dst`` declared as references to ``pages.url``, so Datasette shows
    a link's ends by their page titles.

    SQLite cannot add a foreign key in place: sqlite-utils rebuilds ``links`` once (rows,
    indexes and the views over it kept). Foreign keys are not enforced (SQLite's default,
    which pingcrawl keeps): most link targets are pages never fetched.
    """
    if "comments_fts" not in db.table_names():
        db.table("comments").enable_fts(
            ["text", "author", "source_title"], create_triggers=True, tokenize="porter"
        )
    declared = {fk.column for fk in db.table("links").foreign_keys}
    wanted = [(column, "pages", "url") for column in ("src", "dst") if column not in declared]
    if wanted:
        db.add_foreign_keys([("links", *fk) for fk in wanted])


def _v4_webmentions_in_pingbacks(db: sqlite_utils.Database) -> None:
    db.create_view("pingbacks", PINGBACKS_VIEW, replace=True)


def _v5_host_sitemaps(db: sqlite_utils.Database) -> None:
    """The ``Sitemap:`` URLs of the host's robots.txt, a JSON list, kept with its rules."""
    hosts = db.table("hosts")
    if "sitemaps" not in hosts.columns_dict:
        hosts.add_column("sitemaps", str)


def _v6_claims_and_leases(db: sqlite_utils.Database) -> None:
    """A claim names its run; a run holds a lease it renews (see db/backend.py)."""
    db.table("frontier").add_column("claimed_by", int)
    db.table("runs").add_column("lease_until", str)


def _v7_blogs(db: sqlite_utils.Database) -> None:
    """Whole blogs (issue 13): what each blog lists its posts through, and the nightly
    watch's validators and watermarks (``db/blogs.py`` reads and writes it)."""
    db.table("blogs").create(
        {
            "blog": str,
            "home": str,
            "api": str,
            "sitemaps": str,
            "feed": str,
            "comment_feed": str,
            "comment_feed_etag": str,
            "comment_feed_last_modified": str,
            "watch_listing": str,
            "watch_listing_kind": str,
            "watch_listing_etag": str,
            "watch_listing_last_modified": str,
            "comments_watermark": str,
            "posts_listed": int,
            "not_posts": int,
            "failures": str,
            "discovered_at": str,
            "last_checked": str,
            "last_check": str,
            "last_swept": str,
        },
        pk="blog",
        if_not_exists=True,
    )


def _v8_fetch_log(db: sqlite_utils.Database) -> None:
    """One row per request that reached a server (robots.txt, redirect hops, retries), and
    where its WARC record went when the run archived."""
    db.table("fetches").create(
        {
            "id": int,
            "run_id": int,
            "url": str,
            "host": str,
            "page_url": str,
            "purpose": str,
            "method": str,
            "fetched_at": str,
            "status": int,
            "error": str,
            "bytes": int,
            "elapsed": float,
            "payload_digest": str,
            "warc_file": str,
            "warc_offset": int,
            "warc_length": int,
            "warc_type": str,
            "warc_record_id": str,
            "warc_date": str,
        },
        pk="id",
        if_not_exists=True,
    )
    db.table("fetches").create_index(["url", "id"], if_not_exists=True)
    db.table("fetches").create_index(["host"], if_not_exists=True)


def _v9_compressed_bodies(db: sqlite_utils.Database) -> None:
    """Bodies kept compressed with zstd (db/bodies.py); ``html`` stays for older rows."""
    if "zstd" not in db.table("bodies").columns_dict:
        db.table("bodies").add_column("zstd", bytes)
    compress_stored(db.conn)


def _v10_url_ids_for_links(db: sqlite_utils.Database) -> None:
    """Links hold URL ids (``urls``, ``link_edges``); ``links`` becomes a view with the
    columns and values it had, so every reader is unchanged (db/links.py). The rows move,
    none is dropped."""
    if "links" in db.table_names():
        link_graph.move_links_table(db.conn)
    else:
        link_graph.create(db.conn)


def _v11_body_dictionaries(db: sqlite_utils.Database) -> None:
    """The zstd dictionaries bodies are compressed with, by the id in their frames
    (db/bodies.py)."""
    db.execute(DICTS_TABLE)


def _v12_leaner_comments(db: sqlite_utils.Database) -> None:
    """``comments.found_on`` is left empty when the comment was found on its post itself
    (rows written before keep the URL: readers take either); the index on ``comments.kind``
    goes (three values: lookups go by post or source URL)."""
    db.execute("DROP INDEX IF EXISTS idx_comments_kind")


# The full-text columns of each table with a ``<table>_fts`` index kept by triggers.
FTS_COLUMNS = {"pages": ("title", "text"), "comments": ("text", "author", "source_title")}


def _v13_fts_only_when_indexed_columns_change(db: sqlite_utils.Database) -> None:
    """The update triggers of the full-text indexes fire only when an indexed column
    changes: a pingback verdict or a page's next visit no longer re-indexes its text."""
    for table, columns in FTS_COLUMNS.items():
        trigger = f"{table}_au"
        row = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", [trigger]).fetchone()
        if row is None:
            continue
        watched = ", ".join(f'"{c}"' for c in columns)
        on = f'ON "{table}"'
        sql = row[0].replace(f"AFTER UPDATE {on}", f"AFTER UPDATE OF {watched} {on}")
        if sql != row[0]:
            db.execute(f'DROP TRIGGER "{trigger}"')
            db.execute(sql)


# MIGRATIONS[i] brings a database from version i to i + 1. Append, never edit.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _create_v1,
    _v2_related_by_final_and_canonical_url,
    _v3_comments_search_and_labelled_links,
    _v4_webmentions_in_pingbacks,
    _v5_host_sitemaps,
    _v6_claims_and_leases,
    _v7_blogs,
    _v8_fetch_log,
    _v9_compressed_bodies,
    _v10_url_ids_for_links,
    _v11_body_dictionaries,
    _v12_leaner_comments,
    _v13_fts_only_when_indexed_columns_change,
]


# --------------------------------------------------------------------------- guarding files
PINGCRAWL_TABLES = frozenset({"pages", "comments", "links", "frontier", "runs"})


class NotADatabase(ValueError):
    """The path is not a pingcrawl database (a directory, not SQLite, another program's);
    the message says which, in one line."""


def database_kind(path: str | Path) -> str:
    """What ``path`` holds, without changing it: ``missing``, ``directory``, ``empty`` (a
    zero-byte file), ``not_sqlite``, ``foreign`` (SQLite without pingcrawl's tables),
    ``pingcrawl``, or ``unreadable``. A database locked by another program raises
    ``sqlite3.OperationalError`` ("database is locked")."""
    file = Path(path)
    if file.is_dir():
        return "directory"
    if not file.exists():
        return "missing"
    try:
        if file.stat().st_size == 0:
            return "empty"
        with file.open("rb") as handle:
            if handle.read(16) != b"SQLite format 3\x00":
                return "not_sqlite"
    except OSError:
        return "unreadable"
    try:
        conn = _connect_readonly(file)
    except sqlite3.Error:
        return "unreadable"
    try:
        names = {
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
        }
    except sqlite3.OperationalError:
        raise  # locked or busy: the file is fine, another program holds it (the caller says)
    except sqlite3.DatabaseError:
        return "not_sqlite"
    finally:
        conn.close()
    return "pingcrawl" if names >= PINGCRAWL_TABLES else "foreign"


def _connect_readonly(path: Path) -> sqlite3.Connection:
    # mode=ro: SQLite itself refuses every write, so no table, index or journal mode
    # change can reach a file a read-only command was pointed at.
    uri = f"{path.resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    register_body_function(conn)
    return conn


_KIND_PROBLEMS = {
    "missing": "does not exist (run 'pingcrawl crawl' first)",
    "directory": "is a directory, not a database file",
    "empty": "is an empty file, not a pingcrawl database",
    "not_sqlite": "is not an SQLite database",
    "foreign": "is an SQLite database but not a pingcrawl one (no pages/frontier tables)",
    "unreadable": "cannot be read",
}


def open_readonly(path: str | Path) -> sqlite_utils.Database:
    """Open an existing pingcrawl database for reading only (``stats``, ``export``,
    ``related``): it never creates tables in, or changes the journal mode of, the file.
    Raises :class:`NotADatabase` for anything that is not a pingcrawl database. One of an
    older schema is migrated first (migrations only add), as every open of it would."""
    kind = database_kind(path)
    if kind != "pingcrawl":
        raise NotADatabase(f"database {path} {_KIND_PROBLEMS[kind]}")
    conn = _connect_readonly(Path(path))
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version < SCHEMA_VERSION:
        conn.close()
        return open_database(path)
    conn.execute("PRAGMA busy_timeout = 5000")
    return sqlite_utils.Database(conn)


def check_writable_target(path: str | Path) -> None:
    """Raise :class:`NotADatabase` unless ``path`` may become or already is a pingcrawl
    database: a crawl must not add its tables to another program's SQLite file."""
    kind = database_kind(path)
    if kind == "missing":
        if not Path(path).parent.is_dir():
            raise NotADatabase(f"database {path}: folder {Path(path).parent} does not exist")
        return
    if kind not in ("pingcrawl", "empty"):
        raise NotADatabase(f"database {path} {_KIND_PROBLEMS[kind]}")


def pages_outside(db: sqlite_utils.Database, hosts: set[str]) -> int:
    """How many stored pages are on none of ``hosts`` (the demo's test of "ours")."""
    marks = ",".join("?" * len(hosts)) or "''"
    query = f"SELECT count(*) FROM pages WHERE host NOT IN ({marks})"
    return int(db.execute(query, sorted(hosts)).fetchone()[0])
