"""Step 8 of the data flow: the link graph — related posts, pingback verification, stats.

Everything here reads (and for verification, updates) the tables written by
:mod:`db.store`; nothing touches the network. Edges follow SPEC section 6: a row of
``links`` is ``src → dst`` ("src links to dst"). A pingback found on post T naming source
S is stored as ``src=S, dst=T, found_on=T``; every other link as ``src=page, dst=url,
found_on=page``. So "S links to T" is a ``links`` row found *on* S whose ``dst`` is T.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import sqlite_utils

from crawler.records import PING_KINDS as RECORD_PING_KINDS
from crawler.records import iso
from crawler.urls import blog_of, host_of
from db import links as link_graph
from db.blogs import coverage as blog_coverage

# Link kinds that relate posts (SPEC section 6); nav and comment links never do.
GRAPH_KINDS = ("pingback", "trackback", "citation")
# pingback, trackback, webmention: the comments that name a source linking to the post
PING_KINDS = tuple(sorted(RECORD_PING_KINDS))
_GRAPH_KINDS_SQL = "('pingback', 'trackback', 'citation')"
_PING_KINDS_SQL = "(" + ", ".join(f"'{kind}'" for kind in PING_KINDS) + ")"

# A fetched page counts as the source "as fetched" for verification. 304 is accepted because
# a re-visit that was Not Modified leaves the earlier 200's links in place.
_FETCHED_OK = "(p.status BETWEEN 200 AND 299 OR p.status = 304) AND p.error IS NULL"

# A pingback/trackback edge already found to be spam (verified = 0) says nothing about how
# posts relate, so the ranking ignores it. Unknown (NULL) ones get the benefit of the doubt.
# "+c.kind" keeps SQLite off the low-selectivity kind index (it would scan every pingback
# per link) and on the source_url one.
_NOT_SPAM = """(
  {a}.kind = 'citation' OR NOT EXISTS (
    SELECT 1 FROM comments c
    WHERE c.source_url = {a}.src AND c.post_url = {a}.dst AND +c.kind = {a}.kind
      AND c.verified = 0))"""


class NotFound(LookupError):
    """The URL asked about is not a page in the database."""


def register_functions(db: sqlite_utils.Database) -> None:
    """Make ``pingcrawl_blog(url)`` and ``pingcrawl_host(url)`` callable from SQL."""
    db.register_function(_sql_blog, deterministic=True, replace=True, name="pingcrawl_blog")
    db.register_function(_sql_host, deterministic=True, replace=True, name="pingcrawl_host")


def _sql_host(url: str | None) -> str | None:
    return host_of(url) if url and "://" in url else None


def _sql_blog(url: str | None) -> str | None:
    return blog_of(url) if url and "://" in url else None


# --------------------------------------------------------------------------- related posts


def pingback_list(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """The rows of the ``pingbacks`` view (source, target, kind, verified), by target."""
    return _rows(db, "SELECT source, target, kind, verified FROM pingbacks ORDER BY target, source")


def related_posts(db: sqlite_utils.Database, blog: str | None = None) -> Iterator[dict[str, Any]]:
    """Yield the rows of the ``related_posts`` view, optionally for one blog.

    Each row is ``{"blog", "a", "b", "kinds", "a_title", "b_title"}``: an undirected pair of
    posts of one blog (``a < b``) joined by a pingback, trackback or citation edge in either
    direction; ``kinds`` is the sorted, comma-separated list of the kinds joining them.
    Rows come ordered by blog, a, b and are streamed from the cursor.
    """
    sql = """
        SELECT r.blog, r.a, r.b, r.kinds, pa.title AS a_title, pb.title AS b_title
        FROM related_posts r
        LEFT JOIN pages pa ON pa.url = r.a
        LEFT JOIN pages pb ON pb.url = r.b
        {where}
        ORDER BY r.blog, r.a, r.b
    """
    where, params = ("WHERE r.blog = ?", [normalise_blog(blog)]) if blog else ("", [])
    cursor = db.execute(sql.format(where=where), params)
    names = [d[0] for d in cursor.description]
    for values in cursor:
        row = dict(zip(names, values, strict=True))
        row["kinds"] = sort_kinds(row["kinds"])
        yield row


def normalise_blog(blog: str) -> str:
    """Accept ``example.org``, ``www.example.org`` or ``https://www.example.org/`` as a blog."""
    blog = blog.strip().lower()
    if "://" in blog:
        blog = urlsplit(blog).netloc
    blog = blog.strip("/")
    return blog[4:] if blog.startswith("www.") else blog


def sort_kinds(kinds: str | None) -> str | None:
    """``"pingback,citation"`` → ``"citation,pingback"`` (group_concat order is arbitrary)."""
    return ",".join(sorted(set(kinds.split(",")))) if kinds else kinds


@dataclass
class Related:
    """One post related to the post asked about, with how the two are linked.

    ``direction`` says how the direct links run: ``"out"`` (the post asked about links to
    this one), ``"in"`` (this one links to it), ``"both"``, or None when they only share
    neighbours. ``shared_sources`` are URLs both posts link to; ``shared_citers`` are pages
    that link to both.
    """

    url: str
    title: str | None
    score: float = 0.0
    kinds: list[str] = field(default_factory=list)
    direction: str | None = None
    shared_sources: list[str] = field(default_factory=list)
    shared_citers: list[str] = field(default_factory=list)
    how: str = ""

    @property
    def direct(self) -> bool:
        return self.direction is not None


def related_to(db: sqlite_utils.Database, url: str, limit: int = 20) -> list[Related]:
    """Rank the posts of ``url``'s blog that are related to it (``pingcrawl related URL``).

    Direct links come first (pingback, trackback or citation in either direction, with
    their kinds and direction), then posts that only share neighbours: posts citing the
    same sources (bibliographic coupling) or cited by the same pages (co-citation). A shared
    neighbour weighs ``1 / log2(n)`` where n is how many of the blog's posts share it, so a
    source every post cites counts for little. ``url`` must be normalised (the CLI does it);
    it may also be a page's final URL or canonical. Raises :class:`NotFound` otherwise.
    Pingbacks already found to be spam (verified = 0) are ignored.
    """
    post, blog = _resolve_page(db, url)
    found: dict[str, Related] = {}
    _add_direct_links(db, post, blog, found)
    _add_shared(db, post, blog, found, _SHARED_SOURCES_SQL, "shared_sources")
    _add_shared(db, post, blog, found, _SHARED_CITERS_SQL, "shared_citers")
    _score(found.values())
    ranked = sorted(found.values(), key=lambda r: (not r.direct, -r.score, r.url))
    return ranked[: max(limit, 0)]


def _resolve_page(db: sqlite_utils.Database, url: str) -> tuple[str, str | None]:
    """Find the ``pages.url`` a user means: exact, then final URL or canonical, then the
    same URL with/without a trailing slash."""
    alternatives = [url, url[:-1] if url.endswith("/") else url + "/"]
    for candidate in alternatives:
        row = db.execute(
            "SELECT url, blog FROM pages WHERE url = ?"
            " UNION ALL SELECT url, blog FROM pages WHERE final_url = ? OR canonical = ?"
            " LIMIT 1",
            [candidate, candidate, candidate],
        ).fetchone()
        if row:
            return row[0], row[1] or blog_of(row[0])
    raise NotFound(f"{url} is not in the database")


# Two halves, not "src = :p OR dst = :p": links is a view over URL ids (schema v10), and an
# OR across its two URL joins would read every link.
_DIRECT_SQL = f"""
SELECT l.src, l.dst, l.kind, q.url, q.title
FROM links l
JOIN pages q ON q.url = l.dst
WHERE l.src = :p AND l.dst != :p
  AND l.kind IN {_GRAPH_KINDS_SQL}
  AND q.is_post = 1 AND q.blog = :blog
  AND {_NOT_SPAM.format(a="l")}
UNION ALL
SELECT l.src, l.dst, l.kind, q.url, q.title
FROM links l
JOIN pages q ON q.url = l.src
WHERE l.dst = :p AND l.src != :p
  AND l.kind IN {_GRAPH_KINDS_SQL}
  AND q.is_post = 1 AND q.blog = :blog
  AND {_NOT_SPAM.format(a="l")}
"""

# Posts Q of the blog that link to a URL X the post P links to as well.
_SHARED_SOURCES_SQL = f"""
SELECT q.url, q.title, x.dst AS via
FROM links x
JOIN links y ON y.dst = x.dst
JOIN pages q ON q.url = y.src
WHERE x.src = :p AND x.kind IN {_GRAPH_KINDS_SQL} AND y.kind IN {_GRAPH_KINDS_SQL}
  AND y.src != :p AND x.dst NOT IN (:p, y.src)
  AND q.is_post = 1 AND q.blog = :blog
  AND {_NOT_SPAM.format(a="x")} AND {_NOT_SPAM.format(a="y")}
"""

# Posts Q of the blog linked from a page X that links to the post P as well.
_SHARED_CITERS_SQL = f"""
SELECT q.url, q.title, x.src AS via
FROM links x
JOIN links y ON y.src = x.src
JOIN pages q ON q.url = y.dst
WHERE x.dst = :p AND x.kind IN {_GRAPH_KINDS_SQL} AND y.kind IN {_GRAPH_KINDS_SQL}
  AND y.dst != :p AND x.src NOT IN (:p, y.dst)
  AND q.is_post = 1 AND q.blog = :blog
  AND {_NOT_SPAM.format(a="x")} AND {_NOT_SPAM.format(a="y")}
"""


def _add_direct_links(
    db: sqlite_utils.Database, post: str, blog: str | None, found: dict[str, Related]
) -> None:
    directions: dict[str, set[str]] = {}
    for src, _dst, kind, url, title in db.execute(_DIRECT_SQL, {"p": post, "blog": blog}):
        related = found.setdefault(url, Related(url=url, title=title))
        if kind not in related.kinds:
            related.kinds.append(kind)
        directions.setdefault(url, set()).add("out" if src == post else "in")
    for url, ways in directions.items():
        found[url].kinds.sort()
        found[url].direction = "both" if len(ways) == 2 else ways.pop()


def _add_shared(
    db: sqlite_utils.Database,
    post: str,
    blog: str | None,
    found: dict[str, Related],
    sql: str,
    attribute: str,
) -> None:
    for url, title, via in db.execute(sql, {"p": post, "blog": blog}):
        related = found.setdefault(url, Related(url=url, title=title))
        shared = getattr(related, attribute)
        if via not in shared:
            shared.append(via)


def _score(related: Iterable[Related]) -> None:
    """Score each post and write its human "how" string."""
    items = list(related)
    # How many of the blog's related posts share each neighbour (plus the post itself).
    sharing: dict[str, int] = {}
    for item in items:
        for via in {*item.shared_sources, *item.shared_citers}:
            sharing[via] = sharing.get(via, 1) + 1
    for item in items:
        # The rarest shared neighbours say the most: list them first.
        item.shared_sources.sort(key=lambda via: (sharing[via], via))
        item.shared_citers.sort(key=lambda via: (sharing[via], via))
        direct = 2.0 * len(item.kinds) * (2 if item.direction == "both" else 1)
        shared = sum(
            1 / math.log2(sharing[via]) for via in {*item.shared_sources, *item.shared_citers}
        )
        item.score = round(direct + shared, 3)
        item.how = _how(item)


def _how(item: Related) -> str:
    parts = []
    kinds = "/".join(item.kinds)
    if item.direction == "out":
        parts.append(f"this post links to it ({kinds})")
    elif item.direction == "in":
        parts.append(f"it links to this post ({kinds})")
    elif item.direction == "both":
        parts.append(f"they link to each other ({kinds})")
    if item.shared_sources:
        parts.append("both link to " + _some(item.shared_sources))
    if item.shared_citers:
        parts.append("both linked from " + _some(item.shared_citers))
    return "; ".join(parts)


def _some(urls: list[str], shown: int = 2) -> str:
    text = ", ".join(urls[:shown])
    more = len(urls) - shown
    return f"{text} and {more} more" if more > 0 else text


# ---------------------------------------------------------------------- pingback verification

# The pages that are the fetched source of a pingback: its URL or the URL it redirected to.
# ``page`` is the post the links of that page are recorded under: the page itself, or for
# a comment page (…/comment-page-2/) its post.
_SOURCE_PAGES_SQL = f"""
CREATE TEMP TABLE {{table}} AS
SELECT p.url AS alias, coalesce(p.post_url, p.url) AS page FROM pages p
 WHERE p.url IN (SELECT source_url FROM {{comments}}) AND {_FETCHED_OK}
UNION
SELECT p.final_url AS alias, coalesce(p.post_url, p.url) AS page FROM pages p
 WHERE p.final_url IN (SELECT source_url FROM {{comments}}) AND {_FETCHED_OK}
"""

# A link of the source page: every link but a pingback found on a page is recorded with
# that page (or, on a comment page, its post) as src, wherever it was first seen; so one
# primary-key lookup per target answers. The target post may be linked by its stored URL,
# its canonical or the URL it was finally served from.
_VERDICT_SQL = f"""
UPDATE comments AS c SET verified = EXISTS (
    SELECT 1 FROM {{table}} s, links l
    WHERE s.alias = c.source_url
      AND l.src = s.page
      AND l.kind NOT IN {_PING_KINDS_SQL}
      AND l.dst IN (c.post_url,
                    (SELECT t.canonical FROM pages t WHERE t.url = c.post_url),
                    (SELECT t.final_url FROM pages t WHERE t.url = c.post_url))
)
WHERE c.id IN (SELECT id FROM {{comments}})
  AND c.source_url IN (SELECT alias FROM {{table}})
"""


def verify_pingbacks(
    db: sqlite_utils.Database,
    source_urls: Iterable[str] | None = None,
    *,
    post_urls: Iterable[str] | None = None,
    unknown_only: bool = False,
) -> int:
    """Check pingbacks and trackbacks as a Pingback receiver must; return how many got a verdict.

    For each pingback/trackback comment whose source page has been fetched successfully (a
    ``pages`` row with ``url`` or ``final_url`` equal to ``source_url``, status 2xx — or 304,
    a re-visit of an earlier 2xx — and no error), set ``comments.verified`` to 1 when that
    page links to the target post (any ``links`` row with it — or, for a comment page, its
    post — as ``src``, of any kind but pingback/trackback, whose ``dst`` is the post's URL,
    canonical or final URL), else 0.
    Comments whose source is unfetched or failed keep their value (NULL until a verdict).

    With no arguments every pingback is checked. Otherwise only those from ``source_urls``
    (as requested or as finally served), those on ``post_urls``, and with ``unknown_only``
    those still without a verdict: the crawler passes the pages it just wrote, as both.
    """
    with db.conn:
        _select_pingbacks(db, source_urls, post_urls, unknown_only)
        db.execute("DROP TABLE IF EXISTS temp._pc_sources")
        db.execute(_SOURCE_PAGES_SQL.format(table="temp._pc_sources", comments="temp._pc_ping"))
        db.execute("CREATE INDEX temp._pc_sources_alias ON _pc_sources (alias)")
        cursor = db.execute(_VERDICT_SQL.format(table="temp._pc_sources", comments="temp._pc_ping"))
        count = cursor.rowcount
        db.execute("DROP TABLE temp._pc_sources")
        db.execute("DROP TABLE temp._pc_ping")
    return count


def _select_pingbacks(
    db: sqlite_utils.Database,
    source_urls: Iterable[str] | None,
    post_urls: Iterable[str] | None,
    unknown_only: bool,
) -> None:
    """Put the pingback comments to check into ``temp._pc_ping (id, source_url)``."""
    for table in ("_pc_ping", "_pc_sources_asked", "_pc_posts_asked"):
        db.execute(f"DROP TABLE IF EXISTS temp.{table}")
    db.execute("CREATE TEMP TABLE _pc_ping (id TEXT PRIMARY KEY, source_url TEXT)")
    base = (
        "INSERT INTO temp._pc_ping SELECT id, source_url FROM comments"
        f" WHERE +kind IN {_PING_KINDS_SQL} AND source_url IS NOT NULL"
    )
    # One indexed lookup per way of being wanted, joined by UNION (an OR of them would
    # scan every comment: this runs after every batch of pages).
    wanted = []
    if source_urls is not None:
        _temp_url_table(db, "_pc_sources_asked", source_urls)
        # The caller may name the URL it requested while the comment names where it redirected.
        wanted += [
            "SELECT id FROM comments WHERE source_url IN (SELECT url FROM temp._pc_sources_asked)",
            "SELECT id FROM comments WHERE source_url IN (SELECT p.final_url FROM pages p"
            " WHERE p.url IN (SELECT url FROM temp._pc_sources_asked))",
        ]
    if post_urls is not None:
        _temp_url_table(db, "_pc_posts_asked", post_urls)
        wanted.append(
            "SELECT id FROM comments WHERE post_url IN (SELECT url FROM temp._pc_posts_asked)"
        )
    if unknown_only:
        wanted.append("SELECT id FROM comments WHERE verified IS NULL")
    db.execute(base + (f" AND id IN ({' UNION '.join(wanted)})" if wanted else ""))
    db.execute("DROP TABLE IF EXISTS temp._pc_sources_asked")
    db.execute("DROP TABLE IF EXISTS temp._pc_posts_asked")


def _temp_url_table(db: sqlite_utils.Database, name: str, urls: Iterable[str]) -> None:
    db.execute(f"CREATE TEMP TABLE {name} (url TEXT PRIMARY KEY)")
    db.conn.executemany(f"INSERT OR IGNORE INTO temp.{name} VALUES (?)", ((u,) for u in urls))


# ----------------------------------------------------------------------------------- stats


def stats(db: sqlite_utils.Database, top: int = 10, runs: int = 5) -> dict[str, Any]:
    """Counts for ``pingcrawl stats``, as a JSON-ready dict::

        {"pages": {"total", "posts", "by_status": {"200": n, "404": n, "none": n}},
         "comments": {"total", "by_kind": {...}},
         "pingbacks": {"verified", "unverified", "unknown"},
         "links": {"total", "by_kind": {...}},
         "top_cited_hosts": [{"host", "links", "citing_pages"}],    # other blogs only
         "errors": {"fetch": {reason: n}, "skipped": {reason: n}},
         "frontier": {state: n},
         "last_runs": [{"id", "started_at", "finished_at", "status", "fetched", ...}],
         "hosts_waiting": [{"host", "queued", "next_attempt_at", "paused_until"}],
         "blogs": [{"blog", "posts_listed", "posts_stored", "last_checked", "last_check",
                    "listing"}]}                                     # whole blogs' coverage

    Top cited hosts count citation links to other blogs (a blog citing itself is not news),
    ``top`` of them; ``last_runs`` are the latest ``runs`` runs, newest first.
    """
    register_functions(db)
    return {
        "pages": _page_stats(db),
        "comments": _count_by(db, "comments", "kind"),
        "pingbacks": _pingback_stats(db),
        "links": _count_by(db, "link_edges", link_graph.KIND_SQL),  # the view: slower
        "top_cited_hosts": _top_cited_hosts(db, top),
        "errors": {
            "fetch": _reasons(db, "SELECT error, count(*) FROM pages WHERE error IS NOT NULL"),
            "skipped": _reasons(
                db, "SELECT reason, count(*) FROM frontier WHERE state = 'skipped'"
            ),
        },
        "frontier": _reasons(db, "SELECT state, count(*) FROM frontier"),
        "last_runs": _rows(db, "SELECT * FROM runs ORDER BY id DESC LIMIT ?", [runs]),
        "hosts_waiting": _hosts_waiting(db, top),
        "blogs": blog_coverage(db.conn),
    }


def _rows(db: sqlite_utils.Database, sql: str, params: list[Any] | None = None) -> list[dict]:
    cursor = db.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def _reasons(db: sqlite_utils.Database, select: str) -> dict[str, int]:
    """``select`` yields (key, count) and lacks its GROUP BY: group by the key, most first."""
    sql = f"{select} GROUP BY 1 ORDER BY 2 DESC, 1"
    return {("none" if key is None else str(key)): n for key, n in db.execute(sql)}


def _count_by(db: sqlite_utils.Database, table: str, column: str) -> dict[str, Any]:
    by = _reasons(db, f"SELECT {column}, count(*) FROM {table}")
    return {"total": sum(by.values()), "by_kind": by}


def _page_stats(db: sqlite_utils.Database) -> dict[str, Any]:
    total, posts = db.execute(
        "SELECT count(*), coalesce(sum(is_post = 1), 0) FROM pages"
    ).fetchone()
    by_status = _reasons(db, "SELECT status, count(*) FROM pages")
    return {"total": total, "posts": posts, "by_status": by_status}


def _pingback_stats(db: sqlite_utils.Database) -> dict[str, int]:
    verified, unverified, unknown = db.execute(
        "SELECT coalesce(sum(verified = 1), 0), coalesce(sum(verified = 0), 0),"
        " coalesce(sum(verified IS NULL), 0)"
        f" FROM comments WHERE kind IN {_PING_KINDS_SQL}"
    ).fetchone()
    return {"verified": verified, "unverified": unverified, "unknown": unknown}


def _top_cited_hosts(db: sqlite_utils.Database, top: int) -> list[dict[str, Any]]:
    return _rows(
        db,
        "SELECT pingcrawl_host(dst) AS host, count(*) AS links,"
        " count(DISTINCT src) AS citing_pages"
        " FROM links WHERE kind = 'citation' AND coalesce(same_blog, 0) = 0"
        " GROUP BY 1 ORDER BY links DESC, host LIMIT ?",
        [top],
    )


_HOSTS_WAITING_SQL = """
WITH queued AS (
  SELECT coalesce(host, pingcrawl_host(url)) AS host, count(*) AS queued,
         min(next_attempt_at) AS next_attempt_at
  FROM frontier WHERE state = 'queued' GROUP BY 1
),
paused AS (
  SELECT host, paused_until FROM hosts
  WHERE paused_until IS NOT NULL AND paused_until > ?
)
SELECT q.host, q.queued, q.next_attempt_at, p.paused_until
FROM queued q LEFT JOIN paused p ON p.host = q.host
UNION ALL
SELECT p.host, 0, NULL, p.paused_until FROM paused p
WHERE p.host NOT IN (SELECT host FROM queued)
ORDER BY 2 DESC, 1
LIMIT ?
"""


def _hosts_waiting(db: sqlite_utils.Database, top: int) -> list[dict[str, Any]]:
    return _rows(db, _HOSTS_WAITING_SQL, [iso(), top])
