"""The command line through click's CliRunner; assertions on the SQLite files it writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner

from crawler.cli.main import cli
from crawler.demo import web
from crawler.demo.run import serve_demo_web
from crawler.runlock import RunLock

COMMANDS = ["crawl", "export", "related", "stats", "extract", "demo"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write_config(path: Path, proxy: str, db: Path, extra: str = "") -> Path:
    path.write_text(
        f'[crawl]\ndatabase = "{db}"\nseeds = ["{web.A1}"]\nmax_depth = 1\n{extra}'
        f"[politeness]\ndelay = 0.0\n"
        f'[http]\nproxy = "{proxy}"\ntimeout = 5.0\nretries = 0\n'
        f"[safety]\nallow_private = true\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(runner, command):
    result = runner.invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output or command == "demo"
    assert len(result.output.splitlines()) > 3


def test_crawl_with_config_file_fills_the_database(runner, tmp_path):
    db = tmp_path / "c.db"
    with serve_demo_web() as proxy:
        config = write_config(tmp_path / "config.toml", proxy, db)
        result = runner.invoke(cli, ["crawl", "--config", str(config), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "run 1 ok" in result.output
    data = sqlite_utils.Database(db)
    assert data["pages"].count_where("is_post = 1") >= 3
    assert data["comments"].count_where("kind = 'pingback'") >= 2
    assert data["links"].count_where("kind = 'citation'") > 0


def test_db_option_overrides_config(runner, tmp_path):
    other = tmp_path / "other.db"
    with serve_demo_web() as proxy:
        config = write_config(tmp_path / "config.toml", proxy, tmp_path / "c.db")
        args = ["crawl", "-c", str(config), "--db", str(other), "--max-pages", "2", "-q"]
        result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert sqlite_utils.Database(other)["pages"].count == 2
    assert not (tmp_path / "c.db").exists()


def test_misspelt_key_exits_2_naming_it(runner, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[crawl]\nmax_dept = 3\n")
    result = runner.invoke(cli, ["crawl", "--config", str(config)])
    assert result.exit_code == 2
    assert "crawl.max_dept" in result.output
    assert "Traceback" not in result.output


def test_missing_config_file_is_a_clear_error(runner, tmp_path):
    result = runner.invoke(cli, ["crawl", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "nope.toml does not exist" in result.output


def test_bad_seed_and_no_seed_exit_2(runner, tmp_path):
    db = str(tmp_path / "c.db")
    bad = runner.invoke(cli, ["crawl", "--db", db, "ftp://x.example/"])
    assert bad.exit_code == 2 and "not an http(s) URL" in bad.output
    none = runner.invoke(cli, ["crawl", "--db", db], env={"PINGCRAWL_CONFIG": ""})
    assert none.exit_code == 2 and "no seeds" in none.output


def test_commands_on_a_missing_database_exit_2(runner, tmp_path):
    db = str(tmp_path / "missing.db")
    for args in (["stats"], ["export", "links"], ["related", web.A1]):
        result = runner.invoke(cli, [*args, "--db", db])
        assert result.exit_code == 2, args
        assert "does not exist" in result.output


def test_second_run_exits_75_while_the_lock_is_held(tmp_path):
    db = tmp_path / "c.db"
    with RunLock(db):
        env = {k: v for k, v in os.environ.items() if k != "PINGCRAWL_CONFIG"}
        proc = subprocess.run(
            [sys.executable, "-m", "crawler", "crawl", "--db", str(db), web.A1],
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
            cwd=tmp_path,
        )
    assert proc.returncode == 75
    assert f"pid {os.getpid()}" in proc.stderr


def test_extract_prints_json(runner, tmp_path):
    page = tmp_path / "post.html"
    page.write_text(web.render_post(web.POSTS[0]), encoding="utf-8")
    result = runner.invoke(cli, ["extract", str(page), "--url", web.A1])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["title"] == "Alliance politics after the summit"
    assert data["is_post"] is True
    kinds = {c["kind"] for c in data["comments"]}
    assert kinds == {"comment", "pingback", "trackback"}
    assert {"dst", "kind", "anchor", "rel"} <= set(data["links"][0])


def test_extract_missing_file_exits_2(runner, tmp_path):
    result = runner.invoke(cli, ["extract", str(tmp_path / "nope.html")])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_demo_prints_pingbacks_and_related_posts(runner, tmp_path):
    db = tmp_path / "demo.db"
    result = runner.invoke(cli, ["demo", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert sqlite_utils.Database(db)["pages"].count > 0
    assert "pingback" in result.output
    assert "Related posts" in result.output
    assert web.A1 in result.output
    assert "NO (does not link back)" in result.output


def test_related_for_an_unknown_post_is_a_one_line_error(runner, tmp_path):
    db = tmp_path / "demo.db"
    assert runner.invoke(cli, ["demo", "--db", str(db)]).exit_code == 0
    result = runner.invoke(cli, ["related", "--db", str(db), "http://nowhere.example/p/"])
    assert result.exit_code == 2
    assert "is not a page in" in result.output
    known = runner.invoke(cli, ["related", "--db", str(db), web.A1, "--json"])
    assert known.exit_code == 0
    urls = [row["url"] for row in json.loads(known.output)]
    assert set(urls) == {web.A2, web.A3}


def test_export_related_csv_and_graphml_from_a_crawl(runner, tmp_path):
    import csv
    import io

    import networkx

    db = tmp_path / "demo.db"
    assert runner.invoke(cli, ["demo", "--db", str(db)]).exit_code == 0
    result = runner.invoke(cli, ["export", "related", "--db", str(db), "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert list(rows[0])[:3] == ["source", "target", "kind"]
    pairs = {frozenset((r["source"], r["target"])) for r in rows}
    expected = [(web.A1, web.A2), (web.A1, web.A3), (web.A2, web.A3), (web.B1, web.B2)]
    assert pairs == {frozenset(p) for p in expected}

    out = tmp_path / "links.graphml"
    args = ["export", "links", "--db", str(db), "--format", "graphml", "-o", str(out)]
    assert runner.invoke(cli, [*args, "--kind", "pingback"]).exit_code == 0
    graph = networkx.read_graphml(out)
    assert graph.number_of_edges() == 4
    assert graph.has_edge(web.B1, web.A1)
