"""Poison responses at fetch level (issue 12): each once crashed a run. Each is served by the
local server as one host among healthy ones (virtual hosts through the server as a proxy);
the poisoned URL ends as a recorded outcome, the healthy host's page is fetched."""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

import pytest
from siteserver import SiteServer

from crawler.config import Config
from crawler.fetch.client import Fetcher, FetchResult, _retry_after
from crawler.fetch.decode import decode_html, python_codec
from crawler.fetch.inflate import MAX_CODINGS, DecodingError, decoder_for

HEALTHY = "http://healthy.test/ok"
CAFE = "<html><head><title>café</title></head><body>crème brûlée</body></html>"


def crawl(site: SiteServer, poisoned: str, **http: Any) -> tuple[FetchResult, FetchResult]:
    """Fetch the poisoned URL and the healthy host's page side by side, through the proxy."""
    site.add_page("/ok", "<html>fine</html>", host="healthy.test")
    cfg = Config().with_overrides(
        politeness={"delay": 0.0},
        http={"proxy": site.proxy_url, "timeout": 3.0, "retries": 1, **http},
    )

    async def go() -> list[FetchResult]:
        async with Fetcher(cfg, backoff_base=0.01, backoff_max=0.02) as fetcher:
            return await asyncio.gather(fetcher.fetch(poisoned), fetcher.fetch(HEALTHY))

    poison, healthy = asyncio.run(go())
    assert healthy.status == 200 and healthy.text == "<html>fine</html>", healthy
    return poison, healthy


# -- Retry-After with a digit that is not ASCII ------------------------------------------


@pytest.mark.parametrize("value", ["²", "١٢", "5²", "٣"])
def test_retry_after_with_a_non_ascii_digit_is_ignored(site: SiteServer, value: str) -> None:
    site.add_page("/p", "<html>ok</html>", host="poison.test")
    site.fail_times("/p", 1, status=503, host="poison.test", headers={"Retry-After": value})
    poison, _healthy = crawl(site, "http://poison.test/p")
    assert poison.status == 200 and poison.attempts == 2  # an unreadable Retry-After: backoff


def test_retry_after_parser_reads_ascii_digits_only() -> None:
    assert _retry_after("²", 3600) is None and _retry_after("١٢", 3600) is None
    assert _retry_after(" 7 ", 3600) == 7
    assert _retry_after("Wed, 21 Oct 99999 07:28:00 GMT", 3600) is None
    assert _retry_after("9" * 5000, 3600) == 3600


# -- a charset naming a codec that is not a text encoding --------------------------------

NOT_TEXT = ["hex", "base64", "rot13", "undefined", "rot_13", "zlib", "utf-7", "bz2", "uu"]


@pytest.mark.parametrize("label", NOT_TEXT)
def test_non_text_charset_in_the_header_falls_back(site: SiteServer, label: str) -> None:
    site.add_page(
        "/p", CAFE.encode("utf-8"), host="poison.test", content_type=f"text/html; charset={label}"
    )
    poison, _healthy = crawl(site, "http://poison.test/p")
    assert poison.status == 200 and poison.error is None and poison.text == CAFE


@pytest.mark.parametrize("label", NOT_TEXT)
@pytest.mark.parametrize(
    "meta",
    ['<meta charset="{}">', '<meta http-equiv="Content-Type" content="text/html; charset={}">'],
)
def test_non_text_charset_in_meta_falls_back(site: SiteServer, label: str, meta: str) -> None:
    page = CAFE.replace("<head>", "<head>" + meta.format(label))
    site.add_page("/p", page.encode("utf-8"), host="poison.test", content_type="text/html")
    poison, _healthy = crawl(site, "http://poison.test/p")
    assert poison.status == 200 and poison.text == page


@pytest.mark.parametrize("label", NOT_TEXT)
def test_a_bad_header_charset_falls_back_to_the_meta_one(label: str) -> None:
    page = '<html><head><meta charset="koi8-r"><title>Привет</title></head></html>'
    text, codec = decode_html(page.encode("koi8-r"), f"text/html; charset={label}")
    assert codec == "koi8-r" and text == page  # not the guess (windows-1252)
    assert python_codec("koi8-r") == "koi8-r" and python_codec("latin1") == "cp1252"


# -- Content-Encoding stacked 1,200 times ------------------------------------------------


def test_gzip_stacked_1200_times_is_a_decoding_error(site: SiteServer) -> None:
    body = b"<html>deep</html>"
    for _ in range(1200):
        body = gzip.compress(body, compresslevel=1)
    headers = {"Content-Encoding": ", ".join(["gzip"] * 1200)}
    site.add_page("/p", body, host="poison.test", headers=headers)
    poison, _healthy = crawl(site, "http://poison.test/p")
    assert poison.error == "decoding_error" and poison.text is None
    assert poison.attempts == 1  # the same bytes would come again: not retried
    assert poison.exchanges[-1].error == "decoding_error"


def test_a_few_stacked_codings_are_undone(site: SiteServer) -> None:
    body = b"<html>two layers</html>"
    for _ in range(MAX_CODINGS):
        body = gzip.compress(body)
    headers = {"Content-Encoding": ", ".join(["gzip"] * MAX_CODINGS)}
    site.add_page("/p", body, host="poison.test", headers=headers)
    poison, _healthy = crawl(site, "http://poison.test/p")
    assert poison.status == 200 and poison.text == "<html>two layers</html>"


def test_the_coding_bound_is_checked_before_any_decoder_is_built() -> None:
    with pytest.raises(DecodingError):
        decoder_for(", ".join(["gzip"] * (MAX_CODINGS + 1)))
    assert decoder_for("identity, gzip, identity") is not None
