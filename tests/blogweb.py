"""A virtual web of whole blogs, for discovery and the nightly watch (issue 13).

One :class:`BlogWeb` (a :class:`siteserver.SiteServer`, so every helper and the request
log of ``tests/siteserver.py`` work here too) serves four blogs on virtual hosts, reached
through ``http.proxy = web.proxy_url`` (or fetched directly with ``web.fetch(url)``):

- ``wp.test`` — WordPress with the REST API (``Link: <…/wp-json/>; rel="https://api.w.org/"``
  header and ``<link>``; ``/wp-json/wp/v2/posts`` paged by ``X-WP-TotalPages``), core's
  ``/wp-sitemap.xml`` index and its sub-sitemaps, ``/feed/`` and ``/comments/feed/``;
- ``yoast.test`` — WordPress without REST, with Yoast's ``/sitemap_index.xml`` (named in
  robots.txt) of ``post-sitemap.xml``, ``page-sitemap.xml``, ``category-sitemap.xml``;
- ``feedonly.test`` — feeds only: ``/feed/?paged=N`` (a few posts a page) and
  ``/comments/feed/``; no sitemap, no REST;
- ``blogger.test`` — Blogger: ``/feeds/posts/default?start-index=…&max-results=…`` with
  ``openSearch`` totals, ``/feeds/comments/default`` with ``thr:in-reply-to``, posts at
  ``/YYYY/MM/slug.html`` in Blogger markup (pings shown as backlinks).

Each blog's posts form a chain: post *i* cites post *i − 1*, which shows a pingback from
post *i*; the newest post (:meth:`BlogWeb.orphans`) cites the oldest and nothing links to
it — not the front page, not another post: only the listings name it. The front page
links to the second-newest post. ``wp.test``'s oldest post also has a pingback from a
``yoast.test`` post that cites it.

Comment feeds (both platforms) list the newest :attr:`BlogWeb.comment_feed_size` comments
and pings of the whole blog, answer conditional requests with 304 (ETag and
Last-Modified), and change when :meth:`BlogWeb.add_pingback` adds a ping to a post (dated
now, on the post's last comment page; the source post is added or updated to cite the
target, so the ping verifies).

The request log: :meth:`BlogWeb.requests` (per host, since a :meth:`BlogWeb.mark`) and
:meth:`BlogWeb.counts`, from the server-side log with its timestamps (``Hit.time``).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from urllib.parse import parse_qsl, urlsplit

from siteserver import Fault, Hit, Route, SiteServer

WORDPRESS = "wp.test"
YOAST = "yoast.test"
FEED_ONLY = "feedonly.test"
BLOGGER = "blogger.test"
BLOGS = (WORDPRESS, YOAST, FEED_ONLY, BLOGGER)
_EPOCH = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
_RSS = "application/rss+xml; charset=UTF-8"
_ATOM = "application/atom+xml; charset=UTF-8"
_XML = "application/xml; charset=UTF-8"


@dataclass
class Ping:
    kind: str  # pingback | trackback
    source: str  # URL of the post that links here
    title: str
    date: datetime
    number: int = 0


@dataclass
class Remark:
    author: str
    text: str
    date: datetime
    number: int = 0


@dataclass
class Post:
    host: str
    path: str
    title: str
    date: datetime
    cites: list[str] = field(default_factory=list)  # URLs cited in the entry content
    remarks: list[Remark] = field(default_factory=list)
    pings: list[Ping] = field(default_factory=list)
    number: int = 0  # WordPress post ID / Blogger post id

    @property
    def url(self) -> str:
        return f"http://{self.host}{self.path}"

    @property
    def modified(self) -> datetime:
        return max([self.date, *(p.date for p in self.pings), *(r.date for r in self.remarks)])

    def entries(self) -> list[Remark | Ping]:
        """The comment list in the order shown: oldest first."""
        return sorted([*self.remarks, *self.pings], key=lambda e: e.date)


@dataclass
class Blog:
    host: str
    name: str
    platform: str  # wordpress | blogger
    posts: list[Post] = field(default_factory=list)
    pages: list[str] = field(default_factory=lambda: ["/about/"])
    rest: bool = False
    sitemap: str | None = None  # "core" | "yoast" | None
    feed_page_size: int = 10
    front: list[str] = field(default_factory=list)  # the posts the front page links to


class BlogWeb(SiteServer):
    """The four blogs; see the module docstring."""

    def __init__(
        self,
        posts_per_blog: int = 5,
        address: str = "127.0.0.1",
        rest_page_size: int = 100,
        comments_per_page: int = 50,
        comment_feed_size: int = 10,
    ) -> None:
        super().__init__(address)
        self.rest_page_size = rest_page_size  # the server's cap on per_page (WordPress: 100)
        self.comments_per_page = comments_per_page
        self.comment_feed_size = comment_feed_size
        self._next_number = 1000
        self.blogs = {host: self._make_blog(host, posts_per_blog) for host in BLOGS}
        self._link_chain()

    # -- building --------------------------------------------------------------------------

    def _number(self) -> int:
        self._next_number += 1
        return self._next_number

    def _make_blog(self, host: str, count: int) -> Blog:
        blogger = host == BLOGGER
        blog = Blog(
            host,
            name=host.split(".")[0].title() + " Blog",
            platform="blogger" if blogger else "wordpress",
            rest=host == WORDPRESS,
            sitemap={WORDPRESS: "core", YOAST: "yoast"}.get(host),
            feed_page_size=2 if host == FEED_ONLY else 10,
        )
        if blogger:
            blog.pages = ["/p/about.html"]
        for i in range(count):
            date = _EPOCH + timedelta(days=7 * i, hours=i)
            slug = f"post-{i + 1}"
            path = f"/{date:%Y/%m}/{slug}.html" if blogger else f"/{date:%Y/%m/%d}/{slug}/"
            title = f"{blog.name} post {i + 1}"
            blog.posts.append(Post(host, path, title, date, number=self._number()))
        return blog

    def _link_chain(self) -> None:
        for blog in self.blogs.values():
            posts = blog.posts
            for older, newer in zip(posts, posts[1:-1], strict=False):
                newer.cites.append(older.url)
                self._ping(older, newer.url, newer.title, newer.date + timedelta(hours=2))
            if len(posts) >= 2:
                posts[-1].cites.append(posts[0].url)  # the orphan: cites, is never linked
                blog.front = [posts[-2].url]
            if posts:
                posts[0].remarks.append(
                    Remark("Reader", "A first comment.", posts[0].date + timedelta(hours=1))
                )
                posts[0].remarks[-1].number = self._number()
        wp, yoast = self.blogs[WORDPRESS].posts, self.blogs[YOAST].posts
        if wp and len(yoast) >= 2:
            yoast[1].cites.append(wp[0].url)
            self._ping(wp[0], yoast[1].url, yoast[1].title, yoast[1].date + timedelta(hours=3))

    def _ping(self, post: Post, source: str, title: str, date: datetime) -> Ping:
        ping = Ping("pingback", source, title, date, self._number())
        post.pings.append(ping)
        return ping

    # -- helpers for tests -----------------------------------------------------------------

    def posts(self, host: str) -> list[str]:
        return [p.url for p in self.blogs[host].posts]

    def all_posts(self) -> list[str]:
        return [url for host in BLOGS for url in self.posts(host)]

    def orphans(self, host: str) -> list[str]:
        """Posts of the blog that no page links to (only its listings name them)."""
        posts = [q for b in self.blogs.values() for q in b.posts]
        linked = {c for q in posts for c in q.cites} | {p.source for q in posts for p in q.pings}
        linked |= set(self._front_links(self.blogs[host]))
        return [url for url in self.posts(host) if url not in linked]

    def home(self, host: str) -> str:
        return f"http://{host}/"

    def post(self, url: str) -> Post:
        for blog in self.blogs.values():
            for post in blog.posts:
                if post.url == url:
                    return post
        raise KeyError(url)

    def add_post(self, host: str, cites: list[str] | None = None) -> Post:
        """A new post on blog ``host``, dated now: in its REST listing, sitemaps and feeds,
        linked from nowhere."""
        blog = self.blogs[host]
        with self._lock:
            date = datetime.now(UTC).replace(microsecond=0)
            n = len(blog.posts) + 1
            path = (
                f"/{date:%Y/%m}/post-{n}.html" if host == BLOGGER else f"/{date:%Y/%m/%d}/post-{n}/"
            )
            post = Post(host, path, f"{blog.name} post {n}", date, list(cites or []))
            post.number = self._number()
            blog.posts.append(post)
        return post

    def add_pingback(
        self, target: str, source: str, title: str = "A new post", kind: str = "pingback"
    ) -> Ping:
        """A new ping on post ``target`` from ``source``, dated now; if ``source`` is a post
        of this web it is made to cite ``target`` (so the ping verifies)."""
        post = self.post(target)
        with self._lock:
            ping = Ping(kind, source, title, datetime.now(UTC), self._number())
            post.pings.append(ping)
            try:
                citing = self.post(source)
            except KeyError:
                citing = None
            if citing is not None and target not in citing.cites:
                citing.cites.append(target)
        return ping

    def mark(self) -> float:
        """A server-clock time: ``requests(host, since=web.mark())`` counts what follows."""
        return time.monotonic()

    def requests(self, host: str | None = None, since: float | None = None) -> list[Hit]:
        return [h for h in self.hits(host) if since is None or h.time >= since]

    def counts(self, since: float | None = None) -> dict[str, int]:
        """Requests per host (robots.txt included), since ``since``."""
        return dict(Counter(h.host for h in self.requests(since=since)))

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        """A plain GET through this server as a proxy (for tests of the web itself)."""
        conn = http.client.HTTPConnection(self.address, self.port, timeout=10)
        conn.request("GET", url, headers=headers or {})
        response = conn.getresponse()
        response.body = response.read()  # type: ignore[attr-defined]
        conn.close()
        return response

    # -- serving ---------------------------------------------------------------------------

    def _lookup(self, host: str, path: str) -> tuple[Route | None, Fault | None]:
        route, fault = super()._lookup(host, path)  # pages and faults a test added win
        if route is not None or fault is not None:
            return route, fault
        blog = self.blogs.get(host.rsplit(":", 1)[0])
        if blog is None:
            return None, None
        parts = urlsplit(path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        with self._lock:
            return self._render(blog, parts.path or "/", query), None

    def _render(self, blog: Blog, path: str, query: dict[str, str]) -> Route | None:
        if path == "/robots.txt":
            return _route(self._robots(blog), "text/plain; charset=utf-8")
        if path == "/":
            return self._front(blog)
        for post in blog.posts:
            page = _comment_page(post.path, path, blog.platform)
            if page is not None:
                return self._post_page(blog, post, page)
        if path in blog.pages:
            return _route(_html_page(blog, "About", "<p>About this blog.</p>"))
        if blog.platform == "blogger":
            return self._blogger_route(blog, path, query)
        return self._wordpress_route(blog, path, query)

    def _wordpress_route(self, blog: Blog, path: str, query: dict[str, str]) -> Route | None:
        if path == "/feed/":
            return self._rss_posts(blog, query)
        if path == "/comments/feed/":
            return _validated(_rss_comments(self, blog), _RSS, self._last_comment(blog))
        if blog.rest and path == "/wp-json/wp/v2/posts":
            return self._rest(blog, query)
        if blog.rest and path == "/wp-json/":
            return _route(
                json.dumps({"name": blog.name, "namespaces": ["wp/v2"]}), "application/json"
            )
        if blog.sitemap == "core":
            return _core_sitemaps(blog, path)
        if blog.sitemap == "yoast":
            return _yoast_sitemaps(blog, path)
        return None

    def _blogger_route(self, blog: Blog, path: str, query: dict[str, str]) -> Route | None:
        if path == "/feeds/posts/default":
            return _validated(_atom_posts(blog, query), _ATOM, _newest_post(blog))
        if path == "/feeds/comments/default":
            body = _atom_comments(self, blog)
            return _validated(body, _ATOM, self._last_comment(blog))
        return None

    def _robots(self, blog: Blog) -> str:
        lines = [
            "User-agent: *",
            "Disallow: /wp-admin/" if blog.platform == "wordpress" else "Disallow: /search",
        ]
        if blog.sitemap == "core":
            lines.append(f"\nSitemap: http://{blog.host}/wp-sitemap.xml")
        elif blog.sitemap == "yoast":
            lines.append(f"\nSitemap: http://{blog.host}/sitemap_index.xml")
        return "\n".join(lines) + "\n"

    def _front_links(self, blog: Blog) -> list[str]:
        return blog.front

    def _front(self, blog: Blog) -> Route:
        links = "".join(
            f'<li><a href="{escape(u)}">Recent</a></li>' for u in self._front_links(blog)
        )
        main = f"<h1>{escape(blog.name)}</h1><ul class='recent'>{links}</ul>"
        headers = {}
        if blog.rest:
            headers["Link"] = f'<http://{blog.host}/wp-json/>; rel="https://api.w.org/"'
        return _route(_html_page(blog, blog.name, main), headers=headers)

    def _post_page(self, blog: Blog, post: Post, page: int) -> Route | None:
        pages = self._comment_pages(post)
        if page > len(pages):
            return None
        if blog.platform == "blogger":
            return _route(_blogger_post(blog, post))
        return _route(_wordpress_post(blog, post, pages, page))

    def _comment_pages(self, post: Post) -> list[list[Remark | Ping]]:
        entries = post.entries()
        size = self.comments_per_page
        return [entries[i : i + size] for i in range(0, len(entries), size)] or [[]]

    def comment_link(self, post: Post, entry: Remark | Ping) -> str:
        """Where WordPress's ``comment_link()`` points: the comment's page and anchor."""
        if post.host == BLOGGER:
            return f"{post.url}?showComment={int(entry.date.timestamp() * 1000)}#c{entry.number}"
        pages = self._comment_pages(post)
        page = next(i for i, p in enumerate(pages, 1) if entry in p)
        base = post.url if page == 1 else f"{post.url}comment-page-{page}/"
        return f"{base}#comment-{entry.number}"

    def _last_comment(self, blog: Blog) -> datetime:
        return max((e.date for p in blog.posts for e in p.entries()), default=_EPOCH)

    def _rest(self, blog: Blog, query: dict[str, str]) -> Route:
        per_page = max(1, min(_int(query.get("per_page"), 10), self.rest_page_size))
        page = max(1, _int(query.get("page"), 1))
        posts = sorted(blog.posts, key=lambda p: p.date, reverse=True)
        total_pages = max(1, -(-len(posts) // per_page))
        if page > total_pages:
            body = {"code": "rest_post_invalid_page_number", "data": {"status": 400}}
            return _route(json.dumps(body), "application/json", status=400)
        chunk = posts[(page - 1) * per_page : page * per_page]
        fields = [f for f in query.get("_fields", "").split(",") if f] or [
            "id",
            "link",
            "modified_gmt",
        ]
        items = [_rest_item(p, fields) for p in chunk]
        headers = {"X-WP-Total": str(len(posts)), "X-WP-TotalPages": str(total_pages)}
        return _route(json.dumps(items), "application/json; charset=UTF-8", headers=headers)

    def _rss_posts(self, blog: Blog, query: dict[str, str]) -> Route | None:
        posts = sorted(blog.posts, key=lambda p: p.date, reverse=True)
        page = max(1, _int(query.get("paged"), 1))
        size = blog.feed_page_size
        chunk = posts[(page - 1) * size : page * size]
        if not chunk and page > 1:
            return None  # WordPress: 404 past the last page
        return _validated(_rss_posts_xml(blog, chunk), _RSS, _newest_post(blog))


# -- markup --------------------------------------------------------------------------------


def _route(
    body: str | bytes,
    content_type: str = "text/html; charset=utf-8",
    headers: dict[str, str] | None = None,
    status: int = 200,
) -> Route:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return Route(
        status=status, headers={"Content-Type": content_type, **(headers or {})}, body=data
    )


def _validated(body: str, content_type: str, modified: datetime) -> Route:
    """A feed with validators: the ETag changes with the body, Last-Modified with its news."""
    etag = '"' + hashlib.sha1(body.encode("utf-8")).hexdigest()[:16] + '"'
    headers = {"ETag": etag, "Last-Modified": format_datetime(modified, usegmt=True)}
    return _route(body, content_type, headers)


def _newest_post(blog: Blog) -> datetime:
    return max((p.date for p in blog.posts), default=_EPOCH)


def _int(value: str | None, default: int) -> int:
    return int(value) if value and value.isdigit() else default


def _comment_page(post_path: str, path: str, platform: str) -> int | None:
    if path == post_path:
        return 1
    if platform == "wordpress" and path.startswith(post_path + "comment-page-"):
        number = path[len(post_path) + len("comment-page-") :].rstrip("/")
        return int(number) if number.isdigit() and path.endswith("/") else None
    return None


def _head(blog: Blog) -> str:
    home = f"http://{blog.host}/"
    if blog.platform == "blogger":
        return (
            "<meta content='blogger' name='generator'/>"
            f"<link rel='alternate' type='application/atom+xml' title='{escape(blog.name)} - Atom'"
            f" href='{home}feeds/posts/default'/>"
        )
    head = (
        '<meta name="generator" content="WordPress 6.5.3">'
        f'<link rel="alternate" type="application/rss+xml" title="{escape(blog.name)} &raquo; Feed"'
        f' href="{home}feed/">'
        f'<link rel="alternate" type="application/rss+xml" '
        f'title="{escape(blog.name)} &raquo; Comments Feed" href="{home}comments/feed/">'
        f"<link rel='pingback' href='{home}xmlrpc.php'>"
    )
    if blog.rest:
        head += f'<link rel="https://api.w.org/" href="{home}wp-json/">'
    return head


def _html_page(blog: Blog, title: str, main: str, head: str = "") -> str:
    home = f"http://{blog.host}/"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)} | {escape(blog.name)}</title>"
        f"<meta property='og:site_name' content='{escape(blog.name)}'>{_head(blog)}{head}"
        f"</head><body><header class='site-header'><p class='site-title'>"
        f"<a href='{home}'>{escape(blog.name)}</a></p></header>"
        f"<main id='main' class='site-main'>{main}</main></body></html>"
    )


def _citations(post: Post) -> str:
    return "".join(f'<p>As <a href="{escape(u)}">this post</a> argues.</p>' for u in post.cites)


def _wordpress_post(blog: Blog, post: Post, pages: list[list[Remark | Ping]], page: int) -> str:
    head = (
        f"<link rel='canonical' href='{post.url}'><meta property='og:type' content='article'>"
        f"<meta property='article:published_time' content='{post.date.isoformat()}'>"
    )
    items = "".join(_wp_ping(e) if isinstance(e, Ping) else _wp_comment(e) for e in pages[page - 1])
    nav = _wp_comment_nav(post, len(pages), page)
    comments = (
        f'<div id="comments" class="comments-area"><ol class="comment-list">{items}</ol>{nav}</div>'
        if items
        else ""
    )
    main = (
        f'<article id="post-{post.number}" class="post type-post status-publish hentry">'
        f'<header class="entry-header"><h1 class="entry-title">{escape(post.title)}</h1>'
        f'<time class="entry-date published" datetime="{post.date.isoformat()}">'
        f"{post.date:%Y-%m-%d}</time></header>"
        f'<div class="entry-content"><p>Post body.</p>{_citations(post)}</div></article>{comments}'
    )
    return _html_page(blog, post.title, main, head)


def _wp_comment_nav(post: Post, count: int, page: int) -> str:
    links = []
    if page > 1:
        older = post.url if page == 2 else f"{post.url}comment-page-{page - 1}/"
        links.append(f'<a href="{older}">&laquo; Older Comments</a>')
    if page < count:
        links.append(f'<a href="{post.url}comment-page-{page + 1}/">Newer Comments &raquo;</a>')
    if not links:
        return ""
    inner = "".join(links)
    return f'<nav class="navigation comment-navigation"><div class="nav-links">{inner}</div></nav>'


def _wp_comment(remark: Remark) -> str:
    n = remark.number
    return (
        f'<li class="comment even thread-even depth-1" id="comment-{n}">'
        f'<article id="div-comment-{n}" class="comment-body"><footer class="comment-meta">'
        f'<div class="comment-author vcard"><b class="fn">{escape(remark.author)}</b> '
        f'<span class="says">says:</span></div><div class="comment-metadata">'
        f'<time datetime="{remark.date.isoformat()}">{remark.date:%B %d, %Y}</time></div></footer>'
        f'<div class="comment-content"><p>{escape(remark.text)}</p></div></article></li>'
    )


def _wp_ping(ping: Ping) -> str:
    label = "Pingback" if ping.kind == "pingback" else "Trackback"
    return (
        f'<li class="{ping.kind} even thread-odd depth-1" id="comment-{ping.number}">'
        f'<div class="comment-body">{label}: <a href="{escape(ping.source)}" '
        f"rel='external nofollow ugc' class='url'>{escape(ping.title)}</a></div></li>"
    )


def _blogger_post(blog: Blog, post: Post) -> str:
    remarks = "".join(
        f'<li class="comment" id="c{r.number}"><div class="comment-block">'
        f'<div class="comment-header"><cite class="user">{escape(r.author)}</cite></div>'
        f'<p class="comment-content">{escape(r.text)}</p></div></li>'
        for r in post.remarks
    )
    backlinks = "".join(
        f'<div class="collapsed-backlink backlink-control"><dt class="comment-title">'
        f'<a href="{escape(p.source)}" rel="nofollow">{escape(p.title)}</a></dt>'
        f'<dd class="comment-body collapseable">A post that links here</dd></div>'
        for p in post.pings
    )
    head = f"<link rel='canonical' href='{post.url}'>"
    main = (
        f"<div class='post hentry'><h3 class='post-title entry-title'>{escape(post.title)}</h3>"
        f"<time class='published' datetime='{post.date.isoformat()}'>{post.date:%B %d, %Y}</time>"
        f"<div class='post-body entry-content'><p>Post body.</p>{_citations(post)}</div></div>"
        f"<div class='comments' id='comments'><div class='comments-content'><ol>{remarks}</ol>"
        f"</div></div><div id='Blog1_backlinks-container'><h4>Links to this post:</h4>"
        f"<dl class='comment-block' id='comments-block'>{backlinks}</dl></div>"
    )
    return _html_page(blog, post.title, main, head)


def _rest_item(post: Post, fields: list[str]) -> dict[str, object]:
    full = {
        "id": post.number,
        "link": post.url,
        "modified_gmt": post.modified.strftime("%Y-%m-%dT%H:%M:%S"),
        "date_gmt": post.date.strftime("%Y-%m-%dT%H:%M:%S"),
        "title": {"rendered": post.title},
    }
    return {name: full[name] for name in fields if name in full}


def _rfc822(moment: datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S +0000")


def _rss_posts_xml(blog: Blog, posts: list[Post]) -> str:
    items = "".join(
        f"<item><title>{escape(p.title)}</title><link>{p.url}</link>"
        f"<comments>{p.url}#comments</comments><dc:creator><![CDATA[Editor]]></dc:creator>"
        f"<pubDate>{_rfc822(p.date)}</pubDate><category><![CDATA[Essays]]></category>"
        f'<guid isPermaLink="false">http://{blog.host}/?p={p.number}</guid>'
        f"<description><![CDATA[Post body.]]></description>"
        f"<wfw:commentRss>{p.url}feed/</wfw:commentRss><slash:comments>{len(p.entries())}"
        f"</slash:comments></item>"
        for p in posts
    )
    newest = max((p.date for p in blog.posts), default=_EPOCH)
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:wfw="http://wellformedweb.org/CommentAPI/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom" '
        'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/" '
        'xmlns:slash="http://purl.org/rss/1.0/modules/slash/"><channel>'
        f"<title>{escape(blog.name)}</title>"
        f'<atom:link href="http://{blog.host}/feed/" rel="self" type="application/rss+xml" />'
        f"<link>http://{blog.host}/</link><description>A test blog</description>"
        f"<lastBuildDate>{_rfc822(newest)}</lastBuildDate><language>en-US</language>"
        "<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>1</sy:updateFrequency>"
        f"<generator>https://wordpress.org/?v=6.5.3</generator>{items}</channel></rss>"
    )


def _newest_entries(web: BlogWeb, blog: Blog) -> list[tuple[Post, Remark | Ping]]:
    entries = [(p, e) for p in blog.posts for e in p.entries()]
    entries.sort(key=lambda pe: pe[1].date, reverse=True)
    return entries[: web.comment_feed_size]


def _author(entry: Remark | Ping) -> str:
    return entry.author if isinstance(entry, Remark) else entry.title


def _rss_comments(web: BlogWeb, blog: Blog) -> str:
    items = "".join(
        f"<item><title>Comment on {escape(post.title)} by {escape(_author(e))}</title>"
        f"<link>{escape(web.comment_link(post, e))}</link>"
        f"<dc:creator><![CDATA[{_author(e)}]]></dc:creator><pubDate>{_rfc822(e.date)}</pubDate>"
        f'<guid isPermaLink="false">http://{blog.host}/?p={post.number}#comment-{e.number}</guid>'
        f"<description><![CDATA[{escape(e.text if isinstance(e, Remark) else '[…]')}]]>"
        "</description></item>"
        for post, e in _newest_entries(web, blog)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom" '
        'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"><channel>'
        f"<title>Comments for {escape(blog.name)}</title>"
        f'<atom:link href="http://{blog.host}/comments/feed/" rel="self" '
        'type="application/rss+xml" />'
        f"<link>http://{blog.host}/</link><description>A test blog</description>"
        f"<lastBuildDate>{_rfc822(web._last_comment(blog))}</lastBuildDate>"
        f"<generator>https://wordpress.org/?v=6.5.3</generator>{items}</channel></rss>"
    )


def _sitemap_xml(root: str, entries: list[tuple[str, datetime | None]], stylesheet: str) -> str:
    child = "sitemap" if root == "sitemapindex" else "url"
    body = "".join(
        f"<{child}><loc>{escape(loc)}</loc>"
        + (f"<lastmod>{mod.isoformat()}</lastmod>" if mod else "")
        + f"</{child}>"
        for loc, mod in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<?xml-stylesheet type="text/xsl" href="{stylesheet}" ?>'
        f'<{root} xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</{root}>'
    )


def _core_sitemaps(blog: Blog, path: str) -> Route | None:
    """WordPress core (5.5+): an index of posts, pages, taxonomies and users sitemaps."""
    home = f"http://{blog.host}/"
    xsl = f"{home}wp-sitemap-index.xsl"
    names = {
        "/wp-sitemap-posts-post-1.xml": [(p.url, p.modified) for p in blog.posts],
        "/wp-sitemap-posts-page-1.xml": [(home, None)]
        + [(home + p.strip("/") + "/", None) for p in blog.pages],
        "/wp-sitemap-taxonomies-category-1.xml": [(f"{home}category/essays/", None)],
        "/wp-sitemap-users-1.xml": [(f"{home}author/editor/", None)],
    }
    if path == "/wp-sitemap.xml":
        index = [(home + name.lstrip("/"), None) for name in names]
        return _route(_sitemap_xml("sitemapindex", index, xsl), _XML)
    if path in names:
        return _route(_sitemap_xml("urlset", names[path], f"{home}wp-sitemap.xsl"), _XML)
    return None


def _yoast_sitemaps(blog: Blog, path: str) -> Route | None:
    """Yoast SEO: ``sitemap_index.xml`` of ``post-sitemap.xml`` (with images) and others."""
    home = f"http://{blog.host}/"
    xsl = f"//{blog.host}/main-sitemap.xsl"
    newest = max((p.modified for p in blog.posts), default=_EPOCH)
    if path == "/sitemap_index.xml":
        index = [
            (f"{home}post-sitemap.xml", newest),
            (f"{home}page-sitemap.xml", _EPOCH),
            (f"{home}category-sitemap.xml", newest),
        ]
        return _route(_sitemap_xml("sitemapindex", index, xsl), _XML)
    if path == "/post-sitemap.xml":
        urls = "".join(
            f"<url><loc>{p.url}</loc><lastmod>{p.modified.isoformat()}</lastmod>"
            f"<image:image><image:loc>{home}wp-content/uploads/{i}.jpg</image:loc></image:image>"
            "</url>"
            for i, p in enumerate(blog.posts)
        )
        return _route(
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<?xml-stylesheet type="text/xsl" href="{xsl}"?>'
            '<urlset xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1" '
            'xsi:schemaLocation="http://www.sitemaps.org/schemas/sitemap/0.9 '
            'http://www.sitemaps.org/schemas/sitemap/0.9/sitemap.xsd" '
            f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>',
            _XML,
        )
    if path == "/page-sitemap.xml":
        pages = [(home, _EPOCH)] + [(home + p.strip("/") + "/", _EPOCH) for p in blog.pages]
        return _route(_sitemap_xml("urlset", pages, xsl), _XML)
    if path == "/category-sitemap.xml":
        return _route(_sitemap_xml("urlset", [(f"{home}category/essays/", newest)], xsl), _XML)
    return None


def _atom_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000+00:00")


_ATOM_HEAD = (
    "<?xml version='1.0' encoding='UTF-8'?>"
    '<?xml-stylesheet href="http://www.blogger.com/styles/atom.css" type="text/css"?>'
    "<feed xmlns='http://www.w3.org/2005/Atom' "
    "xmlns:openSearch='http://a9.com/-/spec/opensearchrss/1.0/' "
    "xmlns:blogger='http://schemas.google.com/blogger/2008' "
    "xmlns:georss='http://www.georss.org/georss' xmlns:gd=\"http://schemas.google.com/g/2005\" "
    "xmlns:thr='http://purl.org/syndication/thread/1.0'>"
)
_BLOG_ID = "7000000000000000001"


def _atom_posts(blog: Blog, query: dict[str, str]) -> str:
    """Blogger's posts feed: newest first, ``start-index`` (1-based) and ``max-results``."""
    posts = sorted(blog.posts, key=lambda p: p.date, reverse=True)
    start = max(1, _int(query.get("start-index"), 1))
    size = max(1, min(_int(query.get("max-results"), 25), 150))
    chunk = posts[start - 1 : start - 1 + size]
    feed_url = f"https://www.blogger.com/feeds/{_BLOG_ID}/posts/default"
    self_href = f"{feed_url}?start-index={start}&amp;max-results={size}"
    nav = f"<link rel='self' type='application/atom+xml' href='{self_href}'/>"
    if start - 1 + size < len(posts):
        nav += (
            f"<link rel='next' type='application/atom+xml' "
            f"href='{feed_url}?start-index={start + size}&amp;max-results={size}'/>"
        )
    entries = "".join(
        f"<entry><id>tag:blogger.com,1999:blog-{_BLOG_ID}.post-{p.number}</id>"
        f"<published>{_atom_time(p.date)}</published><updated>{_atom_time(p.modified)}</updated>"
        f"<title type='text'>{escape(p.title)}</title><content type='html'>Post body.</content>"
        f"<link rel='replies' type='application/atom+xml' "
        f"href='http://{blog.host}/feeds/{p.number}/comments/default' title='Post Comments'/>"
        f"<link rel='replies' type='text/html' href='{p.url}#comment-form' "
        f"title='{len(p.entries())} Comments'/>"
        f"<link rel='alternate' type='text/html' href='{p.url}' title='{escape(p.title)}'/>"
        f"<author><name>Editor</name></author><thr:total>{len(p.entries())}</thr:total></entry>"
        for p in chunk
    )
    return (
        f"{_ATOM_HEAD}<id>tag:blogger.com,1999:blog-{_BLOG_ID}</id>"
        f"<updated>{_atom_time(max(p.modified for p in posts))}</updated>"
        f"<title type='text'>{escape(blog.name)}</title>"
        f"<link rel='http://schemas.google.com/g/2005#feed' type='application/atom+xml' "
        f"href='http://{blog.host}/feeds/posts/default'/>{nav}"
        f"<link rel='alternate' type='text/html' href='http://{blog.host}/'/>"
        "<generator version='7.00' uri='http://www.blogger.com'>Blogger</generator>"
        f"<openSearch:totalResults>{len(posts)}</openSearch:totalResults>"
        f"<openSearch:startIndex>{start}</openSearch:startIndex>"
        f"<openSearch:itemsPerPage>{size}</openSearch:itemsPerPage>{entries}</feed>"
    )


def _atom_comments(web: BlogWeb, blog: Blog) -> str:
    newest = _newest_entries(web, blog)
    entries = "".join(
        f"<entry><id>tag:blogger.com,1999:blog-{_BLOG_ID}.post-{e.number}</id>"
        f"<published>{_atom_time(e.date)}</published><updated>{_atom_time(e.date)}</updated>"
        f"<title type='text'>{escape(_author(e))}</title>"
        f"<link rel='alternate' type='text/html' href='{escape(web.comment_link(post, e))}'/>"
        f"<author><name>{escape(_author(e))}</name></author>"
        f"<thr:in-reply-to href='{post.url}' ref='tag:blogger.com,1999:blog-{_BLOG_ID}.post-"
        f"{post.number}' source='http://www.blogger.com/feeds/{_BLOG_ID}/posts/default/"
        f"{post.number}' type='text/html'/></entry>"
        for post, e in newest
    )
    return (
        f"{_ATOM_HEAD}<id>tag:blogger.com,1999:blog-{_BLOG_ID}.comments</id>"
        f"<updated>{_atom_time(web._last_comment(blog))}</updated>"
        f"<title type='text'>{escape(blog.name)}</title>"
        f"<link rel='alternate' type='text/html' href='http://{blog.host}/'/>"
        "<generator version='7.00' uri='http://www.blogger.com'>Blogger</generator>"
        f"<openSearch:totalResults>{len(newest)}</openSearch:totalResults>"
        f"<openSearch:startIndex>1</openSearch:startIndex>"
        f"<openSearch:itemsPerPage>{web.comment_feed_size}</openSearch:itemsPerPage>"
        f"{entries}</feed>"
    )
