"""Turning the hrefs of one page into normalised URLs (architecture step 5, helper).

On top of ``crawler.urls.normalize_url`` this knows the page's ``<base href>`` and undoes
the wrappers real pages put around links: the Wayback Machine's
``https://web.archive.org/web/<timestamp>/<original>``, wordpress.com's ``href.li/?<url>``
redirector, and Blogger's country domains (``x.blogspot.de`` is ``x.blogspot.com``).
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser

from crawler.urls import normalize_url

_WAYBACK = re.compile(r"^https?://web\.archive\.org/web/\d+[a-z_]*/+(https?):/*(.+)$")
_WAYBACK_PREFIXES = ("http://web.archive.org/web/", "https://web.archive.org/web/")
_HREF_LI = ("https://href.li/?", "http://href.li/?")
_BLOGSPOT_CCTLD = re.compile(r"^(https?://[^/?#]+\.blogspot)\.(?!com(?:[/:?]|$))[a-z.]+(?=[/:?]|$)")


def unwrap(url: str) -> str:
    """The original URL behind an archive or redirect wrapper (``url`` is normalised)."""
    if url.startswith(_WAYBACK_PREFIXES):
        match = _WAYBACK.match(url)
        if match:
            return normalize_url(f"{match.group(1)}://{match.group(2)}") or url
    elif url.startswith(_HREF_LI):
        return normalize_url(url.split("?", 1)[1]) or url
    if ".blogspot." in url:
        return _BLOGSPOT_CCTLD.sub(r"\1.com", url, count=1)
    return url


class Resolver:
    """Resolves the hrefs of one page, with a cache: pages repeat the same links a lot."""

    def __init__(self, page: str, base: str | None) -> None:
        self.page = page
        self.base = base
        self._cache: dict[str, str | None] = {}

    @classmethod
    def for_page(cls, tree: LexborHTMLParser, url: str) -> Resolver:
        page = normalize_url(url) or url
        base: str | None = page if normalize_url(url) else None
        node = tree.css_first("base[href]")
        if node is not None:
            base = normalize_url(node.attributes.get("href") or "", base) or base
        return cls(page, base)

    def resolve(self, href: str | None) -> str | None:
        """Normalised absolute URL, or None for empty, ``javascript:``, ``mailto:`` etc."""
        if href is None:
            return None
        try:
            return self._cache[href]
        except KeyError:
            pass
        url = normalize_url(href, self.base)
        if url is not None:
            url = unwrap(url)
        self._cache[href] = url
        return url
