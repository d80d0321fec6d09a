"""Discovery of a blog's posts, cheapest first, as a plan the engine walks step by step.

The order (issue 13): the WordPress REST API when advertised (100 posts a request);
sitemaps — every ``Sitemap:`` line of robots.txt, then ``<link rel="sitemap">``, then the
well-known ``/wp-sitemap.xml`` (WordPress core), ``/sitemap_index.xml`` (Yoast-style
plugins), ``/sitemap.xml``; feeds — advertised, then ``/feed/`` (WordPress, paged by
``?paged=N``) and ``/feeds/posts/default`` (Blogger, paged by ``start-index``); and last
the blog's comment feed, read once so that its validators (ETag, Last-Modified) are on
record for the nightly check. The first kind of listing that yields posts ends the
search for listings (its own next pages are still followed); a guess that fails (404, an
HTML page at ``/sitemap.xml``, a hostile body) moves on to the next candidate.

:class:`BlogDiscovery` holds no I/O: the engine asks :meth:`~BlogDiscovery.next_step`,
fetches the step's URL through the polite fetcher, and hands the answer back with
:meth:`~BlogDiscovery.record` (a parsed :func:`parse_listing` result, or the failure
reason of the fetch). Every URL is asked once; nesting and the number of requests are
bounded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from crawler.discover.advertise import Advertised
from crawler.discover.feed import BLOGGER_PAGE_SIZE, parse_comment_feed, parse_feed
from crawler.discover.records import Failure, ListedUrl, Listing, ListingKind, Result, Step
from crawler.discover.rest import parse_wp_posts, posts_url
from crawler.discover.sitemap import parse_sitemap
from crawler.urls import blog_of, normalize_url

Parser = Callable[[bytes, str, Mapping[str, str]], Result]
PARSERS: dict[ListingKind, Parser] = {
    ListingKind.REST: parse_wp_posts,
    ListingKind.SITEMAP: parse_sitemap,
    ListingKind.FEED: parse_feed,
    ListingKind.COMMENT_FEED: parse_comment_feed,
}
LISTING_KINDS = (ListingKind.REST, ListingKind.SITEMAP, ListingKind.FEED)
WORDPRESS_SITEMAPS = ("wp-sitemap.xml", "sitemap_index.xml")
WORDPRESS_FEEDS = ("feed/",)
WORDPRESS_COMMENT_FEEDS = ("comments/feed/",)
BLOGGER_FEEDS = (f"feeds/posts/default?max-results={BLOGGER_PAGE_SIZE}",)
BLOGGER_COMMENT_FEEDS = ("feeds/comments/default",)
MAX_REQUESTS = 500  # listing requests for one blog: 50,000 posts via the REST API
MAX_SITEMAP_NESTING = 2  # index → sitemap is the protocol; one more level is leniency


def parse_listing(step: Step, body: bytes, url: str, headers: Mapping[str, str]) -> Result:
    """Parse a listing answer with the parser its step asked for (``url`` = final URL)."""
    return PARSERS[step.kind](body, url, headers)


@dataclass(frozen=True)
class _Candidate:
    step: Step
    always: bool = False  # robots.txt's sitemaps: each is a declared part, all are read


def listing_plan(
    home: str, advertised: Advertised | None = None, robots_sitemaps: Sequence[str] = ()
) -> list[Step]:
    """The root listing URLs to try for a blog, cheapest first (see the module docstring)."""
    return [c.step for c in _candidates(home, advertised or Advertised(), robots_sitemaps)]


def _candidates(
    home: str, advertised: Advertised, robots_sitemaps: Sequence[str]
) -> list[_Candidate]:
    root = home if home.endswith("/") else home + "/"
    platform = advertised.platform
    found: list[_Candidate] = []
    if advertised.api_root:
        found.append(_Candidate(Step(posts_url(advertised.api_root), ListingKind.REST, "API")))
    for url in robots_sitemaps:
        found.append(_Candidate(Step(url, ListingKind.SITEMAP, "robots.txt"), always=True))
    found += _steps(advertised.sitemaps, ListingKind.SITEMAP, "link rel=sitemap")
    wp, blogger = platform != "blogger", platform != "wordpress"
    well_known_sitemaps = (*(WORDPRESS_SITEMAPS if wp else ()), "sitemap.xml")
    found += _steps(_under(root, well_known_sitemaps), ListingKind.SITEMAP, "well-known")
    found += _steps(map(_blogger_sized, advertised.feeds), ListingKind.FEED, "link rel=alternate")
    feeds = (*(WORDPRESS_FEEDS if wp else ()), *(BLOGGER_FEEDS if blogger else ()))
    found += _steps(_under(root, feeds), ListingKind.FEED, "well-known")
    comment_feeds = (
        *(WORDPRESS_COMMENT_FEEDS if wp else ()),
        *(BLOGGER_COMMENT_FEEDS if blogger else ()),
    )
    found += _steps(advertised.comment_feeds, ListingKind.COMMENT_FEED, "link rel=alternate")
    found += _steps(_under(root, comment_feeds), ListingKind.COMMENT_FEED, "well-known")
    return _unique(found)


def _steps(urls: Iterable[str], kind: ListingKind, why: str) -> list[_Candidate]:
    return [_Candidate(Step(url, kind, why)) for url in urls]


def _under(root: str, paths: Iterable[str]) -> list[str]:
    return [u for u in (normalize_url(path, root) for path in paths) if u is not None]


def _blogger_sized(url: str) -> str:
    """Blogger's advertised feed gives 25 entries a page; ask for its maximum instead."""
    if "/feeds/posts/default" in url and "max-results=" not in url:
        return url + ("&" if "?" in url else "?") + f"max-results={BLOGGER_PAGE_SIZE}"
    return url


def _unique(candidates: list[_Candidate]) -> list[_Candidate]:
    seen: set[str] = set()
    kept = []
    for candidate in candidates:
        if candidate.step.url not in seen:
            seen.add(candidate.step.url)
            kept.append(candidate)
    return kept


@dataclass
class Found:
    """What answered, for the ``blogs`` table: listing URLs that parsed, by kind."""

    listings: dict[ListingKind, list[str]] = field(default_factory=dict)
    failures: list[tuple[Step, str]] = field(default_factory=list)  # (step, reason)

    def first(self, kind: ListingKind) -> str | None:
        urls = self.listings.get(kind)
        return urls[0] if urls else None


class BlogDiscovery:
    """Walks one blog's listing plan; collects its posts and its non-posts with reasons."""

    def __init__(
        self,
        home: str,
        advertised: Advertised | None = None,
        robots_sitemaps: Sequence[str] = (),
        *,
        max_requests: int = MAX_REQUESTS,
    ) -> None:
        self.home = home
        self.blog = blog_of(home)
        self.posts: dict[str, ListedUrl] = {}
        self.skipped: dict[str, ListedUrl] = {}
        self.found = Found()
        self.comment_feed: Listing | None = None
        self.requests = 0
        self.max_requests = max_requests
        self.advertised = advertised or Advertised()
        self._roots = deque(_candidates(home, self.advertised, robots_sitemaps))
        self._follow: deque[Step] = deque()
        self._asked: set[str] = set()
        self._nesting: dict[str, int] = {}
        self._done: set[ListingKind] = set()  # kinds that have answered with what we need

    @property
    def budget_exhausted(self) -> bool:
        return self.requests >= self.max_requests

    def next_step(self) -> Step | None:
        """The next listing URL to fetch, or None when discovery is over."""
        while not self.budget_exhausted:
            step = self._pop()
            if step is None:
                return None
            if step.url not in self._asked:
                self._asked.add(step.url)
                self.requests += 1
                return step
        return None

    def record(self, step: Step, result: Result | str) -> None:
        """The answer to ``step``: a parsed result, or the reason the fetch failed
        (``"http_404"``, ``"robots"``, ``"timeout"`` …)."""
        if isinstance(result, str):
            self.found.failures.append((step, result))
        elif isinstance(result, Failure):
            self.found.failures.append((step, str(result.reason)))
        else:
            self._take(step, result)

    def watch_steps(self) -> list[Step]:
        """What a nightly check of this blog asks for, each a conditional GET: the comment
        feed that answered, then the cheapest listing of new posts — the advertised post
        feed (newest first; not requested during discovery when another listing was
        enough), else the first page of the listing that answered."""
        steps: list[Step] = []
        comment_feed = self.found.first(ListingKind.COMMENT_FEED)
        if comment_feed is not None:
            steps.append(Step(comment_feed, ListingKind.COMMENT_FEED, "watch: new comments"))
        for kind, urls in self._new_post_listings():
            if urls:
                steps.append(Step(urls[0], kind, "watch: new posts"))
                break
        return steps

    def _new_post_listings(self) -> Iterator[tuple[ListingKind, list[str]]]:
        # A feed answers conditional GETs (WordPress and Blogger send validators) and
        # lists the newest posts first; the REST API does neither; a sitemap is two hops.
        advertised = [_blogger_sized(url) for url in self.advertised.feeds]
        yield ListingKind.FEED, self.found.listings.get(ListingKind.FEED) or advertised
        for kind in (ListingKind.REST, ListingKind.SITEMAP):
            yield kind, self.found.listings.get(kind, [])

    def _take(self, step: Step, listing: Listing) -> None:
        self.found.listings.setdefault(step.kind, []).append(step.url)
        if step.kind is ListingKind.COMMENT_FEED:
            # Kept for the watch (its newest item is the first watermark), not merged:
            # its times are comment times, not the posts' own.
            self.comment_feed = listing
            self._done.add(step.kind)
            return
        for listed in listing.posts:
            if listed.url not in self.posts:
                self.posts[listed.url] = listed
                self.skipped.pop(listed.url, None)
        for listed in listing.skipped:
            if listed.url not in self.posts:
                self.skipped.setdefault(listed.url, listed)
        level = self._nesting.get(step.url, 0) + 1
        for follow in listing.follow:
            self._queue_follow(follow, level)
        if listing.posts:
            self._done.add(step.kind)

    def _queue_follow(self, step: Step, level: int) -> None:
        if step.kind is ListingKind.SITEMAP and level > MAX_SITEMAP_NESTING:
            self.found.failures.append((step, "sitemap_nesting"))
            return
        if blog_of(step.url) != self.blog:
            self.found.failures.append((step, "scope"))
            return
        self._nesting.setdefault(step.url, level)
        self._follow.append(step)

    def _pop(self) -> Step | None:
        if self._follow:
            return self._follow.popleft()
        listed = any(kind in self._done for kind in LISTING_KINDS)
        while self._roots:
            candidate = self._roots.popleft()
            kind = candidate.step.kind
            if kind in LISTING_KINDS and listed and not (candidate.always and kind in self._done):
                continue  # posts are listed already; robots.txt's other sitemaps still count
            if kind is ListingKind.COMMENT_FEED and kind in self._done:
                continue
            return candidate.step
        return None
