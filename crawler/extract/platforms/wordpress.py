"""WordPress and its relatives (architecture step 5, a platform family).

The classic and HTML5 comment walkers (``Walker_Comment``: ``li.comment > div.comment-body``,
``li#comment-N > article#div-comment-N``, ``div#comment-N`` with ``style => 'div'``), block
themes (``wp-block-comment-*``), wordpress.com (``li#li-comment-N > article#comment-N``),
Genesis, Divi's class-less ``ol.pinglist``, the Epoch JavaScript comments, and the page
builders' body containers.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborNode

from crawler.extract.platforms.family import Family

FAMILY = Family(
    name="wordpress",
    content=(
        ".entry-content",
        ".post-content",
        ".et_pb_post_content",
        ".entrytext",
        ".article-content",
        ".article-body",
        "[itemprop='articleBody']",
        ".wp-block-post-content",
        ".td-post-content",
        ".post-entry",
    ),
    title=(
        "h1.entry-title",
        ".entry-title",
        "h1.post-title",
        ".post-title",
        ".wp-block-post-title",
    ),
    post_body_classes=("single-post", "single-format-standard"),
    candidates=(
        "li.comment",
        "li.pingback",
        "li.trackback",
        "article.comment",
        "div.comment[id]",
        "[id^='comment-']",
        "[id^='li-comment-']",
        "[id^='div-comment-']",
        "[id^='article-comment-']",
        "ol.wp-block-comment-template > li",
        "ol.pinglist > li",
        "#trackbacks li",
        "#pings li",
    ),
    ping_blocks=("ol.pinglist > li", "#trackbacks li", "#pings li", ".pinglist > li"),
    comment_areas=(
        "#comments",
        ".comments-area",
        "#comments-area",
        ".wp-block-comments",
        "#epoch-comments",
        "#trackbacks",
        ".commentlist",
        ".comment-list",
        "#respond",
    ),
    widget_areas=(
        "aside",
        ".widget",
        ".sidebar",
        "#sidebar",
        "#secondary",
        ".widget-area",
        "#footer",
        ".site-footer",
        "#colophon",
        "body > footer",
        "[class*='recent-comments']",
        "[class*='recentcomments']",
        "[id*='recent-comments']",
        "[id*='recentcomments']",
        ".wp-block-latest-comments",
    ),
    text=(
        ".comment-content",
        ".comment-text",
        ".comment_text",
        ".epoch-comment-content",
        ".wp-block-comment-content",
        "[itemprop='text']",
        ".comment-entry",
        ".comment-body-text",
        ".commentbody",
        ".comment-body-inner",
    ),
    author=(
        ".fn",
        ".comment-author-name",
        ".wp-block-comment-author-name",
        "a.epoch-author-link",
        ".comment-author-link",
        ".comment-author > strong",
    ),
    author_loose=(".epoch-comment-author", ".comment-author", ".author", ".comment-header strong"),
    author_url=(
        "a.url",
        ".fn a",
        ".comment-author-name a",
        ".wp-block-comment-author-name a",
        "a.epoch-author-link",
        "a.comment-author-link",
        ".comment-author-link a",
    ),
    date=(
        ".comment-date",
        ".comment_date",
        ".wp-block-comment-date",
        ".comment-metadata a",
        ".commentmetadata a",
        ".comment-meta a",
        ".comment-time",
        ".comment-published",
    ),
    pagination=(
        ".comment-navigation a[href]",
        ".comments-navigation a[href]",
        ".comments-pagination a[href]",
        ".comment-nav a[href]",
        ".wp-block-comments-pagination a[href]",
        "#comments .nav-links a[href]",
        "#comments .navigation a[href]",
        "#comments a[rel~='next']",
        "#comments a[rel~='prev']",
    ),
)


# A list kept for pings alone: its own class or id says so ("pinglist", "trackback-list",
# "pingbacks"), or the heading just before it does ("Trackbacks & Pingbacks").
_PING_WORDS = frozenset(
    {"ping", "pings", "pinglist", "pingback", "pingbacks", "trackback", "trackbacks"}
)
_NAME_PARTS = re.compile(r"[\s_-]+")
_PING_HEADING = re.compile(
    r"^\W*\d*\s*(trackbacks?|pingbacks?|pings)(\s*(&|and|und|/|,)\s*(trackbacks?|pingbacks?))?"
    r"(\s+(on|to|zu|für)\b.*)?\W*$",
    re.IGNORECASE,
)
_HEADINGS = frozenset({"h2", "h3", "h4", "h5", "h6"})


def is_ping_list(container: LexborNode) -> bool:
    """The list (or its wrapper) that holds the entry is one of pings only."""
    node: LexborNode | None = container
    for _ in range(2):  # the list and its wrapper, not the whole page
        if node is None or node.tag in ("body", "html"):
            return False
        attrs = node.attributes
        name = f"{attrs.get('id') or ''} {attrs.get('class') or ''}".lower()
        if _PING_WORDS.intersection(_NAME_PARTS.split(name)):  # not "shopping-list"
            return True
        heading = _previous_element(node)
        if heading is not None and heading.tag in _HEADINGS:
            return bool(_PING_HEADING.match(heading.text(strip=True)))
        node = node.parent
    return False


def _previous_element(node: LexborNode) -> LexborNode | None:
    sibling = node.prev
    while sibling is not None and not sibling.is_element_node:
        sibling = sibling.prev
    return sibling
