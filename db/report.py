"""The queries behind ``pingcrawl report``: everything the HTML page shows, as plain data.

:func:`report_data` returns JSON-ready dicts and lists; ``crawler/report`` turns them into
one self-contained HTML file. Per blog: its posts (nodes, with the in-links that size them),
the pingback, trackback and citation edges between them with the pingback verdicts, and
the pingbacks it received from elsewhere (so spam shows). Across blogs: who pings and cites
whom, the most-cited sources, the most-pinged posts, the latest pingbacks, posts and
pingbacks per month.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlite_utils

from db.graph import normalise_blog, register_functions

# Edges that make posts related (SPEC section 6); webmention when a crawl has them.
GRAPH_KINDS = ("citation", "pingback", "trackback", "webmention")
PING_KINDS = ("pingback", "trackback", "webmention")
_IN = "('citation', 'pingback', 'trackback', 'webmention')"
_PING_IN = "('pingback', 'trackback', 'webmention')"

# A post is known by its stored URL, its final (redirected) URL and its canonical URL, as
# in the related_posts view; one row per alias.
_ENDS = """ends AS MATERIALIZED (
  SELECT url AS alias, url, blog FROM pages WHERE is_post = 1
  UNION SELECT final_url, url, blog FROM pages WHERE is_post = 1 AND final_url IS NOT NULL
  UNION SELECT canonical, url, blog FROM pages WHERE is_post = 1 AND canonical IS NOT NULL
)"""

# NULL: no verdict (not a pingback, or its source could not be checked); 1 real; 0 spam.
_VERDICT = """CASE WHEN l.kind IN ('pingback', 'trackback', 'webmention') THEN (
    SELECT max(c.verified) FROM comments c
    WHERE c.source_url = l.src AND c.post_url = l.dst AND +c.kind = l.kind) END"""


def report_data(
    db: sqlite_utils.Database, blogs: list[str] | None = None, top: int = 25
) -> dict[str, Any]:
    """All the report shows. ``blogs`` limits the per-blog graphs (hosts without ``www.``)."""
    register_functions(db)
    wanted = {normalise_blog(b) for b in blogs} if blogs else None
    graphs = blog_graphs(db, wanted)
    return {
        "totals": totals(db),
        "blogs": graphs,
        "across": across_blogs(db),
        "cited": most_cited(db, top),
        "pinged": most_pinged(db, top),
        "latest": latest_pingbacks(db, top * 2),
        "months": per_month(db),
    }


def totals(db: sqlite_utils.Database) -> dict[str, int]:
    one = db.execute(
        f"""SELECT (SELECT count(*) FROM pages), (SELECT count(*) FROM pages WHERE is_post = 1),
               (SELECT count(DISTINCT blog) FROM pages WHERE is_post = 1),
               (SELECT count(*) FROM links),
               (SELECT count(*) FROM comments WHERE kind IN {_PING_IN}),
               (SELECT count(*) FROM comments WHERE kind IN {_PING_IN} AND verified = 1),
               (SELECT count(*) FROM comments WHERE kind IN {_PING_IN} AND verified = 0),
               (SELECT count(*) FROM comments WHERE kind = 'comment')"""
    ).fetchone()
    names = ("pages", "posts", "blogs", "links", "pingbacks", "verified", "spam", "comments")
    return dict(zip(names, one, strict=True))


def blog_graphs(db: sqlite_utils.Database, wanted: set[str] | None) -> list[dict[str, Any]]:
    """One graph per blog with posts, largest first: ``posts`` (nodes), ``edges`` between
    them, ``pingers`` (pages elsewhere that pinged its posts) and their ``pings``."""
    graphs: dict[str, dict[str, Any]] = {}
    in_links = _in_links(db)
    for url, title, blog, published in db.execute(
        "SELECT url, title, blog, published FROM pages WHERE is_post = 1 ORDER BY blog, url"
    ):
        blog = blog or ""  # a post whose blog is unknown still gets drawn, under ""
        if wanted is not None and blog not in wanted:
            continue
        graph = graphs.setdefault(
            blog, {"blog": blog, "posts": [], "edges": [], "pingers": [], "pings": []}
        )
        graph["posts"].append(
            {"id": url, "title": title, "published": published, "in": in_links.get(url, 0)}
        )
    _add_edges(db, graphs)
    _add_pingers(db, graphs)
    return sorted(graphs.values(), key=lambda g: (-len(g["posts"]), g["blog"] or ""))


def _in_links(db: sqlite_utils.Database) -> dict[str, int]:
    """Distinct pages linking to each post by citation or pingback (spam excluded)."""
    sql = f"""WITH {_ENDS}
        SELECT e.url, count(DISTINCT l.src) FROM links l JOIN ends e ON e.alias = l.dst
        WHERE l.kind IN {_IN} AND l.src != e.url AND coalesce({_VERDICT}, 1) != 0
        GROUP BY e.url"""
    return dict(db.execute(sql).fetchall())


def _add_edges(db: sqlite_utils.Database, graphs: dict[str, dict[str, Any]]) -> None:
    sql = f"""WITH {_ENDS}
        SELECT DISTINCT ea.blog, ea.url, eb.url, l.kind, {_VERDICT}
        FROM links l JOIN ends ea ON ea.alias = l.src JOIN ends eb ON eb.alias = l.dst
        WHERE l.kind IN {_IN} AND ea.blog = eb.blog AND ea.url != eb.url
        ORDER BY 1, 2, 3, 4"""
    for blog, source, target, kind, verified in db.execute(sql):
        if blog in graphs:
            graphs[blog]["edges"].append(
                {"source": source, "target": target, "kind": kind, "verified": verified}
            )


def _add_pingers(db: sqlite_utils.Database, graphs: dict[str, dict[str, Any]]) -> None:
    """Pingbacks into a blog's posts from pages that are not its posts: other blogs, spam."""
    sql = f"""WITH {_ENDS}
        SELECT DISTINCT eb.blog, l.src, eb.url, l.kind, {_VERDICT},
               coalesce(p.title, (SELECT max(c.source_title) FROM comments c
                                  WHERE c.source_url = l.src))
        FROM links l JOIN ends eb ON eb.alias = l.dst LEFT JOIN pages p ON p.url = l.src
        WHERE l.kind IN {_PING_IN}
          AND NOT EXISTS (SELECT 1 FROM ends ea WHERE ea.alias = l.src AND ea.blog = eb.blog)
        ORDER BY 1, 2, 3, 4"""
    seen: dict[str, set[str]] = defaultdict(set)
    for blog, source, target, kind, verified, title in db.execute(sql):
        graph = graphs.get(blog)
        if graph is None:
            continue
        if source not in seen[blog]:
            seen[blog].add(source)
            graph["pingers"].append({"id": source, "title": title})
        graph["pings"].append(
            {"source": source, "target": target, "kind": kind, "verified": verified}
        )


def across_blogs(db: sqlite_utils.Database) -> dict[str, Any]:
    """Which crawled blogs ping and cite which: one edge per (from, to, kind) with a count.

    Only blogs with posts in the database are nodes (cited news sites are in ``cited``).
    """
    crawled = {
        row[0]
        for row in db.execute("SELECT DISTINCT blog FROM pages WHERE is_post = 1 AND blog > ''")
    }
    sql = f"""SELECT pingcrawl_blog(l.src) AS a, pingcrawl_blog(l.dst) AS b, l.kind, count(*)
        FROM links l WHERE l.kind IN {_IN} AND l.same_blog = 0 AND coalesce({_VERDICT}, 1) != 0
        GROUP BY a, b, l.kind ORDER BY a, b, l.kind"""
    edges = [
        {"source": a, "target": b, "kind": kind, "count": count}
        for a, b, kind, count in db.execute(sql)
        if a in crawled and b in crawled and a != b
    ]
    return {"blogs": sorted(crawled), "edges": edges}


def most_cited(db: sqlite_utils.Database, top: int) -> list[dict[str, Any]]:
    """Cited URLs by the number of pages (of other blogs) citing them."""
    sql = """SELECT l.dst AS url, p.title, count(DISTINCT l.src) AS pages,
               count(DISTINCT pingcrawl_blog(l.src)) AS blogs
        FROM links l LEFT JOIN pages p ON p.url = l.dst
        WHERE l.kind = 'citation' AND l.same_blog = 0
        GROUP BY l.dst ORDER BY pages DESC, blogs DESC, l.dst LIMIT ?"""
    return _dict_rows(db, sql, [top])


def most_pinged(db: sqlite_utils.Database, top: int) -> list[dict[str, Any]]:
    sql = f"""SELECT c.post_url AS url, p.title, p.blog, count(*) AS pingbacks,
               sum(c.verified = 1) AS verified, sum(c.verified = 0) AS spam
        FROM comments c LEFT JOIN pages p ON p.url = c.post_url
        WHERE c.kind IN {_PING_IN}
        GROUP BY c.post_url ORDER BY pingbacks DESC, verified DESC, c.post_url LIMIT ?"""
    return _dict_rows(db, sql, [top])


def latest_pingbacks(db: sqlite_utils.Database, top: int) -> list[dict[str, Any]]:
    sql = f"""SELECT coalesce(c.published, c.first_seen) AS date, c.kind, c.source_url AS source,
               c.source_title, c.post_url AS target, p.title AS target_title, c.verified
        FROM comments c LEFT JOIN pages p ON p.url = c.post_url
        WHERE c.kind IN {_PING_IN}
        ORDER BY date DESC, c.id LIMIT ?"""
    return _dict_rows(db, sql, [top])


_MONTH = "substr({0}, 1, 7)"
_DATED = "{0} GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]*'"


def per_month(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Posts (by publication) and pingbacks (by date, else first seen) per ``YYYY-MM``."""
    months: dict[str, dict[str, Any]] = {}
    posts = f"""SELECT {_MONTH.format("published")}, count(*) FROM pages
        WHERE is_post = 1 AND {_DATED.format("published")} GROUP BY 1"""
    date = "coalesce(published, first_seen)"
    pings = f"""SELECT {_MONTH.format(date)}, count(*) FROM comments
        WHERE kind IN {_PING_IN} AND {_DATED.format(date)} GROUP BY 1"""
    for column, sql in (("posts", posts), ("pingbacks", pings)):
        for month, count in db.execute(sql):
            months.setdefault(month, {"month": month, "posts": 0, "pingbacks": 0})[column] = count
    return [months[m] for m in sorted(months)]


def _dict_rows(db: sqlite_utils.Database, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]
