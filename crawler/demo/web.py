"""The bundled sample web for ``pingcrawl demo``: three small WordPress-like blogs that
cite each other, comment lists mixing comments, spam and pingbacks/trackbacks (one of
them from a spam page that does not link back), a second comment page, and the
external sources the posts cite. Served by :mod:`crawler.demo.run` on 127.0.0.1.

Pages are built from plain data here rather than shipped as files, so the links
between them stay consistent by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

ROBOTS = "User-agent: *\nDisallow: /wp-admin/\n"


@dataclass
class Ping:
    kind: str  # pingback | trackback
    source: str
    title: str


@dataclass
class Remark:
    author: str
    text: str
    author_url: str = ""


@dataclass
class Post:
    blog: str
    path: str
    title: str
    date: str
    paragraphs: list[str]  # may contain <a href> citations
    comments: list[Remark] = field(default_factory=list)
    pings: list[Ping] = field(default_factory=list)
    second_page_pings: list[Ping] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.blog}{self.path}"


BLOG_NAMES = {
    "northwind.example": "Northwind Notes",
    "harborlight.example": "Harbor Light",
    "www.tidewater.example": "Tidewater Review",
}

A1 = "http://northwind.example/2024/03/alliance-politics/"
A2 = "http://northwind.example/2024/04/sanctions-revisited/"
A3 = "http://northwind.example/2024/05/year-in-review/"
B1 = "http://harborlight.example/posts/reading-the-alliance-debate/"
B2 = "http://harborlight.example/posts/notes-on-deterrence/"
C1 = "http://www.tidewater.example/2024/06/10/what-the-blogs-said/"
THINKTANK = "http://thinktank.example/essays/deterrence-in-asia"
NEWS = "http://news.example/analysis/2024/alliance-under-strain"
NGO = "http://ngo.example/countries/north-korea"
SPAM = "http://cheap-pills.example/buy-now/"

SEEDS = [A1, B2]


def _a(href: str, text: str) -> str:
    return f'<a href="{escape(href)}">{escape(text)}</a>'


POSTS = [
    Post(
        "northwind.example",
        "/2024/03/alliance-politics/",
        "Alliance politics after the summit",
        "2024-03-12T09:00:00+00:00",
        [
            f"The summit left more questions than answers. {_a(THINKTANK, 'A long essay')} "
            "argues that deterrence rests on credibility, not on hardware.",
            f"{_a(NEWS, 'The news analysis')} reads the communique the other way; "
            f"I wrote about the money side in {_a(A2, 'Sanctions revisited')}.",
        ],
        comments=[
            Remark("Mina", "Good summary, though I think the essay overstates it."),
            Remark(
                "Best Pills Online",
                f"Great post!!! {_a(SPAM, 'cheap pills')}",
                author_url=SPAM,
            ),
            Remark("Robert", "The second paragraph is the key point.", "http://robert.example/"),
        ],
        pings=[
            Ping("pingback", B1, "Reading the alliance debate | Harbor Light"),
            Ping("trackback", C1, "What the blogs said | Tidewater Review"),
            Ping("pingback", SPAM, "Buy now | Cheap Pills"),
        ],
        second_page_pings=[Ping("pingback", A3, "The year in review | Northwind Notes")],
    ),
    Post(
        "northwind.example",
        "/2024/04/sanctions-revisited/",
        "Sanctions revisited",
        "2024-04-02T10:30:00+00:00",
        [
            f"Country pages such as {_a(NGO, 'the NGO profile')} show how little has changed.",
        ],
        comments=[Remark("Jae", "Thanks for the sources.")],
    ),
    Post(
        "northwind.example",
        "/2024/05/year-in-review/",
        "The year in review",
        "2024-05-30T18:00:00+00:00",
        [
            f"Two posts did most of the work this year: {_a(A1, 'alliance politics')} and "
            f"{_a(A2, 'sanctions')}.",
        ],
    ),
    Post(
        "harborlight.example",
        "/posts/reading-the-alliance-debate/",
        "Reading the alliance debate",
        "2024-03-15T08:00:00+00:00",
        [
            f"Northwind's {_a(A1, 'post on alliance politics')} is worth reading next to "
            f"{_a(THINKTANK, 'the essay it cites')}.",
        ],
    ),
    Post(
        "harborlight.example",
        "/posts/notes-on-deterrence/",
        "Notes on deterrence",
        "2024-04-20T08:00:00+00:00",
        [f"Following up on {_a(B1, 'my reading of the debate')}."],
        pings=[Ping("pingback", C1, "What the blogs said | Tidewater Review")],
    ),
    Post(
        "www.tidewater.example",
        "/2024/06/10/what-the-blogs-said/",
        "What the blogs said",
        "2024-06-10T12:00:00+00:00",
        [
            f"A round-up: {_a(A1, 'Northwind on alliance politics')} and "
            f"{_a(B2, 'Harbor Light on deterrence')}.",
        ],
    ),
]

EXTERNAL_PAGES = {
    THINKTANK: ("Deterrence in Asia", "An essay on credibility and deterrence."),
    NEWS: ("An alliance under strain", "Analysis of the summit communique."),
    NGO: ("North Korea country page", "Humanitarian situation and sources."),
    SPAM: ("Buy now", "Cheap pills, no prescription. Nothing about alliances here."),
}


def _comment_item(number: int, remark: Remark) -> str:
    author = escape(remark.author)
    if remark.author_url:
        href = escape(remark.author_url)
        author = f"<a href='{href}' rel='external nofollow ugc' class='url'>{author}</a>"
    return (
        f'<li class="comment even thread-even depth-1" id="comment-{number}">'
        f'<article id="div-comment-{number}" class="comment-body">'
        f'<footer class="comment-meta"><div class="comment-author vcard">'
        f'<b class="fn">{author}</b> <span class="says">says:</span></div>'
        f'<div class="comment-metadata"><time datetime="2024-06-01T10:00:00+00:00">'
        f"June 1, 2024</time></div></footer>"
        f'<div class="comment-content"><p>{remark.text}</p></div>'
        f'<div class="reply"><a rel="nofollow" class="comment-reply-link" '
        f'href="?replytocom={number}#respond">Reply</a></div></article></li>'
    )


def _ping_item(number: int, ping: Ping) -> str:
    label = "Pingback" if ping.kind == "pingback" else "Trackback"
    return (
        f'<li class="{ping.kind} even thread-odd depth-1" id="comment-{number}">'
        f'<div class="comment-body">{label}: <a href="{escape(ping.source)}" '
        f"rel='external nofollow ugc' class='url'>{escape(ping.title)}</a></div></li>"
    )


def _comment_list(post: Post, page: int) -> str:
    base = 100 * (POSTS.index(post) + 1)
    if page == 2:
        items = [_ping_item(base + 50 + i, p) for i, p in enumerate(post.second_page_pings)]
    else:
        items = [_comment_item(base + i, c) for i, c in enumerate(post.comments)]
        items += [_ping_item(base + 20 + i, p) for i, p in enumerate(post.pings)]
    if not items:
        return ""
    nav = ""
    if post.second_page_pings:
        other = f"{post.url}comment-page-2/" if page == 1 else post.url
        label = "Newer Comments &raquo;" if page == 1 else "&laquo; Older Comments"
        nav = (
            '<nav class="navigation comment-navigation"><div class="nav-links">'
            f'<a href="{other}">{label}</a></div></nav>'
        )
    return (
        f'<div id="comments" class="comments-area"><h2 class="comments-title">'
        f"Responses to &ldquo;{escape(post.title)}&rdquo;</h2>"
        f'<ol class="comment-list">{"".join(items)}</ol>{nav}</div>'
    )


def _chrome(blog: str, title: str, main: str, head: str = "") -> str:
    name = BLOG_NAMES[blog]
    recent = "".join(
        f'<li><a href="{p.url}">{escape(p.title)}</a></li>' for p in POSTS if p.blog == blog
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)} | {escape(name)}</title>"
        f"<meta property='og:site_name' content='{escape(name)}'>{head}"
        f"<link rel='pingback' href='http://{blog}/xmlrpc.php'>"
        f"<link rel='alternate' type='application/rss+xml' href='http://{blog}/feed/'>"
        "</head><body class='wordpress'>"
        f"<header id='masthead' class='site-header'><p class='site-title'>"
        f"<a href='http://{blog}/'>{escape(name)}</a></p>"
        f"<nav class='main-navigation'><ul class='menu'><li><a href='http://{blog}/'>Home</a>"
        f"</li><li><a href='http://{blog}/about/'>About</a></li></ul></nav></header>"
        f"<div id='content' class='site-content'><main id='main' class='site-main'>{main}</main>"
        f"<aside id='secondary' class='widget-area'><section class='widget widget_recent_entries'>"
        f"<h2 class='widget-title'>Recent posts</h2><ul>{recent}</ul></section></aside></div>"
        "<footer class='site-footer'><a href='https://wordpress.org/'>Proudly powered by "
        "WordPress</a></footer></body></html>"
    )


def render_post(post: Post, page: int = 1) -> str:
    body = "".join(f"<p>{p}</p>" for p in post.paragraphs)
    head = (
        f"<link rel='canonical' href='{post.url}'>"
        "<meta property='og:type' content='article'>"
        f"<meta property='article:published_time' content='{post.date}'>"
    )
    main = (
        f'<article id="post-{POSTS.index(post) + 1}" class="post type-post status-publish hentry">'
        f'<header class="entry-header"><h1 class="entry-title">{escape(post.title)}</h1>'
        f'<div class="entry-meta"><time class="entry-date published" datetime="{post.date}">'
        f"{post.date[:10]}</time> by <span class='author vcard'>Editor</span></div></header>"
        f'<div class="entry-content">{body}</div>'
        f'<footer class="entry-footer"><span class="cat-links"><a href="http://{post.blog}'
        f'/category/essays/" rel="category tag">Essays</a></span></footer></article>'
        f"{_comment_list(post, page)}"
    )
    return _chrome(post.blog, post.title, main, head)


def render_home(blog: str) -> str:
    items = "".join(
        f'<article class="post"><h2 class="entry-title"><a href="{p.url}">'
        f"{escape(p.title)}</a></h2></article>"
        for p in POSTS
        if p.blog == blog
    )
    return _chrome(blog, "Home", items)


def render_external(title: str, text: str) -> str:
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"</head><body><h1>{escape(title)}</h1><p>{escape(text)}</p></body></html>"
    )


def build_site() -> dict[tuple[str, str], tuple[int, str, str]]:
    """Map ``(host, path)`` to ``(status, content_type, body)`` for the whole sample web."""
    html = "text/html; charset=utf-8"
    site: dict[tuple[str, str], tuple[int, str, str]] = {}
    hosts = set(BLOG_NAMES) | {u.split("/")[2] for u in EXTERNAL_PAGES}
    for host in hosts:
        site[(host, "/robots.txt")] = (200, "text/plain", ROBOTS)
    for blog in BLOG_NAMES:
        site[(blog, "/")] = (200, html, render_home(blog))
    for post in POSTS:
        site[(post.blog, post.path)] = (200, html, render_post(post))
        if post.second_page_pings:
            site[(post.blog, post.path + "comment-page-2/")] = (200, html, render_post(post, 2))
    for url, (title, text) in EXTERNAL_PAGES.items():
        host, path = url.split("/", 3)[2], "/" + url.split("/", 3)[3]
        site[(host, path)] = (200, html, render_external(title, text))
    return site
