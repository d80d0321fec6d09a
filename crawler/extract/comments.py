"""The comment list of a post (architecture step 5, helper of ``crawler.extract.page``).

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
        "[id$='_backlinks-container'] .backlink-control",
    ]
)
# Divi and a few other themes list pings in a separate block without any class on the li.
# Blogger shows pings as "backlinks": div.backlink-control > dt.comment-title > a.
PING_BLOCKS = (
    "ol.pinglist > li, #trackbacks li, #pings li, .pinglist > li, "
    "[id$='_backlinks-container'] .backlink-control"
)
_ENTRY_ID = re.compile(r"^(?:li-|div-|article-)?comment-(\d+)$|^c(\d{6,})$")
PING_LABEL = re.compile(r"^\s*(pingback|trackback)\s*:", re.IGNORECASE)
_REPLY_LISTS = frozenset({"ul", "ol"})
_ENTRY_TAGS = frozenset({"li", "article", "div", "section", "dd", "dt", "aside", "tr", "td"})
_REPLY_CLASSES = ("children", "comment-replies", "comment-thread")

TEXT = (
    ".comment-content, .comment-text, .comment_text, .epoch-comment-content, "
    ".wp-block-comment-content, [itemprop='text'], .comment-entry, .comment-body-text, "
    ".commentbody, .comment-body-inner, dd.comment-body"
)
AUTHOR = (
    ".fn, .comment-author-name, .wp-block-comment-author-name, cite.user, "
    "a.epoch-author-link, .comment-author-link, .comment-author > strong"
)
AUTHOR_LOOSE = ".epoch-comment-author, .comment-author, .author, .comment-header strong, cite"
_SAYS = re.compile(r"\s*(says|sagt|schreibt|dit|dice)\s*:?\s*$", re.IGNORECASE)
AUTHOR_URL = (
    "a.url, .fn a, .comment-author-name a, .wp-block-comment-author-name a, cite.user a, "
    "a.epoch-author-link, a.comment-author-link, .comment-author-link a"
)
# Only when nothing precise matched: these may also hold an avatar's profile link.
AUTHOR_URL_LOOSE = ".comment-author a[href], .comment-header a[href]"
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
    """``[id^=comment-]`` also matches ``comment-form`` and friends, and inline elements
    (``<a id="comment-5">`` anchors, Epoch's report ``span``): keep real entries."""
    if node.tag not in _ENTRY_TAGS:
        return False
    ident = node.attributes.get("id") or ""
    if ident.startswith(("comment-", "li-comment-", "div-comment-", "article-comment-")):
        return number is not None
    return True


class CommentList:
    """The entries of a page's comment list, and which entry each element belongs to."""

    def __init__(self, tree: LexborHTMLParser) -> None:
        self.owner: dict[int, int] = {}
        self.entries: list[Entry] = []
        self._index: dict[str, dict[int, list[LexborNode]]] = {}
        for node in tree.css(CANDIDATES):
            self._add_candidate(node)
        self.tops = [e.node for e in self.entries if e.parent is None]
        self.threads = {e.parent for e in self.entries if e.parent is not None}
        # The containers of the top-level entries (usually one ol.commentlist): field
        # lookups query these once instead of once per entry.
        roots: dict[int, LexborNode] = {}
        for top in self.tops:
            parent = top.parent or top
            roots.setdefault(parent.mem_id, parent)
        self._roots = list(roots.values())

    def _add_candidate(self, node: LexborNode) -> None:
        key = node.mem_id
        if key in self.owner:
            return
        number = _number(node)
        if not _valid_candidate(node, number):
            return
        anc, crossed = self._nearest_entry(node)
        if anc is not None:
            host = self.entries[anc]
            same = number is None or host.number is None or number == host.number
            if same and not crossed:  # another element of the same entry
                host.nodes.append(node)
                host.number = host.number or number
                self.owner[key] = anc
                return
        self.owner[key] = len(self.entries)
        self.entries.append(Entry([node], number, parent=anc))

    def _nearest_entry(self, node: LexborNode) -> tuple[int | None, bool]:
        """The entry an element sits in, and whether a reply list lies between them."""
        crossed = False
        parent = node.parent
        while parent is not None and parent.tag not in ("body", "html"):
            index = self.owner.get(parent.mem_id)
            if index is not None:
                return index, crossed
            crossed = crossed or _is_reply_container(parent)
            parent = parent.parent
        return None, False

    def entry_of(self, node: LexborNode | None) -> int | None:
        while node is not None:
            index = self.owner.get(node.mem_id)
            if index is not None:
                return index
            node = node.parent
        return None

    def owned(self, index: int, selector: str) -> list[LexborNode]:
        """Elements matching ``selector`` that belong to entry ``index`` and not to a reply.
        One query per selector for the whole list: nested threads are not searched again."""
        by_entry = self._index.get(selector)
        if by_entry is None:
            by_entry = {}
            seen: set[int] = set()
            for root in self._roots:
                for node in root.css(selector):
                    if node.mem_id not in seen:
                        seen.add(node.mem_id)
                        by_entry.setdefault(self.entry_of(node), []).append(node)
            self._index[selector] = by_entry
        return by_entry.get(index, [])

    def first(self, index: int, selector: str) -> LexborNode | None:
        found = self.owned(index, selector)
        return found[0] if found else None


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
    match = PING_LABEL.match(label_text)
    return match.group(1).lower() if match else "comment"


def clean_text(node: LexborNode | None) -> str:
    if node is None:
        return ""
    return " ".join(node.text(separator=" ").split())


def entry_text(index: int, entry: Entry, clist: CommentList) -> str:
    """The body of a comment, without author line, date, reply link or nested replies."""
    body = clist.first(index, TEXT)
    if body is not None:
        return clean_text(body)
    paragraphs = clist.owned(index, "p")
    if paragraphs:
        return " ".join(clean_text(p) for p in paragraphs).strip()
    if index not in clist.threads:
        return clean_text(entry.node)  # a bare ping line: "Pingback: <a>Title</a> [...]"
    return ""


def entry_date(index: int, clist: CommentList) -> str | None:
    stamp = clist.first(index, "time")
    if stamp is not None:
        value = (stamp.attributes.get("datetime") or "").strip()
        if value[:1].isdigit():
            return value
        text = clean_text(stamp)
        if text:
            return text
    text = clean_text(clist.first(index, DATE))
    return text or None


def entry_author(index: int, clist: CommentList) -> tuple[str | None, LexborNode | None]:
    """Author name and the element of the author's link (if any)."""
    link = clist.first(index, AUTHOR_URL) or clist.first(index, AUTHOR_URL_LOOSE)
    name_node = clist.first(index, AUTHOR) or clist.first(index, AUTHOR_LOOSE)
    name = clean_text(name_node) if name_node is not None else clean_text(link)
    # Loose containers also hold "says:" and, in Epoch, "· <date>" after the name.
    name = _SAYS.sub("", name.split("·", 1)[0]).strip()
    return (name or None), link


def ping_source(
    index: int, clist: CommentList, keep: Callable[[str], str | None]
) -> LexborNode | None:
    """The link to the pinging post: ``a.url``, else the first usable link of the entry."""
    link = clist.first(index, "a.url")
    if link is not None:
        return link
    body = clist.first(index, TEXT)
    anchors = body.css("a[href]") if body is not None else []
    for node in anchors + clist.owned(index, "a[href]"):
        classes = node.attributes.get("class") or ""
        if "reply" in classes or "edit" in classes:
            continue
        if keep(node.attributes.get("href") or ""):
            return node
    return None
