"""Step 8 of the data flow: link lists in the formats people open (``pingcrawl export``).

Every export is one SQL query whose cursor is written row by row, so memory stays flat
however large the graph. Rows start with ``source``, ``target``, ``kind`` (Gephi's
edge-list convention, SPEC section 3). Graph formats (GraphML, GEXF, DOT) write the nodes
first, from a ``SELECT … UNION`` over the same query — SQLite deduplicates them, Python
never holds the edge list. The one exception is ``nodes`` (Gephi's node table): its
PageRank needs the whole graph, held as two arrays of node numbers.

CSV and TSV edge rows end with Gephi's ``Type`` and ``Weight``; ``nodes``, ``posts`` and
``comments`` are tables (no graph formats).
"""

from __future__ import annotations

import csv
import json
import re
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

import sqlite_utils

from crawler.records import iso
from db.graph import normalise_blog, register_functions, sort_kinds
from db.pagerank import pagerank


class ExportError(ValueError):
    """An unknown export kind or format."""


@dataclass(frozen=True)
class _Query:
    sql: str  # selects source, target, kind, then the other columns (edges=False: any columns)
    params: dict[str, Any]
    directed: bool
    types: dict[str, str]  # column -> "string" | "int" for the typed graph formats
    edges: bool = True  # False for the tables (nodes, posts, comments): no graph formats
    # Rows computed in Python instead of straight off the cursor (nodes: PageRank).
    rows: Callable[[sqlite_utils.Database, _Query], tuple[list[str], Iterator[tuple]]] | None = None


_LINK_TYPES = {"found_on": "string", "anchor": "string", "rel": "string", "same_blog": "int"}

# The verdict of a pingback/trackback/webmention edge lives in comments; others have none.
# "+c.kind": look the comment up by source_url, not through the low-selectivity kind index.
_LINK_VERIFIED = """CASE WHEN l.kind IN ('pingback', 'trackback', 'webmention') THEN (
    SELECT max(c.verified) FROM comments c
    WHERE c.source_url = l.src AND c.post_url = l.dst AND +c.kind = l.kind) END"""


def _links_query(where: list[str], params: dict[str, Any]) -> _Query:
    sql = f"""
        SELECT l.src AS source, l.dst AS target, l.kind, l.found_on, l.anchor, l.rel,
               l.same_blog, {_LINK_VERIFIED} AS verified
        FROM links l {_where(where)}"""
    return _Query(sql, params, True, {**_LINK_TYPES, "verified": "int"})


def _citations_query(where: list[str], params: dict[str, Any]) -> _Query:
    sql = f"""
        SELECT l.src AS source, l.dst AS target, l.kind, l.found_on, l.anchor, l.rel,
               l.same_blog, p.title AS source_title
        FROM links l LEFT JOIN pages p ON p.url = l.src
        {_where(["l.kind = 'citation'", *where])}"""
    return _Query(sql, params, True, {**_LINK_TYPES, "source_title": "string"})


_PING_COMMENT = "c.kind IN ('pingback', 'trackback', 'webmention')"


def _pingbacks_query(where: list[str], params: dict[str, Any]) -> _Query:
    sql = f"""
        SELECT c.source_url AS source, c.post_url AS target, c.kind, c.verified,
               c.source_title, c.author, c.published
        FROM comments c
        {_where([_PING_COMMENT, "c.source_url IS NOT NULL", *where])}"""
    types = {"verified": "int", "source_title": "string", "author": "string", "published": "string"}
    return _Query(sql, params, True, types)


def _related_query(where: list[str], params: dict[str, Any]) -> _Query:
    sql = f"""
        SELECT r.a AS source, r.b AS target, 'related' AS kind, r.blog, r.kinds
        FROM related_posts r {_where(where)}"""
    return _Query(sql, params, False, {"blog": "string", "kinds": "string"})


def _nodes_query(where: list[str], params: dict[str, Any]) -> _Query:
    """Every end of a link (the ``links`` export with the same filters), with its degrees
    and PageRank: the node table Gephi imports next to the edge CSV."""
    links = _links_query(where, params)
    return _Query(links.sql, params, True, {}, edges=False, rows=_node_rows)


_POST_COUNTS = """(SELECT count(*) FROM comments c WHERE c.post_url = p.url AND c.kind = 'comment')
        AS comments,
        (SELECT count(*) FROM comments c
         WHERE c.post_url = p.url AND c.kind IN ('pingback', 'trackback')) AS pingbacks"""


def _posts_query(where: list[str], params: dict[str, Any]) -> _Query:
    sql = f"""
        SELECT p.url, p.title, p.blog, p.author, p.published, p.fetched_at, p.canonical,
               {_POST_COUNTS}, p.text
        FROM pages p {_where(["p.is_post = 1", *where])}
        ORDER BY p.blog, p.published, p.url"""
    return _Query(sql, params, True, {}, edges=False)


def _comments_query(where: list[str], params: dict[str, Any]) -> _Query:
    sql = f"""
        SELECT c.id, c.post_url, p.title AS post_title,
               coalesce(p.blog, pingcrawl_blog(c.post_url)) AS blog, c.kind, c.comment_id,
               c.author, c.author_url, c.published, c.first_seen, c.verified, c.source_url,
               c.source_title, c.text
        FROM comments c LEFT JOIN pages p ON p.url = c.post_url {_where(where)}
        ORDER BY c.post_url, c.published, c.id"""
    return _Query(sql, params, True, {}, edges=False)


def _where(conditions: list[str]) -> str:
    return "WHERE " + " AND ".join(conditions) if conditions else ""


# What "found in a time window" means per export (``--since``, ``--run``): a comment's or
# link's first sighting; a post's first appearance in the frontier.
_FOUND_AT: dict[str, str] = {
    "links": "l.first_seen",
    "nodes": "l.first_seen",
    "citations": "l.first_seen",
    "pingbacks": "c.first_seen",
    "comments": "c.first_seen",
    "posts": "(SELECT f.added_at FROM frontier f WHERE f.url = p.url)",
}


def run_window(db: sqlite_utils.Database, run: int) -> tuple[str, str]:
    """The start and end (now, if still running) of run ``run``, as stored times."""
    row = db.execute("SELECT started_at, finished_at FROM runs WHERE id = ?", [run]).fetchone()
    if row is None:
        raise ExportError(f"no run {run} in this database")
    return row[0], row[1] or iso()


def _build_query(
    what: str,
    blog: str | None,
    kinds: list[str] | None,
    window: tuple[str | None, str | None] = (None, None),
) -> _Query:
    """The SQL for one export, with the ``--blog`` and ``--kind`` filters.

    An edge belongs to a blog when either end is on it (so a blog's export has its posts'
    citations and the pingbacks and citations it receives); a related pair when its blog is.
    """
    source, target, kind = _FILTER_COLUMNS[what]
    where: list[str] = []
    params: dict[str, Any] = {}
    if blog:
        params["blog"] = normalise_blog(blog)
        if what == "related":
            where.append("r.blog = :blog")
        elif what == "posts":
            where.append("p.blog = :blog")
        elif what == "comments":
            where.append("coalesce(p.blog, pingcrawl_blog(c.post_url)) = :blog")
        else:
            where.append(f"(pingcrawl_blog({source}) = :blog OR pingcrawl_blog({target}) = :blog)")
    if window != (None, None):
        found_at = _FOUND_AT.get(what)
        if found_at is None:
            raise ExportError(f"--since and --run do not apply to {what}")
        params["window_start"], params["window_end"] = window[0] or "", window[1] or "~"
        where.append(f"{found_at} BETWEEN :window_start AND :window_end")
    if kinds and kind is None:
        raise ExportError(f"--kind does not apply to {what}")
    if kinds:
        names = [f":kind{i}" for i in range(len(kinds))]
        params.update({f"kind{i}": k for i, k in enumerate(kinds)})
        if what == "related":  # kinds is a list: keep a pair joined by any of the kinds asked
            where.append(
                "("
                + " OR ".join(f"(',' || r.kinds || ',') LIKE '%,' || {n} || ',%'" for n in names)
                + ")"
            )
        else:
            where.append(f"{kind} IN ({', '.join(names)})")
    return QUERIES[what](where, params)


# (source, target, kind) columns the --blog and --kind filters look at, per export.
_FILTER_COLUMNS: dict[str, tuple[str, str, str | None]] = {
    "links": ("l.src", "l.dst", "l.kind"),
    "nodes": ("l.src", "l.dst", "l.kind"),
    "citations": ("l.src", "l.dst", "l.kind"),
    "pingbacks": ("c.source_url", "c.post_url", "c.kind"),
    "comments": ("c.source_url", "c.post_url", "c.kind"),
    "related": ("r.a", "r.b", "r.kinds"),
    "posts": ("p.url", "p.url", None),
}


def export(
    db: sqlite_utils.Database,
    what: str,
    fmt: str,
    out: TextIO,
    blog: str | None = None,
    kinds: list[str] | None = None,
    window: tuple[str | None, str | None] = (None, None),
) -> int:
    """Write one export to ``out`` and return the number of rows (edges) written.

    ``what`` is ``links`` (every link), ``pingbacks`` (pingback/trackback comments, with
    their verification), ``citations`` (links of kind citation) or ``related`` (undirected
    pairs of related posts of one blog, ``a``/``b`` as source/target). ``fmt`` is one of
    ``csv``, ``tsv``, ``json`` (a streamed array), ``jsonl``, ``graphml``, ``gexf``,
    ``dot``. ``blog`` keeps edges with either end on that blog (host without ``www.``);
    ``kinds`` keeps edges of those kinds. Columns: ``source, target, kind`` then the rest;
    CSV and TSV add Gephi's ``Type`` (Directed, Undirected for related) and ``Weight``.

    The tables ``nodes`` (every end of a link with its degrees and PageRank, same filters as
    ``links``), ``posts`` and ``comments`` (the text corpus) come as csv, tsv, json or jsonl.
    ``window`` (start, end; stored times, either None for open) keeps what was first seen
    then: the comments, pingbacks and links found, the posts that entered the frontier
    (``--since 1d``, ``--run N``: what the nightly runs found, for the morning mail).
    Raises :class:`ExportError` for an unknown ``what`` or ``fmt``, or a graph format of a
    table.
    """
    if what not in WHATS:
        raise ExportError(f"unknown export {what!r}: choose one of {', '.join(WHATS)}")
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    register_functions(db)
    query = _build_query(what, blog, kinds, window)
    if not query.edges and fmt in GRAPH_FORMATS:
        raise ExportError(f"{what} is a table: choose one of {', '.join(TABLE_FORMATS)}")
    return WRITERS[fmt](db, query, out)


def _edges(db: sqlite_utils.Database, query: _Query) -> tuple[list[str], Iterator[tuple]]:
    """Column names and a row iterator straight off the cursor."""
    if query.rows is not None:
        return query.rows(db, query)
    cursor = db.execute(query.sql, query.params)
    names = [d[0] for d in cursor.description]
    if "kinds" in names:  # related: group_concat order is arbitrary, sort for stable output
        at = names.index("kinds")
        return names, (row[:at] + (sort_kinds(row[at]),) + row[at + 1 :] for row in cursor)
    return names, iter(cursor)


# ------------------------------------------------------------------------------ table formats


def _with_gephi_columns(
    query: _Query, names: list[str], rows: Iterator[tuple]
) -> tuple[list[str], Iterator[tuple]]:
    """Edge rows plus Gephi's ``Type`` and ``Weight`` columns; other tables unchanged.

    A related pair weighs the number of kinds that join it; a link, a pingback or a
    citation weighs 1 (parallel links of different kinds add up in Gephi's import).
    """
    if not query.edges:
        return names, rows
    edge_type = "Directed" if query.directed else "Undirected"
    if "kinds" in names:
        at = names.index("kinds")
        weighted = (row + (edge_type, len((row[at] or "").split(",")) or 1) for row in rows)
    else:
        weighted = (row + (edge_type, 1) for row in rows)
    return [*names, "Type", "Weight"], weighted


def _write_csv(db: sqlite_utils.Database, query: _Query, out: TextIO) -> int:
    names, rows = _with_gephi_columns(query, *_edges(db, query))
    # RFC 4180 line ends; they also make the writer quote a field holding a lone "\r".
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(names)
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


_TSV_BREAKS = re.compile(r"[\t\r\n]+")


def _tsv_field(value: Any) -> str:
    # IANA text/tab-separated-values has no quoting: tabs and line breaks become spaces, so
    # cut/awk/sort see one record per line.
    return "" if value is None else _TSV_BREAKS.sub(" ", str(value))


def _write_tsv(db: sqlite_utils.Database, query: _Query, out: TextIO) -> int:
    names, rows = _with_gephi_columns(query, *_edges(db, query))
    out.write("\t".join(names) + "\n")
    count = 0
    for row in rows:
        out.write("\t".join(_tsv_field(v) for v in row) + "\n")
        count += 1
    return count


# Valid inside JSON strings, but line breaks to many readers (str.splitlines, JavaScript
# before ES2019): escaped, so one JSON Lines record is one line for everyone.
_JSON_BREAKS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


def _json_row(names: list[str], row: tuple) -> str:
    return json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=False).translate(
        _JSON_BREAKS
    )


def _write_json(db: sqlite_utils.Database, query: _Query, out: TextIO) -> int:
    names, rows = _edges(db, query)
    count = 0
    out.write("[")
    for row in rows:
        out.write(",\n" if count else "\n")
        out.write(_json_row(names, row))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def _write_jsonl(db: sqlite_utils.Database, query: _Query, out: TextIO) -> int:
    names, rows = _edges(db, query)
    count = 0
    for row in rows:
        out.write(_json_row(names, row) + "\n")
        count += 1
    return count


# ------------------------------------------------------------------------------ graph formats


def _nodes(
    db: sqlite_utils.Database, query: _Query, by_blog: bool = False
) -> Iterator[tuple[str, str | None, str, Any, str | None]]:
    """(url, title, blog, is_post, published) for every end of an edge, deduplicated by
    SQLite, ordered by URL (or by blog then URL, for DOT's clusters).

    A node that is not a fetched page gets its blog from its URL and, for a pingback
    source, the title the pingback gave it.
    """
    order = "3, 1" if by_blog else "1"
    sql = f"""
        WITH e AS ({query.sql})
        SELECT n.url, coalesce(p.title, (
                   SELECT max(c.source_title) FROM comments c WHERE c.source_url = n.url)),
               coalesce(p.blog, pingcrawl_blog(n.url)), p.is_post, p.published
        FROM (SELECT source AS url FROM e UNION SELECT target FROM e) n
        LEFT JOIN pages p ON p.url = n.url
        ORDER BY {order}"""
    yield from db.execute(sql, query.params)


NODE_COLUMNS = [
    "Id", "Label", "blog", "is_post", "published", "in_degree", "out_degree", "pagerank",
]  # fmt: skip


def _node_rows(db: sqlite_utils.Database, query: _Query) -> tuple[list[str], Iterator[tuple]]:
    """The node table: ids and labels as Gephi expects them, degrees and PageRank over the
    links the query selects (each link row is one edge of weight 1, as in the edge CSV).

    PageRank needs the whole graph, so the edges are held as integer pairs (not rows).
    """
    nodes = list(_nodes(db, query))
    index = {node[0]: i for i, node in enumerate(nodes)}
    sources, targets = array("l"), array("l")
    for source, target in db.execute(f"SELECT source, target FROM ({query.sql})", query.params):
        sources.append(index[source])
        targets.append(index[target])
    ranks = pagerank(len(nodes), sources, targets)
    in_degree, out_degree = [0] * len(nodes), [0] * len(nodes)
    for s, t in zip(sources, targets, strict=True):
        out_degree[s] += 1
        in_degree[t] += 1
    rows = (
        (url, title or url, blog, is_post, published, in_degree[i], out_degree[i], ranks[i])
        for i, (url, title, blog, is_post, published) in enumerate(nodes)
    )
    return list(NODE_COLUMNS), rows


# XML 1.0 forbids these characters even escaped, so they are dropped; the rest of the set
# is what must be escaped in text or in a double-quoted attribute.
_XML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
_XML_TEXT_ESCAPES = {**_XML_ESCAPES, "\n": "\n", "\r": "&#13;", "\t": "\t"}
_XML_ATTR_ESCAPES = {**_XML_ESCAPES, "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
_XML_SPECIAL = re.compile('[&<>"\n\r\t\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')


def _xml_text(value: Any) -> str:
    """Escaped XML character data."""
    text = str(value)
    if not _XML_SPECIAL.search(text):  # the common case: nothing to do
        return text
    return _XML_SPECIAL.sub(lambda m: _XML_TEXT_ESCAPES.get(m.group(), ""), text)


def _xml_attr(value: Any) -> str:
    """A double-quoted XML attribute value (line breaks and tabs kept as references)."""
    text = str(value)
    if _XML_SPECIAL.search(text):
        text = _XML_SPECIAL.sub(lambda m: _XML_ATTR_ESCAPES.get(m.group(), ""), text)
    return f'"{text}"'


def _edge_columns(names: list[str]) -> list[tuple[int, str]]:
    """(index, name) of every column after source and target."""
    return [(i, name) for i, name in enumerate(names) if name not in ("source", "target")]


def _bool(value: Any) -> str:
    return "true" if value else "false"


def _write_graphml(db: sqlite_utils.Database, query: _Query, out: TextIO) -> int:
    names, rows = _edges(db, query)
    columns = _edge_columns(names)
    types = {"kind": "string", **query.types}
    out.write(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        ' xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns'
        ' http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n'
        '  <key id="n_label" for="node" attr.name="label" attr.type="string"/>\n'
        '  <key id="n_title" for="node" attr.name="title" attr.type="string"/>\n'
        '  <key id="n_blog" for="node" attr.name="blog" attr.type="string"/>\n'
        '  <key id="n_is_post" for="node" attr.name="is_post" attr.type="boolean"/>\n'
    )
    if "verified" not in names:  # the edge attribute is always declared, even if unknown
        out.write('  <key id="e_verified" for="edge" attr.name="verified" attr.type="int"/>\n')
    for _, name in columns:
        kind = types.get(name, "string")
        out.write(f'  <key id="e_{name}" for="edge" attr.name="{name}" attr.type="{kind}"/>\n')
    edge_default = "directed" if query.directed else "undirected"
    out.write(f'  <graph id="pingcrawl" edgedefault="{edge_default}">\n')
    for url, title, blog, is_post, _ in _nodes(db, query):
        # Gephi and yEd show "label": the page title, else the URL.
        data = [f'<data key="n_label">{_xml_text(title or url)}</data>']
        if title is not None:
            data.append(f'<data key="n_title">{_xml_text(title)}</data>')
        if blog is not None:
            data.append(f'<data key="n_blog">{_xml_text(blog)}</data>')
        if is_post is not None:
            data.append(f'<data key="n_is_post">{_bool(is_post)}</data>')
        out.write(f"    <node id={_xml_attr(url)}>{''.join(data)}</node>\n")
    count = 0
    for row in rows:
        edge_data = "".join(
            f'<data key="e_{name}">{_xml_text(row[i])}</data>'
            for i, name in columns
            if row[i] is not None
        )
        out.write(
            f'    <edge id="e{count}" source={_xml_attr(row[0])} target={_xml_attr(row[1])}>'
            f"{edge_data}</edge>\n"
        )
        count += 1
    out.write("  </graph>\n</graphml>\n")
    return count


_GEXF_TYPES = {"string": "string", "int": "integer"}


def _gexf_header(query: _Query, names: list[str], columns: list[tuple[int, str]]) -> str:
    today = datetime.now(UTC).date().isoformat()
    edge_default = "directed" if query.directed else "undirected"
    declared = [
        f'      <attribute id="{name}" title="{name}"'
        f' type="{_GEXF_TYPES[query.types.get(name, "string")]}"/>\n'
        for _, name in columns
    ]
    if "verified" not in names:  # declared for every export, like GraphML's
        declared.append('      <attribute id="verified" title="verified" type="integer"/>\n')
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gexf xmlns="http://gexf.net/1.3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        ' xsi:schemaLocation="http://gexf.net/1.3 http://gexf.net/1.3/gexf.xsd" version="1.3">\n'
        f'  <meta lastmodifieddate="{today}"><creator>pingcrawl</creator>'
        "<description>pingcrawl link graph</description></meta>\n"
        f'  <graph mode="static" defaultedgetype="{edge_default}">\n'
        '    <attributes class="node">\n'
        '      <attribute id="title" title="title" type="string"/>\n'
        '      <attribute id="blog" title="blog" type="string"/>\n'
        '      <attribute id="is_post" title="is_post" type="boolean"/>\n'
        "    </attributes>\n"
        '    <attributes class="edge">\n'
        f"{''.join(declared)}"
        "    </attributes>\n"
    )


def _write_gexf(db: sqlite_utils.Database, query: _Query, out: TextIO) -> int:
    names, rows = _edges(db, query)
    columns = _edge_columns(names)
    out.write(_gexf_header(query, names, columns))
    out.write("    <nodes>\n")
    for url, title, blog, is_post, _ in _nodes(db, query):
        values = []
        if title is not None:
            values.append(f'<attvalue for="title" value={_xml_attr(title)}/>')
        if blog is not None:
            values.append(f'<attvalue for="blog" value={_xml_attr(blog)}/>')
        if is_post is not None:
            values.append(f'<attvalue for="is_post" value="{_bool(is_post)}"/>')
        out.write(
            f"      <node id={_xml_attr(url)} label={_xml_attr(title or url)}>"
            f"<attvalues>{''.join(values)}</attvalues></node>\n"
        )
    out.write("    </nodes>\n    <edges>\n")
    kind_at = names.index("kind")
    count = 0
    for row in rows:
        edge_values = "".join(
            f'<attvalue for="{name}" value={_xml_attr(row[i])}/>'
            for i, name in columns
            if row[i] is not None
        )
        kind = _xml_attr(row[kind_at])
        # GEXF 1.3's edge "kind" keeps parallel edges of different kinds apart in Gephi.
        out.write(
            f'      <edge id="{count}" source={_xml_attr(row[0])} target={_xml_attr(row[1])}'
            f" kind={kind} label={kind}><attvalues>{edge_values}</attvalues></edge>\n"
        )
        count += 1
    out.write("    </edges>\n  </graph>\n</gexf>\n")
    return count


_DOT_BREAKS = re.compile("\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_DOT_DROPPED = re.compile("[\x00-\x08\x0e-\x1b\x1f\x7f]")


def _dot_quote(value: Any) -> str:
    """A DOT double-quoted string on one line: backslash and quote escaped, line breaks as
    DOT's ``\\n`` escape, other control characters dropped."""
    text = str(value)
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    if not text.isprintable():  # the rare case; isprintable is false for every break
        text = _DOT_DROPPED.sub("", _DOT_BREAKS.sub(r"\\n", text))
    return f'"{text}"'


def _dot_attrs(pairs: Iterable[tuple[str, Any]]) -> str:
    text = ", ".join(f"{name}={_dot_quote(v)}" for name, v in pairs if v is not None)
    return f" [{text}]" if text else ""


def _write_dot(db: sqlite_utils.Database, query: _Query, out: TextIO) -> int:
    names, rows = _edges(db, query)
    columns = _edge_columns(names)
    graph, arrow = ("digraph", "->") if query.directed else ("graph", "--")
    out.write(f"{graph} pingcrawl {{\n  node [shape=box];\n")
    _write_dot_clusters(db, query, out)
    kind_at = names.index("kind")
    # A related pair's label is the kinds joining it; a spam pingback (verified = 0) is red
    # and dashed so it stands out from the real ones.
    label_at = names.index("kinds") if "kinds" in names else kind_at
    verified_at = names.index("verified") if "verified" in names else None
    count = 0
    for row in rows:
        attrs = [(name, row[i]) for i, name in columns]
        attrs.append(("label", row[label_at]))
        if verified_at is not None and row[verified_at] == 0:
            attrs += [("color", "red"), ("fontcolor", "red"), ("style", "dashed")]
        out.write(f"  {_dot_quote(row[0])} {arrow} {_dot_quote(row[1])}{_dot_attrs(attrs)};\n")
        count += 1
    out.write("}\n")
    return count


def _write_dot_clusters(db: sqlite_utils.Database, query: _Query, out: TextIO) -> None:
    """The nodes, one ``cluster_N`` subgraph per blog (dot draws a box around each)."""
    current: str | None = None
    cluster = -1
    for url, title, blog, is_post, _ in _nodes(db, query, by_blog=True):
        if cluster < 0 or blog != current:
            if cluster >= 0:
                out.write("  }\n")
            cluster += 1
            current = blog
            out.write(f"  subgraph cluster_{cluster} {{\n    label={_dot_quote(blog or '')};\n")
        attrs = (("label", title or url), ("blog", blog), ("is_post", is_post), ("URL", url))
        out.write(f"    {_dot_quote(url)}{_dot_attrs(attrs)};\n")
    if cluster >= 0:
        out.write("  }\n")


# The registries: what can be exported and in which formats. The CLI's choices are built
# from these keys, so a new export or format is one entry here.
QUERIES: dict[str, Callable[[list[str], dict[str, Any]], _Query]] = {
    "links": _links_query,
    "pingbacks": _pingbacks_query,
    "citations": _citations_query,
    "related": _related_query,
    "nodes": _nodes_query,
    "posts": _posts_query,
    "comments": _comments_query,
}
WRITERS: dict[str, Callable[[sqlite_utils.Database, _Query, TextIO], int]] = {
    "csv": _write_csv,
    "tsv": _write_tsv,
    "json": _write_json,
    "jsonl": _write_jsonl,
    "graphml": _write_graphml,
    "gexf": _write_gexf,
    "dot": _write_dot,
}
WHATS = tuple(QUERIES)
FORMATS = tuple(WRITERS)
GRAPH_FORMATS = ("graphml", "gexf", "dot")
TABLE_FORMATS = tuple(f for f in FORMATS if f not in GRAPH_FORMATS)
