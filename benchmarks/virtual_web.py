"""A fast local virtual web of WordPress-like blogs for the crawler benchmarks.

``VirtualWeb(blogs, posts)`` describes N blogs x M posts (default 100 x 50 = 5,000 posts)
on host names like ``blog017.bench.example``. Every post page (~10-13 KB) has the
WordPress chrome (header, menu, sidebar with recent posts, archives, categories, footer),
an ``.entry-content`` that cites other posts on its own and on other blogs, and an
``ol.comment-list`` mixing ``li.comment`` entries (commenters' sites are never part of the
web: ``comment`` links are not followed) with ``li.pingback``/``li.trackback`` entries whose
``a.url`` points at the posts that cite this one.

Link structure (so that every post is reachable from the seeds within a small depth):
the seeds are the first post of every blog; post ``p`` cites posts ``2p+1``, ``2p+2`` and
``p+1`` of its blog (a binary heap: every post is at most ``log2(M)`` hops from its
blog's seed, 5 for M = 50) and one post on each of two other blogs. The cited posts
list the citing post as a pingback or trackback.

``VirtualWebServer`` serves it from its own process (so it never shares a GIL with the
crawler under test) on 127.0.0.1: a raw asyncio protocol with keep-alive HTTP/1.1
parsing, every response pre-rendered as bytes. It answers absolute-form (proxy)
requests for any host name and origin-form requests by their Host header, serves a
robots.txt per host (everything allowed except ``/wp-admin/``), and counts what it
served; ``http://127.0.0.1:PORT/__bench/stats`` returns the counters as JSON (with the
smallest gap between two request starts to one host, to check politeness) and
``/__bench/reset`` clears them.

    python -m benchmarks.virtual_web --blogs 100 --posts 50 --port 8765
    curl -x http://127.0.0.1:8765 http://blog000.bench.example/robots.txt
    python -m benchmarks.virtual_web --load-test   # requests/s the server alone sustains
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import random
import signal
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from html import escape
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

DOMAIN = "bench.example"
ROBOTS = (
    "User-agent: *\nDisallow: /wp-admin/\nAllow: /wp-admin/admin-ajax.php\n\n"
    "Sitemap: http://{host}/wp-sitemap.xml\n"
)
_WORDS_TEXT = (
    "alliance security deterrence summit policy region treaty border trade sanctions "
    "economy history archive memory island coast harbor river mountain valley village "
    "city market festival season winter spring summer autumn garden library reading "
    "notes letters essays review critique response reply debate question answer theory "
    "practice method source evidence record report analysis data survey census election "
    "parliament council ministry court law rights reform protest movement labor union "
    "migration language culture music film painting poetry novel translation journey "
    "railway shipping fishing farming weather climate energy water forest desert ocean "
    "bridge tower castle temple church school university museum gallery theatre studio "
    "kitchen recipe bread coffee tea wine cheese family friends neighbors strangers "
    "morning evening night week month year decade century beginning ending middle"
)
WORDS = _WORDS_TEXT.split()
_NAMES_TEXT = (
    "Mina Jae Robert Ana Li Tomas Priya Kenji Olga Samir Ines Yusuf Hana Marta Diego "
    "Eun-ji Farah Lucas Noor Pavel"
)
NAMES = _NAMES_TEXT.split()
CATEGORIES = ("Essays", "Notes", "Reviews", "Politics", "History", "Travel")
WP_EMOJI = (
    'window._wpemojiSettings = {"baseUrl":"https:\\/\\/s.w.org\\/images\\/core\\/emoji\\'
    '/14.0.0\\/72x72\\/","ext":".png","svgUrl":"https:\\/\\/s.w.org\\/images\\/core'
    '\\/emoji\\/14.0.0\\/svg\\/","svgExt":".svg","source":{"concatemoji":"\\/wp-'
    'includes\\/js\\/wp-emoji-release.min.js?ver=6.4.2"}};\n'
    "!function(i,n){var o,s,e;function c(e){try{var t={supportTests:e,timestamp:(new Date)."
    "valueOf()};sessionStorage.setItem(o,JSON.stringify(t))}catch(e){}}function p(e,t,n){e."
    "clearRect(0,0,e.canvas.width,e.canvas.height),e.fillText(t,0,0)}}(window,document);"
)


@dataclass(frozen=True)
class VirtualWeb:
    """N blogs x M posts; pure functions of (blog, post) so every process agrees."""

    blogs: int = 100
    posts: int = 50
    seed: int = 7

    @property
    def total_pages(self) -> int:
        return self.blogs * self.posts

    @property
    def max_link_depth(self) -> int:
        """Hops from a blog's seed to its farthest post along the same-blog citations."""
        return max(0, (self.posts).bit_length() - 1)

    @cached_property
    def _width(self) -> int:
        return max(3, len(str(self.blogs - 1)))

    def host(self, blog: int) -> str:
        return f"blog{blog:0{self._width}d}.{DOMAIN}"

    def title(self, blog: int, post: int) -> str:
        rng = random.Random(self.seed * 1_000_003 + blog * 7919 + post * 104_729)
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 6))]
        return " ".join(words).capitalize()

    def blog_name(self, blog: int) -> str:
        rng = random.Random(self.seed + blog * 31)
        return f"The {rng.choice(WORDS).capitalize()} {rng.choice(WORDS).capitalize()} Blog"

    def path(self, blog: int, post: int) -> str:
        slug = "-".join(self.title(blog, post).lower().split()[:4])
        return f"/{2015 + post // 12}/{post % 12 + 1:02d}/{post:02d}-{slug}/"

    def url(self, blog: int, post: int) -> str:
        return f"http://{self.host(blog)}{self.path(blog, post)}"

    def seeds(self) -> list[str]:
        return [self.url(b, 0) for b in range(self.blogs)]

    def post_urls(self) -> Iterator[str]:
        for b in range(self.blogs):
            for p in range(self.posts):
                yield self.url(b, p)

    def hosts(self) -> list[str]:
        return [self.host(b) for b in range(self.blogs)]

    def cites(self, blog: int, post: int) -> list[tuple[int, int]]:
        """The posts that post ``(blog, post)`` cites in its entry content."""
        out = [(blog, q) for q in (2 * post + 1, 2 * post + 2, post + 1) if q < self.posts]
        if self.blogs > 1:
            out.append(((blog + 1) % self.blogs, (3 * post + 1) % self.posts))
            out.append(((blog * 7 + 3) % self.blogs, (post * 11 + 5) % self.posts))
        seen: set[tuple[int, int]] = set()
        return [c for c in out if c != (blog, post) and not (c in seen or seen.add(c))]

    def citers(self) -> dict[tuple[int, int], list[tuple[int, int]]]:
        """The inverse of :meth:`cites`: who pings each post back."""
        back: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for b in range(self.blogs):
            for p in range(self.posts):
                for target in self.cites(b, p):
                    back.setdefault(target, []).append((b, p))
        return back

    # -- rendering -------------------------------------------------------------------
    def render_post(self, blog: int, post: int, citers: list[tuple[int, int]]) -> str:
        rng = random.Random(self.seed * 31 + blog * 100_003 + post)
        host, title, name = self.host(blog), self.title(blog, post), self.blog_name(blog)
        url = self.url(blog, post)
        date = f"{2015 + post // 12}-{post % 12 + 1:02d}-{post % 27 + 1:02d}T09:30:00+00:00"
        category = CATEGORIES[(blog + post) % len(CATEGORIES)]
        paragraphs = [_sentence_block(rng, rng.randint(30, 50)) for _ in range(rng.randint(4, 5))]
        for i, (cb, cp) in enumerate(self.cites(blog, post)):
            cite = (
                f' As <a href="{self.url(cb, cp)}">{escape(self.title(cb, cp))}</a> '
                f"argues, {_sentence_block(rng, 8)}"
            )
            paragraphs[(i * 2 + 1) % len(paragraphs)] += cite
        body = "".join(f"<p>{p}</p>\n" for p in paragraphs[:3])
        body += (
            f"<blockquote class='wp-block-quote'><p>{_sentence_block(rng, 25)}</p></blockquote>\n"
        )
        body += "".join(f"<p>{p}</p>\n" for p in paragraphs[3:])
        prev_link = (
            f'<div class="nav-previous"><a href="{self.url(blog, post - 1)}" rel="prev">'
            f"{escape(self.title(blog, post - 1))}</a></div>"
            if post > 0
            else ""
        )
        next_link = (
            f'<div class="nav-next"><a href="{self.url(blog, post + 1)}" rel="next">'
            f"{escape(self.title(blog, post + 1))}</a></div>"
            if post + 1 < self.posts
            else ""
        )
        article = (
            f'<article id="post-{post + 1}" class="post-{post + 1} post type-post status-publish '
            f'format-standard hentry category-{category.lower()}">\n'
            f'<header class="entry-header"><h1 class="entry-title">{escape(title)}</h1>\n'
            f'<div class="entry-meta"><span class="posted-on"><a href="{url}" rel="bookmark">'
            f'<time class="entry-date published" datetime="{date}">{date[:10]}</time></a></span>'
            f' <span class="byline">by <span class="author vcard"><a class="url fn n" '
            f'href="http://{host}/author/editor/">Editor</a></span></span></div></header>\n'
            f'<div class="entry-content">\n{body}</div>\n'
            f'<footer class="entry-footer"><span class="cat-links">Posted in <a href="http://'
            f'{host}/category/{category.lower()}/" rel="category tag">{category}</a></span> '
            f'<span class="tags-links">Tagged <a href="http://{host}/tag/{rng.choice(WORDS)}/" '
            f'rel="tag">{rng.choice(WORDS)}</a></span></footer>\n</article>\n'
            f'<nav class="navigation post-navigation" aria-label="Posts"><h2 class="screen-reader-'
            f'text">Post navigation</h2><div class="nav-links">{prev_link}{next_link}</div></nav>\n'
        )
        comments = self._comment_list(rng, blog, post, title, citers)
        head = (
            f'<link rel="canonical" href="{url}" />\n'
            '<meta property="og:type" content="article" />\n'
            f'<meta property="og:title" content="{escape(title)}" />\n'
            f'<meta property="og:url" content="{url}" />\n'
            f'<meta property="article:published_time" content="{date}" />\n'
        )
        return self._chrome(rng, blog, f"{title} &#8211; {escape(name)}", article + comments, head)

    def _comment_list(
        self,
        rng: random.Random,
        blog: int,
        post: int,
        title: str,
        citers: list[tuple[int, int]],
    ) -> str:
        items: list[str] = []
        number = (blog * self.posts + post) * 20
        for _ in range(rng.randint(1, 3)):
            number += 1
            author = rng.choice(NAMES)
            author_html = f"<b class='fn'>{author}</b>"
            if rng.random() < 0.5:
                site = f"http://{author.lower()}{rng.randint(1, 999)}.commenter.example/"
                author_html = (
                    f"<b class='fn'><a href='{site}' rel='external nofollow ugc' class='url'>"
                    f"{author}</a></b>"
                )
            items.append(
                f'<li id="comment-{number}" class="comment even thread-even depth-1">\n'
                f'<article id="div-comment-{number}" class="comment-body">\n'
                f'<footer class="comment-meta"><div class="comment-author vcard">'
                f'<img alt="" src="http://{self.host(blog)}/avatar/{number}.png" class="avatar '
                f'avatar-32 photo" height="32" width="32" />{author_html} <span class="says">'
                f'says:</span></div><div class="comment-metadata"><a href="{self.url(blog, post)}'
                f'#comment-{number}"><time datetime="2024-06-01T10:{number % 60:02d}:00+00:00">'
                f"June 1, 2024 at 10:{number % 60:02d} am</time></a></div></footer>\n"
                f'<div class="comment-content"><p>{_sentence_block(rng, rng.randint(12, 40))}'
                f"</p></div>\n"
                f'<div class="reply"><a rel="nofollow" class="comment-reply-link" href="'
                f'?replytocom={number}#respond" aria-label="Reply to {author}">Reply</a></div>'
                f"</article></li>\n"
            )
        for i, (sb, sp) in enumerate(citers):
            number += 1
            kind = "trackback" if i % 3 == 2 else "pingback"
            label = kind.capitalize()
            source_title = f"{escape(self.title(sb, sp))} | {escape(self.blog_name(sb))}"
            items.append(
                f'<li id="comment-{number}" class="{kind} odd alt thread-odd depth-1">\n'
                f'<div class="comment-body">{label}: <a href="{self.url(sb, sp)}" rel="external '
                f'nofollow ugc" class=\'url\'>{source_title}</a> <span class="edit-link"></span>'
                f"</div></li>\n"
            )
        return (
            f'<div id="comments" class="comments-area">\n<h2 class="comments-title">'
            f"{len(items)} thoughts on &ldquo;{escape(title)}&rdquo;</h2>\n"
            f'<ol class="comment-list">\n{"".join(items)}</ol>\n'
            '<div id="respond" class="comment-respond"><h3 id="reply-title" class="comment-reply-'
            'title">Leave a Reply</h3><form action="/wp-comments-post.php" method="post" id="'
            'commentform" class="comment-form"><p class="comment-form-comment"><label for="'
            'comment">Comment</label><textarea id="comment" name="comment" cols="45" rows="8">'
            '</textarea></p><p class="form-submit"><input name="submit" type="submit" value="'
            f'Post Comment" /><input type="hidden" name="comment_post_ID" value="{post + 1}" />'
            "</p></form></div>\n</div>\n"
        )

    def _chrome(self, rng: random.Random, blog: int, title: str, main: str, head: str) -> str:
        host, name = self.host(blog), self.blog_name(blog)
        recent = "".join(
            f'<li><a href="{self.url(blog, q)}">{escape(self.title(blog, q))}</a></li>'
            for q in range(self.posts - 1, max(-1, self.posts - 6), -1)
        )
        archives = "".join(
            f'<li><a href="http://{host}/{2015 + m // 12}/{m % 12 + 1:02d}/">'
            f"{2015 + m // 12}-{m % 12 + 1:02d}</a></li>"
            for m in range(0, min(self.posts, 12))
        )
        categories = "".join(
            f'<li class="cat-item"><a href="http://{host}/category/{c.lower()}/">{c}</a></li>'
            for c in CATEGORIES
        )
        return (
            '<!DOCTYPE html>\n<html lang="en-US">\n<head>\n<meta charset="UTF-8" />\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1" />\n'
            f"<title>{title}</title>\n{head}"
            f'<meta property="og:site_name" content="{escape(name)}" />\n'
            f'<link rel="pingback" href="http://{host}/xmlrpc.php" />\n'
            f'<link rel="alternate" type="application/rss+xml" title="{escape(name)} &raquo; '
            f'Feed" href="http://{host}/feed/" />\n'
            f'<link rel="alternate" type="application/rss+xml" title="{escape(name)} &raquo; '
            f'Comments Feed" href="http://{host}/comments/feed/" />\n'
            f"<script>\n{WP_EMOJI}\n</script>\n"
            f"<link rel='stylesheet' id='wp-block-library-css' href='http://{host}/wp-includes/"
            "css/dist/block-library/style.min.css?ver=6.4.2' media='all' />\n"
            f"<link rel='stylesheet' id='theme-style-css' href='http://{host}/wp-content/themes/"
            "twentysixteen/style.css?ver=20231107' media='all' />\n"
            '<meta name="generator" content="WordPress 6.4.2" />\n</head>\n'
            '<body class="post-template-default single single-post single-format-standard">\n'
            '<div id="page" class="site"><a class="skip-link screen-reader-text" href="#content">'
            "Skip to content</a>\n"
            '<header id="masthead" class="site-header"><div class="site-branding">'
            f'<p class="site-title"><a href="http://{host}/" rel="home">{escape(name)}</a></p>'
            f'<p class="site-description">{escape(_sentence_block(rng, 6))}</p></div>\n'
            '<nav id="site-navigation" class="main-navigation"><ul id="menu-main" class="menu">'
            f'<li class="menu-item"><a href="http://{host}/">Home</a></li>'
            f'<li class="menu-item"><a href="http://{host}/about/">About</a></li>'
            f'<li class="menu-item"><a href="http://{host}/archives/">Archives</a></li>'
            f'<li class="menu-item"><a href="http://{host}/contact/">Contact</a></li>'
            "</ul></nav></header>\n"
            '<div id="content" class="site-content"><div id="primary" class="content-area">'
            f'<main id="main" class="site-main">\n{main}</main></div>\n'
            '<aside id="secondary" class="sidebar widget-area">\n'
            '<section id="search-2" class="widget widget_search"><form role="search" method="get"'
            f' class="search-form" action="http://{host}/"><input type="search" name="s" />'
            "</form></section>\n"
            '<section id="recent-posts-2" class="widget widget_recent_entries"><h2 class="widget-'
            f'title">Recent Posts</h2><ul>{recent}</ul></section>\n'
            '<section id="archives-2" class="widget widget_archive"><h2 class="widget-title">'
            f"Archives</h2><ul>{archives}</ul></section>\n"
            '<section id="categories-2" class="widget widget_categories"><h2 class="widget-title">'
            f"Categories</h2><ul>{categories}</ul></section>\n"
            '<section id="meta-2" class="widget widget_meta"><h2 class="widget-title">Meta</h2>'
            f'<ul><li><a href="http://{host}/wp-login.php">Log in</a></li>'
            f'<li><a href="http://{host}/feed/">Entries feed</a></li>'
            f'<li><a href="http://{host}/comments/feed/">Comments feed</a></li>'
            '<li><a href="https://wordpress.org/">WordPress.org</a></li></ul></section>\n'
            "</aside></div>\n"
            '<footer id="colophon" class="site-footer"><div class="site-info">'
            f'<a href="http://{host}/">{escape(name)}</a> &middot; <a href="https://wordpress.'
            'org/" class="imprint">Proudly powered by WordPress</a></div></footer>\n'
            "</div>\n</body>\n</html>\n"
        )

    def render_all(self) -> Iterator[tuple[str, str, str]]:
        """Yield ``(host, path, html)`` for every post."""
        citers = self.citers()
        for b in range(self.blogs):
            for p in range(self.posts):
                yield self.host(b), self.path(b, p), self.render_post(b, p, citers.get((b, p), []))


def _sentence_block(rng: random.Random, words: int) -> str:
    chosen = [rng.choice(WORDS) for _ in range(words)]
    out, start = [], 0
    while start < len(chosen):
        length = rng.randint(7, 16)
        out.append(" ".join(chosen[start : start + length]).capitalize() + ".")
        start += length
    return " ".join(out)


# -- the server ------------------------------------------------------------------------
def _response(status: str, content_type: str, body: bytes) -> tuple[bytes, int]:
    head = (
        f"HTTP/1.1 {status}\r\nServer: bench-virtual-web\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nLast-Modified: Mon, 03 Jun 2024 10:00:00 GMT\r\n"
        "Connection: keep-alive\r\n\r\n"
    ).encode("ascii")
    return head + body, len(head)


NOT_FOUND = _response("404 Not Found", "text/html; charset=UTF-8", b"<h1>Not Found</h1>")
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
CONTROL_HOSTS = (b"127.0.0.1", b"localhost")


class _Counters:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.pages = 0
        self.robots = 0
        self.not_found = 0
        self.connections = 0
        # host -> [requests, last start (monotonic), smallest gap between two starts,
        # first start]
        self.hosts: dict[bytes, list[float]] = {}
        self.gaps: list[float] = []  # every gap between two request starts to one host
        self.started = time.monotonic()

    def snapshot(self) -> dict[str, Any]:
        gaps = [h[2] for h in self.hosts.values() if h[0] > 1]
        per_host = [int(h[0]) for h in self.hosts.values()]
        firsts = [h[3] for h in self.hosts.values()]
        spans = sorted(h[1] - h[3] for h in self.hosts.values())
        ordered = sorted(self.gaps)
        return {
            "requests": self.requests,
            "pages": self.pages,
            "robots": self.robots,
            "not_found": self.not_found,
            "connections": self.connections,
            "hosts": len(self.hosts),
            "max_requests_per_host": max(per_host, default=0),
            "min_gap_seconds": min(gaps) if gaps else None,
            "gap_quantiles": _quantiles(ordered),
            # where a politeness-bound run loses time: hosts starting late, hosts whose
            # first-to-last request span exceeds (requests - 1) x delay, or both
            "first_request_seconds": (max(firsts) - min(firsts)) if firsts else None,
            "span_quantiles": _quantiles(spans),
            "seconds": time.monotonic() - self.started,
        }


def _quantiles(ordered: list[float]) -> dict[str, float] | None:
    if not ordered:
        return None

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 4)

    return {"p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "max": round(ordered[-1], 4)}


class _Site:
    def __init__(self, pages: dict[tuple[bytes, bytes], tuple[bytes, int]]) -> None:
        self.pages = pages
        self.counters = _Counters()

    def answer(self, head: bytes) -> tuple[bytes, bool]:
        """The response to one request head, and whether to keep the connection open."""
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3:
            return BAD_REQUEST, False
        method, target, version = parts
        host = b""
        keep = version == b"HTTP/1.1"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"host":
                host = value.strip().lower()
            elif name in (b"connection", b"proxy-connection"):
                token = value.strip().lower()
                keep = token != b"close" and (keep or token == b"keep-alive")
        if target[:7].lower() == b"http://":
            rest = target[7:]
            slash = rest.find(b"/")
            host, target = (rest, b"/") if slash < 0 else (rest[:slash], rest[slash:])
            host = host.lower()
        host = host.rsplit(b":", 1)[0] if b":" in host else host
        path = target.split(b"?", 1)[0].split(b"#", 1)[0]
        c = self.counters
        if host in CONTROL_HOSTS and path.startswith(b"/__bench/"):
            return self._control(path), keep
        c.requests += 1
        now = time.monotonic()
        seen = c.hosts.get(host)
        if seen is None:
            c.hosts[host] = [1, now, float("inf"), now]
        else:
            gap = now - seen[1]
            c.gaps.append(gap)
            seen[0] += 1
            seen[1] = now
            if gap < seen[2]:
                seen[2] = gap
        found = self.pages.get((host, path))
        if found is None:
            c.not_found += 1
            found = NOT_FOUND
        elif path == b"/robots.txt":
            c.robots += 1
        else:
            c.pages += 1
        data, head_len = found
        return (data[:head_len] if method == b"HEAD" else data), keep

    def _control(self, path: bytes) -> bytes:
        if path == b"/__bench/reset":
            self.counters.reset()
        body = json.dumps(self.counters.snapshot()).encode()
        return _response("200 OK", "application/json", body)[0]


class _HttpProtocol(asyncio.Protocol):
    """Keep-alive HTTP/1.1 for GET/HEAD; pipelined requests are answered in order."""

    def __init__(self, site: _Site) -> None:
        self.site = site
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.site.counters.connections += 1

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        transport = self.transport
        assert transport is not None
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head, buffer = buffer[:end], buffer[end + 4 :]
            response, keep = self.site.answer(head)
            transport.write(response)
            if not keep:
                transport.close()
                self.buffer = b""
                return
        if len(buffer) > 65536:  # a head this long is not a crawler's
            transport.write(BAD_REQUEST)
            transport.close()
            buffer = b""
        self.buffer = buffer


def build_pages(web: VirtualWeb) -> tuple[dict[tuple[bytes, bytes], tuple[bytes, int]], int]:
    """Every response of the web, pre-rendered; and the total bytes of the post pages."""
    pages: dict[tuple[bytes, bytes], tuple[bytes, int]] = {}
    html_type = "text/html; charset=UTF-8"
    total = 0
    for host in web.hosts():
        robots = ROBOTS.format(host=host).encode()
        pages[(host.encode(), b"/robots.txt")] = _response("200 OK", "text/plain", robots)
    for host, path, html in web.render_all():
        body = html.encode("utf-8")
        total += len(body)
        pages[(host.encode(), path.encode())] = _response("200 OK", html_type, body)
    return pages, total


def _serve_process(web: VirtualWeb, host: str, port: int, conn: Connection) -> None:
    """Entry point of the server process: build every page, listen, report, serve."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us through the pipe
    started = time.perf_counter()
    pages, total_bytes = build_pages(web)
    build_seconds = time.perf_counter() - started
    site = _Site(pages)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _HttpProtocol(site), host, port, backlog=1024, reuse_address=True
        )
        bound = server.sockets[0].getsockname()[1]
        conn.send(
            {"port": bound, "pages": web.total_pages, "bytes": total_bytes, "build": build_seconds}
        )
        stop = asyncio.Event()

        def on_control() -> None:
            with contextlib.suppress(EOFError, OSError):  # EOF: the parent died, stop too
                conn.recv()
            stop.set()

        loop.add_reader(conn.fileno(), on_control)
        await stop.wait()
        loop.remove_reader(conn.fileno())
        server.close()

    asyncio.run(main())
    c = site.counters
    print(
        f"virtual web: served {c.requests} requests ({c.pages} pages, {c.robots} robots.txt, "
        f"{c.not_found} not found) on {c.connections} connections since the last reset",
        file=sys.stderr,
    )


class VirtualWebServer:
    """The virtual web served from a child process. A context manager; ``.proxy`` is the URL
    to give a crawler as its HTTP proxy."""

    def __init__(self, web: VirtualWeb, host: str = "127.0.0.1", port: int = 0) -> None:
        self.web = web
        self.host = host
        self.port = port
        self.info: dict[str, Any] = {}
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None

    @property
    def proxy(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 600.0) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._process = ctx.Process(
            target=_serve_process,
            args=(self.web, self.host, self.port, child),
            name="virtual-web",
            daemon=True,
        )
        self._process.start()
        child.close()
        self._conn = parent
        if not parent.poll(timeout):
            self.stop()
            raise RuntimeError("the virtual web server did not start in time")
        self.info = parent.recv()
        self.port = self.info["port"]

    def stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send("stop")
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(timeout=5)
            self._process = None

    def _control(self, name: str) -> dict[str, Any]:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://{self.host}:{self.port}/__bench/{name}", timeout=10) as r:
            return json.loads(r.read())

    def stats(self) -> dict[str, Any]:
        return self._control("stats")

    def reset(self) -> dict[str, Any]:
        return self._control("reset")

    def __enter__(self) -> VirtualWebServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# -- a load test of the server alone ---------------------------------------------------
async def _load(proxy_port: int, urls: list[str], connections: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    done = 0

    async def client(offset: int) -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
        i = offset
        while time.monotonic() < deadline:
            url = urls[i % len(urls)]
            i += connections
            host = url.split("/", 3)[2]
            writer.write(f"GET {url} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            await reader.readexactly(length)
            done += 1
        writer.close()

    await asyncio.gather(*(client(i) for i in range(connections)))
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blogs", type=int, default=100)
    parser.add_argument("--posts", type=int, default=50)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seconds", type=float, default=0, help="serve this long (0: ^C)")
    parser.add_argument("--load-test", action="store_true", help="measure requests/s and exit")
    args = parser.parse_args(argv)
    web = VirtualWeb(args.blogs, args.posts)
    port = 0 if args.load_test else args.port
    with VirtualWebServer(web, port=port) as server:
        info = server.info
        print(
            f"virtual web: {web.blogs} blogs x {web.posts} posts = {web.total_pages} pages, "
            f"{info['bytes'] / web.total_pages / 1024:.1f} KB/page, built in "
            f"{info['build']:.1f}s; proxy {server.proxy}; seeds e.g. {web.seeds()[0]}"
        )
        if args.load_test:
            urls = list(web.post_urls())
            for connections in (1, 16, 64):
                started = time.perf_counter()
                done = asyncio.run(_load(server.port, urls, connections, 3.0))
                rate = done / (time.perf_counter() - started)
                print(f"  {connections:>3} connections: {rate:,.0f} requests/s", flush=True)
            return 0
        deadline = time.monotonic() + args.seconds if args.seconds else None
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        print(json.dumps(server.stats()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
