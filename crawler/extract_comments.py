"""The comment list of a post (architecture step 5, helper of ``crawler.extract``).

WordPress and its relatives render comments, pingbacks and trackbacks in a handful of
markup families: the classic walker (``li.comment > div.comment-body``), the HTML5 walker
(``li#comment-N > article#div-comment-N``), block themes (``wp-block-comment-*``),
wordpress.com (``li#li-comment-N > article#comment-N``), Genesis, Divi's class-less
``ol.pinglist``, JavaScript plugins (Epoch's ``div#comment-N``) and Blogger (``li.comment#cN``).

One entry is often spread over several nested elements that carry the same comment id
(``li#comment-5 > article#div-comment-5``); those are merged. A candidate nested in
another one is a separate *reply* when its id differs or a list (``ul.children``) lies
between them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode

# Elements that may hold (part of) one entry of the comment list.
CANDIDATES = ", ".join(
    [
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
    ]
)
# Divi and a few other themes list pings in a separate block without any class on the li.
PING_BLOCKS = "ol.pinglist > li, #trackbacks li, #pings li, .pinglist > li"
_ENTRY_ID = re.compile(r"^(?:li-|div-|article-)?comment-(\d+)$|^c(\d{6,})$")
_PING_LABEL = re.compile(r"^\s*(pingback|trackback)\s*:", re.IGNORECASE)
_REPLY_LISTS = frozenset({"ul", "ol"})
_REPLY_CLASSES = ("children", "comment-replies", "comment-thread")

TEXT = (
    ".comment-content, .comment-text, .comment_text, .epoch-comment-content, "
    ".wp-block-comment-content, [itemprop='text'], .comment-entry, .comment-body-text, "
    ".commentbody, .comment-body-inner"
)
AUTHOR = (
    ".fn, .comment-author-name, .wp-block-comment-author-name, cite.user, "
    "a.epoch-author-link, .comment-author-link"
)
AUTHOR_LOOSE = ".epoch-comment-author, .comment-author, .author, .comment-header strong"
_SAYS = re.compile(r"\s*(says|sagt|schreibt|dit|dice)\s*:?\s*$", re.IGNORECASE)
AUTHOR_URL = (
    "a.url, .fn a, .comment-author-name a, .wp-block-comment-author-name a, cite.user a, "
    "a.epoch-author-link, a.comment-author-link, .comment-author-link a"
)
DATE = (
    ".comment-date, .comment_date, .wp-block-comment-date, .comment-metadata a, "
    ".commentmetadata a, .comment-meta a, .comment-time, .datetime, .comment-published"
)


@dataclass
class Entry:
    """One comment-list entry while it is being read: its elements and thread parent."""

    nodes: list[LexborNode]
    number: str | None
    parent: int | None = None
    kind: str = "comment"
    data: dict = field(default_factory=dict)

    @property
    def node(self) -> LexborNode:
        return self.nodes[0]


def _number(node: LexborNode) -> str | None:
    ident = node.attributes.get("id") or ""
    match = _ENTRY_ID.match(ident)
    if match:
        return match.group(1) or match.group(2)
    return node.attributes.get("data-comment-id") or None


def _is_reply_container(node: LexborNode) -> bool:
    if node.tag in _REPLY_LISTS:
        return True
    classes = node.attributes.get("class") or ""
    return any(name in classes for name in _REPLY_CLASSES)


def _valid_candidate(node: LexborNode, number: str | None) -> bool:
    """``[id^=comment-]`` also matches ``comment-form`` and friends: keep real entries."""
    ident = node.attributes.get("id") or ""
    if ident.startswith(("comment-", "li-comment-", "div-comment-", "article-comment-")):
        return number is not None
    return True


def find_entries(tree: LexborHTMLParser) -> tuple[list[Entry], dict[int, int]]:
    """All entries in document order and a map ``mem_id of element -> entry index``."""
    owner: dict[int, int] = {}
    entries: list[Entry] = []
    for node in tree.css(CANDIDATES):
        key = node.mem_id
        if key in owner:
            continue
        number = _number(node)
        if not _valid_candidate(node, number):
            continue
        anc, crossed = _nearest_entry(node, owner)
        if anc is not None:
            host = entries[anc]
            same = number is None or host.number is None or number == host.number
            if same and not crossed:
                host.nodes.append(node)
                host.number = host.number or number
                owner[key] = anc
                continue
        owner[key] = len(entries)
        entries.append(Entry([node], number, parent=anc))
    return entries, owner


def _nearest_entry(node: LexborNode, owner: dict[int, int]) -> tuple[int | None, bool]:
    """The entry an element sits in, and whether a reply list lies between them."""
    crossed = False
    parent = node.parent
    while parent is not None and parent.tag not in ("body", "html"):
        index = owner.get(parent.mem_id)
        if index is not None:
            return index, crossed
        crossed = crossed or _is_reply_container(parent)
        parent = parent.parent
    return None, False


def owned_first(
    entry_index: int, entry: Entry, selector: str, owner: dict[int, int]
) -> LexborNode | None:
    """The first element matching ``selector`` that belongs to this entry, not a reply."""
    for node in entry.node.css(selector):
        if entry_of(node, owner) == entry_index:
            return node
    return None


def owned_all(entry_index: int, entry: Entry, selector: str, owner: dict[int, int]) -> list:
    return [n for n in entry.node.css(selector) if entry_of(n, owner) == entry_index]


def entry_of(node: LexborNode, owner: dict[int, int]) -> int | None:
    while node is not None:
        index = owner.get(node.mem_id)
        if index is not None:
            return index
        node = node.parent
    return None


def entry_kind(entry: Entry, ping_ids: set[int], label_text: str) -> str:
    """comment, pingback or trackback: by class, by a ping block, or by a "Pingback:" label."""
    for node in entry.nodes:
        classes = (node.attributes.get("class") or "").split()
        if "pingback" in classes:
            return "pingback"
        if "trackback" in classes:
            return "trackback"
        if node.mem_id in ping_ids:
            return "pingback"
    match = _PING_LABEL.match(label_text)
    return match.group(1).lower() if match else "comment"


def clean_text(node: LexborNode | None) -> str:
    if node is None:
        return ""
    return " ".join(node.text(separator=" ").split())


def entry_text(index: int, entry: Entry, owner: dict[int, int]) -> str:
    """The body of a comment, without author line, date, reply link or nested replies."""
    body = owned_first(index, entry, TEXT, owner)
    if body is not None:
        return clean_text(body)
    paragraphs = owned_all(index, entry, "p", owner)
    if paragraphs:
        return " ".join(clean_text(p) for p in paragraphs).strip()
    if entry.parent is None and len(entry.nodes) == 1 and not entry.node.css_first("li"):
        return clean_text(entry.node)
    return ""


def entry_date(index: int, entry: Entry, owner: dict[int, int]) -> str | None:
    stamp = owned_first(index, entry, "time", owner)
    if stamp is not None:
        value = (stamp.attributes.get("datetime") or "").strip()
        if value[:1].isdigit():
            return value
        text = clean_text(stamp)
        if text:
            return text
    node = owned_first(index, entry, DATE, owner)
    text = clean_text(node)
    return text or None


def entry_author(
    index: int, entry: Entry, owner: dict[int, int]
) -> tuple[str | None, LexborNode | None]:
    """Author name and the element of the author's link (if any)."""
    link = owned_first(index, entry, AUTHOR_URL, owner)
    name_node = owned_first(index, entry, AUTHOR, owner)
    if name_node is None:
        name_node = owned_first(index, entry, AUTHOR_LOOSE, owner)
    name = clean_text(name_node) if name_node is not None else clean_text(link)
    # Loose containers also hold "says:" and, in Epoch, "· <date>" after the name.
    name = _SAYS.sub("", name.split("·", 1)[0]).strip()
    return (name or None), link


def ping_source(
    index: int, entry: Entry, owner: dict[int, int], keep: Callable[[str], str | None]
) -> LexborNode | None:
    """The link to the pinging post: ``a.url``, else the first usable link of the entry."""
    link = owned_first(index, entry, "a.url", owner)
    if link is not None:
        return link
    for node in owned_all(index, entry, "a[href]", owner):
        classes = node.attributes.get("class") or ""
        if "reply" in classes or "edit" in classes:
            continue
        if keep(node.attributes.get("href") or ""):
            return node
    return None
