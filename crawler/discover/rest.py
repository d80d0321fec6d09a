"""The WordPress REST API's post listing: 100 posts a request, paged by ``X-WP-TotalPages``.

``/wp-json/wp/v2/posts?per_page=100&_fields=link,modified_gmt`` answers a JSON array of
``{"link": …, "modified_gmt": "2024-03-01T10:00:00"}`` (GMT without a zone). The first
page's ``X-WP-TotalPages`` says how many pages there are; the first page's listing names
pages 2…N in ``follow``, later pages name none (so each page is asked for once). Sites
with plain permalinks advertise ``/?rest_route=/`` as their API root instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from crawler.discover.body import DecodingError, TooLarge, header, read_bounded
from crawler.discover.records import (
    FailReason,
    Failure,
    ListedUrl,
    Listing,
    ListingKind,
    Result,
    Step,
    UrlKind,
)
from crawler.discover.times import w3c_time
from crawler.urls import blog_of, normalize_url

PER_PAGE = 100  # the REST API's maximum
FIELDS = "link,modified_gmt"
MAX_PAGES = 1000  # 100,000 posts: a larger X-WP-TotalPages is a lie or a trap
MAX_JSON_BYTES = 20 * 1024 * 1024
_SAFE = ",/"  # "_fields=link,modified_gmt" and "rest_route=/wp/v2/posts" as WordPress prints them


def posts_url(api_root: str, page: int = 1) -> str:
    """The listing URL for ``page`` under an API root (``…/wp-json/`` or ``…?rest_route=/``)."""
    query = {"per_page": str(PER_PAGE), "_fields": FIELDS}
    if page > 1:
        query["page"] = str(page)
    parts = urlsplit(api_root)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    if "rest_route" in params:
        params["rest_route"] = params["rest_route"].rstrip("/") + "/wp/v2/posts"
        query = {**params, **query}
        return urlunsplit(parts._replace(query=urlencode(query, safe=_SAFE), fragment=""))
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit(parts._replace(path=path + "wp/v2/posts", query=urlencode(query, safe=_SAFE)))


def parse_wp_posts(body: bytes, url: str, headers: Mapping[str, str]) -> Result:
    """One page of the REST post listing as a :class:`Listing` (or a :class:`Failure`)."""
    data = _load_json(body, url)
    if isinstance(data, Failure):
        return data
    if not isinstance(data, list):
        return Failure(url, FailReason.WRONG_SHAPE, f"expected a JSON array, got {_kind(data)}")
    blog = blog_of(url)
    posts: dict[str, ListedUrl] = {}
    skipped: dict[str, ListedUrl] = {}
    dropped = 0
    for item in data:
        listed = _listed(item, url, blog)
        if listed is None:
            dropped += 1
        else:
            (posts if listed.is_post else skipped)[listed.url] = listed
    total = _total_pages(headers)
    notes: tuple[str, ...] = (f"{dropped} entries without a usable link",) if dropped else ()
    if total is not None and total > MAX_PAGES:
        notes += (f"X-WP-TotalPages {total} capped at {MAX_PAGES}",)
    return Listing(
        url,
        ListingKind.REST,
        posts=tuple(posts.values()),
        skipped=tuple(skipped.values()),
        follow=_next_pages(url, total),
        total_pages=total,
        notes=notes,
    )


def _load_json(body: bytes, url: str) -> object:
    try:
        text = read_bounded(body, MAX_JSON_BYTES)
        return json.loads(text.decode("utf-8-sig"))
    except TooLarge as exc:
        return Failure(url, FailReason.TOO_LARGE, str(exc))
    except RecursionError:
        return Failure(url, FailReason.MALFORMED, "JSON nested too deeply")
    except (ValueError, DecodingError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        return Failure(url, FailReason.MALFORMED, f"{type(exc).__name__}: {exc}"[:200])


def _listed(item: object, url: str, blog: str) -> ListedUrl | None:
    if not isinstance(item, dict) or not isinstance(item.get("link"), str):
        return None
    link = normalize_url(item["link"], url)
    if link is None:
        return None
    modified = item.get("modified_gmt")
    when = w3c_time(modified) if isinstance(modified, str) else None
    if blog_of(link) != blog:
        return ListedUrl(link, UrlKind.OTHER, f"not on {blog}", when)
    # The posts endpoint lists posts only: no guessing from the URL's shape.
    return ListedUrl(link, UrlKind.POST, "listed by the REST API's posts endpoint", when)


def _total_pages(headers: Mapping[str, str]) -> int | None:
    value = header(headers, "X-WP-TotalPages")
    if value is None:
        return None
    try:
        total = int(value.strip())
    except ValueError:
        return None
    return total if total >= 0 else None


def _next_pages(url: str, total: int | None) -> tuple[Step, ...]:
    if total is None or _page_of(url) != 1:
        return ()
    last = min(total, MAX_PAGES)
    return tuple(
        Step(_with_page(url, page), ListingKind.REST, f"REST page {page} of {total}")
        for page in range(2, last + 1)
    )


def _page_of(url: str) -> int:
    value = dict(parse_qsl(urlsplit(url).query)).get("page", "1")
    return int(value) if value.isdigit() else 1


def _with_page(url: str, page: int) -> str:
    parts = urlsplit(url)
    params = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "page"]
    params.append(("page", str(page)))
    return urlunsplit(parts._replace(query=urlencode(params, safe=_SAFE)))


def _kind(value: object) -> str:
    return "an object" if isinstance(value, dict) else type(value).__name__
