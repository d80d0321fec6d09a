"""Page metadata (architecture step 5, helper of ``crawler.extract.page``): canonical URL,
title, date, author, blog name, whether the page is a single post, and the discovery
endpoints (pingback, Webmention, feeds) from headers, ``<link>`` and ``<a>`` elements."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawler.extract import platforms
from crawler.extract.platforms import blogger
from crawler.extract.resolve import Resolver
from crawler.urls import normalize_url

Skip = Callable[[LexborNode], bool] | None
ARTICLE_TYPES = frozenset(
    {"Article", "BlogPosting", "NewsArticle", "SocialMediaPosting", "Report", "TechArticle"}
)
NOT_POST_BODY_CLASSES = frozenset(
    {"home", "blog", "archive", "category", "tag", "search", "error404", "page", "attachment"}
)
ENTRY_TITLE = platforms.ENTRY_TITLE
LATE_TITLE = platforms.LATE_TITLE
POST_BODY_CLASSES = frozenset(platforms.POST_BODY_CLASSES)
AUTHOR = (
    ".entry-meta .author .fn",
    ".byline .fn",
    ".byline .author a",
    ".entry-author-name",
    ".author-title",
    ".author.vcard .fn",
    ".post-author .fn",
    ".wp-block-post-author__name",
    ".post-author-name",
    "a[rel~='author']",
    ".h-entry .p-author.h-card .p-name",
    ".h-entry .p-author.h-card",
)
_AUTHOR_PREFIX = re.compile(
    r"^(view all posts by|all posts by|posts by|alle beiträge von)\s+", re.IGNORECASE
)
FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml"})
_TITLE_SEPARATORS = (" | ", " – ", " — ", " - ", " :: ", " » ", " · ", ": ", " : ")
_LINK_HEADER = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,]+)*)")
_REL_PARAM = re.compile(r"""rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))""", re.IGNORECASE)


@dataclass
class PageMeta:
    canonical: str | None = None
    html_title: str | None = None
    props: dict[str, str] = field(default_factory=dict)
    jsonld: list[dict] = field(default_factory=list)
    published: str | None = None
    author: str | None = None
    blog: str | None = None
    pingback: str | None = None
    webmention: str | None = None
    feeds: list[str] = field(default_factory=list)
    skip: Skip = None

    def decide_is_post(
        self, tree: LexborHTMLParser, content: LexborNode | None, has_comments: bool, url: str
    ) -> bool:
        """A single blog post, not a home, archive or category page."""
        body = tree.body
        classes = set(((body.attributes.get("class") if body else None) or "").split())
        if classes & POST_BODY_CLASSES or any(c.startswith("postid-") for c in classes):
            return True
        if classes & NOT_POST_BODY_CLASSES:
            return False
        if self.props.get("og:type", "").lower() == "article" or has_comments:
            return True
        if any(_types(item) & ARTICLE_TYPES for item in self.jsonld):
            return True
        if blogger.is_single_post(tree, url):
            return True
        return content is not None and bool(self.published) and len(tree.css("article")) <= 1

    def pick_title(
        self, tree: LexborHTMLParser, content: LexborNode | None, is_post: bool
    ) -> str | None:
        """Entry title, else og:title, else ``<title>`` without the " | Blog" suffix."""
        title = _first_text(tree, ENTRY_TITLE, self.skip) if is_post else None
        title = title or self._strip_suffix(self.props.get("og:title"))
        if not title and is_post:
            title = _first_text(tree, LATE_TITLE, self.skip)
        title = title or self._strip_suffix(self.html_title)
        if title and not self.blog:
            self.blog = _blog_from_title(self.html_title, title)
        return title

    def _strip_suffix(self, text: str | None) -> str | None:
        if not text:
            return None
        for sep in _TITLE_SEPARATORS:
            head, found, tail = text.rpartition(sep)
            if found and head and (tail == self.blog or (sep == " | " and self.blog is None)):
                return head.strip()
            head, found, tail = text.partition(sep)
            if found and tail and self.blog and head == self.blog:
                return tail.strip()
        return text


def read_meta(
    tree: LexborHTMLParser, resolver: Resolver, headers: Mapping[str, str], skip: Skip = None
) -> PageMeta:
    """Everything about the page but its comments and links; ``skip`` tells which elements
    belong to the comment list (a commenter's ``.fn`` is not the post's author)."""
    meta = PageMeta(skip=skip)
    for node in tree.css("meta[content]"):
        attrs = node.attributes
        key = (attrs.get("property") or attrs.get("name") or attrs.get("itemprop") or "").lower()
        if key and key not in meta.props:
            meta.props[key] = (attrs.get("content") or "").strip()
    title = tree.css_first("title")
    meta.html_title = " ".join(title.text().split()) if title is not None else None
    meta.jsonld = list(_jsonld_items(tree))
    meta.blog = meta.props.get("og:site_name") or meta.props.get("application-name") or None
    meta.published = _published(tree, meta, skip)
    meta.author = _author(tree, meta, skip)
    _read_links(tree, resolver, meta)
    lower = {k.lower(): v for k, v in headers.items()}
    header_ping = lower.get("x-pingback")
    if header_ping:
        meta.pingback = normalize_url(header_ping, resolver.page) or meta.pingback
    header_mention = _webmention_from_header(lower.get("link", ""), resolver.page)
    meta.webmention = header_mention or meta.webmention or _webmention_anchor(tree, resolver)
    return meta


def _read_links(tree: LexborHTMLParser, resolver: Resolver, meta: PageMeta) -> None:
    for node in tree.css("link[rel]"):
        attrs = node.attributes
        rels = (attrs.get("rel") or "").lower().split()
        href = attrs.get("href")
        if href is None:
            continue
        if "canonical" in rels and meta.canonical is None:
            meta.canonical = resolver.resolve(href)
        elif "pingback" in rels and meta.pingback is None:
            meta.pingback = resolver.resolve(href)
        elif "webmention" in rels and meta.webmention is None:
            # An empty href is the page itself (Webmention spec, section 3.1.2).
            meta.webmention = resolver.resolve(href) if href.strip() else resolver.page
        elif "alternate" in rels and (attrs.get("type") or "").lower() in FEED_TYPES:
            feed = resolver.resolve(href)
            if feed and feed not in meta.feeds:
                meta.feeds.append(feed)


def _webmention_anchor(tree: LexborHTMLParser, resolver: Resolver) -> str | None:
    node = tree.css_first("a[rel~='webmention'][href]")
    if node is None:
        return None
    href = node.attributes.get("href") or ""
    return resolver.resolve(href) if href.strip() else resolver.page


def _webmention_from_header(value: str, page: str) -> str | None:
    """``Link: <https://x/wm>; rel="webmention"`` (RFC 8288), relative to the page URL."""
    for match in _LINK_HEADER.finditer(value or ""):
        rel = _REL_PARAM.search(match.group(2) or "")
        if rel and "webmention" in (rel.group(1) or rel.group(2) or "").lower().split():
            return normalize_url(match.group(1), page) if match.group(1).strip() else page
    return None


def _jsonld_items(tree: LexborHTMLParser) -> Iterator[dict]:
    for script in tree.css("script[type='application/ld+json']"):
        try:
            data = json.loads(script.text())
        except (ValueError, RecursionError):
            continue  # broken (or absurdly nested) JSON-LD is common and worth only a skip
        yield from _flatten(data)


MAX_JSONLD_ITEMS = 1000  # objects taken from one page's JSON-LD
MAX_JSONLD_DEPTH = 20  # lists and @graph levels followed


def _flatten(data: object) -> Iterator[dict]:
    """The objects of a JSON-LD value and of its lists and ``@graph``s: a walk with its
    own stack and bounds, so hostile nesting costs neither the recursion limit nor time."""
    stack: list[tuple[object, int]] = [(data, 0)]
    found = 0
    while stack and found < MAX_JSONLD_ITEMS:
        value, depth = stack.pop()
        if depth > MAX_JSONLD_DEPTH:
            continue
        if isinstance(value, list):
            stack.extend((item, depth + 1) for item in reversed(value))
        elif isinstance(value, dict):
            found += 1
            yield value
            if "@graph" in value:
                stack.append((value["@graph"], depth + 1))


def _types(item: dict) -> set[str]:
    kind = item.get("@type")
    if isinstance(kind, list):
        return {k for k in kind if isinstance(k, str)}
    return {kind} if isinstance(kind, str) else set()


def _jsonld_article(meta: PageMeta) -> dict | None:
    for item in meta.jsonld:
        if _types(item) & ARTICLE_TYPES:
            return item
    return None


def _published(tree: LexborHTMLParser, meta: PageMeta, skip: Skip = None) -> str | None:
    """The page-level statements first: a theme's ``time.entry-date`` may also belong to a
    "recent posts" widget or be rendered in the wrong time zone."""
    if meta.props.get("article:published_time"):
        return meta.props["article:published_time"]
    article = _jsonld_article(meta)
    if article and isinstance(article.get("datePublished"), str):
        return article["datePublished"]
    node = tree.css_first(
        "time.entry-date[datetime], [itemprop='datePublished'][datetime], "
        "time.published[datetime], time.dt-published[datetime]"
    )
    stamp = (node.attributes.get("datetime") or "").strip() if node is not None else ""
    if stamp[:1].isdigit():
        return stamp
    # Blogger and Movable Type: <abbr class="published" title="2009-03-14T09:12:00-08:00">
    for node in tree.css("abbr.published[title]"):
        if skip is not None and skip(node):
            continue
        value = (node.attributes.get("title") or "").strip()
        if value[:1].isdigit():
            return value
        break
    return meta.props.get("datepublished") or None


def _author(tree: LexborHTMLParser, meta: PageMeta, skip: Skip) -> str | None:
    if meta.props.get("author"):
        return meta.props["author"]
    article = _jsonld_article(meta)
    name = _jsonld_name(article.get("author"), meta.jsonld) if article else None
    if name:
        return name
    name = _first_text(tree, AUTHOR, skip)
    return _AUTHOR_PREFIX.sub("", name) if name else None


def _jsonld_name(author: object, items: list[dict]) -> str | None:
    if isinstance(author, list):
        author = author[0] if author else None
    if isinstance(author, str):
        return author
    if not isinstance(author, dict):
        return None
    if isinstance(author.get("name"), str):
        return author["name"]
    ref = author.get("@id")
    for item in items:
        if ref and item.get("@id") == ref and isinstance(item.get("name"), str):
            return item["name"]
    return None


def _first_text(
    tree: LexborHTMLParser, selectors: tuple[str, ...], skip: Skip = None
) -> str | None:
    """Text of the first element matching one of ``selectors`` (in order of preference)
    that is not inside the comment list."""
    for selector in selectors:
        for node in tree.css(selector):
            if skip is not None and skip(node):
                continue
            text = " ".join(node.text().split())
            if text:
                return text
            break
    return None


def _blog_from_title(html_title: str | None, title: str) -> str | None:
    """ "Post | Blog" or "Blog: Post" → "Blog"."""
    if not html_title or title not in html_title or html_title == title:
        return None
    rest = html_title.replace(title, "", 1).strip(" |–—-:»·")
    return rest or None
