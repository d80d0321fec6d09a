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


@pytest.mark.parametrize(
    "raw",
    [
        "http://a b.example/",  # a space
        'http://a"b.example/',  # a quote
        "http://a'b.example/",
        "http://<script>.example/",  # angle brackets from broken markup
        "http://a%20b.example/",  # a space, percent-encoded
        "http://xn--/",  # an empty punycode label
        "http://xn--.example/",
        "http://a..b.example/",  # an empty label
        "http://[fe80::1%25eth0]/",  # an IPv6 zone id
        "http://%ff.example/",  # not UTF-8 once decoded
        "http://" + "a" * 64 + ".example/",  # a label longer than DNS allows
    ],
)
def test_malformed_hosts_are_not_urls(raw):
    assert normalize_url(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://%31%32%37.0.0.1/admin", "http://127.0.0.1/admin"),
        ("http://%6C%6F%63%61%6C%68%6F%73%74/", "http://localhost/"),
        ("http://%E4%B8%AD.example/", "http://xn--fiq.example/"),
        ("http://under_score.blogspot.com/", "http://under_score.blogspot.com/"),
        ("http://[::1]:80/", "http://[::1]/"),
    ],
)
def test_hosts_are_decoded_before_anything_checks_them(raw, expected):
    assert normalize_url(raw) == expected


def test_a_percent_encoded_loopback_is_refused_by_the_safety_check():
    from crawler.fetch.safety import check_url

    url = normalize_url("http://%31%32%37.0.0.1/")
    assert url is not None and check_url(url) == "private"


@given(st.text(max_size=20))
def test_any_host_text_gives_none_or_a_stable_well_formed_url(host):
    first = normalize_url(f"http://{host}/p")
    if first is not None:
        assert normalize_url(first) == first
        netloc = first.split("/")[2]
        assert not set(netloc) & set(" \"'<>\\^`{|}%")
