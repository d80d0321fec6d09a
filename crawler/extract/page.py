"""Extraction (architecture step 5): one HTML page in, post metadata, comments and links out.

``extract(html, url, headers)`` is a pure function. It reads the page once with selectolax
(lexbor) and answers, for the engine and the store:

* what the page is: canonical URL, title, whether it is a single blog post, date, author,
  blog name, main text for full-text search;
* the comment list (``crawler.extract.comments``): comments, pingbacks, trackbacks;
* every link with the *kind* SPEC section 6 gives it, decided by where it sits: entry
  content → ``citation``; comment list → ``pingback``/``trackback``/``comment``; all the
  template chrome → ``nav``;
* the post's other comment pages and the discovery endpoints (pingback, Webmention, feeds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawler.extract import comments as ec
from crawler.extract import platforms
from crawler.extract.meta import read_meta
from crawler.extract.platforms import generic, indieweb, movabletype
from crawler.extract.resolve import Resolver
from crawler.urls import blog_of, comment_page_post

# Containers of the post body, most specific first (the families' own, then generic).
CONTENT_SELECTORS = platforms.CONTENT_SELECTORS
GENERIC_CONTENT_SELECTORS = platforms.GENERIC_CONTENT_SELECTORS
MIN_CONTENT_CHARS = 200
LONG_CONTENT_CHARS = 1000
PROSE_OVER_MATCH = 1.5  # a body found by structure wins over a short match this much bigger
# Template chrome that themes and plugins put *inside* the entry content.
CONTENT_CHROME = ", ".join(
    [
        ".sharedaddy",
        ".sd-sharing-enabled",
        ".jp-relatedposts",
        ".sharing",
        ".share-buttons",
        ".shariff",
        ".addtoany_share_save_container",
        ".a2a_kit",
        ".social-share",
        ".post-navigation",
        ".navigation",
        ".nav-links",
        ".tags-links",
        ".cat-links",
        ".post-tags",
        ".entry-tags",
        ".entry-categories",
        ".entry-meta",
        ".entry-footer",
        ".author-box",
        ".author-info",
        ".about-author",
        ".abh_box",
        ".saboxplugin-wrap",
        ".yarpp-related",
        ".crp_related",
        "[class*='related-posts']",
        "[class*='relatedposts']",
        "[class*='rp4wp']",
        ".wp-block-post-navigation-link",
        "a[href*='?share=']",
        "a[href*='&share=']",
        "a[href*='pinterest.com/pin/create']",
        "a[href*='facebook.com/sharer']",
        "a[href*='twitter.com/intent']",
        "a[href*='twitter.com/share']",
        "a[href*='linkedin.com/share']",
        "a[href*='reddit.com/submit']",
        "a[href*='api.whatsapp.com/send']",
    ]
)
COMMENT_PAGINATION = platforms.PAGINATION


@dataclass
class Comment:
    kind: str  # comment | pingback | trackback | webmention
    comment_id: str | None
    author: str | None
    author_url: str | None
    published: str | None
    text: str
    source_url: str | None
    source_title: str | None


@dataclass
class Link:
    dst: str  # for pingback/trackback/webmention: the *source* post that links to this page
    kind: str  # citation | pingback | trackback | webmention | comment | nav
    anchor: str
    rel: str


@dataclass
class Extraction:
    url: str
    canonical: str | None
    title: str | None
    is_post: bool
    published: str | None
    author: str | None
    blog: str | None
    text: str
    comments: list[Comment] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    comment_pages: list[str] = field(default_factory=list)
    pingback_endpoint: str | None = None
    webmention_endpoint: str | None = None
    feeds: list[str] = field(default_factory=list)
    links_dropped: int = 0  # links past the per-kind bound, not collected

    def to_dict(self) -> dict:
        """JSON-ready, with the names of SPEC section 3 (``pingcrawl extract``)."""
        data = asdict(self)
        data.pop("links_dropped")  # bookkeeping for the frontier's cut, not page content
        return data


# Links of one kind kept from one page. The frontier keeps at most 5,000 links of a page
# (crawler.frontier.MAX_LINKS_PER_PAGE, pings and citations first); collecting more than
# that of any one kind only costs memory: a page of a million links held ~170,000 Links.
MAX_LINKS_PER_KIND = 5_000


class _LinkSet:
    """Links deduplicated by (dst, kind), first anchor wins; self-links dropped; at most
    :data:`MAX_LINKS_PER_KIND` of each kind (``dropped`` counts the rest)."""

    def __init__(self, selves: set[str]) -> None:
        self.selves = selves
        self.links: list[Link] = []
        self.seen: set[tuple[str, str]] = set()
        self.per_kind: dict[str, int] = {}
        self.dropped = 0

    def add(self, dst: str | None, kind: str, anchor: str, rel: str) -> None:
        if not dst or dst in self.selves or (dst, kind) in self.seen:
            return
        kept = self.per_kind.get(kind, 0)
        if kept >= MAX_LINKS_PER_KIND:
            self.dropped += 1
            return
        self.per_kind[kind] = kept + 1
        self.seen.add((dst, kind))
        self.links.append(Link(dst, kind, anchor, rel))


def extract(html: str, url: str, headers: Mapping[str, str] | None = None) -> Extraction:
    """Read one page. ``url`` is the address it was fetched from; ``headers`` the response
    headers (any case) for the ``X-Pingback`` and ``Link`` discovery headers."""
    tree = LexborHTMLParser(html or "")
    resolver = Resolver.for_page(tree, url)
    clist = ec.CommentList(tree, html or "")
    meta = read_meta(tree, resolver, headers or {}, lambda n: clist.entry_of(n) is not None)
    tree.strip_tags(["script", "style", "noscript", "template"])  # not text, never links
    post_url = _post_url(resolver.page, meta.canonical)
    clist.drop_foreign(tree, lambda href: _other_post(resolver.resolve(href), post_url))
    selves = {u for u in (resolver.page, meta.canonical, post_url) if u}
    selves |= {u.rstrip("/") if u.endswith("/") else u + "/" for u in list(selves)}
    links = _LinkSet(selves)
    comments = _read_comments(tree, clist, resolver, links)
    content = _content_nodes(tree, clist)
    first = content[0] if content else None
    is_post = meta.decide_is_post(tree, first, bool(comments), resolver.page)
    is_post = is_post or _described_by_trackback_rdf(html or "", resolver, selves)
    if not is_post and content and _is_listing(tree):
        content, first = [], None
    _classify_links(tree, content, clist, resolver, links)
    text = " ".join(ec.clean_text(n) for n in content) if content else ec.clean_text(tree.body)
    title = meta.pick_title(tree, first, is_post)  # may also fill in meta.blog
    return Extraction(
        url=resolver.page,
        canonical=meta.canonical,
        title=title,
        is_post=is_post,
        published=meta.published,
        author=meta.author,
        blog=meta.blog,
        text=text,
        comments=comments,
        links=links.links,
        links_dropped=links.dropped,
        comment_pages=_comment_pages(tree, resolver, post_url, selves),
        pingback_endpoint=meta.pingback,
        webmention_endpoint=meta.webmention,
        feeds=meta.feeds,
    )


def _post_url(page: str, canonical: str | None) -> str:
    """The post a (comment) page belongs to: comments found on it attach to this URL."""
    return (
        comment_page_post(page)
        or (canonical and comment_page_post(canonical))
        or (canonical or page)
    )


def _described_by_trackback_rdf(html: str, resolver: Resolver, selves: set[str]) -> bool:
    """Exactly one trackback RDF block, about this page: an entry's own page (a listing
    carries one per entry, about each entry)."""
    subjects = movabletype.trackback_rdf_subjects(html)
    return len(subjects) == 1 and resolver.resolve(subjects[0]) in selves


def _other_post(url: str | None, post_url: str) -> bool:
    """``url`` (a comment permalink) is on a different post than this page's."""
    if not url:
        return False
    page = comment_page_post(url) or url.split("#", 1)[0]
    return page.rstrip("/") != post_url.rstrip("/")


def _read_comments(
    tree: LexborHTMLParser,
    clist: ec.CommentList,
    resolver: Resolver,
    links: _LinkSet,
) -> list[Comment]:
    ping_ids = {node.mem_id for node in tree.css(ec.PING_BLOCKS)}
    ping_ids |= ec.ping_list_entries(clist)
    comments = []
    mentions = indieweb.MentionReader(resolver.page)
    for index, entry in enumerate(clist.entries):
        if entry.hint == "webmention":
            mention = _read_mention(index, clist, resolver, links, mentions)
            if mention is not None:
                comments.append(mention)
                continue
        comments.append(_read_entry(index, clist, resolver, links, ping_ids))
    return comments


def _read_entry(
    index: int, clist: ec.CommentList, resolver: Resolver, links: _LinkSet, ping_ids: set[int]
) -> Comment:
    entry = clist.entries[index]
    # "Pingback: <a>" opens the entry (core's short ping) or the comment's text
    body = clist.first(index, ec.TEXT)
    head = entry.node.text(separator=" ")[:120]
    label = head[:40]
    if body is not None and not ec.PING_LABEL.match(label):
        label = body.text(separator=" ")[:40]
    if not ec.PING_LABEL.match(label):
        label = ec.label_of(index, clist, head) or label
    inner = clist.owned(index, ec.PING_CLASSED)
    classed = " ".join(node.attributes.get("class") or "" for node in inner)
    kind = ec.entry_kind(entry, ping_ids, label, classed)
    if kind == "comment":
        return _read_comment(index, clist, resolver, links)
    return _read_ping(index, clist, resolver, links, kind)


def _read_mention(
    index: int,
    clist: ec.CommentList,
    resolver: Resolver,
    links: _LinkSet,
    reader: indieweb.MentionReader,
) -> Comment | None:
    """A microformats2 response (reply, like, repost, mention). One whose source is
    another blog is a received Webmention; one on this blog, an ordinary comment marked up
    the same way. None when mf2py finds nothing to read."""
    entry = clist.entries[index]
    node = next((n for n in entry.nodes if indieweb.is_mention_node(n)), entry.node)
    mention = reader.read(node)
    if mention is None:
        return None
    source = resolver.resolve(mention.source_url) if mention.source_url else None
    author_url = resolver.resolve(mention.author_url) if mention.author_url else None
    foreign = source and source not in links.selves and not _same_post_or_blog(source, resolver)
    if foreign:
        links.add(source, "webmention", mention.title or mention.author or "", "")
    elif author_url:
        links.add(author_url, "comment", mention.author or "", "")
    return Comment(
        kind="webmention" if foreign else "comment",
        comment_id=entry.number,
        author=mention.author,
        author_url=author_url,
        published=mention.published,
        text=mention.text,
        source_url=source if foreign else None,
        source_title=mention.title if foreign else None,
    )


def _same_post_or_blog(url: str, resolver: Resolver) -> bool:
    return blog_of(url) == blog_of(resolver.page)


def _read_comment(
    index: int, clist: ec.CommentList, resolver: Resolver, links: _LinkSet
) -> Comment:
    author, link = ec.entry_author(index, clist)
    author_url = resolver.resolve(link.attributes.get("href")) if link is not None else None
    if author_url and link is not None:
        links.add(author_url, "comment", author or "", link.attributes.get("rel") or "")
    body = clist.first(index, ec.TEXT)
    for part in [body] if body is not None else clist.owned(index, "p"):
        for anchor in part.css("a[href]"):
            _add_anchor(anchor, "comment", resolver, links)
    return Comment(
        kind="comment",
        comment_id=clist.entries[index].number,
        author=author,
        author_url=author_url,
        published=ec.entry_date(index, clist),
        text=ec.entry_text(index, clist.entries[index], clist),
        source_url=None,
        source_title=None,
    )


def _read_ping(
    index: int, clist: ec.CommentList, resolver: Resolver, links: _LinkSet, kind: str
) -> Comment:
    def usable(href: str) -> str | None:
        dst = resolver.resolve(href)
        return dst if dst and dst not in links.selves else None

    source = ec.ping_source(index, clist, usable)
    source_url = resolver.resolve(source.attributes.get("href")) if source is not None else None
    title = ec.clean_text(source) or None if source is not None else None
    if source_url and source is not None:
        links.add(source_url, kind, title or "", source.attributes.get("rel") or "")
    author, _ = ec.entry_author(index, clist)
    return Comment(
        kind=kind,
        comment_id=clist.entries[index].number,
        author=author or title,
        author_url=source_url,
        published=ec.entry_date(index, clist),
        text=ec.entry_text(index, clist.entries[index], clist),
        source_url=source_url,
        source_title=title,
    )


def _content_nodes(tree: LexborHTMLParser, clist: ec.CommentList) -> list[LexborNode]:
    """The post body. Themes reuse body classes for teasers in sidebars and related-post
    boxes (Divi's ``.post-content``), so a container must hold a real amount of text; when
    no family's own container holds a long one, the body is looked for by structure (the
    block holding the most prose), and the generic containers (``.entry``, ``article``)
    come last. For Movable Type the "more" part beside the body belongs to it."""
    found, size = _first_container(tree, CONTENT_SELECTORS, clist)
    if found is not None and size >= LONG_CONTENT_CHARS:
        return _with_more(found)
    # A short match may be a teaser while the body sits in a container of no family.
    in_comments = lambda n: clist.entry_of(n) is not None  # noqa: E731
    prose = generic.prose_container(tree, in_comments, MIN_CONTENT_CHARS)
    if prose and (found is None or _outweighs(prose, found, size)):
        return prose
    if found is not None:
        return _with_more(found)
    fallback = _first_container(tree, GENERIC_CONTENT_SELECTORS, clist)[0]
    return [fallback] if fallback is not None else []


def _with_more(node: LexborNode) -> list[LexborNode]:
    nodes = [node]
    for selector, more in platforms.CONTENT_MORE.items():
        if selector.lstrip(".") in _classes(node):
            nodes += [n for n in _siblings(node) if more in _classes(n)]
    return nodes


def _outweighs(prose: list[LexborNode], found: LexborNode, size: int) -> bool:
    """The prose blocks lie apart from the match and hold clearly more text."""
    if any(_contains(block, found) or _contains(found, block) for block in prose):
        return False
    return sum(len(block.text()) for block in prose) >= PROSE_OVER_MATCH * max(size, 1)


def _contains(outer: LexborNode, inner: LexborNode) -> bool:
    node: LexborNode | None = inner
    for _ in range(generic.MAX_DEPTH * 4):
        if node is None:
            return False
        if node.mem_id == outer.mem_id:
            return True
        node = node.parent
    return False


def _classes(node: LexborNode) -> list[str]:
    return (node.attributes.get("class") or "").split()


def _siblings(node: LexborNode) -> list[LexborNode]:
    parent = node.parent
    return [n for n in parent.iter() if n.mem_id != node.mem_id] if parent is not None else []


def _first_container(
    tree: LexborHTMLParser, group: tuple[str, ...], clist: ec.CommentList
) -> tuple[LexborNode | None, int]:
    """The first selector's longest match that holds a long text, else the first that
    holds a real amount of text, else the first match at all; and its text's length."""
    fallback: tuple[LexborNode | None, int] = (None, 0)
    for selector in group:
        best, size = _longest(tree, selector, clist)
        if best is None:
            continue
        if size >= LONG_CONTENT_CHARS:
            return best, size
        if fallback[0] is None or (fallback[1] < MIN_CONTENT_CHARS <= size):
            fallback = (best, size)
    return fallback


def _longest(
    tree: LexborHTMLParser, selector: str, clist: ec.CommentList
) -> tuple[LexborNode | None, int]:
    best, size = None, -1
    for node in tree.css(selector):
        if clist.entry_of(node) is None:
            length = len(node.text())
            if length > size:
                best, size = node, length
    return best, size


def _is_listing(tree: LexborHTMLParser) -> bool:
    """Home, archive and category pages show several entries."""
    return len(tree.css("article, .hentry, .post.type-post")) > 2


def _classify_links(
    tree: LexborHTMLParser,
    content: list[LexborNode],
    clist: ec.CommentList,
    resolver: Resolver,
    links: _LinkSet,
) -> None:
    """Every anchor outside the comment entries: citation inside the content, else nav."""
    in_content: set[int] = set()
    for part in content:
        in_content |= {a.mem_id for a in part.css("a[href]")}
        in_content -= {a.mem_id for a in part.css(CONTENT_CHROME)}
        for chrome in part.css(CONTENT_CHROME):
            in_content -= {a.mem_id for a in chrome.css("a[href]")}
    # Anchors inside comment entries were read with the comments (or are reply chrome);
    # an entry may be several sibling elements (Blogger's dt and dd).
    in_entries = {
        a.mem_id
        for entry in clist.entries
        if entry.parent is None
        for node in _outer_nodes(entry)
        for a in node.css("a[href]")
    }
    for anchor in tree.css("a[href]"):
        if anchor.mem_id in in_entries:
            continue
        kind = "citation" if anchor.mem_id in in_content else "nav"
        _add_anchor(anchor, kind, resolver, links)


def _outer_nodes(entry: ec.Entry) -> list[LexborNode]:
    """The entry's first element and its siblings that belong to it (Blogger's ``dd``):
    the other elements are inside the first and are searched with it."""
    first = entry.node
    parent = first.parent.mem_id if first.parent is not None else None
    return [first] + [
        n for n in entry.nodes[1:] if n.parent is not None and n.parent.mem_id == parent
    ]


def _add_anchor(anchor: LexborNode, kind: str, resolver: Resolver, links: _LinkSet) -> None:
    attrs = anchor.attributes
    dst = resolver.resolve(attrs.get("href"))
    if dst:
        links.add(dst, kind, ec.clean_text(anchor), attrs.get("rel") or "")


def _same_post(url: str, post_url: str) -> bool:
    return url.rstrip("/") == post_url.rstrip("/")


def _comment_pages(
    tree: LexborHTMLParser, resolver: Resolver, post_url: str, selves: set[str]
) -> list[str]:
    """The post's other comment pages: pagination links and ``comment-page-N`` links
    (not comment permalinks, which point at a page that may be this one)."""
    pages: list[str] = []
    for anchor in tree.css(COMMENT_PAGINATION):
        _add_page(pages, resolver.resolve(anchor.attributes.get("href")), selves)
    for anchor in tree.css("a[href*='comment-page-'], a[href*='cpage=']"):
        href = anchor.attributes.get("href") or ""
        if "#comment-" in href:
            continue
        dst = resolver.resolve(href)
        if dst and _same_post(comment_page_post(dst) or dst.split("?")[0], post_url):
            _add_page(pages, dst, selves)
    return pages


def _add_page(pages: list[str], url: str | None, selves: set[str]) -> None:
    if url and url not in selves and url not in pages:
        pages.append(url)
