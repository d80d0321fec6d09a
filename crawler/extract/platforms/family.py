"""What one platform family contributes to extraction (architecture step 5, helper).

Each family module (``wordpress``, ``blogger``, ``movabletype``, ``indieweb``, ``generic``)
declares one :class:`Family`: the CSS selectors its templates use for the post body, the
title, the comment list and the fields of one entry. ``crawler.extract.platforms`` joins
them in a fixed order, so adding a theme is an edit in one family module.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    name: str
    # Containers of the post body, most specific first.
    content: tuple[str, ...] = ()
    # Body selector -> the selector of its continuation ("read more" part) beside it.
    content_more: tuple[tuple[str, str], ...] = ()
    # Post headings (the post's own title, without the blog name).
    title: tuple[str, ...] = ()
    # <body> classes that mark a single-post page.
    post_body_classes: tuple[str, ...] = ()
    # Elements that may hold (part of) one comment-list entry.
    candidates: tuple[str, ...] = ()
    # Blocks whose entries are pings (pingbacks) even without a class saying so.
    ping_blocks: tuple[str, ...] = ()
    # An entry made of a head element and the siblings that follow it (Blogger's dl/dt/dd).
    sibling_heads: tuple[str, ...] = ()
    # Where the comment list lives (its anchors are never citations).
    comment_areas: tuple[str, ...] = ()
    # Sidebars and footers whose "recent comments" entries belong to other posts.
    widget_areas: tuple[str, ...] = ()
    # Fields of one entry.
    text: tuple[str, ...] = ()
    author: tuple[str, ...] = ()
    author_loose: tuple[str, ...] = ()
    author_url: tuple[str, ...] = ()
    date: tuple[str, ...] = ()
    pagination: tuple[str, ...] = ()
