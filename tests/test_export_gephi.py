"""Gephi, Graphviz and corpus exports read back by networkx and by the CLI, with the
counts the database gives; PageRank in ``export nodes`` equals networkx's."""

from __future__ import annotations

import csv
import io
import json
import random
import subprocess
from pathlib import Path

import networkx as nx
import pytest
import sqlite_utils
from click.testing import CliRunner
from test_graph import P1, SPAM, build_blog_db

from crawler.cli.main import cli
from crawler.demo.run import run_demo
from db.export import ExportError, export
from db.graph import verify_pingbacks
from db.pagerank import pagerank
from db.schema import open_database


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gephi") / "demo.db"
    run_demo(path, echo=lambda line: None)
    return path


def _cli(db: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["export", *args, "--db", str(db)])
    assert result.exit_code == 0, result.output
    return result.output


def _csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def _count(db: Path, sql: str) -> int:
    return sqlite_utils.Database(db).execute(sql).fetchone()[0]


def _gephi_graph(nodes: list[dict], edges: list[dict]) -> nx.MultiDiGraph:
    """What Gephi builds from the node and edge CSVs: every link row is one edge."""
    graph = nx.MultiDiGraph()
    for node in nodes:
        graph.add_node(node["Id"], label=node["Label"])
    for edge in edges:
        assert edge["Type"] == "Directed"
        graph.add_edge(edge["source"], edge["target"], key=edge["kind"], Weight=edge["Weight"])
    return graph


def test_nodes_and_edges_csv_give_the_database_counts_and_networkx_pagerank(demo_db):
    nodes = _csv(_cli(demo_db, "nodes"))
    edges = _csv(_cli(demo_db, "links"))
    graph = _gephi_graph(nodes, edges)
    assert graph.number_of_edges() == len(edges) == _count(demo_db, "SELECT count(*) FROM links")
    ends = "SELECT count(*) FROM (SELECT src FROM links UNION SELECT dst FROM links)"
    assert graph.number_of_nodes() == len(nodes) == _count(demo_db, ends)
    assert list(nodes[0]) == [
        "Id",
        "Label",
        "blog",
        "is_post",
        "published",
        "in_degree",
        "out_degree",
        "pagerank",
    ]
    expected = nx.pagerank(graph)
    for node in nodes:
        assert int(node["in_degree"]) == graph.in_degree(node["Id"])
        assert int(node["out_degree"]) == graph.out_degree(node["Id"])
        assert float(node["pagerank"]) == pytest.approx(expected[node["Id"]], abs=1e-6)
    posts = {n["Id"]: n for n in nodes if n["is_post"] == "1"}
    assert len(posts) == _count(demo_db, "SELECT count(*) FROM pages WHERE is_post = 1")
    titles = dict(sqlite_utils.Database(demo_db).execute("SELECT url, title FROM pages"))
    assert all(posts[url]["Label"] == titles[url] for url in posts)


def test_nodes_follow_the_kind_and_blog_filters(demo_db):
    nodes = _csv(_cli(demo_db, "nodes", "--kind", "citation", "--blog", "northwind.example"))
    edges = _csv(_cli(demo_db, "links", "--kind", "citation", "--blog", "northwind.example"))
    graph = _gephi_graph(nodes, edges)
    assert edges and {e["kind"] for e in edges} == {"citation"}
    assert set(graph.nodes) == {n["Id"] for n in nodes}
    expected = nx.pagerank(graph)
    assert all(float(n["pagerank"]) == pytest.approx(expected[n["Id"]], abs=1e-6) for n in nodes)


@pytest.mark.parametrize("seed", range(5))
def test_pagerank_matches_networkx_on_random_graphs(seed):
    # Dangling nodes, self-loops, parallel edges and isolated parts, as in a real crawl.
    rng = random.Random(seed)
    n = rng.randint(1, 300)
    edges = [(rng.randrange(n), rng.randrange(n)) for _ in range(rng.randint(0, 3 * n))]
    graph = nx.MultiDiGraph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(edges)
    expected = nx.pagerank(graph, max_iter=1000)
    ranks = pagerank(n, [s for s, _ in edges], [t for _, t in edges])
    assert ranks == pytest.approx([expected[i] for i in range(n)], abs=1e-6)


def test_graphml_and_gexf_load_in_networkx_with_labels_and_counts(demo_db, tmp_path):
    for fmt, reader in (("graphml", nx.read_graphml), ("gexf", nx.read_gexf)):
        path = tmp_path / f"links.{fmt}"
        _cli(demo_db, "links", "--format", fmt, "-o", str(path))
        graph = reader(path)
        assert graph.is_directed() and graph.is_multigraph(), fmt
        assert graph.number_of_edges() == _count(demo_db, "SELECT count(*) FROM links"), fmt
        posts = sqlite_utils.Database(demo_db).execute(
            "SELECT url, title FROM pages WHERE is_post = 1"
        )
        for url, title in posts:
            assert graph.nodes[url]["label"] == title, fmt


def test_related_graphml_is_undirected_with_the_related_view_count(demo_db, tmp_path):
    path = tmp_path / "related.graphml"
    _cli(demo_db, "related", "--format", "graphml", "-o", str(path))
    graph = nx.read_graphml(path)
    assert not graph.is_directed()
    assert graph.number_of_edges() == _count(demo_db, "SELECT count(*) FROM related_posts")


def test_dot_has_one_cluster_per_blog_kinds_as_labels_and_spam_styled(tmp_path):
    db = build_blog_db(tmp_path / "blog.db")
    verify_pingbacks(db)
    out = io.StringIO()
    export(db, "links", "dot", out)
    text = out.getvalue()
    blogs = {
        row[0]
        for row in db.execute(
            "SELECT pingcrawl_blog(src) FROM links UNION SELECT pingcrawl_blog(dst) FROM links"
        )
    }
    assert text.count("subgraph cluster_") == len(blogs)
    spam = next(line for line in text.splitlines() if line.startswith(f'  "{SPAM}" -> "{P1}"'))
    assert 'label="pingback"' in spam and 'style="dashed"' in spam and 'color="red"' in spam
    real = [line for line in text.splitlines() if " -> " in line and 'verified="1"' in line]
    assert real and not any("dashed" in line for line in real)
    related = io.StringIO()
    export(db, "related", "dot", related)
    assert 'label="citation,pingback"' in related.getvalue()  # the kinds, not "related"
    rendered = subprocess.run(
        ["sfdp", "-Tsvg"], input=text.encode(), capture_output=True, timeout=60, check=False
    )
    assert rendered.returncode == 0 and b"<svg" in rendered.stdout, rendered.stderr


def test_posts_and_comments_corpus_as_csv_and_jsonl(demo_db):
    posts = [
        json.loads(line) for line in _cli(demo_db, "posts", "--format", "jsonl").split("\n")[:-1]
    ]
    db = sqlite_utils.Database(demo_db)
    assert len(posts) == db["pages"].count_where("is_post = 1")
    page = db["pages"].get(posts[0]["url"])
    assert posts[0]["text"] == page["text"] and posts[0]["title"] == page["title"]
    assert {"author", "published", "fetched_at", "comments", "pingbacks"} <= set(posts[0])
    comments = _csv(_cli(demo_db, "comments"))
    assert len(comments) == db["comments"].count
    by_id = {c["id"]: c for c in comments}
    for row in db["comments"].rows:
        assert by_id[row["id"]]["text"] == (row["text"] or "")
        assert by_id[row["id"]]["author"] == (row["author"] or "")
        assert by_id[row["id"]]["published"] == (row["published"] or "")
    only = _csv(_cli(demo_db, "comments", "--kind", "pingback", "--blog", "northwind.example"))
    assert only and {(c["kind"], c["blog"]) for c in only} == {("pingback", "northwind.example")}


def test_tables_refuse_graph_formats_with_one_line(demo_db):
    result = CliRunner().invoke(cli, ["export", "posts", "--format", "gexf", "--db", str(demo_db)])
    assert result.exit_code == 2
    assert "posts is a table" in result.output and "Traceback" not in result.output
    with pytest.raises(ExportError, match="--kind"):
        export(open_database(demo_db), "posts", "csv", io.StringIO(), kinds=["nav"])


def test_empty_database_gives_empty_tables(tmp_path):
    db = open_database(tmp_path / "empty.db")
    for what in ("nodes", "posts", "comments"):
        out = io.StringIO()
        assert export(db, what, "csv", out) == 0
        assert out.getvalue().count("\n") == 1  # the header only
