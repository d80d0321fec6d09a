"""Discovery of a blog's posts from its listings (issue 13): the parsers the engine calls.

Pure and typed: no HTTP here (the engine fetches every listing URL through the polite
fetcher). Each parser takes ``(body: bytes, url: str, headers: Mapping[str, str])`` and
returns a :class:`Listing` or a typed :class:`Failure`, never raising on hostile input:

- :func:`parse_wp_posts` — WordPress REST ``/wp-json/wp/v2/posts`` (:mod:`.rest`)
- :func:`parse_sitemap` — ``urlset`` / ``sitemapindex``, gzipped or not (:mod:`.sitemap`)
- :func:`parse_feed`, :func:`parse_comment_feed` — RSS/Atom via feedparser (:mod:`.feed`)
- :func:`find_advertised`, :func:`robots_sitemaps` — what a blog names (:mod:`.advertise`)
- :class:`BlogDiscovery`, :func:`listing_plan`, :func:`parse_listing` — cheapest first
  (:mod:`.plan`); :func:`comment_news`, :func:`new_posts`, :func:`may_have_missed` — the
  nightly check (:mod:`.watch`); :func:`classify_url` — post or not, with a reason.
"""

from crawler.discover.advertise import Advertised, find_advertised, robots_sitemaps
from crawler.discover.classify import classify_url, sitemap_kind
from crawler.discover.feed import parse_comment_feed, parse_feed
from crawler.discover.plan import BlogDiscovery, listing_plan, parse_listing
from crawler.discover.records import (
    FailReason,
    Failure,
    FeedItem,
    ListedUrl,
    Listing,
    ListingKind,
    Result,
    Step,
    UrlKind,
)
from crawler.discover.rest import parse_wp_posts, posts_url
from crawler.discover.sitemap import parse_sitemap
from crawler.discover.watch import News, comment_news, may_have_missed, new_posts

__all__ = [
    "Advertised",
    "BlogDiscovery",
    "Failure",
    "FailReason",
    "FeedItem",
    "ListedUrl",
    "Listing",
    "ListingKind",
    "News",
    "Result",
    "Step",
    "UrlKind",
    "classify_url",
    "comment_news",
    "find_advertised",
    "listing_plan",
    "may_have_missed",
    "new_posts",
    "parse_comment_feed",
    "parse_feed",
    "parse_listing",
    "parse_sitemap",
    "parse_wp_posts",
    "posts_url",
    "robots_sitemaps",
    "sitemap_kind",
]
