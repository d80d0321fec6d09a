"""What a blog advertises about its listings: read from its front page and robots.txt.

The WordPress REST API root (``Link: <…/wp-json/>; rel="https://api.w.org/"`` header, or
the same ``<link>`` in the head), feeds (``<link rel="alternate"
type="application/rss+xml|atom+xml">``), sitemaps (``<link rel="sitemap">`` and the
``Sitemap:`` lines of robots.txt) and the platform (``<meta name="generator">``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser

from crawler.discover.body import header
from crawler.fetch.decode import decode_html
from crawler.urls import normalize_url

API_REL = "https://api.w.org/"
FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml"})
MAX_HTML_BYTES = 2 * 1024 * 1024  # the <head> is at the start; a huge page costs no more
_LINK_VALUE = re.compile(r"<([^>]*)>([^,<]*(?:,(?!\s*<)[^,<]*)*)")
_REL_PARAM = re.compile(r"""rel\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s;,]+))""", re.IGNORECASE)


@dataclass(frozen=True)
class Advertised:
    """The listing URLs a blog names itself (normalised), and what it runs on."""

    api_root: str | None = None
    feeds: tuple[str, ...] = ()  # whole-blog post feeds
    comment_feeds: tuple[str, ...] = ()  # whole-blog comment feeds
    sitemaps: tuple[str, ...] = ()
    platform: str | None = None  # "wordpress", "blogger" or None


def link_header_rels(value: str, base: str) -> list[tuple[str, set[str]]]:
    """``Link:`` header entries as ``(url, {rel, …})`` (RFC 8288, leniently)."""
    found = []
    for target, params in _LINK_VALUE.findall(value or ""):
        url = normalize_url(target.strip(), base)
        rel = _REL_PARAM.search(params)
        if url is None or rel is None:
            continue
        rels = next(g for g in rel.groups() if g is not None)
        found.append((url, {r.lower() for r in rels.split()}))
    return found


def find_advertised(body: bytes, url: str, headers: Mapping[str, str]) -> Advertised:
    """What the front page at ``url`` advertises, from its headers and its HTML head."""
    api_root = _api_from_header(header(headers, "Link") or "", url)
    feeds: list[str] = []
    comment_feeds: list[str] = []
    sitemaps: list[str] = []
    html, _ = decode_html(body[:MAX_HTML_BYTES], header(headers, "Content-Type"))
    tree = LexborHTMLParser(html)
    for node in tree.css("link[rel][href]"):
        rels = {r.lower() for r in (node.attributes.get("rel") or "").split()}
        href = normalize_url(node.attributes.get("href") or "", url)
        if href is None:
            continue
        kind = (node.attributes.get("type") or "").split(";")[0].strip().lower()
        if API_REL in rels and api_root is None:
            api_root = href
        elif "alternate" in rels and kind in FEED_TYPES:
            _sort_feed(href, url, feeds, comment_feeds)
        elif "sitemap" in rels:
            _add(sitemaps, href)
    return Advertised(
        api_root=api_root,
        feeds=tuple(feeds),
        comment_feeds=tuple(comment_feeds),
        sitemaps=tuple(sitemaps),
        platform=_platform(tree, api_root, feeds + comment_feeds),
    )


def robots_sitemaps(robots_txt: str, base: str) -> list[str]:
    """The ``Sitemap:`` lines of a robots.txt, normalised, in order, without repeats."""
    found: list[str] = []
    for line in robots_txt.splitlines()[:10_000]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "sitemap" and value.strip():
            url = normalize_url(value.split("#", 1)[0].strip(), base)
            if url is not None:
                _add(found, url)
    return found


def is_comment_feed(url: str) -> bool:
    path = urlsplit(url).path.lower()
    return path.rstrip("/").endswith("/comments/feed") or "/feeds/comments/" in path + "/"


def is_blog_feed(url: str, home: str) -> bool:
    """A feed of the whole blog, not of a category, tag, author or one post's comments."""
    path = urlsplit(url).path.lower()
    root = urlsplit(home).path.rstrip("/").lower()
    if not path.startswith(root):
        return False
    rest = path[len(root) :].strip("/")
    query = urlsplit(url).query.lower()
    return (
        rest in ("feed", "feed/atom", "feed/rss2", "comments/feed", "atom.xml", "rss.xml")
        or rest.startswith(("feeds/posts/", "feeds/comments/"))
        or (rest in ("", "index.php") and "feed=" in query)
    )


def _api_from_header(value: str, base: str) -> str | None:
    for url, rels in link_header_rels(value, base):
        if API_REL in rels:
            return url
    return None


def _sort_feed(href: str, home: str, feeds: list[str], comment_feeds: list[str]) -> None:
    if not is_blog_feed(href, home):
        return  # a category's, a tag's or a single post's feed
    _add(comment_feeds if is_comment_feed(href) else feeds, href)


def _platform(tree: LexborHTMLParser, api_root: str | None, feeds: list[str]) -> str | None:
    generator = " ".join(
        (n.attributes.get("content") or "") for n in tree.css('meta[name="generator"]')
    ).lower()
    if "blogger" in generator or any("/feeds/posts/" in f for f in feeds):
        return "blogger"
    if "wordpress" in generator or api_root is not None:
        return "wordpress"
    return None


def _add(items: list[str], url: str) -> None:
    if url not in items:
        items.append(url)
