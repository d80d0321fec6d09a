"""Every `sqlite-utils query` example in the README runs on a crawled database."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlite_utils.cli import cli as sqlite_utils_cli

from crawler.demo.run import run_demo

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
QUERIES = [line for line in README.splitlines() if line.startswith("sqlite-utils query ")]


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("readme") / "pingcrawl.db"
    run_demo(path, echo=lambda line: None)
    return path


def test_the_readme_has_query_examples():
    assert len(QUERIES) >= 6


@pytest.mark.parametrize("line", QUERIES)
def test_query_example_runs(demo_db, line):
    args = shlex.split(line)[1:]
    args = [str(demo_db) if a.endswith(".db") else a for a in args]
    result = CliRunner().invoke(sqlite_utils_cli, args)
    assert result.exit_code == 0, result.output
    assert not re.search(r"error", result.output, re.IGNORECASE)
