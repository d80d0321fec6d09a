"""Movable Type and Typepad (architecture step 5, a platform family).

From Movable Type's default templates:

* Entry: ``div.asset-body`` and ``div.asset-more`` (MT 4+) or ``div.entry-body`` and
  ``div.entry-more`` (MT 3, Typepad) — the body and its "continue reading" part, side by
  side; the title ``h1.asset-name`` / ``h2#archive-title`` / ``h3.entry-header``;
* Comments (Comment Detail): ``.comments-content > div.comment#comment-N`` with
  ``.comment-header`` (``.vcard.author a``, ``abbr.published``) and ``.comment-content``;
  MT 3 and Typepad sign with a footer, "Posted by: <a>Name</a> | <a href=#comment-N>date</a>",
  and Typepad's ids are hexadecimal (``comment-6a00d8341c...``);
* TrackBacks: ``#trackbacks .trackback#ping-N`` (MT 4+), or "Listed below are links to
  weblogs that reference <a>this post</a>:" followed by ``div.trackback`` entries (MT 3,
  Typepad), each linking to the source post.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawler.extract.platforms.family import Family

FAMILY = Family(
    name="movabletype",
    content=(".asset-body", ".entry-body"),
    content_more=((".asset-body", "asset-more"), (".entry-body", "entry-more")),
    title=("h1.asset-name", "h2#archive-title", "h3.entry-header", "h2.entry-header"),
    post_body_classes=("mt-entry-archive", "individual-entry-archive"),
    # Comments are div.comment#comment-N, as WordPress's div style (wordpress.py).
    candidates=("div.trackback", "div[id^='ping-']"),
    comment_areas=(".comments-content", ".trackbacks", ".trackbacks-content", "#trackback"),
    author_url=(".vcard.author a", ".byline .author a"),
    date=(
        ".comment-footer a[href*='#comment-']",
        "a[href^='#ping-']",
        ".trackback-footer a",
        ".trackback-footer",
    ),
)

TRACKBACK_PHRASE = "Listed below are links to weblogs that reference"
_POSTED_BY = re.compile(r"^\s*Posted by:?\s*(.+?)\s*(?:\||$)", re.IGNORECASE)
_ENTRY_TAGS = frozenset({"div", "li", "p", "dl", "dd", "article"})
MAX_PHRASE_LINES = 3  # one trackback list per entry; a page may show a few entries
MAX_TRACKBACKS = 5000


def footer_author(text: str) -> str | None:
    """ "Posted by: Name | January 2, 2010 at 10:45 AM" → "Name"."""
    match = _POSTED_BY.match(text)
    return match.group(1).strip() or None if match else None


def phrase_trackbacks(tree: LexborHTMLParser, html: str) -> list[LexborNode]:
    """The entries after a "Listed below are links to weblogs that reference" line, for
    templates that do not class them (the line itself is the only sure sign)."""
    if TRACKBACK_PHRASE not in html:
        return []
    entries: list[LexborNode] = []
    lines = 0
    for line in tree.css("p, div, h3, h4"):
        text = line.text(deep=False).strip()
        if not text.startswith(TRACKBACK_PHRASE):
            continue
        lines += 1
        if lines > MAX_PHRASE_LINES:
            break  # a page repeating the line is not a trackback list: do not walk it again
        node = line.next
        while node is not None and len(entries) < MAX_TRACKBACKS:
            if node.tag in _ENTRY_TAGS and node.css_first("a[href]") is not None:
                entries.append(node)
            node = node.next
    return entries


# <rdf:Description rdf:about="ENTRY URL" ... trackback:ping="..." />, in an HTML comment:
# Movable Type's EntryTrackbackData (and WordPress's trackback_rdf) on an entry's own page.
_TRACKBACK_RDF = re.compile(
    r"<rdf:Description\s[^>]*?\brdf:about=[\"']([^\"']+)[\"'][^>]*?\btrackback:ping=",
    re.IGNORECASE,
)
MAX_RDF_BLOCKS = 50


def trackback_rdf_subjects(html: str) -> list[str]:
    """The entries a page's trackback RDF blocks describe (as written)."""
    if "trackback:ping" not in html:
        return []
    subjects = []
    for match in _TRACKBACK_RDF.finditer(html):
        subjects.append(match.group(1))
        if len(subjects) >= MAX_RDF_BLOCKS:
            break
    return subjects
