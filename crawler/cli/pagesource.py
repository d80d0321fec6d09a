"""Where ``pingcrawl extract`` gets its page: a saved file (decoded by the HTML rules)
or one URL fetched politely through the normal fetch stage."""

from __future__ import annotations

import asyncio
from pathlib import Path

from crawler.config import Config
from crawler.fetch.decode import decode_html
from crawler.urls import normalize_url


def read_source(
    source: str, base_url: str | None = None, config: Config | None = None
) -> tuple[str, str, dict[str, str]]:
    """Return ``(html, page_url, headers)`` for a file path or an http(s) URL."""
    if source.startswith(("http://", "https://")):
        return asyncio.run(_fetch(source, config or Config()))
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"no such file: {source}")
    html, _ = decode_html(path.read_bytes())
    url = normalize_url(base_url) if base_url else None
    if base_url and url is None:
        raise ValueError(f"--url is not an http(s) URL: {base_url}")
    return html, url or path.resolve().as_uri(), {}


async def _fetch(url: str, config: Config) -> tuple[str, str, dict[str, str]]:
    from crawler.fetch.client import Fetcher

    normal = normalize_url(url)
    if normal is None:
        raise ValueError(f"not an http(s) URL: {url}")
    async with Fetcher(config) as fetcher:
        result = await fetcher.fetch(normal)
    problem = result.skip_reason or result.error
    if problem or result.text is None:
        reason = problem or f"not an HTML page ({result.content_type})"
        raise ValueError(f"cannot extract {normal}: {reason}")
    return result.text, result.final_url, result.headers
