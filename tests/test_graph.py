"""db.graph: related posts, pingback verification, stats — on a hand-built blog database.

The fixture (:func:`build_blog_db`) is shaped like a crawl of a WordPress blog: posts that
cite each other and outside sources, pingbacks from posts that really link back, one from
a spam page that does not, one from a page never fetched and one whose fetch failed, and
template chrome (menus, sidebars, prev/next) that must never relate posts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlite_utils

from db.graph import NotFound, related_posts, related_to, stats, verify_pingbacks
from db.links import add_links
from db.schema import open_database

BLOG = "https://www.blog.example"
P1 = f"{BLOG}/2014/01/top-5-list/"  # receives the pingbacks
P2 = f"{BLOG}/2014/02/follow-up/"  # cites P1 and pings it
P3 = f"{BLOG}/?p=3"  # redirected to its pretty URL
P3_FINAL = f"{BLOG}/2014/03/third/"
P4 = f"{BLOG}/2014/04/lonely/"  # only menus and sidebars link to it: an orphan
P5 = f"{BLOG}/2014/05/same-sources/"  # shares a source with P2, a citer with P1
ABOUT = f"{BLOG}/about/"
E1 = "https://other.example/post-a/"  # another blog: cites P1 and P5, pings P1
E2 = "https://other.example/post-b/"  # cites E1
E3 = "https://third.example/on-the-third/"  # trackback to P3, links to P3's final URL
R_ASKED = "http://redirect.example/r"  # pingback source fetched through a redirect
R_FINAL = "https://redirect.example/r/"
SPAM = "https://spam.example/cheap-pills/"  # pings P1 and P5, links to neither
UNFETCHED = "https://unfetched.example/post/"
FAILED = "https://failed.example/post/"
ESSAY = "https://think.example/essay"
NEWS = "https://news.example/analysis?id=7"
WIKI = "https://en.wikipedia.example/wiki/Korea"


def _page(url: str, title: str | None, *, is_post: int = 1, **extra) -> dict:
    host = url.split("/")[2]
    row = {
        "url": url,
        "final_url": url,
        "host": host,
        "blog": host.removeprefix("www."),
        "status": 200,
        "content_type": "text/html",
        "fetched_at": "2024-05-01T10:00:00Z",
        "title": title,
        "is_post": is_post,
        "depth": 1,
        "text": f"{title} body text",
    }
    row.update(extra)
    return row


def _link(src: str, dst: str, kind: str, found_on: str | None = None, anchor: str = "") -> dict:
    same = src.split("/")[2].removeprefix("www.") == dst.split("/")[2].removeprefix("www.")
    return {
        "src": src,
        "dst": dst,
        "kind": kind,
        "found_on": found_on or src,
        "anchor": anchor,
        "rel": "nofollow" if kind == "comment" else None,
        "same_blog": int(same),
        "first_seen": "2024-05-01T10:00:00Z",
    }


def _pingback(post: str, source: str, n: int, title: str, kind: str = "pingback") -> dict:
    return {
        "id": f"{post}#comment-{n}",
        "post_url": post,
        "comment_id": f"comment-{n}",
        "kind": kind,
        "author": title.split(" | ")[-1],
        "published": f"2024-04-{n:02d}T08:00:00Z",
        "text": f"[…] {title} […]",
        "source_url": source,
        "source_title": title,
        "found_on": post,
    }


def _pingback_link(source: str, post: str, kind: str = "pingback") -> dict:
    # How the store records a pingback entry on post T naming source S: S -> T, found on T.
    return _link(source, post, kind, found_on=post, anchor="Pingback")


def pages_rows() -> list[dict]:
    return [
        _page(P1, "My Top 5 List for 2014 | Robert Kelly"),
        _page(P2, "A follow-up on the list"),
        _page(P3, "Third post", final_url=P3_FINAL, canonical=P3_FINAL),
        _page(P4, "A lonely post"),
        _page(P5, "Same sources, different take"),
        _page(ABOUT, "About", is_post=0),
        _page(E1, "Other blog post A"),
        _page(E2, "Other blog post B"),
        _page(E3, "On the third"),
        _page(R_ASKED, "Redirected source", final_url=R_FINAL),
        _page(SPAM, "Cheap pills", is_post=0),
        _page(FAILED, None, status=404, error="http_404", is_post=0),
    ]


def links_rows() -> list[dict]:
    nav = [  # menus, sidebars, prev/next: never relate posts
        _link(src, dst, "nav", anchor="Recent posts")
        for src in (P1, P2, P3, P4, P5)
        for dst in (P1, P2, P3, P4, P5, ABOUT)
        if src != dst
    ]
    return [
        *nav,
        _link(P1, ABOUT, "citation", anchor="about me"),
        _link(P1, NEWS, "citation", anchor="analysis"),
        _link(P1, WIKI, "citation", anchor="Korea"),
        _link(P2, P1, "citation", anchor="my top 5 list"),
        _link(P2, ESSAY, "citation", anchor="essay"),
        _link(P2, WIKI, "citation", anchor="Korea"),
        _link(P3, P2, "citation", anchor="follow-up"),
        _link(P5, ESSAY, "citation", anchor="the essay"),
        _link(P5, WIKI, "citation", anchor="Korea"),
        _link(
            P1, P4, "comment", found_on=P1, anchor="commenter site"
        ),  # a comment, not a post link
        _link(E1, P1, "citation", anchor="Kelly's list"),
        _link(E1, P5, "citation", anchor="Kelly again"),
        _link(E2, E1, "citation", anchor="post A"),
        _link(E3, P3_FINAL, "citation", anchor="third"),
        _link(R_ASKED, P1, "citation", found_on=R_ASKED, anchor="list"),
        _link(SPAM, "https://pills.example/buy", "citation", anchor="buy"),
        _link(SPAM, "https://spam.example/", "nav", anchor="home"),
        _pingback_link(P2, P1),
        _pingback_link(E1, P1),
        _pingback_link(R_FINAL, P1),
        _pingback_link(SPAM, P1),
        _pingback_link(SPAM, P5),
        _pingback_link(UNFETCHED, P1),
        _pingback_link(FAILED, P1),
        _pingback_link(E3, P3, "trackback"),
    ]


def comments_rows() -> list[dict]:
    return [
        _pingback(P1, P2, 1, "A follow-up on the list | Robert Kelly"),
        _pingback(P1, E1, 2, "Other blog post A | Other"),
        _pingback(P1, R_FINAL, 3, "Redirected source | Someone"),
        _pingback(P1, SPAM, 4, "Cheap pills | Spammer"),
        _pingback(P5, SPAM, 5, "Cheap pills | Spammer"),
        _pingback(P1, UNFETCHED, 6, "Never fetched | Nobody"),
        _pingback(P1, FAILED, 7, "Gone | Nobody"),
        _pingback(P3, E3, 8, "On the third | Third", kind="trackback"),
        {
            "id": f"{P1}#comment-9",
            "post_url": P1,
            "comment_id": "comment-9",
            "kind": "comment",
            "author": "Reader",
            "author_url": P4,
            "text": "Nice list",
            "found_on": P1,
        },
    ]


def build_blog_db(path: Path) -> sqlite_utils.Database:
    """The fixture database described in the module docstring (unverified pingbacks)."""
    db = open_database(path)
    db["pages"].insert_all(pages_rows())
    add_links(db, links_rows())
    db["comments"].insert_all(comments_rows())
    db["frontier"].insert_all(
        [
            {"url": UNFETCHED, "depth": 2, "kind": "pingback", "state": "queued"},
            {"url": "https://unfetched.example/two/", "depth": 2, "state": "queued"},
            {"url": "https://slow.example/x", "depth": 2, "state": "queued"},
            {"url": FAILED, "depth": 2, "state": "failed", "reason": "http_404"},
            {
                "url": "https://private.example/",
                "depth": 2,
                "state": "skipped",
                "reason": "private",
            },
            {"url": "https://deep.example/", "depth": 3, "state": "skipped", "reason": "depth"},
            {"url": "https://deep.example/2", "depth": 3, "state": "skipped", "reason": "depth"},
        ]
    )
    db["hosts"].insert_all(
        [
            {"host": "slow.example", "paused_until": "2999-01-01T00:00:00Z"},
            {"host": "calm.example", "paused_until": "2000-01-01T00:00:00Z"},
            {"host": "angry.example", "paused_until": "2999-01-01T00:00:00Z"},
        ]
    )
    db["runs"].insert_all(
        [
            {"id": i, "started_at": f"2024-05-0{i}T02:00:00Z", "status": "ok", "fetched": 10 * i}
            for i in range(1, 8)
        ]
    )
    return db


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    return build_blog_db(tmp_path / "blog.db")


def _verdicts(db: sqlite_utils.Database) -> dict[str, int | None]:
    return {
        row["source_url"]: row["verified"]
        for row in db["comments"].rows_where("kind != 'comment'")
        if row["post_url"] == P1 or row["source_url"] == E3
    }


# --------------------------------------------------------------------------- verification


def test_pingbacks_that_link_back_are_verified_and_spam_is_not(db):
    assert verify_pingbacks(db) == 6  # every pingback whose source was fetched successfully
    assert _verdicts(db) == {
        P2: 1,  # cites P1 in its content
        E1: 1,  # another blog, cites P1
        R_FINAL: 1,  # fetched through a redirect; links found on the requested URL
        E3: 1,  # trackback; links to P3's final URL, not the ?p=3 it was recorded under
        SPAM: 0,  # links elsewhere only: the classic pingback spam
        UNFETCHED: None,  # not fetched yet: no verdict
        FAILED: None,  # 404: no verdict
    }
    assert db["comments"].get(f"{P5}#comment-5")["verified"] == 0
    assert db["comments"].get(f"{P1}#comment-9")["verified"] is None  # a plain comment


def test_the_pingback_entry_itself_is_not_a_link_back(db):
    # The only row "SPAM -> P1" is the pingback entry found on P1; it proves nothing.
    assert db.execute("SELECT count(*) FROM links WHERE src = ? AND dst = ?", [SPAM, P1]).fetchone()
    verify_pingbacks(db)
    assert db["comments"].get(f"{P1}#comment-4")["verified"] == 0


def test_any_link_in_the_source_page_counts_even_in_a_sidebar(db):
    add_links(db, _link(SPAM, P1, "nav", anchor="blogroll"))
    verify_pingbacks(db)
    assert db["comments"].get(f"{P1}#comment-4")["verified"] == 1


def test_link_first_seen_on_the_sources_comment_page_counts(db):
    # The store keeps the first sighting of (src, dst, kind): here on E1's comment page 2,
    # which repeats the post body.
    db.execute("DELETE FROM links WHERE src = ? AND dst = ? AND kind = 'citation'", [E1, P1])
    db["pages"].insert(_page(E1 + "comment-page-2/", "Other blog post A", is_post=0))
    add_links(db, _link(E1, P1, "citation", found_on=E1 + "comment-page-2/"))
    verify_pingbacks(db)
    assert _verdicts(db)[E1] == 1


def test_link_to_the_canonical_counts(db):
    # E3 links to P3's canonical (== final URL here); make canonical the only match.
    db["pages"].update(P3, {"final_url": P3})
    verify_pingbacks(db)
    assert db["comments"].get(f"{P3}#comment-8")["verified"] == 1


def test_verification_limited_to_the_sources_just_fetched(db):
    assert verify_pingbacks(db, [SPAM]) == 2
    assert _verdicts(db)[SPAM] == 0
    assert _verdicts(db)[P2] is None  # not asked about
    # The engine passes the URL it requested; the comment names where it redirected.
    assert verify_pingbacks(db, [R_ASKED]) == 1
    assert _verdicts(db)[R_FINAL] == 1


def test_source_fetched_later_gets_its_verdict_and_failures_keep_it(db):
    verify_pingbacks(db)
    db["pages"].insert(_page(UNFETCHED, "Now fetched"))
    add_links(db, _link(UNFETCHED, P1, "citation"))
    verify_pingbacks(db, [UNFETCHED])
    assert _verdicts(db)[UNFETCHED] == 1
    # The source fails on a later visit: the earlier verdict stands.
    db["pages"].update(UNFETCHED, {"status": None, "error": "timeout"})
    assert verify_pingbacks(db, [UNFETCHED]) == 0
    assert _verdicts(db)[UNFETCHED] == 1


def test_source_that_removed_its_link_becomes_unverified(db):
    verify_pingbacks(db)
    db.execute("DELETE FROM links WHERE src = ? AND found_on = ?", [E1, E1])
    verify_pingbacks(db, [E1])
    assert _verdicts(db)[E1] == 0


def test_verify_is_idempotent_and_leaves_no_temp_tables(db):
    verify_pingbacks(db)
    first = _verdicts(db)
    verify_pingbacks(db)
    assert _verdicts(db) == first
    temp = db.execute("SELECT name FROM sqlite_temp_master WHERE type = 'table'").fetchall()
    assert temp == []


def test_pingbacks_view_shows_verification(db):
    verify_pingbacks(db)
    rows = db.execute(
        "SELECT source, verified FROM pingbacks WHERE target = ? ORDER BY source", [P1]
    ).fetchall()
    assert (SPAM, 0) in rows and (E1, 1) in rows and (UNFETCHED, None) in rows


# --------------------------------------------------------------------------- related posts


def test_related_posts_are_undirected_pairs_of_posts_on_one_blog(db):
    pairs = {(r["blog"], r["a"], r["b"], r["kinds"]) for r in related_posts(db)}
    assert pairs == {
        ("blog.example", P1, P2, "citation,pingback"),
        ("blog.example", P3, P2, "citation") if P3 < P2 else ("blog.example", P2, P3, "citation"),
        ("other.example", E1, E2, "citation"),
    }


def test_related_posts_for_one_blog_accepts_www_and_urls(db):
    for blog in ("blog.example", "www.blog.example", "https://www.blog.example/"):
        rows = list(related_posts(db, blog))
        assert {r["blog"] for r in rows} == {"blog.example"}
        assert len(rows) == 2
    row = next(r for r in related_posts(db, "blog.example") if P1 in (r["a"], r["b"]))
    assert {row["a_title"], row["b_title"]} == {
        "My Top 5 List for 2014 | Robert Kelly",
        "A follow-up on the list",
    }


def test_nav_and_comment_links_never_relate_posts(db):
    related = {(r["a"], r["b"]) for r in related_posts(db)}
    assert all(P4 not in pair for pair in related)  # the orphan
    assert all(ABOUT not in pair for pair in related)  # cited, but not a post
    assert all(P5 not in pair for pair in related)  # shares neighbours only


def test_related_to_ranks_direct_links_first_then_shared_neighbours(db):
    verify_pingbacks(db)
    ranked = related_to(db, P2)
    assert [r.url for r in ranked] == [P1, P3, P5]
    p1, p3, p5 = ranked
    assert (p1.direction, p1.kinds) == ("out", ["citation", "pingback"])
    assert p1.how.startswith("this post links to it (citation/pingback)")
    assert p1.shared_sources == [WIKI]
    assert (p3.direction, p3.kinds) == ("in", ["citation"])
    assert p3.how == "it links to this post (citation)"
    assert p5.direction is None and p5.kinds == []
    assert p5.shared_sources == [ESSAY, WIKI]  # the rarer shared source first
    assert p5.how == f"both link to {ESSAY}, {WIKI}"
    # ESSAY is shared by two posts (weight 1), WIKI by three (weight 1/log2 3).
    assert p5.score == pytest.approx(1 + 1 / 1.585, abs=0.01)
    assert p1.score > p3.score > p5.score


def test_related_to_uses_shared_citers_but_not_spam_pingbacks(db):
    verify_pingbacks(db)
    ranked = {r.url: r for r in related_to(db, P1)}
    assert ranked[P5].shared_citers == [E1]  # E1 links to both; SPAM pinged both: ignored
    assert ranked[P5].how.endswith(f"both linked from {E1}")
    assert P4 not in ranked and ABOUT not in ranked and E1 not in ranked  # other blog


def test_spam_pingbacks_count_while_unverified(db):
    # Before verification a pingback gets the benefit of the doubt.
    ranked = {r.url: r for r in related_to(db, P1)}
    assert ranked[P5].shared_citers == [E1, SPAM]


def test_related_to_accepts_final_url_and_a_missing_slash(db):
    assert [r.url for r in related_to(db, P3_FINAL)] == [P2]
    assert [r.url for r in related_to(db, P2.rstrip("/"))][:1] == [P1]
    assert related_to(db, P2, limit=1)[0].url == P1
    assert related_to(db, P4) == []


def test_related_to_unknown_url_raises(db):
    with pytest.raises(NotFound):
        related_to(db, "https://nowhere.example/")


# ----------------------------------------------------------------------------------- stats


def test_stats(db):
    verify_pingbacks(db)
    s = stats(db)
    assert s["pages"] == {"total": 12, "posts": 9, "by_status": {"200": 11, "404": 1}}
    assert s["comments"]["by_kind"] == {"pingback": 7, "trackback": 1, "comment": 1}
    assert s["pingbacks"] == {"verified": 4, "unverified": 2, "unknown": 2}
    assert s["links"]["by_kind"]["nav"] == 5 * 5 + 1
    assert s["links"]["total"] == len(links_rows())
    hosts = {h["host"]: h["links"] for h in s["top_cited_hosts"]}
    # Citations within a blog are not counted: the blog's own 4 come from other blogs.
    assert list(hosts.items())[:2] == [("www.blog.example", 4), ("en.wikipedia.example", 3)]
    assert s["errors"]["fetch"] == {"http_404": 1}
    assert s["errors"]["skipped"] == {"depth": 2, "private": 1}
    assert [r["id"] for r in s["last_runs"]] == [7, 6, 5, 4, 3]
    waiting = {h["host"]: h for h in s["hosts_waiting"]}
    assert waiting["unfetched.example"]["queued"] == 2
    assert waiting["slow.example"]["queued"] == 1
    assert waiting["slow.example"]["paused_until"] == "2999-01-01T00:00:00Z"
    assert waiting["angry.example"]["queued"] == 0
    assert "calm.example" not in waiting  # its pause is over
    assert s["frontier"] == {"queued": 3, "skipped": 3, "failed": 1}


def test_stats_on_an_empty_database(tmp_path):
    s = stats(open_database(tmp_path / "empty.db"))
    assert s["pages"] == {"total": 0, "posts": 0, "by_status": {}}
    assert s["pingbacks"] == {"verified": 0, "unverified": 0, "unknown": 0}
    assert s["top_cited_hosts"] == [] and s["last_runs"] == [] and s["hosts_waiting"] == []
