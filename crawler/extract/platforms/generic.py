"""Pages of no known family (architecture step 5, the fallback family).

Generic containers (``.entry``, ``article``, ``main``) are used only when no family's own
body container matched, and before them the body is looked for by structure: the block
holding the most prose (the text of its paragraphs), counting only paragraphs outside
navigation, headers, footers, sidebars and the comment area.
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
MIN_PARAGRAPH = 40  # characters: shorter paragraphs are captions and buttons, not prose
MAX_DEPTH = 60  # a paragraph nested deeper is not a blog's prose (and would cost its depth)
SIBLING_SHARE = 0.2  # a sibling block with this share of the best one's prose joins it


def prose_container(
    tree: LexborHTMLParser, in_comments: Callable[[LexborNode], bool], min_chars: int
) -> list[LexborNode]:
    """The block holding the most prose, with the sibling blocks that hold a good share of
    it (a body split in sections); empty below ``min_chars``. Each paragraph counts fully
    for its parent and half for the grandparent, so a wrapper around the body and a
    sidebar does not outscore the body itself."""
    body = tree.body
    if body is None:
        return []
    excluded = {node.mem_id for node in tree.css(NOT_PROSE)}
    score: dict[int, float] = {}
    nodes: dict[int, LexborNode] = {}
    for paragraph in body.css("p"):
        size = len(paragraph.text(strip=True))
        if size < MIN_PARAGRAPH or in_comments(paragraph):
            continue
        chain = _ancestors(paragraph, excluded)
        if not chain:
            continue
        for weight, node in zip((1.0, 0.5), chain, strict=False):
            score[node.mem_id] = score.get(node.mem_id, 0.0) + weight * size
            nodes[node.mem_id] = node
    if not score:
        return []
    best = max(score, key=score.__getitem__)
    if score[best] < min_chars:
        return []
    top = nodes[best]
    parent = top.parent
    if parent is None:
        return [top]
    threshold = SIBLING_SHARE * score[best]
    return [
        child
        for child in parent.iter()
        if child.mem_id == best or score.get(child.mem_id, 0.0) >= threshold
    ]


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
