"""URL normalisation (SPEC section 6) and trap rules (section 7)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawler.urls import blog_of, comment_page_post, normalize_url, same_blog, trap_reason


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://Example.COM/Path/", "http://example.com/Path/"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com/a/./b/../c", "https://example.com/a/c"),
        ("https://example.com/a#comment-5", "https://example.com/a"),
        ("https://example.com/p?utm_source=x&utm_medium=y&id=3", "https://example.com/p?id=3"),
        ("https://example.com/p/?replytocom=42#respond", "https://example.com/p/"),
        ("https://example.com/p/?fbclid=abc&gclid=d", "https://example.com/p/"),
        ("https://example.com/p?b=2&a=1", "https://example.com/p?b=2&a=1"),
        ("https://bücher.example/ä", "https://xn--bcher-kva.example/%C3%A4"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/no-slash", "https://example.com/no-slash"),
        ("  https://example.com/x\n", "https://example.com/x"),
        (
            "https://f.example/t.php?s=22c09551c71c1a6b64e4364ca45cbf28&t=9",
            "https://f.example/t.php?t=9",
        ),
        ("https://blog.example/?s=north+korea", "https://blog.example/?s=north+korea"),
        ("https://x.blogspot.de/2013/10/p.html", "https://x.blogspot.com/2013/10/p.html"),
        ("https://x.blogspot.co.uk/", "https://x.blogspot.com/"),
        ("https://x.blogspot.com/", "https://x.blogspot.com/"),
    ],
)
def test_normalize(raw, expected):
    assert normalize_url(raw) == expected


@pytest.mark.parametrize(
    "raw", ["mailto:a@b.c", "javascript:void(0)", "tel:123", "data:text/html,x", "", "ftp://x/"]
)
def test_not_crawlable(raw):
    assert normalize_url(raw) is None


def test_relative_resolution():
    base = "https://blog.example/2024/05/post/"
    assert normalize_url("../other/", base) == "https://blog.example/2024/05/other/"
    assert normalize_url("//cdn.example/x", base) == "https://cdn.example/x"
    assert normalize_url("?p=3", base) == "https://blog.example/2024/05/post/?p=3"


@given(st.text(max_size=40), st.sampled_from(["http", "https"]), st.text(max_size=10))
def test_normalisation_is_idempotent(path, scheme, query):
    first = normalize_url(f"{scheme}://Example.com/{path}?{query}")
    if first is not None:
        assert normalize_url(first) == first


def test_blog_ignores_www():
    assert blog_of("https://www.example.com/a") == "example.com"
    assert same_blog("https://www.example.com/a", "https://example.com/b")
    assert not same_blog("https://a.example.com/", "https://b.example.com/")


def test_comment_page_belongs_to_post():
    assert comment_page_post("https://b.example/p/comment-page-2/") == "https://b.example/p/"
    assert comment_page_post("https://b.example/p/") is None


@pytest.mark.parametrize(
    "url",
    [
        "https://a.example/x/x/x/",
        "https://a.example/" + "/".join(f"s{i}" for i in range(21)),
        "https://a.example/" + "a" * 2001,
    ],
)
def test_traps(url):
    assert trap_reason(url) == "trap"


def test_not_a_trap():
    assert trap_reason("https://a.example/2024/05/post/") is None
