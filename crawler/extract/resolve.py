"""Turning the hrefs of one page into normalised URLs (architecture step 5, helper).

On top of ``crawler.urls.normalize_url`` this knows the page's ``<base href>`` and undoes
the wrappers real pages put around links: the Wayback Machine's
``https://web.archive.org/web/<timestamp>/<original>``, wordpress.com's ``href.li/?<url>``
redirector. (Blogger's country domains are mapped by ``normalize_url`` itself.)
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser

from crawler.urls import normalize_url

_WAYBACK = re.compile(r"^https?://web\.archive\.org/web/\d+[a-z_]*/+(https?):/*(.+)$")
# A Wayback link as written in an archived page: absolute or root-relative.
_WAYBACK_HREF = re.compile(r"^(?:https?://web\.archive\.org)?/web/\d+[a-z_]*/+(https?:/+.*)$")
_WAYBACK_PREFIXES = ("http://web.archive.org/web/", "https://web.archive.org/web/")
_HREF_LI = ("https://href.li/?", "http://href.li/?")
# Already-normal absolute URLs: lower-case host without port, a path of characters that
# normalisation keeps as they are, no dot segments or doubled slashes, no query. Most links
# of a page look like this; skipping urlsplit/urljoin for them halves extraction time.
_FAST = re.compile(r"https?://[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*)")
_FAST_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*")


def unwrap(url: str) -> str:
    """The original URL behind an archive or redirect wrapper (``url`` is normalised)."""
    if url.startswith(_WAYBACK_PREFIXES):
        match = _WAYBACK.match(url)
        if match:
            return normalize_url(f"{match.group(1)}://{match.group(2)}") or url
    elif url.startswith(_HREF_LI):
        return normalize_url(url.split("?", 1)[1]) or url
    return url


class Resolver:
    """Resolves the hrefs of one page, with a cache: pages repeat the same links a lot."""

    def __init__(self, page: str, base: str | None) -> None:
        self.page = page
        self.base = base
        self._cache: dict[str, str | None] = {}
        self._origin = _origin(base) if base else None
        self._wayback = bool(base and base.startswith(_WAYBACK_PREFIXES))

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
        if self._wayback or href.startswith(_WAYBACK_PREFIXES):
            match = _WAYBACK_HREF.match(href.strip())
            if match:  # the original URL; resolve it as if the page had linked to it
                url = self.resolve(re.sub(r"^(https?):/+", r"\1://", match.group(1)))
                self._cache[href] = url
                return url
        url = self._fast(href) or normalize_url(href, self.base)
        if url is not None:
            url = unwrap(url)
        self._cache[href] = url
        return url

    def _fast(self, href: str) -> str | None:
        """``href`` (minus its fragment) when it is provably already normal, else None."""
        href = href.split("#", 1)[0]
        if ".blogspot." in href:  # normalisation renames Blogger's country domains
            return None
        if href.startswith("http"):
            match = _FAST.fullmatch(href)
            return href if match and _plain_path(match.group(1)) else None
        if href.startswith("/") and self._origin and _FAST_PATH.fullmatch(href):
            return self._origin + href if _plain_path(href) else None
        return None


def _plain_path(path: str) -> bool:
    """No doubled slash and no ``.``/``..`` segment: nothing for normalisation to resolve."""
    if "//" in path:
        return False
    if "/." not in path:
        return True
    return not any(segment in (".", "..") for segment in path.split("/"))


def _origin(url: str) -> str | None:
    """Scheme and host of a normalised URL, if it qualifies for the fast path."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0]
    origin = f"{scheme}://{host}"
    return origin if _FAST.fullmatch(origin + "/") else None
