"""Pages of no known family (architecture step 5, the fallback family).

Generic containers (``.entry``, ``article``, ``main``) are used only when no family's own
body container matched, and before them the body is looked for by structure: the deepest
element holding most of the page's prose (the text of its paragraphs), counting only
paragraphs outside navigation, headers, footers, sidebars and the comment area.
"""

from __future__ import annotations

from collections.abc import Callable

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawler.extract.platforms.family import Family

FAMILY = Family(
    name="generic",
    content=(".entry", "article", "main"),
    title=("h1 > a[rel~='bookmark']", "article h1"),
    candidates=("[id$='_backlinks-container'] .backlink-control",),
)
# Never the post body: template chrome and the comment area.
NOT_PROSE = (
    "nav, header, footer, aside, form, [role='navigation'], [role='complementary'], "
    "[role='banner'], [role='contentinfo'], .sidebar, #sidebar, #secondary, .widget, "
    ".widget-area, .menu, #comments, .comments-area, .comments, #respond, #trackbacks"
)
PROSE_SHARE = 0.8  # the body holds at least this share of the page's prose
MIN_PARAGRAPH = 40  # characters: shorter paragraphs are captions and buttons, not prose
MAX_DEPTH = 60  # a paragraph nested deeper is not a blog's prose (and would cost its depth)


def prose_container(
    tree: LexborHTMLParser, in_comments: Callable[[LexborNode], bool], min_chars: int
) -> LexborNode | None:
    """The deepest element holding ``PROSE_SHARE`` of the prose, or None below ``min_chars``."""
    body = tree.body
    if body is None:
        return None
    excluded = {node.mem_id for node in tree.css(NOT_PROSE)}
    totals: dict[int, int] = {}
    nodes: dict[int, LexborNode] = {}
    depth: dict[int, int] = {}
    total = 0
    for paragraph in body.css("p"):
        size = len(paragraph.text(strip=True))
        if size < MIN_PARAGRAPH:
            continue
        chain = _ancestors(paragraph, excluded)
        if chain is None or in_comments(paragraph):
            continue
        total += size
        for level, node in enumerate(reversed(chain)):
            totals[node.mem_id] = totals.get(node.mem_id, 0) + size
            nodes[node.mem_id] = node
            depth[node.mem_id] = level
    if total < min_chars:
        return None
    wanted = [key for key, size in totals.items() if size >= PROSE_SHARE * total]
    if not wanted:
        return None
    return nodes[max(wanted, key=lambda key: depth[key])]


def _ancestors(node: LexborNode, excluded: set[int]) -> list[LexborNode] | None:
    """The paragraph's containers up to ``<body>`` (nearest first); None inside chrome."""
    chain: list[LexborNode] = []
    parent = node.parent
    while parent is not None and parent.tag not in ("body", "html"):
        if parent.mem_id in excluded or len(chain) >= MAX_DEPTH:
            return None
        chain.append(parent)
        parent = parent.parent
    return chain
