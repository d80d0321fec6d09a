"""The blog web serves four whole blogs, and the discovery plan finds every post of each.

Discovery is driven here by a plain synchronous loop over ``http.client`` (the engine will
drive it through the polite fetcher); what is asserted is what the engine will rely on:
every post listed — the ones nothing links to included — non-posts recorded with reasons,
few requests per blog, and comment feeds that answer 304 until a new pingback arrives.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email.utils import parsedate_to_datetime

import pytest
from blogweb import BLOGGER, BLOGS, FEED_ONLY, WORDPRESS, YOAST, BlogWeb

from crawler.discover import (
    BlogDiscovery,
    Listing,
    ListingKind,
    UrlKind,
    comment_news,
    find_advertised,
    may_have_missed,
    new_posts,
    parse_comment_feed,
    parse_listing,
    robots_sitemaps,
)
from crawler.extract.page import extract
from crawler.records import iso, utcnow


@pytest.fixture(scope="module")
def web() -> Iterator[BlogWeb]:
    with BlogWeb(posts_per_blog=5) as server:
        yield server


def discover(web: BlogWeb, host: str) -> BlogDiscovery:
    home = web.home(host)
    front = web.fetch(home)
    advertised = find_advertised(front.body, home, dict(front.getheaders()))
    robots = web.fetch(home + "robots.txt")
    sitemaps = robots_sitemaps(robots.body.decode(), home) if robots.status == 200 else []
    discovery = BlogDiscovery(home, advertised, sitemaps)
    while (step := discovery.next_step()) is not None:
        answer = web.fetch(step.url)
        if answer.status != 200:
            discovery.record(step, f"http_{answer.status}")
        else:
            discovery.record(
                step, parse_listing(step, answer.body, step.url, dict(answer.getheaders()))
            )
    return discovery


@pytest.mark.parametrize("host", BLOGS)
def test_every_post_of_every_blog_is_discovered(web: BlogWeb, host: str) -> None:
    found = discover(web, host)
    assert sorted(found.posts) == sorted(web.posts(host))
    assert web.orphans(host), "each blog has posts that nothing links to"
    assert set(web.orphans(host)) <= set(found.posts)


@pytest.mark.parametrize(
    ("host", "listing", "requests"),
    [
        (WORDPRESS, ListingKind.REST, 2),  # one REST page, the comment feed
        (YOAST, ListingKind.SITEMAP, 3),  # robots' index, post-sitemap.xml, comment feed
        (
            FEED_ONLY,
            ListingKind.FEED,
            8,
        ),  # 3 sitemap guesses, /feed/ pages 1-3 and the 404, comments
        (BLOGGER, ListingKind.FEED, 3),  # /sitemap.xml guess, one feed page, comment feed
    ],
)
def test_cheapest_listing_is_used_and_requests_are_few(
    web: BlogWeb, host: str, listing: ListingKind, requests: int
) -> None:
    found = discover(web, host)
    assert found.requests == requests, found.found.failures
    kinds = set(found.found.listings)
    assert listing in kinds and ListingKind.COMMENT_FEED in kinds
    assert kinds - {listing, ListingKind.COMMENT_FEED} == set()  # no second kind of listing


def test_wordpress_core_sitemaps_list_posts_and_skip_pages_taxonomies_users() -> None:
    with BlogWeb(posts_per_blog=3) as web:
        home = web.home(WORDPRESS)
        # Without the REST API advertised, the plan falls to robots.txt's wp-sitemap.xml.
        found = BlogDiscovery(home, None, [home + "wp-sitemap.xml"])
        while (step := found.next_step()) is not None:
            answer = web.fetch(step.url)
            found.record(step, parse_listing(step, answer.body, step.url, {}))
    assert sorted(found.posts) == sorted(web.posts(WORDPRESS))
    skipped = {listed.url.rsplit("/", 1)[-1]: listed.kind for listed in found.skipped.values()}
    assert skipped == {
        "wp-sitemap-posts-page-1.xml": UrlKind.PAGE,
        "wp-sitemap-taxonomies-category-1.xml": UrlKind.CATEGORY,
        "wp-sitemap-users-1.xml": UrlKind.AUTHOR,
    }
    assert all(listed.modified for listed in found.posts.values())


def test_rest_listing_pages_by_x_wp_totalpages() -> None:
    with BlogWeb(posts_per_blog=7, rest_page_size=3) as web:
        found = discover(web, WORDPRESS)
        rest = web.requests(WORDPRESS)
        rest_paths = sorted(h.path for h in rest if h.path.startswith("/wp-json/"))
    assert sorted(found.posts) == sorted(web.posts(WORDPRESS))
    assert len(rest_paths) == 3 and sum("&page=" in p for p in rest_paths) == 2


def test_yoast_index_skips_page_and_category_sitemaps(web: BlogWeb) -> None:
    found = discover(web, YOAST)
    names = {u.url.rsplit("/", 1)[-1]: u.kind for u in found.skipped.values()}
    assert names == {"page-sitemap.xml": UrlKind.PAGE, "category-sitemap.xml": UrlKind.CATEGORY}
    asked = {h.path for h in web.requests(YOAST)}
    assert "/page-sitemap.xml" not in asked and "/post-sitemap.xml" in asked


def test_post_pages_extract_as_posts_with_their_pingbacks_and_citations(web: BlogWeb) -> None:
    for host in BLOGS:
        for post in web.blogs[host].posts:
            got = extract(web.fetch(post.url).body.decode(), post.url)
            assert got.is_post, post.url
            pings = {c.source_url for c in got.comments if c.kind == "pingback"}
            assert pings == {p.source for p in post.pings}, post.url
            cited = {link.dst for link in got.links if link.kind == "citation"}
            assert cited == set(post.cites), post.url
        # The orphan cites the oldest post: a pair that only the listings reveal.
        assert web.blogs[host].posts[0].url in web.blogs[host].posts[-1].cites


@pytest.mark.parametrize(
    ("host", "feed"), [(WORDPRESS, "/comments/feed/"), (BLOGGER, "/feeds/comments/default")]
)
def test_comment_feed_answers_304_until_a_new_pingback(host: str, feed: str) -> None:
    with BlogWeb(posts_per_blog=4) as web:
        url = f"http://{host}{feed}"
        first = web.fetch(url)
        etag, modified = first.getheader("ETag"), first.getheader("Last-Modified")
        assert first.status == 200 and etag and modified
        checked = iso(parsedate_to_datetime(modified))
        assert web.fetch(url, {"If-None-Match": etag}).status == 304
        assert web.fetch(url, {"If-Modified-Since": modified}).status == 304

        old_post = web.posts(host)[0]
        source = web.posts(YOAST)[2]
        web.add_pingback(old_post, source, "A new post about it")
        again = web.fetch(url, {"If-None-Match": etag})
        assert again.status == 200 and again.getheader("ETag") != etag
        listing = parse_comment_feed(again.body, url, dict(again.getheaders()))
        assert isinstance(listing, Listing)
        news = comment_news(listing, since=checked)
        assert news.posts == (old_post,)
        assert news.pages[-1] == old_post  # the comment's page first, then the post itself
        assert not may_have_missed(listing, since=checked)
        # The source now cites the target, so the pingback verifies.
        cited = extract(web.fetch(source).body.decode(), source).links
        assert old_post in {link.dst for link in cited}


def test_new_pingback_lands_on_the_last_comment_page() -> None:
    with BlogWeb(posts_per_blog=4, comments_per_page=2) as web:
        post = web.posts(WORDPRESS)[0]
        for n in range(3):
            web.add_pingback(post, f"http://elsewhere.test/{n}/", f"Elsewhere {n}")
        answer = web.fetch(f"http://{WORDPRESS}/comments/feed/")
        listing = parse_comment_feed(
            answer.body,
            answer.getheader("Content-Location") or f"http://{WORDPRESS}/comments/feed/",
            {},
        )
        assert isinstance(listing, Listing)
        news = comment_news(listing, since=None)
        assert news.posts[0] == post
        last_page = news.pages[0]
        assert last_page.endswith("/comment-page-3/")
        sources = {
            c.source_url for c in extract(web.fetch(last_page).body.decode(), last_page).comments
        }
        assert "http://elsewhere.test/2/" in sources


def test_full_comment_feed_signals_items_may_have_been_missed() -> None:
    with BlogWeb(posts_per_blog=4, comment_feed_size=2) as web:
        # Feed times have whole seconds: the last check was a moment before.
        before = iso(utcnow() - timedelta(seconds=2))
        post = web.posts(FEED_ONLY)[1]
        for n in range(3):
            web.add_pingback(post, f"http://elsewhere.test/{n}/")
        answer = web.fetch(f"http://{FEED_ONLY}/comments/feed/")
        listing = parse_comment_feed(answer.body, f"http://{FEED_ONLY}/comments/feed/", {})
        assert isinstance(listing, Listing) and len(listing.items) == 2
        assert may_have_missed(listing, since=before)  # 3 new, 2 shown: the oldest is new too


def test_request_log_counts_per_host_with_server_timestamps(web: BlogWeb) -> None:
    start = web.mark()
    for _ in range(3):
        web.fetch(f"http://{WORDPRESS}/")
    web.fetch(f"http://{BLOGGER}/robots.txt")
    counts = web.counts(since=start)
    assert counts == {WORDPRESS: 3, BLOGGER: 1}
    hits = web.requests(WORDPRESS, since=start)
    assert [h.path for h in hits] == ["/"] * 3
    assert all(start <= a.time <= b.time for a, b in zip(hits, hits[1:], strict=False))


def test_robots_txt_names_the_sitemaps(web: BlogWeb) -> None:
    assert robots_sitemaps(
        web.fetch(f"http://{YOAST}/robots.txt").body.decode(), "http://yoast.test/"
    ) == ["http://yoast.test/sitemap_index.xml"]
    assert web.fetch(f"http://{FEED_ONLY}/sitemap.xml").status == 404
    assert web.fetch(f"http://{FEED_ONLY}/feed/?paged=99").status == 404


def check(web: BlogWeb, steps: list, validators: dict[str, dict[str, str]]) -> dict[str, object]:
    """One nightly check: a conditional GET of each watch step; what answered 200."""
    changed: dict[str, object] = {}
    for step in steps:
        answer = web.fetch(step.url, validators.get(step.url, {}))
        if answer.status == 200:
            headers = dict(answer.getheaders())
            validators[step.url] = _conditional(headers)
            changed[step.url] = parse_listing(step, answer.body, step.url, headers)
        else:
            assert answer.status == 304, (step.url, answer.status)
    return changed


def _conditional(headers: dict[str, str]) -> dict[str, str]:
    sent = {}
    if headers.get("ETag"):
        sent["If-None-Match"] = headers["ETag"]
    if headers.get("Last-Modified"):
        sent["If-Modified-Since"] = headers["Last-Modified"]
    return sent


@pytest.mark.parametrize("host", BLOGS)
def test_nightly_check_costs_two_conditional_requests(host: str) -> None:
    with BlogWeb(posts_per_blog=5) as web:
        found = discover(web, host)
        steps = found.watch_steps()
        assert [s.kind for s in steps] == [ListingKind.COMMENT_FEED, ListingKind.FEED]
        validators: dict[str, dict[str, str]] = {}
        check(web, steps, validators)  # the first check takes the validators

        start = web.mark()
        assert check(web, steps, validators) == {}  # nothing changed: 304s
        assert web.counts(since=start) == {host: 2}

        since = iso(utcnow() - timedelta(seconds=2))
        old_post = web.posts(host)[0]
        web.add_pingback(old_post, web.posts(YOAST)[3], "Citing it")
        new = web.add_post(host)
        changed = check(web, steps, validators)
        comments = changed[steps[0].url]
        assert isinstance(comments, Listing)
        assert comment_news(comments, since).posts == (old_post,)
        posts = changed[steps[1].url]
        assert isinstance(posts, Listing)
        assert new_posts(posts, since) == [new.url]
        assert new.url not in {u for b in web.blogs.values() for u in b.front}


def test_discovered_posts_crawled_as_seeds_give_the_whole_graph(tmp_path) -> None:
    """Today's crawler, seeded with what discovery lists (as the engine will enqueue it at
    depth 0), stores every post, and the graph has the pairs only listings reveal."""
    import sqlite_utils

    from crawler.config import Config
    from crawler.engine import crawl

    with BlogWeb(posts_per_blog=4) as web:
        seeds = sorted(url for host in BLOGS for url in discover(web, host).posts)
        assert seeds == sorted(web.all_posts())
        config = Config().with_overrides(
            crawl={"database": str(tmp_path / "blogs.db"), "seeds": seeds, "max_depth": 0},
            politeness={"delay": 0.0, "per_host": 2},
            http={"proxy": web.proxy_url, "timeout": 10.0, "retries": 0},
            safety={"allow_private": True},
        )
        assert crawl(config).status == "ok"
    db = sqlite_utils.Database(tmp_path / "blogs.db")
    stored = {row["url"] for row in db.query("select url from pages where is_post = 1")}
    assert stored == set(web.all_posts())
    pairs = {frozenset((r["a"], r["b"])) for r in db.query("select a, b from related_posts")}
    for host in BLOGS:
        (orphan,) = web.orphans(host)
        assert frozenset((orphan, web.posts(host)[0])) in pairs, host
