"""HTML text decoding in the HTML standard's order: BOM, Content-Type, <meta>, guess."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawler.config import Config
from crawler.fetch.client import Fetcher
from crawler.fetch.decode import charset_from_meta, decode_html, python_codec

JA = "北朝鮮の核問題について"
KO = "북한 핵 문제에 대하여"
FR = "Élections à Séoul — « crise » déjà ‘passée’ €"


def page(title: str, meta: str = "") -> str:
    return f"<html><head>{meta}<title>{title}</title></head><body><p>{title}</p></body></html>"


@pytest.mark.parametrize(
    ("text", "encoding", "content_type"),
    [
        (JA, "shift_jis", "text/html; charset=Shift_JIS"),
        (JA, "euc_jp", "text/html; charset=EUC-JP"),
        (KO, "euc_kr", "text/html; charset=euc-kr"),
        (FR, "cp1252", "text/html; charset=windows-1252"),
        (FR, "utf-8", "text/html; charset=UTF-8"),
    ],
)
def test_content_type_charset(text: str, encoding: str, content_type: str) -> None:
    body = page(text).encode(encoding)
    assert decode_html(body, content_type)[0] == page(text)


@pytest.mark.parametrize(
    ("text", "encoding", "meta"),
    [
        (JA, "shift_jis", '<meta charset="shift_jis">'),
        (JA, "cp932", "<meta http-equiv='Content-Type' content='text/html; charset=Shift_JIS'>"),
        (KO, "cp949", '<meta http-equiv="content-type" content="text/html;charset=EUC-KR">'),
        (FR, "cp1252", "<meta charset=windows-1252>"),
        (FR, "cp1252", '<meta charset="iso-8859-1">'),  # means windows-1252, as browsers read it
    ],
)
def test_meta_charset(text: str, encoding: str, meta: str) -> None:
    body = page(text, meta).encode(encoding)
    assert decode_html(body, "text/html")[0] == page(text, meta)


def test_bom_wins_over_everything() -> None:
    body = b"\xef\xbb\xbf" + page(FR, '<meta charset="shift_jis">').encode("utf-8")
    text, codec = decode_html(body, "text/html; charset=windows-1252")
    assert codec == "utf-8" and FR in text and not text.startswith("\ufeff")
    assert decode_html("\ufeffhé".encode("utf-16-le"))[0] == "hé"


def test_header_wins_over_meta() -> None:
    body = page(FR, '<meta charset="utf-8">').encode("cp1252")
    assert FR in decode_html(body, "text/html; charset=ISO-8859-1")[0]


def test_guess_utf8_then_windows_1252() -> None:
    assert decode_html(page(FR).encode("utf-8"))[1] == "utf-8"
    assert decode_html(page(FR).encode("cp1252")) == (page(FR), "cp1252")
    # A body cut in the middle of a character is still UTF-8.
    assert decode_html(page(JA).encode("utf-8")[:-40])[1] == "utf-8"


def test_labels_map_as_the_encoding_standard_says() -> None:
    assert python_codec("ISO-8859-1") == python_codec("latin1") == python_codec("ascii") == "cp1252"
    assert python_codec("Shift_JIS") == "cp932" and python_codec("EUC-KR") == "cp949"
    assert python_codec("utf-16") == "utf-8" and python_codec("no-such-charset") is None


def test_meta_in_a_comment_is_ignored_and_late_meta_is_not_seen() -> None:
    assert charset_from_meta(b"<!-- <meta charset=shift_jis> --><meta charset=euc-kr>") == "cp949"
    assert charset_from_meta(b" " * 5000 + b"<meta charset=shift_jis>") is None


@given(st.binary(max_size=300), st.sampled_from([None, "text/html", "text/html; charset=bogus"]))
def test_decoding_never_raises(body: bytes, content_type: str | None) -> None:
    assert isinstance(decode_html(body, content_type)[0], str)


def test_fetcher_returns_decoded_text() -> None:
    pages = {
        "/ja": (page(JA).encode("shift_jis"), "text/html; charset=shift_jis"),
        "/ko": (page(KO, '<meta charset="euc-kr">').encode("euc_kr"), "text/html"),
        "/fr": (page(FR).encode("cp1252"), "text/html"),
        "/none": (page(FR).encode("utf-8"), None),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        body, content_type = pages.get(request.url.path, (b"", "text/plain"))
        headers = {"content-type": content_type} if content_type else {}
        return httpx.Response(200 if body else 404, headers=headers, content=body)

    async def go() -> dict[str, str | None]:
        config = Config().with_overrides(politeness={"delay": 0.0})
        async with Fetcher(config, transport=httpx.MockTransport(handler)) as fetcher:
            return {p: (await fetcher.fetch(f"http://blog.example{p}")).text for p in pages}

    texts = asyncio.run(go())
    assert JA in texts["/ja"] and KO in texts["/ko"] and FR in texts["/fr"]
    assert FR in texts["/none"]  # no Content-Type at all: sniffed as HTML, guessed UTF-8
