"""Hostile listings end as a typed Failure (or a listing without the bad entries), never
an exception, a file read, a request, or a hang. Memory bounds: test_discover_memory.py."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from siteserver import SiteServer
from test_discover_parsers import BLOGGER_POSTS, RSS2, WP_COMMENTS, WP_INDEX, WP_POSTS

from crawler.discover import (
    FailReason,
    Failure,
    Listing,
    find_advertised,
    parse_comment_feed,
    parse_feed,
    parse_sitemap,
    parse_wp_posts,
    robots_sitemaps,
)
from crawler.discover.body import MAX_SITEMAP_BYTES
from crawler.discover.feed import MAX_FEED_BYTES
from crawler.discover.rest import MAX_PAGES

SITEMAP = "https://blog.example/sitemap.xml"
FEED = "https://blog.example/feed/"
API = "https://blog.example/wp-json/wp/v2/posts?per_page=100&_fields=link,modified_gmt"
PARSERS = [parse_sitemap, parse_feed, parse_comment_feed, parse_wp_posts]


def laughs(root: str, inner: str) -> bytes:
    """Billion laughs: ten levels of ten references, 10^9 'lol's if expanded."""
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol%s;" % ("" if i == 1 else i - 1)) * 10}">' for i in range(1, 10)
    )
    return f'<?xml version="1.0"?><!DOCTYPE {root} [{entities}]>{inner}'.encode()


def failure(result: object, reason: FailReason) -> Failure:
    assert isinstance(result, Failure), result
    assert result.reason is reason, result
    return result


def zeros_gzipped(prefix: bytes, nbytes: int, filler: bytes = b" ") -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [compressor.compress(prefix)]
    block = filler * (1 << 20)
    for _ in range(nbytes >> 20):
        parts.append(compressor.compress(block))
    parts.append(compressor.flush())
    return b"".join(parts)


# -- sitemaps ------------------------------------------------------------------------------


def test_sitemap_billion_laughs() -> None:
    body = laughs("urlset", "<urlset><url><loc>&lol9;</loc></url></urlset>")
    failure(parse_sitemap(body, SITEMAP, {}), FailReason.ENTITIES)


def test_sitemap_external_entity_does_not_read_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("https://blog.example/leaked/")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY x SYSTEM "file://{secret}">]>'
        "<urlset><url><loc>&x;</loc></url></urlset>"
    ).encode()
    failure(parse_sitemap(body, SITEMAP, {}), FailReason.ENTITIES)


def test_external_dtd_is_never_fetched(site: SiteServer) -> None:
    site.add_page("/evil.dtd", '<!ENTITY x "https://blog.example/evil/">', content_type="text/xml")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE urlset SYSTEM "{site.url("/evil.dtd")}">'
        "<urlset><url><loc>https://blog.example/a/</loc></url></urlset>"
    ).encode()
    result = parse_sitemap(body, SITEMAP, {})
    assert isinstance(result, Listing) and [u.url for u in result.posts] == [
        "https://blog.example/a/"
    ]
    feed = RSS2.replace(b"<rss", f'<!DOCTYPE rss SYSTEM "{site.url("/evil.dtd")}"><rss'.encode(), 1)
    feed = feed.replace(b'<?xml version="1.0" encoding="UTF-8"?>', b"")
    parse_feed(feed, FEED, {})
    assert site.hits(path="/evil.dtd") == []


def test_sitemap_gzip_bomb_is_cut_at_50_mb() -> None:
    bomb = zeros_gzipped(b"<urlset><url><loc>", MAX_SITEMAP_BYTES + (2 << 20))
    assert len(bomb) < 200_000
    failure(parse_sitemap(bomb, SITEMAP, {}), FailReason.TOO_LARGE)


def test_sitemap_limits_can_be_lowered() -> None:
    failure(parse_sitemap(WP_POSTS, SITEMAP, {}, max_bytes=100), FailReason.TOO_LARGE)
    failure(parse_sitemap(WP_POSTS, SITEMAP, {}, max_urls=2), FailReason.TOO_MANY)


def test_sitemap_over_50000_urls() -> None:
    entries = b"".join(
        b"<url><loc>https://blog.example/p/%d/</loc></url>" % i for i in range(50_001)
    )
    body = b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">' + entries + b"</urlset>"
    failure(parse_sitemap(body, SITEMAP, {}), FailReason.TOO_MANY)
    exactly = body.replace(b"<url><loc>https://blog.example/p/0/</loc></url>", b"", 1)
    listing = parse_sitemap(exactly, SITEMAP, {})
    assert isinstance(listing, Listing) and len(listing.posts) == 50_000


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", FailReason.MALFORMED),
        (WP_POSTS[:200], FailReason.MALFORMED),
        (b"\x1f\x8b\x08\x00garbage", FailReason.MALFORMED),
        (gzip.compress(WP_POSTS)[:-30], FailReason.MALFORMED),
        (b"\xff\xfe\x00<\x00u\x00r\x00l\x00", FailReason.MALFORMED),
        (b'<?xml version="1.0" encoding="x-bogus"?><urlset/>', FailReason.MALFORMED),
        (
            b"<html><head><title>Not found</title></head><body>Sorry</body></html>",
            FailReason.WRONG_SHAPE,
        ),
        (RSS2, FailReason.WRONG_SHAPE),
        (b"<!doctype html><html><body><p>Page not found<br></body></html>", FailReason.MALFORMED),
    ],
)
def test_sitemap_malformed_or_wrong_shape(body: bytes, reason: FailReason) -> None:
    failure(parse_sitemap(body, SITEMAP, {}), reason)


def test_sitemap_overlong_and_unusable_entries_are_dropped_with_a_note() -> None:
    long_loc = "https://blog.example/" + "a" * 3000
    body = (
        "<urlset><url><loc>" + long_loc + "</loc></url><url><loc>ftp://x/</loc></url>"
        "<url><loc>https://blog.example/ok/</loc><lastmod>not a date</lastmod></url></urlset>"
    ).encode()
    result = parse_sitemap(body, SITEMAP, {})
    assert isinstance(result, Listing)
    assert [(u.url, u.modified) for u in result.posts] == [("https://blog.example/ok/", None)]
    assert any("over its length limit" in note for note in result.notes)


def test_sitemap_index_without_namespace_and_nested_noise() -> None:
    body = WP_INDEX.replace(b' xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"', b"")
    body = body.replace(
        b"<sitemap>", b"<sitemap><extra><loc>https://evil.example/</loc></extra>", 1
    )
    result = parse_sitemap(body, "https://blog.example/wp-sitemap.xml", {})
    assert isinstance(result, Listing)
    assert "https://evil.example/" not in [s.url for s in result.follow]
    assert len(result.follow) == 2


# -- feeds ---------------------------------------------------------------------------------


@pytest.mark.parametrize("parser", [parse_feed, parse_comment_feed])
def test_feed_billion_laughs(parser: object) -> None:
    body = laughs("rss", "<rss version='2.0'><channel><title>&lol9;</title></channel></rss>")
    failure(parser(body, FEED, {}), FailReason.ENTITIES)  # type: ignore[operator]
    failure(parser(gzip.compress(body), FEED, {}), FailReason.ENTITIES)  # type: ignore[operator]


def test_feed_external_entity(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("leaked")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file://{secret}">]>'
        "<rss version='2.0'><channel><item><link>https://blog.example/&x;/</link></item>"
        "</channel></rss>"
    ).encode()
    failure(parse_feed(body, FEED, {}), FailReason.ENTITIES)


def test_feed_body_that_names_a_file_is_not_opened(tmp_path: Path) -> None:
    # feedparser.parse() given a str or bytes opens it as a file name or URL if it can.
    path = tmp_path / "feed.xml"
    path.write_bytes(RSS2)
    result = parse_feed(str(path).encode(), FEED, {})
    assert isinstance(result, Failure)


def test_feed_body_that_is_a_url_is_not_fetched(site: SiteServer) -> None:
    site.add_page("/feed.xml", RSS2, content_type="application/rss+xml")
    result = parse_feed(site.url("/feed.xml").encode(), FEED, {})
    assert isinstance(result, Failure)
    assert site.hits(path="/feed.xml") == []


def test_feed_too_large() -> None:
    body = zeros_gzipped(b"<rss version='2.0'><channel><title>", MAX_FEED_BYTES + (1 << 20))
    failure(parse_feed(body, FEED, {}), FailReason.TOO_LARGE)


@pytest.mark.parametrize(
    "body",
    [b"", b"\x00\x01\x02garbage", b"<html><body>no feed</body></html>", b"{}", WP_POSTS],
)
def test_not_a_feed(body: bytes) -> None:
    result = parse_feed(body, FEED, {"Content-Type": "text/html"})
    assert isinstance(result, Failure)
    assert result.reason in (FailReason.MALFORMED, FailReason.WRONG_SHAPE)


def test_broken_feed_is_read_leniently_and_says_so() -> None:
    broken = RSS2.replace(b"</channel>", b"<bad & unclosed></channel>")
    result = parse_feed(broken, FEED, {"Content-Type": "application/rss+xml"})
    assert isinstance(result, Listing) and len(result.posts) == 2
    assert any("not well-formed" in note for note in result.notes)


def test_feed_entries_with_unusable_links_are_dropped() -> None:
    body = RSS2.replace(
        b"<link>https://blog.example/2024/05/30/year-in-review/</link>",
        b"<link>javascript:x()</link>",
    )
    result = parse_feed(body, FEED, {})
    assert isinstance(result, Listing) and len(result.posts) == 1
    assert "1 entries without a usable link" in result.notes


def test_hostile_paging_numbers() -> None:
    body = BLOGGER_POSTS.replace(b"totalResults>5<", b"totalResults>99999999999<")
    result = parse_feed(body, "https://shelf.blogspot.com/feeds/posts/default", {})
    assert isinstance(result, Listing) and len(result.follow) <= 1000
    zero = BLOGGER_POSTS.replace(b"itemsPerPage>2<", b"itemsPerPage>0<")
    assert isinstance(
        parse_feed(zero, "https://shelf.blogspot.com/feeds/posts/default", {}), Listing
    )


def test_feed_next_link_to_another_host_is_not_followed() -> None:
    body = RSS2.replace(
        b"<generator>https://wordpress.org/?v=6.5.3</generator>",
        b'<atom:link rel="next" href="https://evil.example/feed/?page=2"/>',
    )
    result = parse_feed(body, "https://blog.example/rss.xml", {})
    assert isinstance(result, Listing) and result.follow == ()


# -- REST ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[" * 100_000, FailReason.MALFORMED),
        (b'{"code":"rest_no_route","message":"No route"}', FailReason.WRONG_SHAPE),
        (b"not json", FailReason.MALFORMED),
        (b'["\xff\xfe"]', FailReason.MALFORMED),
        (b"", FailReason.MALFORMED),
    ],
)
def test_rest_bad_bodies(body: bytes, reason: FailReason) -> None:
    failure(parse_wp_posts(body, API, {}), reason)


def test_rest_huge_or_odd_total_pages() -> None:
    body = json.dumps([{"link": "https://blog.example/a/"}]).encode()
    for value, follows in (("1000000000", MAX_PAGES - 1), ("-3", 0), ("many", 0), ("", 0)):
        result = parse_wp_posts(body, API, {"X-WP-TotalPages": value})
        assert isinstance(result, Listing) and len(result.follow) == follows, value


def test_rest_odd_items_are_dropped() -> None:
    items = [
        1,
        None,
        "x",
        {"link": 5},
        {"link": "mailto:a@b"},
        {"link": "/rel/", "modified_gmt": 7},
        {"link": "https://elsewhere.example/p/"},
    ]
    result = parse_wp_posts(json.dumps(items).encode(), API, {})
    assert isinstance(result, Listing)
    assert [u.url for u in result.posts] == ["https://blog.example/rel/"]
    assert [u.url for u in result.skipped] == ["https://elsewhere.example/p/"]


# -- anything at all -----------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_give_a_result(body: bytes) -> None:
    for parser in PARSERS:
        assert isinstance(parser(body, SITEMAP, {}), Listing | Failure)
    find_advertised(body, "https://blog.example/", {"Link": body.decode("latin-1")})
    robots_sitemaps(body.decode("utf-8", "replace"), "https://blog.example/")


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from([WP_INDEX, WP_POSTS, RSS2, WP_COMMENTS, BLOGGER_POSTS]),
    st.integers(min_value=0, max_value=4000),
    st.binary(min_size=0, max_size=40),
)
def test_mangled_real_listings_give_a_result(base: bytes, at: int, junk: bytes) -> None:
    body = base[:at] + junk + base[at + len(junk) :]
    for parser in PARSERS:
        assert isinstance(parser(body, FEED, {}), Listing | Failure)
