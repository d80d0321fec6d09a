"""Blogger / Blogspot (architecture step 5, a platform family).

From the Blog1 widget of Blogger's layout templates:

* classic comments (``comments`` includable): ``dl#comments-block`` holding, per comment,
  ``dt.comment-author#cNNN`` (author and "said..."), ``dd.comment-body`` and
  ``dd.comment-footer`` (``span.comment-timestamp > a``): one entry is a ``dt`` and the
  ``dd`` siblings after it, not one element;
* threaded comments (``threaded_comments``): ``.comment-thread ol > li.comment#cNNN`` with
  ``cite.user``, ``.datetime`` and ``p.comment-content``;
* "Links to this post" (``backlinks``): ``#Blog1_backlinks-container .backlink-control``
  with ``dt.comment-title > a`` (the linking post) — pingbacks in all but name;
* the post: ``h3.post-title`` and ``div.post-body``.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser

from crawler.extract.platforms.family import Family

BACKLINKS = "[id$='_backlinks-container'] .backlink-control"

FAMILY = Family(
    name="blogger",
    content=(".post-body",),
    title=("h3.post-title", "h2.post-title", ".post-title"),
    # Threaded comments are li.comment#cNNN, as WordPress's (wordpress.py).
    candidates=(BACKLINKS,),
    ping_blocks=(BACKLINKS,),
    sibling_heads=("#comments-block > dt.comment-author", "#comments-block > dt.comment-poster"),
    comment_areas=("#comments-block", "[id$='_backlinks-container']", ".comment-thread"),
    text=("dd.comment-body",),
    author=("cite.user",),
    author_loose=("cite",),
    author_url=("cite.user a",),
    date=(".datetime", ".comment-timestamp a", ".comment-timestamp"),
    pagination=(".paging-control-container a[href]",),
)

_ITEM_PATH = re.compile(r"^https?://[^/]+/\d{4}/\d{2}/[^/]+\.html(?:\?.*)?$")


def is_single_post(tree: LexborHTMLParser, url: str) -> bool:
    """A Blogger item page: one post body on a ``/YYYY/MM/slug.html`` address. Blogger
    marks neither ``<body>`` nor ``og:type`` on classic layouts."""
    if not _ITEM_PATH.match(url):
        return False
    generator = tree.css_first("meta[name='generator']")
    is_blogger = (
        generator is not None and "blogger" in (generator.attributes.get("content") or "").lower()
    )
    if not is_blogger and ".blogspot." not in url:
        return False
    return len(tree.css(".post-body")) == 1
