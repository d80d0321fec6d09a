"""Is a listed URL a post? By the sitemap that lists it, else by the URL's shape.

WordPress core names its sitemaps by object type (``wp-sitemap-posts-post-1.xml``,
``wp-sitemap-posts-page-1.xml``, ``wp-sitemap-taxonomies-category-1.xml``,
``wp-sitemap-users-1.xml``); Yoast and Rank Math by type too (``post-sitemap.xml``,
``post-sitemap2.xml``, ``page-sitemap.xml``, ``category-sitemap.xml``,
``post_tag-sitemap.xml``, ``author-sitemap.xml``). A URL in a sitemap of unknown name,
or in a plain ``/sitemap.xml``, is judged by its shape; a shape that says nothing is taken
as a post (the page extractor decides ``is_post`` once it is fetched).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from crawler.discover.records import UrlKind

_WP_POSTS = re.compile(r"^wp-sitemap-posts-(?P<type>.+)-\d+\.xml$")
_WP_TAXONOMIES = re.compile(r"^wp-sitemap-taxonomies-(?P<type>.+)-\d+\.xml$")
_WP_USERS = re.compile(r"^wp-sitemap-users-\d+\.xml$")
_YOAST = re.compile(r"^(?P<type>[a-z0-9_-]+?)[-_]sitemap\d*\.xml(?:\.gz)?$")
_GENERIC = re.compile(r"^sitemap[-_](?P<type>[a-z_]+?)s?(?:[-_]?\d+)?\.xml(?:\.gz)?$")

# Names of indexes and catch-all sitemaps: what they list is not in the name.
_INDEX_NAMES = frozenset(
    {"wp-sitemap.xml", "sitemap_index.xml", "sitemap-index.xml", "sitemap.xml", "sitemap.xml.gz"}
)
_TYPES = {
    "post": UrlKind.POST,
    "posts": UrlKind.POST,
    "page": UrlKind.PAGE,
    "pages": UrlKind.PAGE,
    "attachment": UrlKind.ATTACHMENT,
    "category": UrlKind.CATEGORY,
    "categorie": UrlKind.CATEGORY,  # sitemap-categories.xml minus its "s"
    "post_tag": UrlKind.TAG,
    "tag": UrlKind.TAG,
    "author": UrlKind.AUTHOR,
    "user": UrlKind.AUTHOR,
    "post_format": UrlKind.ARCHIVE,
}

_MEDIA = re.compile(
    r"\.(?:jpe?g|png|gif|webp|svg|bmp|tiff?|pdf|zip|mp3|mp4|m4a|mov|avi|docx?|xlsx?|pptx?)$",
    re.IGNORECASE,
)
_DATE_ARCHIVE = re.compile(r"^/\d{4}/(?:\d{1,2}/(?:\d{1,2}/)?)?$")
_PAGINATION = re.compile(r"/page/\d+/?$")
_DATED_SLUG = re.compile(r"^/\d{4}/\d{1,2}/(?:\d{1,2}/)?[^/]+")
_SEGMENT_KINDS = {
    "category": UrlKind.CATEGORY,
    "tag": UrlKind.TAG,
    "author": UrlKind.AUTHOR,
    "attachment": UrlKind.ATTACHMENT,
    "feed": UrlKind.FEED,
    "feeds": UrlKind.FEED,
}


def sitemap_kind(sitemap_url: str) -> UrlKind | None:
    """What a sitemap lists, from its file name; None when the name does not say."""
    name = urlsplit(sitemap_url).path.rsplit("/", 1)[-1].lower()
    if name in _INDEX_NAMES:
        return None
    for pattern in (_WP_POSTS, _WP_TAXONOMIES, _YOAST, _GENERIC):
        match = pattern.match(name)
        if match:
            return _TYPES.get(match.group("type"), UrlKind.OTHER)
    if _WP_USERS.match(name):
        return UrlKind.AUTHOR
    return None


def classify_url(url: str, listed_in: str | None = None) -> tuple[UrlKind, str]:
    """The kind of a listed URL and the reason, e.g. ``(TAG, "url shape /tag/")``."""
    if listed_in is not None:
        kind = sitemap_kind(listed_in)
        if kind is not None:
            name = urlsplit(listed_in).path.rsplit("/", 1)[-1]
            return kind, f"listed in {name}"
    return classify_shape(url)


def classify_shape(url: str) -> tuple[UrlKind, str]:
    parts = urlsplit(url)
    path = parts.path or "/"
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for reason, kind in _query_kinds(query, path):
        return kind, reason
    if path == "/":
        return UrlKind.HOME, "url shape: the blog's home"
    segments = [s.lower() for s in path.split("/") if s]
    for segment in segments:
        if segment in _SEGMENT_KINDS:
            return _SEGMENT_KINDS[segment], f"url shape /{segment}/"
    if path.startswith("/search/") or path == "/search":
        return UrlKind.ARCHIVE, "url shape /search"  # Blogger labels and searches
    if path.startswith("/p/") and path.endswith(".html"):
        return UrlKind.PAGE, "url shape /p/….html (a Blogger page)"
    if _MEDIA.search(path):
        return UrlKind.ATTACHMENT, "url shape: a media file"
    if _DATE_ARCHIVE.match(path) or _PAGINATION.search(path):
        return UrlKind.ARCHIVE, "url shape: a date archive or pagination"
    if _DATED_SLUG.match(path):
        return UrlKind.POST, "url shape: a dated slug"
    return UrlKind.POST, "url shape says nothing: taken as a post"


def _query_kinds(query: dict[str, str], path: str) -> list[tuple[str, UrlKind]]:
    """WordPress's plain (query-string) permalinks."""
    found = []
    for name, kind in (("attachment_id", UrlKind.ATTACHMENT), ("page_id", UrlKind.PAGE)):
        if name in query:
            found.append((f"url shape ?{name}=", kind))
    if path not in ("/", "/index.php"):
        return found  # elsewhere a query (Blogger's ?m=1) says nothing about the kind
    if "p" in query:
        found.append(("url shape ?p=", UrlKind.POST))
    for name, kind in (
        ("cat", UrlKind.CATEGORY),
        ("tag", UrlKind.TAG),
        ("author", UrlKind.AUTHOR),
        ("s", UrlKind.ARCHIVE),
        ("m", UrlKind.ARCHIVE),
        ("paged", UrlKind.ARCHIVE),
        ("feed", UrlKind.FEED),
    ):
        if name in query:
            found.append((f"url shape ?{name}=", kind))
    return found
