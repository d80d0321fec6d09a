"""Each poison case of issue 12 through a whole crawl, served by the local test server as
one host among healthy ones: every one of them once ended the run ("internal error") and,
because its URL went back in the queue, every later run too. Now the run exits normally,
the poisoned URL carries its outcome, the healthy hosts' pages are stored, and a second
run is fine as well."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlite_utils
from siteserver import SiteServer

from crawler.config import Config
from crawler.engine import crawl

HEALTHY_HOSTS = ("a.test", "b.test")
POISON = "http://poison.test/p/"


def post(title: str, body: str = "", head: str = "") -> str:
    return (
        f"<html><head><title>{title}</title>{head}<meta property='og:type' content='article'>"
        f'</head><body><article class="post hentry"><h1 class="entry-title">{title}</h1>'
        f'<div class="entry-content">{body}</div></article></body></html>'
    )


def retry_after_superscript(site: SiteServer) -> None:
    site.add_page("/p/", post("later"), host="poison.test")
    site.fail_times("/p/", 10, status=503, host="poison.test", headers={"Retry-After": "²"})


def charset(label: str, where: str) -> Callable[[SiteServer], None]:
    def serve(site: SiteServer) -> None:
        head = f'<meta charset="{label}">' if where == "meta" else ""
        kind = "text/html" if where == "meta" else f"text/html; charset={label}"
        site.add_page(
            "/p/", post("café", "crème", head).encode(), host="poison.test", content_type=kind
        )

    return serve


def deep_json_ld(site: SiteServer) -> None:
    nested = "[" * 3000 + "]" * 3000
    item = '{"@type": "BlogPosting", "headline": "deep", "x": ' + nested + "}"
    head = f'<script type="application/ld+json">{item}</script>'
    site.add_page("/p/", post("deep", head=head), host="poison.test")


def stacked_gzip(site: SiteServer) -> None:
    body = post("stacked").encode()
    for _ in range(1200):
        body = gzip.compress(body, compresslevel=1)
    headers = {"Content-Encoding": ", ".join(["gzip"] * 1200)}
    site.add_page("/p/", body, host="poison.test", headers=headers)


def many_comments(site: SiteServer) -> None:
    # Short entries, so that 33,000 of them stay under max_bytes (5 MB).
    items = "".join(
        f'<li class="comment" id="comment-{n}"><p>c{n}</p></li>' for n in range(1, 33_001)
    )
    body = f'<ol class="commentlist">{items}</ol>'
    html = post("many").replace("</article>", f'</article><div id="comments">{body}</div>')
    site.add_page("/p/", html, host="poison.test")


# name -> (serve, the outcome the poisoned URL must carry: (state, error) in pages)
CASES = {
    "retry-after-superscript": (retry_after_superscript, "http_503"),
    "charset-hex-header": (charset("hex", "header"), None),
    "charset-base64-header": (charset("base64", "header"), None),
    "charset-rot13-meta": (charset("rot13", "meta"), None),
    "charset-undefined-meta": (charset("undefined", "meta"), None),
    "json-ld-3000-deep": (deep_json_ld, None),
    "gzip-stacked-1200": (stacked_gzip, "decoding_error"),
    "33000-comments": (many_comments, None),
}


def serve_healthy(site: SiteServer) -> list[str]:
    seeds = []
    for host in HEALTHY_HOSTS:
        posts = [f"http://{host}/p/{n}/" for n in (1, 2)]
        links = "".join(f'<p><a href="{u}">cited</a></p>' for u in posts)
        site.add_page("/", post(f"{host} home", links), host=host)
        for url in posts:
            site.add_page(url.split(host, 1)[1], post(url), host=host)
        seeds.append(f"http://{host}/")
    return seeds


@pytest.mark.parametrize("case", list(CASES))
def test_a_poison_response_is_a_recorded_outcome_and_both_runs_complete(
    site: SiteServer, tmp_path: Path, case: str
) -> None:
    serve, error = CASES[case]
    serve(site)
    seeds = [*serve_healthy(site), POISON]
    config = Config().with_overrides(
        crawl={"database": str(tmp_path / "c.db"), "seeds": seeds, "recrawl_after": "1s"},
        politeness={"delay": 0.0},
        http={"proxy": site.proxy_url, "timeout": 5.0, "retries": 1},
        safety={"allow_private": True},
    )
    first = crawl(config)
    assert first.status == "ok"
    db = sqlite_utils.Database(tmp_path / "c.db")
    pages = {r["url"]: r for r in db["pages"].rows}
    healthy = [u for u in pages if u.split("/")[2] in HEALTHY_HOSTS]
    assert len(healthy) == 6 and all(pages[u]["status"] == 200 for u in healthy)
    poisoned = pages[POISON]
    assert poisoned["error"] == error, poisoned["error"]
    if error is None:
        assert poisoned["status"] == 200 and poisoned["title"], poisoned
    if case == "33000-comments":
        assert db["comments"].count_where("post_url = ?", [POISON]) == 33_000
    if case.startswith("charset"):
        assert "crème" in (poisoned["text"] or ""), poisoned["text"]
    second = crawl(config)
    assert second.status == "ok"
    assert json.dumps(second.counters.__dict__)  # the second run reports like any other
