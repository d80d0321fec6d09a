"""Step 9 (CLI): commands that look at results: ``related``, ``stats``, ``extract``."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import click

from crawler.cli.common import Command, UsageError, common_options, load, open_existing
from crawler.config import Config


@click.command(cls=Command)
@click.argument("url")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@common_options
def related(config: Config, url: str, limit: int, as_json: bool) -> None:
    """The posts related to URL on its blog, ranked, with how they are linked.

    Example: pingcrawl related https://blog.example/2024/05/post/
    """
    from crawler.urls import normalize_url
    from db.graph import NotFound, related_to

    normal = normalize_url(url)
    if normal is None:
        raise UsageError(f"not an http(s) URL: {url}")
    try:
        rows = related_to(open_existing(config), normal, limit=limit)
    except NotFound:
        raise UsageError(f"{normal} is not a page in {config.crawl.database}") from None
    if as_json:
        click.echo(json.dumps([_as_dict(r) for r in rows], indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo(f"no related posts known for {normal}")
    for rank, row in enumerate(rows, start=1):
        item = _as_dict(row)
        title = item.get("title") or ""
        click.echo(f"{rank:>3}. {item.get('url')}  {title}\n     {item.get('how', '')}")


def _as_dict(row: Any) -> dict[str, Any]:
    if isinstance(row, dict):
        return row
    if hasattr(row, "_asdict"):
        return row._asdict()
    return dict(vars(row))


@click.command(cls=Command)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@common_options
def stats(config: Config, as_json: bool) -> None:
    """Counts, last runs, errors by reason, top cited hosts, hosts waiting.

    Example: pingcrawl stats --db pingcrawl.db
    """
    from crawler.cli.stats_view import print_stats
    from db.graph import stats as compute_stats

    data = compute_stats(open_existing(config))
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        print_stats(data)


@click.command(cls=Command)
@click.argument("source")
@click.option("--url", "base_url", help="The page's URL (for a saved file) [default: file://].")
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="PINGCRAWL_CONFIG",
    help="Configuration for fetching a URL (user agent, proxy, safety) [default: ./config.toml].",
)
def extract(source: str, base_url: str | None, config_path: str | None) -> None:
    """Run the extractor on one saved page, a URL, or - (standard input); print its JSON.

    No database is used. Example: pingcrawl extract saved-post.html --url https://blog.example/p/
    """
    from crawler.cli.pagesource import read_source
    from crawler.parsing import PageParser, ParseFailure

    try:
        if source == "-":
            html, url, headers = _read_stdin(base_url)
        else:
            html, url, headers = read_source(source, base_url, load(config_path, None))
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from None

    async def parse() -> Any:
        async with PageParser(workers=1) as parser:
            return await parser.extract(html, url, headers)

    try:
        result = asyncio.run(parse())
    except ParseFailure as failure:
        raise UsageError(f"cannot extract {source}: {failure}") from None
    click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))


def _read_stdin(base_url: str | None) -> tuple[str, str, dict[str, str]]:
    """``extract -``: the page from standard input, decoded by the HTML rules."""
    from crawler.fetch.decode import decode_html
    from crawler.urls import normalize_url

    url = normalize_url(base_url) if base_url else "file:///dev/stdin"
    if url is None:
        raise ValueError(f"--url is not an http(s) URL: {base_url}")
    html, _ = decode_html(sys.stdin.buffer.read())
    return html, url, {}
