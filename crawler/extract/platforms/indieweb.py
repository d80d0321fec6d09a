"""IndieWeb pages marked up with microformats2 (architecture step 5, a platform family).

The post is the ``h-entry`` and its body the ``e-content``. Received Webmentions are shown
under it as ``h-cite`` (or ``h-entry``) items in the post's response properties —
``p-comment``/``u-comment`` (replies), ``u-like``, ``u-repost``, ``u-bookmark``,
``u-mention`` — each naming its source with ``u-url``. Their fields are read with mf2py
from the mention's own markup (one small parse per mention, bounded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawler.extract.platforms.family import Family

RESPONSE_CLASSES = ("p-comment", "u-comment", "u-like", "u-repost", "u-bookmark", "u-mention")
MENTIONS = ", ".join(
    [f".{prop}.h-cite" for prop in RESPONSE_CLASSES]
    + [f".{prop}.h-entry" for prop in RESPONSE_CLASSES]
    + [".webmentions .h-cite", "#webmentions .h-cite"]
)
FAMILY = Family(
    name="indieweb",
    content=(".h-entry .e-content", ".e-content"),
    title=("h1.p-name",),
    candidates=(MENTIONS,),
    comment_areas=(".webmentions", "#webmentions"),
)
MAX_MENTION_CHARS = 20_000  # a mention's markup parsed by mf2py at most
MAX_MENTIONS = 500  # per page: about a millisecond each
MAX_PAGE_MENTION_CHARS = 500_000  # all mentions of a page together


@dataclass
class Mention:
    source_url: str | None
    author: str | None
    author_url: str | None
    published: str | None
    text: str
    title: str | None


def may_have_mentions(tree: LexborHTMLParser) -> bool:
    """Mentions need microformats classes somewhere: one cheap query tells most pages
    apart, and they skip the longer query of the mention selectors."""
    return tree.css_first(".h-cite, .h-entry") is not None


def is_mention_node(node: LexborNode) -> bool:
    classes = (node.attributes.get("class") or "").split()
    if "h-cite" not in classes and "h-entry" not in classes:
        return False
    if any(c in classes for c in RESPONSE_CLASSES):
        return True
    parent = node.parent
    while parent is not None:
        ident, names = parent.attributes.get("id") or "", parent.attributes.get("class") or ""
        if ident == "webmentions" or "webmentions" in names.split():
            return True
        parent = parent.parent
    return False


class MentionReader:
    """Reads the mentions of one page with mf2py, within a page's budget of them and of
    their markup (mf2py takes about a millisecond per kilobyte)."""

    def __init__(self, page_url: str) -> None:
        self.page_url = page_url
        self.mentions_left = MAX_MENTIONS
        self.chars_left = MAX_PAGE_MENTION_CHARS

    def read(self, node: LexborNode) -> Mention | None:
        if self.mentions_left <= 0 or self.chars_left <= 0:
            return None
        html = node.html or ""
        if len(html) > MAX_MENTION_CHARS:
            return None
        self.mentions_left -= 1
        self.chars_left -= len(html)
        return read_mention(html, self.page_url)


def read_mention(html: str, page_url: str) -> Mention | None:
    """The fields of the mention ``html`` as mf2py reads them; None if it names nothing."""
    # Imported at the first mention: with requests, BeautifulSoup, html5lib and lxml it is
    # ~25 MB in every process that loads it, and most blogs show no mentions.
    import mf2py  # type: ignore[import-untyped]  # ships no type information

    try:
        parsed = mf2py.parse(doc=html, url=page_url, metaformats=False)
    except (RecursionError, ValueError):
        return None  # hostile nesting or markup mf2py cannot take: not a mention we can read
    items = parsed.get("items") or []
    if not items:
        return None
    props: dict[str, Any] = items[0].get("properties") or {}
    author = _first(props.get("author"))
    author_name = author_url = None
    if isinstance(author, dict):
        aprops = author.get("properties") or {}
        author_name = _text(_first(aprops.get("name")))
        author_url = _text(_first(aprops.get("url")))
    elif isinstance(author, str):
        author_name = author
    content = _first(props.get("content"))
    text = content.get("value", "") if isinstance(content, dict) else _text(content) or ""
    name = _text(_first(props.get("name")))
    return Mention(
        source_url=_text(_first(props.get("url"))),
        author=author_name,
        author_url=author_url,
        published=_text(_first(props.get("published"))),
        text=" ".join(text.split()),
        title=name if name and " ".join(text.split()) != name else None,
    )


def _first(values: Any) -> Any:
    return values[0] if isinstance(values, list) and values else None


def _text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("value")
    return value.strip() or None if isinstance(value, str) else None
