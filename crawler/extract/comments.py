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
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawler.extract import platforms as pf
from crawler.extract.platforms import indieweb, movabletype, wordpress

# The selectors come from the platform families (``crawler.extract.platforms``).
CANDIDATES = pf.CANDIDATES
# ... without the microformats mentions, for pages that have none (most): a shorter query.
BASIC_CANDIDATES = pf.css("candidates", [f for f in pf.FAMILIES if f.name != "indieweb"])
PING_BLOCKS = pf.PING_BLOCKS
SIBLING_HEADS = pf.SIBLING_HEADS
TEXT = pf.TEXT
AUTHOR = pf.AUTHOR
AUTHOR_LOOSE = pf.AUTHOR_LOOSE
AUTHOR_URL = pf.AUTHOR_URL
# Only when nothing precise matched: these may also hold an avatar's profile link.
AUTHOR_URL_LOOSE = ".comment-author a[href], .comment-header a[href]"
DATE = pf.DATE
WIDGET_AREAS = pf.WIDGET_AREAS
COMMENT_AREAS = pf.COMMENT_AREAS
# An entry's class, or a class inside it, that names a ping ("comment-type-pingback").
PING_CLASSED = "[class*='pingback'], [class*='trackback']"
# A short element that is only a label: "<strong>Pingback:</strong>".
LABELS = "strong, b, em, span, small, cite, h4, h5, h6, .comment-type"
_HEX = "6a[0-9a-f]{14,}"  # Typepad's asset ids
_ENTRY_ID = re.compile(
    rf"^(?:li-|div-|article-)?comment-(\d+|{_HEX})$|^c(\d{{6,}})$|^((?:ping|trackback)-(?:\d+|{_HEX}))$"
)
PING_LABEL = re.compile(r"^\s*(pingback|trackback)\s*:", re.IGNORECASE)
_LABEL_ONLY = re.compile(r"^\s*(pingback|trackback)\s*:?\s*$", re.IGNORECASE)
_SIMPLE = re.compile(r"^([#.])([\w-]+)$")


def _split_areas(selectors: str) -> tuple[frozenset[str], frozenset[str], str]:
    """The comment-area selectors as plain ids, plain classes and the rest (a query)."""
    ids, classes, other = set(), set(), []
    for selector in (part.strip() for part in selectors.split(",")):
        match = _SIMPLE.match(selector)
        if match and match.group(1) == "#":
            ids.add(match.group(2))
        elif match:
            classes.add(match.group(2))
        else:
            other.append(selector)
    return frozenset(ids), frozenset(classes), ", ".join(other)


_AREA_IDS, _AREA_CLASSES, _AREA_OTHER = _split_areas(COMMENT_AREAS)
_REPLY_LISTS = frozenset({"ul", "ol"})
MAX_DEPTH = 200  # levels looked up for an enclosing comment area or widget
_ENTRY_TAGS = frozenset({"li", "article", "div", "section", "dd", "dt", "aside", "tr", "td"})
_REPLY_CLASSES = ("children", "comment-replies", "comment-thread")
_ID_PREFIXES = (
    *("comment-", "li-comment-", "div-comment-", "article-comment-"),
    *("ping-", "trackback-"),
)
# Labels templates print before a name or a date ("Posted by Ian", "at 3/16/2009").
_POSTED_BY = re.compile(r"^\s*(posted by|publicado por|eingestellt von|publié par)\s+", re.I)
_AT = re.compile(r"^\s*(at|um|à|a las|tracked on)\s+(?=\w)", re.IGNORECASE)
_SAYS = re.compile(
    r"\s*(says|said|sagt|schreibt|dit|dice|dijo|a dit|hat gesagt)\s*(:|\.\.\.|…)?\s*$",
    re.IGNORECASE,
)


@dataclass
class Entry:
    """One comment-list entry while it is being read: its elements and thread parent."""

    nodes: list[LexborNode]
    number: str | None
    parent: int | None = None
    kind: str = "comment"
    hint: str | None = None  # "trackback" or "webmention" when the markup says so

    @property
    def node(self) -> LexborNode:
        return self.nodes[0]


def _number(node: LexborNode) -> str | None:
    ident = node.attributes.get("id") or ""
    match = _ENTRY_ID.match(ident)
    if match:
        return match.group(1) or match.group(2) or match.group(3)
    return node.attributes.get("data-comment-id") or None


def _is_reply_container(node: LexborNode) -> bool:
    if node.tag in _REPLY_LISTS:
        return True
    classes = node.attributes.get("class") or ""
    return any(name in classes for name in _REPLY_CLASSES)


def _valid_candidate(node: LexborNode, number: str | None, mentions: bool) -> bool:
    """``[id^=comment-]`` also matches ``comment-form`` and friends, and inline elements
    (``<a id="comment-5">`` anchors, Epoch's report ``span``): keep real entries."""
    if node.tag not in _ENTRY_TAGS and not (mentions and indieweb.is_mention_node(node)):
        return False
    ident = node.attributes.get("id") or ""
    if ident.startswith(_ID_PREFIXES):
        return number is not None
    return True


def _hint(node: LexborNode, hint: str | None, mentions: bool) -> str | None:
    """What the markup says an entry is, when it says more than its classes."""
    if hint or not mentions:
        return hint
    return "webmention" if indieweb.is_mention_node(node) else None


class CommentList:
    """The entries of a page's comment list, and which entry each element belongs to."""

    def __init__(self, tree: LexborHTMLParser, html: str = "") -> None:
        self.owner: dict[int, int] = {}
        self.entries: list[Entry] = []
        self._index: dict[str, dict[int | None, list[LexborNode]]] = {}
        self._areas: set[int] | None = None
        self._loose = False  # some entry lies outside every comment area
        heads = {node.mem_id for node in tree.css(SIBLING_HEADS)} if SIBLING_HEADS else set()
        self._mentions = indieweb.may_have_mentions(tree)
        query = CANDIDATES if self._mentions else BASIC_CANDIDATES
        query = f"{query}, {SIBLING_HEADS}" if heads else query
        for node in tree.css(query):
            if node.mem_id in heads:
                self._add_sibling_entry(node)
            else:
                self._add_candidate(node)
        for node in movabletype.phrase_trackbacks(tree, html):
            self._add_candidate(node, hint="trackback")
        self._keep(self._outside_widgets(tree))

    def _finish(self) -> None:
        self.tops = [e.node for e in self.entries if e.parent is None]
        self.threads = {e.parent for e in self.entries if e.parent is not None}
        # The containers of the top-level entries (usually one ol.commentlist): field
        # lookups query these once instead of once per entry.
        roots: dict[int, LexborNode] = {}
        for top in self.tops:
            parent = top.parent or top
            roots.setdefault(parent.mem_id, parent)
        self._roots = list(roots.values())
        self._index.clear()

    def _keep(self, keep: list[bool]) -> None:
        """Drop the entries not kept (and their replies), renumbering the rest."""
        if all(keep):
            self._finish()
            return
        renumber: dict[int, int] = {}
        entries: list[Entry] = []
        for index, entry in enumerate(self.entries):
            parent = entry.parent
            if not keep[index] or (parent is not None and parent not in renumber):
                continue
            entry.parent = renumber[parent] if parent is not None else None
            renumber[index] = len(entries)
            entries.append(entry)
        self.entries = entries
        self.owner = {k: renumber[v] for k, v in self.owner.items() if v in renumber}
        self._finish()

    def _outside_widgets(self, tree: LexborHTMLParser) -> list[bool]:
        """False for entries of a "recent comments" widget in a sidebar or footer: their
        nearest container is a widget area, not a comment area. Usually every entry sits
        in a comment area and the widgets are not even looked up."""
        keep = [True] * len(self.entries)
        if not self.entries:
            return keep
        inside: dict[int, bool] = {}  # per container of top-level entries: usually one
        loose = []
        for index, entry in enumerate(self.entries):
            container = entry.node.parent
            if entry.parent is not None or container is None:
                continue
            key = container.mem_id
            if key not in inside:
                inside[key] = self._in_area(tree, container)
            if not inside[key]:
                loose.append(index)
        self._loose = bool(loose)
        if not loose:
            return keep
        widgets = {node.mem_id for node in tree.css(WIDGET_AREAS)}
        for index in loose:
            keep[index] = not self._inside(self.entries[index].node, widgets)
        return keep

    def drop_foreign(self, tree: LexborHTMLParser, other_post: Callable[[str], bool]) -> None:
        """Drop entries outside every comment area whose own permalink
        (``…#comment-N``) names another post: a widget listing other posts' comments."""
        if not self._loose:
            return
        keep = [True] * len(self.entries)
        for anchor in tree.css("a[href*='#comment-']"):
            index = self.entry_of(anchor)
            if index is None:
                continue
            entry = self.entries[index]
            href = anchor.attributes.get("href") or ""
            own = entry.number and href.endswith(f"#comment-{entry.number}")
            if own and other_post(href) and not self._in_area(tree, entry.node):
                keep[index] = False
        if not all(keep):
            self._keep(keep)

    def _in_area(self, tree: LexborHTMLParser, node: LexborNode) -> bool:
        """``node`` is a comment area or inside one. The areas named by a plain id or
        class are recognised by their attributes, without a query over the page."""
        if self._areas is None:
            self._areas = {n.mem_id for n in tree.css(_AREA_OTHER)} if _AREA_OTHER else set()
        current: LexborNode | None = node
        for _ in range(MAX_DEPTH):
            if current is None:
                return False
            attrs = current.attributes
            if attrs.get("id") in _AREA_IDS or current.mem_id in self._areas:
                return True
            if _AREA_CLASSES.intersection((attrs.get("class") or "").split()):
                return True
            current = current.parent
        return False

    @staticmethod
    def _inside(node: LexborNode, containers: set[int]) -> bool:
        parent, depth = node.parent, 0
        while parent is not None and depth < MAX_DEPTH:
            if parent.mem_id in containers:
                return True
            parent, depth = parent.parent, depth + 1
        return False

    def _add_sibling_entry(self, head: LexborNode) -> None:
        """Blogger's classic list: ``dt`` (author) then its ``dd`` siblings make one entry."""
        if head.mem_id in self.owner:
            return
        index = len(self.entries)
        entry = Entry([head], _number(head))
        self.owner[head.mem_id] = index
        node = head.next
        while node is not None and node.tag != "dt":
            if node.tag == "dd":
                entry.nodes.append(node)
                self.owner[node.mem_id] = index
            node = node.next
        self.entries.append(entry)

    def _add_candidate(self, node: LexborNode, hint: str | None = None) -> None:
        key = node.mem_id
        if key in self.owner:
            return
        number = _number(node)
        if not _valid_candidate(node, number, self._mentions):
            return
        anc, crossed = self._nearest_entry(node)
        if anc is not None:
            host = self.entries[anc]
            same = number is None or host.number is None or number == host.number
            if same and not crossed:  # another element of the same entry
                host.nodes.append(node)
                host.number = host.number or number
                host.hint = host.hint or _hint(node, hint, self._mentions)
                self.owner[key] = anc
                return
        self.owner[key] = len(self.entries)
        hint = _hint(node, hint, self._mentions)
        self.entries.append(Entry([node], number, parent=anc, hint=hint))

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


def entry_kind(entry: Entry, ping_ids: set[int], label_text: str, classed: str = "") -> str:
    """comment, pingback, trackback or webmention: by a class on the entry or inside it
    (``classed``: the class of such an inner element), by a ping block, or by a label."""
    if entry.hint == "trackback":
        return "trackback"
    for node in entry.nodes:
        classes = node.attributes.get("class") or ""
        kind = _ping_class(classes)
        if kind:
            return kind
        if node.mem_id in ping_ids:
            return "pingback"
        if "webmention" in classes.split():
            return "webmention"  # the WordPress Webmention plugin's comment type
    kind = _ping_class(classed)
    if kind:
        return kind
    match = PING_LABEL.match(label_text) or _LABEL_ONLY.match(label_text)
    return match.group(1).lower() if match else "comment"


def ping_list_entries(clist: CommentList) -> set[int]:
    """The top-level entries of lists kept for pings alone (``wordpress.is_ping_list``)."""
    found: set[int] = set()
    verdicts: dict[int, bool] = {}
    for entry in clist.entries:
        container = entry.node.parent
        if entry.parent is not None or container is None:
            continue
        key = container.mem_id
        if key not in verdicts:
            verdicts[key] = wordpress.is_ping_list(container)
        if verdicts[key]:
            found.add(entry.node.mem_id)
    return found


def _ping_class(classes: str) -> str | None:
    """Any class containing "pingback" or "trackback" ("pingback", "ping-trackback",
    "comment-type-pingback"); a container's plural ("trackbacks-content") is not an entry."""
    lower = classes.lower()
    if "pingback" in lower:
        return "pingback"
    if "trackback" in lower and "trackbacks" not in lower:
        return "trackback"
    return None


_LABEL_WORD = re.compile(r"\b(pingback|trackback)\b", re.IGNORECASE)


def label_of(index: int, clist: CommentList, head: str) -> str:
    """A short element that is nothing but "Pingback:" or "Trackback", if the entry has one
    (looked for only when the entry's first words name one)."""
    if not _LABEL_WORD.search(head):
        return ""
    body = clist.first(index, TEXT)
    for node in clist.owned(index, LABELS):
        text = clean_text(node)
        if len(text) <= 12 and _LABEL_ONLY.match(text) and not _within(node, body):
            return text  # a label of the entry, not a word in bold in a comment's text
    return ""


def _within(node: LexborNode, container: LexborNode | None) -> bool:
    current: LexborNode | None = node
    for _ in range(MAX_DEPTH):
        if current is None or container is None:
            return False
        if current.mem_id == container.mem_id:
            return True
        current = current.parent
    return False


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
    stamp = clist.first(index, "time, abbr.published[title]")
    if stamp is not None and stamp.tag == "abbr":  # Movable Type's date, ISO in the title
        value = (stamp.attributes.get("title") or "").strip()
        if value[:1].isdigit():
            return value
    elif stamp is not None:
        value = (stamp.attributes.get("datetime") or "").strip()
        if value[:1].isdigit():
            return value
        text = clean_text(stamp)
        if text:
            return text
    text = _AT.sub("", clean_text(clist.first(index, DATE)))
    return text or None


def entry_author(index: int, clist: CommentList) -> tuple[str | None, LexborNode | None]:
    """Author name and the element of the author's link (if any)."""
    link = clist.first(index, AUTHOR_URL) or _not_permalink(clist.owned(index, AUTHOR_URL_LOOSE))
    name_node = clist.first(index, AUTHOR) or clist.first(index, AUTHOR_LOOSE)
    name = clean_text(name_node) if name_node is not None else clean_text(link)
    # Loose containers also hold "says:" and, in Epoch, "· <date>" after the name.
    name = _POSTED_BY.sub("", _SAYS.sub("", name.split("·", 1)[0])).strip()
    if not name:  # Movable Type 3, Typepad: "Posted by: <a>Name</a> | date" in a footer
        footer = clist.first(index, ".comment-footer")
        name = movabletype.footer_author(clean_text(footer)) or "" if footer is not None else ""
        if name and link is None and footer is not None:  # the name's own link, if any
            link = next((a for a in footer.css("a[href]") if clean_text(a) == name), None)
    return (name or None), link


_PERMALINK = re.compile(r"#c\d|#comment-|showComment=")


def _not_permalink(links: list[LexborNode]) -> LexborNode | None:
    """The first link that is not the entry's own permalink (a date links there)."""
    for node in links:
        if not _PERMALINK.search(node.attributes.get("href") or ""):
            return node
    return None


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
