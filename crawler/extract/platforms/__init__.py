"""The platform families the extractor knows (architecture step 5), joined in one order.

Each family's selectors live in its own module; this one only joins them, first family
first, dropping repeats. ``crawler.extract.comments`` and ``crawler.extract.page`` read the
joined lists; the few rules that are more than a selector (Blogger's item pages, Movable
Type's trackback line, microformats mentions, the body found by structure) are functions
of the family modules.
"""

from __future__ import annotations

from collections.abc import Iterable

from crawler.extract.platforms import blogger, generic, indieweb, movabletype, wordpress
from crawler.extract.platforms.family import Family

FAMILIES: tuple[Family, ...] = (
    wordpress.FAMILY,
    blogger.FAMILY,
    movabletype.FAMILY,
    indieweb.FAMILY,
    generic.FAMILY,
)
SPECIFIC = FAMILIES[:-1]  # every family but the generic fallback


def _joined(field: str, families: Iterable[Family] = FAMILIES) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for family in families:
        for selector in getattr(family, field):
            seen.setdefault(selector, None)
    return tuple(seen)


def css(field: str, families: Iterable[Family] = FAMILIES) -> str:
    """One selector group (``a, b, c``) of every family's ``field``."""
    return ", ".join(_joined(field, families))


CONTENT_SELECTORS = _joined("content", SPECIFIC)
GENERIC_CONTENT_SELECTORS = generic.FAMILY.content
CONTENT_MORE = dict(pair for family in FAMILIES for pair in family.content_more)
ENTRY_TITLE = _joined("title", SPECIFIC)
LATE_TITLE = generic.FAMILY.title
POST_BODY_CLASSES = _joined("post_body_classes")
CANDIDATES = css("candidates")
PING_BLOCKS = css("ping_blocks")
SIBLING_HEADS = css("sibling_heads")
COMMENT_AREAS = css("comment_areas")
WIDGET_AREAS = css("widget_areas")
TEXT = css("text")
AUTHOR = css("author")
AUTHOR_LOOSE = css("author_loose")
AUTHOR_URL = css("author_url")
DATE = css("date")
PAGINATION = css("pagination")
