"""``pingcrawl datasette-metadata``: a Datasette metadata file for a crawl database.

Titles and a description of every table, view and column; the README's example queries
as canned queries; ``title`` as the label column of ``pages``, so the post of a comment
shows as a page title (a link's ends did too until schema version 10
made ``links`` a view, which Datasette cannot follow: ``link_edges`` shows its URL ids as
URLs); full-text search on pages and comments.
Open it with ``datasette pingcrawl.db -m metadata.json``.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "pages": (
        "Every fetched URL with what was extracted from it. Posts have is_post = 1.",
        {
            "url": "The URL as requested (normalised).",
            "final_url": "Where redirects ended.",
            "host": "Host name of the URL.",
            "blog": "The blog: host without www.",
            "status": "HTTP status of the last fetch.",
            "content_type": "Content-Type of the answer.",
            "fetched_at": "When it was last fetched (ISO 8601 UTC).",
            "etag": "ETag of the answer, for conditional re-visits.",
            "last_modified": "Last-Modified of the answer, for conditional re-visits.",
            "sha256": "SHA-256 of the decoded body; the HTML is in bodies.",
            "title": "Page title (the post title for a post).",
            "is_post": "1 for a blog post, 0 for any other page.",
            "published": "Publication time of the post (ISO 8601).",
            "author": "Author of the post.",
            "depth": "Hops from a seed.",
            "error": "Why the fetch failed (timeout, private, robots, …), if it did.",
            "text": "The post's text without markup (searchable).",
            "next_fetch_at": "When the post is due for a re-visit.",
            "canonical": "The page's rel=canonical URL.",
            "post_url": "For a comment page (…/comment-page-2/): the post it belongs to.",
            "size": "Body size in bytes (decoded).",
            "pingback_endpoint": "The page's X-Pingback / rel=pingback endpoint.",
            "webmention_endpoint": "The page's Webmention endpoint.",
            "feeds": "Feeds the page announces (JSON list).",
            "recrawl_interval": "Seconds until the next visit, adapted to how often it changes.",
            "comments_hash": "Fingerprint of the comment list, to notice new comments.",
        },
    ),
    "bodies": (
        "The decoded HTML of fetched pages, one row per distinct body, zstd-compressed "
        "(pingcrawl show URL --html prints one).",
        {
            "sha256": "SHA-256 of the body (pages.sha256).",
            "html": "The decoded HTML of a body stored before compression (else empty).",
            "zstd": "The decoded HTML as UTF-8, compressed with zstd.",
        },
    ),
    "comments": (
        "Comments, pingbacks and trackbacks shown on posts (searchable).",
        {
            "id": "Post URL plus the comment's id.",
            "post_url": "The post the comment is on.",
            "comment_id": "The comment's id in the page.",
            "kind": "comment, pingback or trackback.",
            "author": "Author name as shown.",
            "author_url": "Author's link (for a pingback: the pinging page).",
            "published": "When it was posted, if the page says.",
            "text": "The comment's text.",
            "source_url": "Pingback/trackback: the page that links here.",
            "source_title": "Pingback/trackback: the title it gave.",
            "verified": "Pingback/trackback: 1 the source links back, 0 spam, empty unknown.",
            "found_on": "The comment page (…/comment-page-2/) it was found on; empty: the post.",
            "first_seen": "When pingcrawl first saw it.",
        },
    ),
    "links": (
        "The link graph: src links to dst, and how we know (kind). A view over link_edges "
        "and urls (write it with plain INSERT/UPDATE/DELETE: its triggers do the rest).",
        {
            "src": "The linking page (a pingback's source).",
            "dst": "The linked page (a pingback's post).",
            "kind": "citation, pingback, trackback, comment or nav.",
            "found_on": "The page the link was found on.",
            "anchor": "The link's text.",
            "rel": "The link's rel attribute (nofollow, ugc, …).",
            "same_blog": "1 when both ends are on the same blog.",
            "first_seen": "When pingcrawl first saw the link.",
        },
    ),
    "urls": (
        "Every URL the link graph names, once: link_edges refers to them by id.",
        {"id": "The URL's number.", "url": "The URL (normalised)."},
    ),
    "link_texts": (
        "Every anchor text and rel value of the link graph, once (link_edges refers to them).",
        {"id": "The text's number.", "text": "The text."},
    ),
    "link_edges": (
        "The stored rows of links, by URL id (read links instead: it shows the URLs).",
        {
            "src_id": "The linking page (urls.id).",
            "dst_id": "The linked page (urls.id).",
            "kind": "0 nav, 1 citation, 2 pingback, 3 trackback, 4 comment, 5 webmention.",
            "found_on_id": "The page it was found on (urls.id); empty: src, 0: unknown.",
            "anchor_id": "The link's text (link_texts.id).",
            "rel_id": "The link's rel attribute (link_texts.id).",
            "same_blog": "1 when both ends are on the same blog.",
            "first_seen": "When pingcrawl first saw it (microseconds since 1970, UTC).",
        },
    ),
    "zstd_dicts": (
        "The zstd dictionaries bodies are compressed with (by the id in each frame).",
        {
            "dict_id": "The dictionary's id, as zstd frames name it.",
            "data": "The dictionary.",
            "trained_at": "When it was trained (ISO 8601 UTC).",
        },
    ),
    "frontier": (
        "Every URL pingcrawl knows of: queued, done, failed or skipped, and why.",
        {
            "url": "The URL.",
            "depth": "Hops from a seed.",
            "found_on": "Where it was found.",
            "kind": "The kind of link it was found through.",
            "state": "queued, claimed (in flight), done, failed or skipped.",
            "reason": "Why it failed or was skipped (robots, private, depth, trap, …).",
            "attempts": "Fetch attempts so far.",
            "next_attempt_at": "Not before this time (after a pause or Retry-After).",
            "host": "Host of the URL.",
            "post_url": "For a comment page: its post.",
            "added_at": "When it was queued first.",
            "claimed_by": "The run (or worker) that holds the URL's claim while in flight.",
        },
    ),
    "runs": (
        "One row per crawl run with its outcome and counts.",
        {
            "id": "Run number.",
            "started_at": "Start time.",
            "finished_at": "End time.",
            "status": "running, ok, interrupted or crashed.",
            "pid": "Process id of the run.",
            "lease_until": "The run is alive until this time unless it renews its lease.",
            "fetched": "Pages fetched.",
            "failed": "Fetches that failed.",
            "skipped": "URLs skipped (robots, scope, traps …).",
            "new_pages": "Pages seen for the first time.",
            "new_links": "Links seen for the first time.",
            "new_comments": "Comments seen for the first time.",
            "not_modified": "Re-visits answered 304 Not Modified.",
        },
    ),
    "blogs": (
        "Whole blogs (crawl.blogs, --blog): how their posts are listed and the nightly watch.",
        {
            "blog": "The blog, as pages.blog names it (its host).",
            "home": "Its front page.",
            "api": "The WordPress REST listing URL that answered, if any.",
            "sitemaps": "The sitemap URLs that answered (a JSON list).",
            "feed": "The post feed that answered, if any.",
            "comment_feed": "The comment feed (new comments, pingbacks, trackbacks).",
            "comment_feed_etag": "The comment feed's ETag at the last check.",
            "comment_feed_last_modified": "The comment feed's Last-Modified at the last check.",
            "watch_listing": "The listing of new posts asked for at each check.",
            "watch_listing_kind": "What it is: rest, sitemap or feed.",
            "watch_listing_etag": "Its ETag at the last check.",
            "watch_listing_last_modified": "Its Last-Modified at the last check.",
            "comments_watermark": "The newest comment time the comment feed showed.",
            "posts_listed": "Posts its listings name.",
            "not_posts": "Listed URLs that are not posts (recorded as skipped, not fetched).",
            "failures": "Listing URLs that gave nothing usable, with the reason (a JSON list).",
            "discovered_at": "When its listings were read in full.",
            "last_checked": "When the watch last checked it.",
            "last_check": "What that check found (unchanged, new comments, sweep …).",
            "last_swept": "When all its posts were last queued again.",
        },
    ),
    "hosts": (
        "Per host: robots.txt, Crawl-delay, errors and pauses.",
        {
            "host": "Host name.",
            "robots_status": "HTTP status of robots.txt (0: unreachable).",
            "robots_txt": "The robots.txt text.",
            "robots_fetched_at": "When robots.txt was read.",
            "sitemaps": "The Sitemap: URLs its robots.txt lists (a JSON list).",
            "crawl_delay": "Crawl-delay in seconds, if any.",
            "last_request_at": "Start of the last request.",
            "errors": "Consecutive errors.",
            "paused_until": "The host is left alone until then (429/503 storms, failures).",
            "pause_seconds": "Length of the current pause (doubles each time).",
        },
    ),
    "fetches": (
        "The fetch log: one row per request that reached a server (robots.txt, redirect "
        "hops and retries included), with where its WARC record is when the run archived.",
        {
            "id": "Order of the requests.",
            "run_id": "The run that sent it (runs.id).",
            "url": "The URL requested.",
            "host": "Its host.",
            "page_url": "The frontier URL whose fetch sent it.",
            "purpose": "page, or robots for a robots.txt request.",
            "method": "HTTP method.",
            "fetched_at": "When the request went out (ISO 8601 UTC).",
            "status": "HTTP status (304: the page was unchanged); empty when none came.",
            "error": "What went wrong (timeout, connection_reset, too_large, ...).",
            "bytes": "Body bytes as received (before content decoding).",
            "elapsed": "Seconds from sending to the end of reading.",
            "payload_digest": "SHA-1 of the body in base 32 (as WARC-Payload-Digest).",
            "warc_file": "WARC file holding its answer record (when archived).",
            "warc_offset": "Offset of that record's gzip member in the file.",
            "warc_length": "Compressed length of that record.",
            "warc_type": "response, revisit or metadata (no answer).",
            "warc_record_id": "Its WARC-Record-ID.",
            "warc_date": "Its WARC-Date.",
        },
    ),
    "related_posts": (
        "Pairs of posts on one blog joined by a pingback, trackback or citation (view).",
        {
            "blog": "The blog.",
            "a": "One post (the smaller URL).",
            "b": "The other post.",
            "kinds": "How they are joined.",
        },
    ),
    "pingbacks": (
        "Pingbacks and trackbacks with their verification (view).",
        {
            "id": "The comment's id.",
            "target": "The post pinged.",
            "source": "The page that pinged it.",
            "kind": "pingback or trackback.",
            "source_title": "Title given by the pingback.",
            "author": "Author as shown.",
            "published": "When it was posted.",
            "verified": "1 the source links back, 0 spam, empty unknown.",
            "blog": "The pinged post's blog.",
            "target_title": "Title of the pinged post.",
        },
    ),
}

LABEL_COLUMNS = {
    "pages": "title",
    "comments": "author",
    "hosts": "host",
    "bodies": "sha256",
    "urls": "url",
    "link_texts": "text",
}
SEARCHABLE = {"pages": "pages_fts", "comments": "comments_fts"}

# The README's example queries, word for word (tests/test_datasette.py checks both ways).
CANNED_QUERIES: dict[str, tuple[str, str]] = {
    "top_cited_domains": (
        "Top cited domains (other blogs and sources, not a blog citing itself)",
        "select substr(dst, instr(dst, '://') + 3, instr(substr(dst, instr(dst, '://') + 3)"
        " || '/', '/') - 1) as host, count(*) as citations, count(distinct src) as"
        " citing_pages from links where kind = 'citation' and same_blog = 0 group by host"
        " order by citations desc limit 10",
    ),
    "most_pinged_posts": (
        "Posts with the most pingbacks, and how many of them are verified or spam",
        "select target, target_title, count(*) as pingbacks, sum(verified = 1) as verified,"
        " sum(verified = 0) as spam from pingbacks group by target order by pingbacks desc"
        " limit 10",
    ),
    "spam_pingbacks": (
        "Unverified pingbacks: the source page does not link back (classic pingback spam)",
        "select target, source, source_title, published from pingbacks where verified = 0"
        " order by published desc",
    ),
    "what_a_post_cites": (
        "What one post cites",
        "select dst as cited, anchor from links where src = :post and kind = 'citation'"
        " order by dst",
    ),
    "who_cites_a_post": (
        "Who cites one post",
        "select l.src as citing, p.title, l.kind from links l left join pages p on"
        " p.url = l.src where l.dst = :post and l.kind in ('citation', 'pingback',"
        " 'trackback') order by l.src",
    ),
    "orphan_posts": (
        "Orphan posts: nothing but menus links to them",
        "select p.url, p.title from pages p where p.is_post = 1 and not exists (select 1"
        " from links l where l.dst = p.url and l.src != p.url and l.kind in ('citation',"
        " 'pingback', 'trackback')) order by p.url",
    ),
    "why_not_crawled": (
        "Why was a URL not crawled?",
        "select url, state, reason from frontier where state != 'done' order by reason",
    ),
    "last_runs": (
        "The last runs",
        "select id, started_at, finished_at, status, fetched, failed, not_modified,"
        " new_pages, new_comments from runs order by id desc limit 5",
    ),
}


def metadata(db: sqlite_utils.Database, name: str) -> dict[str, Any]:
    """Datasette metadata for the database ``name`` (its file name without ``.db``)."""
    tables: dict[str, Any] = {}
    for table in [*db.table_names(), *db.view_names()]:
        tables[table] = _table(db, table)
    queries = {key: {"title": title, "sql": sql} for key, (title, sql) in CANNED_QUERIES.items()}
    return {
        "title": f"pingcrawl: {name}",
        "description": (
            "Blog posts, their comments, pingbacks and trackbacks, and the links between "
            "them, as crawled by pingcrawl. Start with related_posts and pingbacks."
        ),
        "databases": {
            name: {
                "description": "A pingcrawl crawl (SPEC section 5).",
                "tables": tables,
                "queries": queries,
            }
        },
    }


def _table(db: sqlite_utils.Database, table: str) -> dict[str, Any]:
    base = _fts_base(table)
    if base is not None:  # FTS index and its shadow tables: plumbing, hidden
        return {"description": f"Full-text index of {base}.", "hidden": True}
    description, columns = TABLES.get(table, ("", {}))
    names = [c.name for c in db[table].columns]
    entry: dict[str, Any] = {
        "description": description or f"{table} (no description yet).",
        "columns": {c: columns.get(c, "(no description yet)") for c in names},
    }
    if table in LABEL_COLUMNS:
        entry["label_column"] = LABEL_COLUMNS[table]
    if table in SEARCHABLE and SEARCHABLE[table] in db.table_names():
        entry["fts_table"] = SEARCHABLE[table]
    return entry


def _fts_base(table: str) -> str | None:
    for base, fts in SEARCHABLE.items():
        if table == fts or table.startswith(f"{fts}_"):
            return base
    return None
