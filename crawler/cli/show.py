"""Step 9 (CLI): ``pingcrawl show URL``, what was stored of one page."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from crawler.cli.common import Command, UsageError, common_options, open_existing
from crawler.config import Config

if TYPE_CHECKING:
    from db.show import StoredCopy


@click.command(cls=Command)
@click.argument("url")
@click.option("--html", "part", flag_value="html", help="The stored HTML (decoded).")
@click.option("--text", "part", flag_value="text", help="The extracted text.")
@click.option(
    "--headers",
    "part",
    flag_value="headers",
    help="The response headers as received (from the WARC archive).",
)
@common_options
def show(config: Config, url: str, part: str | None) -> None:
    """What was stored of URL: a summary, or its HTML, text or response headers.

    Example: pingcrawl show https://blog.example/2024/05/post/ --text
    """
    from crawler.urls import normalize_url
    from db.show import stored_copy

    normal = normalize_url(url) or url
    copy = stored_copy(open_existing(config), normal)
    if copy is None:
        raise UsageError(f"{normal} is not a page in {config.crawl.database}")
    if part == "html":
        _echo_or_fail(copy.html, f"no HTML stored for {copy.url}")
    elif part == "text":
        _echo_or_fail(copy.text, f"no text stored for {copy.url}")
    elif part == "headers":
        click.echo(_headers(config, copy.url, copy.warc_file, copy.warc_offset))
    else:
        click.echo(_summary(copy))


def _echo_or_fail(value: str | None, missing: str) -> None:
    if value is None:
        raise UsageError(missing)
    click.echo(value)


def _headers(config: Config, url: str, warc_file: str | None, offset: int | None) -> str:
    from crawler.archive.lookup import response_headers
    from crawler.archive.warc import ArchiveError

    if warc_file is None or offset is None:
        raise UsageError(f"no archived response for {url} (crawl with [archive] warc_dir set)")
    if not config.archive.warc_dir:
        raise UsageError(f"{url} is in {warc_file}: set [archive] warc_dir to read it")
    try:
        return response_headers(config.archive.warc_dir, warc_file, offset)
    except ArchiveError as exc:
        raise UsageError(str(exc)) from None


def _summary(copy: StoredCopy) -> str:
    lines = [
        f"url:          {copy.url}",
        f"final url:    {copy.final_url}",
        f"status:       {copy.status}",
        f"content type: {copy.content_type}",
        f"fetched at:   {copy.fetched_at}",
        f"title:        {copy.title or ''}",
        f"html:         {len(copy.html) if copy.html is not None else 0} characters",
        f"text:         {len(copy.text) if copy.text is not None else 0} characters",
        f"fetches:      {copy.fetches}",
    ]
    if copy.warc_file:
        lines.append(f"warc:         {copy.warc_file} @ {copy.warc_offset}")
    return "\n".join(lines)
