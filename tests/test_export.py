"""db.export: every format parsed back with a real parser, filters, escaping, streaming."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import time
import tracemalloc
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pytest
import sqlite_utils
from hypothesis import given, settings
from hypothesis import strategies as st
from test_graph import (  # the blog fixture is shared with the graph tests
    E1,
    E2,
    P1,
    P2,
    P3,
    P5,
    SPAM,
    UNFETCHED,
    build_blog_db,
    links_rows,
)

from db.export import FORMATS, ExportError, _build_query, export
from db.graph import _DIRECT_SQL, _SHARED_CITERS_SQL, _SHARED_SOURCES_SQL, verify_pingbacks
from db.links import add_links
from db.schema import open_database

GRAPHML = "{http://graphml.graphdrawing.org/xmlns}"
GEXF = "{http://gexf.net/1.3}"
NASTY = 'Kelly\'s <b>"best"</b> & worst\x01 — 北朝鮮\tlist\nnew line \\ end'


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    db = build_blog_db(tmp_path / "blog.db")
    verify_pingbacks(db)
    return db


def run(db: sqlite_utils.Database, what: str, fmt: str, **options) -> tuple[int, str]:
    out = io.StringIO()
    count = export(db, what, fmt, out, **options)
    return count, out.getvalue()


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


# ----------------------------------------------------------------------------- the contents


def test_related_csv_gives_exactly_the_undirected_pairs(db):
    count, text = run(db, "related", "csv")
    rows = csv_rows(text)
    assert list(rows[0]) == ["source", "target", "kind", "blog", "kinds", "Type", "Weight"]
    assert count == len(rows) == 3
    # Gephi: related pairs are undirected, weighed by the number of kinds joining them.
    assert {r["Type"] for r in rows} == {"Undirected"}
    assert {(r["kinds"], r["Weight"]) for r in rows} == {
        ("citation,pingback", "2"),
        ("citation", "1"),
    }
    pairs = {frozenset((r["source"], r["target"])): r["kinds"] for r in rows}
    assert pairs == {
        frozenset((P1, P2)): "citation,pingback",
        frozenset((P2, P3)): "citation",
        frozenset((E1, E2)): "citation",
    }
    assert all(r["source"] < r["target"] and r["kind"] == "related" for r in rows)


def test_related_for_one_blog_and_kind(db):
    _, text = run(db, "related", "csv", blog="www.blog.example")
    assert {r["blog"] for r in csv_rows(text)} == {"blog.example"}
    _, text = run(db, "related", "csv", blog="blog.example", kinds=["pingback"])
    assert [(r["source"], r["target"]) for r in csv_rows(text)] == [(P1, P2)]


def test_links_csv_has_every_link_with_its_columns(db):
    count, text = run(db, "links", "csv")
    rows = csv_rows(text)
    assert list(rows[0]) == [
        "source",
        "target",
        "kind",
        "found_on",
        "anchor",
        "rel",
        "same_blog",
        "verified",
        "Type",
        "Weight",
    ]
    assert count == len(rows) == len(links_rows())
    assert {(r["Type"], r["Weight"]) for r in rows} == {("Directed", "1")}
    pingback = next(
        r for r in rows if (r["source"], r["target"], r["kind"]) == (SPAM, P1, "pingback")
    )
    assert pingback["verified"] == "0" and pingback["found_on"] == P1
    nav = next(r for r in rows if r["kind"] == "nav")
    assert nav["verified"] == ""


def test_kind_and_blog_filters(db):
    _, text = run(db, "links", "csv", kinds=["pingback", "trackback"])
    assert {r["kind"] for r in csv_rows(text)} == {"pingback", "trackback"}
    _, text = run(db, "links", "csv", blog="other.example")
    rows = csv_rows(text)
    assert rows and all("other.example" in r["source"] + r["target"] for r in rows)
    # Either end on the blog: other.example's own citations and its pingbacks to blog.example.
    assert {(r["source"], r["target"], r["kind"]) for r in rows} >= {
        (E2, E1, "citation"),
        (E1, P1, "pingback"),
    }
    _, text = run(db, "citations", "csv", kinds=["nav"])
    assert csv_rows(text) == []


def test_citations_are_citation_links_with_the_citing_title(db):
    _, text = run(db, "citations", "csv", blog="blog.example")
    rows = csv_rows(text)
    assert {r["kind"] for r in rows} == {"citation"}
    assert list(rows[0])[-3:] == ["source_title", "Type", "Weight"]
    first = next(r for r in rows if r["source"] == P2 and r["target"] == P1)
    assert first["source_title"] == "A follow-up on the list"


def test_pingbacks_json_has_verification(db):
    count, text = run(db, "pingbacks", "json")
    rows = json.loads(text)
    assert count == len(rows) == 8
    assert list(rows[0]) == [
        "source",
        "target",
        "kind",
        "verified",
        "source_title",
        "author",
        "published",
    ]
    verdicts = {(r["source"], r["target"]): r["verified"] for r in rows}
    assert verdicts[(P2, P1)] == 1
    assert verdicts[(SPAM, P1)] == 0
    assert verdicts[(SPAM, P5)] == 0
    assert verdicts[(UNFETCHED, P1)] is None
    assert {r["kind"] for r in rows} == {"pingback", "trackback"}


def test_unknown_export_or_format_is_an_error(db):
    with pytest.raises(ExportError, match="format"):
        export(db, "links", "xlsx", io.StringIO())
    with pytest.raises(ExportError, match="export"):
        export(db, "pages", "csv", io.StringIO())


# ------------------------------------------------------------------- every format parses back


def _nasty(db: sqlite_utils.Database) -> None:
    """A title and an anchor with markup, quotes, a control character, CJK, tab, newline."""
    db["pages"].update(P2, {"title": NASTY})
    db.execute(  # links is a view (schema v10): its UPDATE trigger writes link_edges
        "UPDATE links SET anchor = ? WHERE src = ? AND dst = ? AND kind = 'citation'",
        [NASTY, P2, P1],
    )


def _parsed(fmt: str, text: str) -> list[dict]:
    """Edges as dicts, read back with the format's own parser."""
    if fmt == "csv":
        return csv_rows(text)
    if fmt == "tsv":
        return list(csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))
    if fmt == "json":
        return json.loads(text)
    if fmt == "jsonl":
        return [json.loads(line) for line in text.splitlines()]
    if fmt == "graphml":
        return _graphml_edges(ET.fromstring(text.encode()))
    if fmt == "gexf":
        return _gexf_edges(ET.fromstring(text.encode()))
    return _dot_edges(text)


def _graphml_edges(root: ET.Element) -> list[dict]:
    keys = {k.get("id"): k.get("attr.name") for k in root.iter(f"{GRAPHML}key")}
    edges = []
    for edge in root.iter(f"{GRAPHML}edge"):
        row = {"source": edge.get("source"), "target": edge.get("target")}
        row.update({keys[d.get("key")]: d.text for d in edge.iter(f"{GRAPHML}data")})
        edges.append(row)
    return edges


def _gexf_edges(root: ET.Element) -> list[dict]:
    edges = []
    for edge in root.iter(f"{GEXF}edge"):
        row = {"source": edge.get("source"), "target": edge.get("target")}
        row.update({v.get("for"): v.get("value") for v in edge.iter(f"{GEXF}attvalue")})
        edges.append(row)
    return edges


_DOT_ID = r'"(?:[^"\\]|\\.)*"'
_DOT_ATTRS = rf"\[(?:\w+={_DOT_ID}(?:, )?)*\]"
_DOT_NODE = re.compile(rf"^    ({_DOT_ID})(?: {_DOT_ATTRS})?;$")
_DOT_CLUSTER = re.compile(r"^  subgraph cluster_\d+ \{$")
_DOT_LABEL = re.compile(rf"^    label=({_DOT_ID});$")
_DOT_EDGE = re.compile(rf"^  ({_DOT_ID}) (->|--) ({_DOT_ID})( {_DOT_ATTRS})?;$")


def _dot_unquote(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token[1:-1])


def _dot_parse(text: str) -> tuple[str, set[str], list[dict]]:
    """A small structural DOT reader: header, one cluster of nodes per blog, then the
    edges; one statement per line, quoted ids, footer."""
    lines = text.splitlines()
    header = re.match(r"^(digraph|graph) pingcrawl \{$", lines[0])
    assert header and lines[1] == "  node [shape=box];" and lines[-1] == "}"
    nodes, edges, clusters = set(), [], {}
    cluster = None
    for line in lines[2:-1]:
        if _DOT_CLUSTER.match(line):
            assert cluster is None and not edges
            cluster = []
        elif (label := _DOT_LABEL.match(line)) and cluster == []:
            blog = _dot_unquote(label.group(1))
            assert blog not in clusters, "one cluster per blog"
            clusters[blog] = cluster
        elif line == "  }":
            assert cluster
            cluster = None
        elif edge := _DOT_EDGE.match(line):
            attrs = dict(re.findall(rf"(\w+)=({_DOT_ID})", edge.group(4) or ""))
            row = {k: _dot_unquote(v) for k, v in attrs.items()}
            row.update(source=_dot_unquote(edge.group(1)), target=_dot_unquote(edge.group(3)))
            assert edge.group(2) == ("->" if header.group(1) == "digraph" else "--")
            edges.append(row)
        else:
            node = _DOT_NODE.match(line)
            assert node, f"not a DOT statement: {line!r}"
            assert cluster is not None, "nodes are inside their blog's cluster"
            nodes.add(_dot_unquote(node.group(1)))
            cluster.append(line)
            attrs = dict(re.findall(rf"(\w+)=({_DOT_ID})", line))
            assert _dot_unquote(attrs.get("blog", '""')) == blog
    assert {e["source"] for e in edges} | {e["target"] for e in edges} <= nodes
    return header.group(1), nodes, edges


def _dot_edges(text: str) -> list[dict]:
    return _dot_parse(text)[2]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("what", ["links", "pingbacks", "citations", "related"])
def test_every_format_parses_back_to_the_same_edges(db, what, fmt):
    _nasty(db)
    count, text = run(db, what, fmt)
    _, reference = run(db, what, "jsonl")
    expected = [json.loads(line) for line in reference.splitlines()]
    edges = _parsed(fmt, text)
    assert count == len(edges) == len(expected) > 0
    assert sorted((e["source"], e["target"], e["kind"]) for e in edges) == sorted(
        (e["source"], e["target"], e["kind"]) for e in expected
    )


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "graphml", "gexf", "dot"])
def test_text_survives_escaping(db, fmt):
    _nasty(db)
    _, text = run(db, "citations", fmt, blog="blog.example")
    edge = next(e for e in _parsed(fmt, text) if e["source"] == P2 and e["target"] == P1)
    if fmt in ("graphml", "gexf"):  # XML 1.0 cannot carry \x01 at all: it is dropped
        assert edge["anchor"] == NASTY.replace("\x01", "")
    elif fmt == "dot":  # line breaks become DOT's \n escape, controls are dropped
        assert edge["anchor"] == NASTY.replace("\n", "n").replace("\x01", "")
    else:
        assert edge["anchor"] == NASTY


def test_tsv_is_one_record_per_line(db):
    _nasty(db)
    count, text = run(db, "citations", "tsv")
    lines = text.splitlines()
    assert len(lines) == count + 1
    assert all(line.count("\t") == 9 for line in lines)  # 8 columns + Type and Weight
    row = next(r for r in _parsed("tsv", text) if r["source"] == P2 and r["target"] == P1)
    assert row["anchor"] == NASTY.replace("\t", " ").replace("\n", " ")


def test_graphml_loads_in_networkx_with_node_and_edge_attributes(db, tmp_path):
    _nasty(db)
    path = tmp_path / "links.graphml"
    with path.open("w", encoding="utf-8") as out:
        count = export(db, "links", "graphml", out)
    graph = nx.read_graphml(path)
    assert graph.is_directed() and graph.is_multigraph()  # S->T as citation and pingback
    assert graph.number_of_edges() == count == len(links_rows())
    assert graph.nodes[P1] == {
        "label": "My Top 5 List for 2014 | Robert Kelly",
        "title": "My Top 5 List for 2014 | Robert Kelly",
        "blog": "blog.example",
        "is_post": True,
    }
    assert graph.nodes[P2]["title"] == NASTY.replace("\x01", "")
    assert graph.nodes[UNFETCHED] == {
        "label": "Never fetched | Nobody",
        "title": "Never fetched | Nobody",
        "blog": "unfetched.example",
    }
    verdicts = {(u, v, d["kind"]): d.get("verified") for u, v, d in graph.edges(data=True)}
    assert verdicts[(P2, P1, "pingback")] == 1
    assert verdicts[(SPAM, P1, "pingback")] == 0
    assert verdicts[(UNFETCHED, P1, "pingback")] is None
    assert verdicts[(P2, P1, "citation")] is None


def test_related_graphml_is_undirected(db, tmp_path):
    path = tmp_path / "related.graphml"
    with path.open("w", encoding="utf-8") as out:
        export(db, "related", "graphml", out)
    graph = nx.read_graphml(path)
    assert not graph.is_directed()
    assert {frozenset(e) for e in graph.edges()} == {
        frozenset((P1, P2)),
        frozenset((P2, P3)),
        frozenset((E1, E2)),
    }
    assert all(graph.nodes[n]["is_post"] for n in graph.nodes)


def test_gexf_is_gexf_1_3_with_declared_attributes(db):
    _, text = run(db, "pingbacks", "gexf")
    root = ET.fromstring(text.encode())
    assert root.tag == f"{GEXF}gexf" and root.get("version") == "1.3"
    graph = root.find(f"{GEXF}graph")
    assert graph.get("defaultedgetype") == "directed"
    declared = {
        a.get("class"): {x.get("id") for x in a.iter(f"{GEXF}attribute")}
        for a in graph.iter(f"{GEXF}attributes")
    }
    assert declared["node"] == {"title", "blog", "is_post"}
    assert {"kind", "verified"} <= declared["edge"]
    node_ids = {n.get("id") for n in root.iter(f"{GEXF}node")}
    edges = list(root.iter(f"{GEXF}edge"))
    assert len({e.get("id") for e in edges}) == len(edges)
    for owner in ("node", "edge"):
        for element in root.iter(f"{GEXF}{owner}"):
            assert {v.get("for") for v in element.iter(f"{GEXF}attvalue")} <= declared[owner]
    assert all(e.get("source") in node_ids and e.get("target") in node_ids for e in edges)


def test_dot_structure_and_graphviz_when_installed(db):
    _nasty(db)
    _, text = run(db, "links", "dot")
    kind, nodes, edges = _dot_parse(text)
    assert kind == "digraph" and P1 in nodes and len(edges) == len(links_rows())
    _, related = run(db, "related", "dot")
    assert _dot_parse(related)[0] == "graph"
    if shutil.which("dot"):  # render for real where Graphviz is installed
        for source in (text, related):
            result = subprocess.run(
                ["dot", "-Tsvg"], input=source.encode(), capture_output=True, timeout=60
            )
            assert result.returncode == 0, result.stderr.decode()


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_exports_are_still_valid(tmp_path, fmt):
    db = open_database(tmp_path / "empty.db")
    count, text = run(db, "links", fmt)
    assert count == 0
    assert _parsed(fmt, text) == []
    if fmt == "graphml":
        assert nx.read_graphml(io.BytesIO(text.encode())).number_of_nodes() == 0


_XML_DROPPED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# DOT output is one statement per line: breaks become DOT's \n escape, controls are dropped.
_DOT_BREAKS = "\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]"
_DOT_DROPPED = "[\x00-\x08\x0e-\x1b\x1f\x7f]"


@settings(max_examples=60, deadline=None)
@given(anchor=st.text(max_size=40), title=st.text(max_size=40))
def test_any_text_round_trips_through_every_format(anchor, title):
    db = open_database(":memory:")
    db["pages"].insert({"url": P2, "blog": "blog.example", "is_post": 1, "title": title})
    add_links(db, {"src": P2, "dst": P1, "kind": "citation", "found_on": P2, "anchor": anchor})
    expected = {
        "csv": anchor,
        "json": anchor,
        "jsonl": anchor,
        "tsv": re.sub(r"[\t\r\n]+", " ", anchor),
        "graphml": _XML_DROPPED.sub("", anchor),
        "gexf": _XML_DROPPED.sub("", anchor),
        "dot": re.sub(_DOT_DROPPED, "", re.sub(_DOT_BREAKS, "n", anchor)),
    }
    for fmt in FORMATS:
        _, text = run(db, "links", fmt)
        (edge,) = _parsed(fmt, text)
        assert (edge["source"], edge["target"]) == (P2, P1), fmt
        assert (edge.get("anchor") or "") == expected[fmt], fmt
    _, text = run(db, "links", "graphml")
    graph = nx.read_graphml(io.BytesIO(text.encode()))
    assert graph.nodes[P2].get("title", "") == _XML_DROPPED.sub("", title)


def test_pingback_verdicts_are_looked_up_by_source_url(tmp_path):
    # Through the kind index SQLite would scan every pingback once per link: minutes on a
    # real crawl. Guard the plans of every query that looks a verdict up.
    db = open_database(tmp_path / "plan.db")
    queries = [
        _build_query("links", None, None),
        _build_query("links", "blog.example", ["pingback"]),
    ]
    plans = [(q.sql, q.params) for q in queries] + [
        (sql, {"p": P1, "blog": "blog.example"})
        for sql in (_DIRECT_SQL, _SHARED_SOURCES_SQL, _SHARED_CITERS_SQL)
    ]
    export(db, "links", "csv", io.StringIO())  # registers the SQL functions
    for sql, params in plans:
        steps = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params)]
        lookups = [step for step in steps if step.startswith("SEARCH c ")]
        assert lookups and all("idx_comments_source_url" in step for step in lookups), steps


# ---------------------------------------------------------------------------------- streaming


def _big_db(path: Path, n: int) -> sqlite_utils.Database:
    """n links from n / 100 posts to n distinct URLs on 997 hosts; every fourth a citation,
    the rest nav links."""
    db = open_database(path)
    posts = [f"https://big.example/{i:04d}/" for i in range(n // 100)]
    with db.conn:  # plain executemany: building the fixture must not dominate the test
        db.conn.executemany(
            "INSERT INTO pages (url, final_url, blog, status, is_post, title)"
            " VALUES (?, ?, 'big.example', 200, 1, ?)",
            ((u, u, f"Post {u}") for u in posts),
        )
        db.conn.executemany(
            "INSERT INTO links (src, dst, kind, found_on, anchor, same_blog)"
            " VALUES (?, ?, ?, ?, ?, 0)",
            (
                (post, f"https://cited{i % 997}.example/source/{i}", kind, post, f"source {i}")
                for i, post, kind in (
                    (i, posts[i % len(posts)], "nav" if i % 4 else "citation") for i in range(n)
                )
            ),
        )
    return db


class _Sink(io.TextIOBase):
    """Counts what is written and keeps none of it."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, text: str) -> int:
        self.size += len(text)
        return len(text)


@pytest.fixture(scope="module")
def big_db(tmp_path_factory) -> sqlite_utils.Database:
    return _big_db(tmp_path_factory.mktemp("big") / "big.db", 200_000)


# Holding the edges in Python would cost far more: 50,000 rows of 8 values are ~30 MB.
@pytest.mark.parametrize(
    ("fmt", "kinds", "n"),
    [("csv", None, 200_000), ("json", ["citation"], 50_000), ("graphml", ["citation"], 50_000)],
)
def test_export_streams_in_small_memory(big_db, fmt, kinds, n):
    sink = _Sink()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        count = export(big_db, "links", fmt, sink, kinds=kinds)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started
    assert count == n
    assert sink.size > n * 50  # it really wrote every edge
    assert peak < 20_000_000, f"peak {peak / 1e6:.1f} MB"
    print(f"{fmt}: {n} links, {sink.size / 1e6:.0f} MB, peak {peak / 1e3:.0f} kB, {elapsed:.1f} s")
