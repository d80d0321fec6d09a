"""Whole blogs vs per-post recrawl (issue 13): requests and seconds of three runs.

A virtual web of B blogs x P posts (``tests/blogweb.py``'s server, its four kinds of blog
in turn: WordPress with REST and ``wp-sitemap.xml``, Yoast-style ``sitemap_index.xml``,
feeds only, Blogger), each with post and comment feeds answering conditional GETs. Two
ways of keeping a database of it up to date, each in a fresh database:

- **blogs**: ``crawl.blogs`` = the B front pages (discovery, then the nightly watch);
- **per-post**: today's way: every post URL given as a seed, re-fetched when due.

For each: the first crawl, a nightly run with nothing changed, and one after a single
new pingback (``recrawl_after = 0s``, so every check or post is due). Requests are
counted by the server (robots.txt included); seconds are the run's wall time in-process.

    python -m benchmarks.blogs                 # 20 blogs x 50 posts
    python -m benchmarks.blogs --blogs 40 --posts 100
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from blogweb import _EPOCH, Blog, BlogWeb, Post  # noqa: E402
from siteserver import SiteServer  # noqa: E402

from crawler.config import Config  # noqa: E402
from crawler.engine import crawl  # noqa: E402

KINDS = ("wp", "yoast", "feedonly", "blogger")


class BenchWeb(BlogWeb):
    """B blogs of the four kinds in turn, P posts each, chained as in BlogWeb."""

    def __init__(self, blogs: int, posts: int) -> None:
        SiteServer.__init__(self, "127.0.0.1")
        self.rest_page_size = 100
        self.comments_per_page = 50
        self.comment_feed_size = 10
        self._next_number = 1000
        hosts = [f"{KINDS[i % 4]}{i}.test" for i in range(blogs)]
        self.blogs = {host: self._bench_blog(host, posts) for host in hosts}
        self._link_chain()

    def _bench_blog(self, host: str, count: int) -> Blog:
        kind = re.match(r"[a-z]+", host).group()  # type: ignore[union-attr]
        blogger = kind == "blogger"
        blog = Blog(
            host,
            name=host.split(".")[0].title() + " Blog",
            platform="blogger" if blogger else "wordpress",
            rest=kind == "wp",
            sitemap={"wp": "core", "yoast": "yoast"}.get(kind),
        )
        if blogger:
            blog.pages = ["/p/about.html"]
        for i in range(count):
            date = _EPOCH + timedelta(days=7 * i, hours=i)
            slug = f"post-{i + 1}"
            path = f"/{date:%Y/%m}/{slug}.html" if blogger else f"/{date:%Y/%m/%d}/{slug}/"
            blog.posts.append(Post(host, path, f"{blog.name} post {i + 1}", date))
            blog.posts[-1].number = self._number()
        return blog

    def _link_chain(self) -> None:
        for blog in self.blogs.values():
            posts = blog.posts
            for older, newer in zip(posts, posts[1:-1], strict=False):
                newer.cites.append(older.url)
                self._ping(older, newer.url, newer.title, newer.date + timedelta(hours=2))
            if len(posts) >= 2:
                posts[-1].cites.append(posts[0].url)
                blog.front = [posts[-2].url]

    def all_posts(self) -> list[str]:
        return [url for host in self.blogs for url in self.posts(host)]


def config(web: BenchWeb, db: Path, mode: str) -> Config:
    crawl_keys: dict[str, object] = {
        "database": str(db),
        "recrawl_after": "0s",
        "max_depth": 1,
        "max_pages": 1_000_000,
    }
    if mode == "blogs":
        crawl_keys["blogs"] = [web.home(host) for host in web.blogs]
    return Config().with_overrides(
        crawl=crawl_keys,
        politeness={"delay": 0.0, "concurrency": 16},
        http={"proxy": web.proxy_url, "timeout": 10.0, "retries": 0},
    )


def measured(web: BenchWeb, cfg: Config, seeds: list[str]) -> tuple[int, float]:
    before = len(web.requests())
    started = time.monotonic()
    summary = crawl(cfg, seeds)
    if summary.status != "ok":
        raise SystemExit(f"run {summary.run_id} ended {summary.status}")
    return len(web.requests()) - before, time.monotonic() - started


def one_mode(blogs: int, posts: int, mode: str, folder: Path) -> list[tuple[str, int, float]]:
    rows = []
    with BenchWeb(blogs, posts) as web:
        cfg = config(web, folder / f"{mode}.db", mode)
        seeds = web.all_posts() if mode == "per-post" else []
        rows.append(("first crawl", *measured(web, cfg, seeds)))
        rows.append(("nightly, nothing new", *measured(web, cfg, [])))
        hosts = list(web.blogs)
        target = web.posts(hosts[0])[1]
        source = web.add_post(hosts[1], cites=[target]).url
        web.add_pingback(target, source)
        rows.append(("nightly, one new pingback", *measured(web, cfg, [])))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blogs", type=int, default=20)
    parser.add_argument("--posts", type=int, default=50)
    args = parser.parse_args(argv)
    if args.blogs < 2 or args.posts < 3:
        parser.error("at least 2 blogs of 3 posts")
    with tempfile.TemporaryDirectory() as tmp:
        results = {m: one_mode(args.blogs, args.posts, m, Path(tmp)) for m in ("blogs", "per-post")}
    print(f"{args.blogs} blogs x {args.posts} posts; requests (robots.txt included), seconds")
    print(f"{'run':<28}{'blogs: req':>12}{'s':>8}{'per-post: req':>16}{'s':>8}")
    for (name, b_req, b_s), (_, p_req, p_s) in zip(
        results["blogs"], results["per-post"], strict=True
    ):
        print(f"{name:<28}{b_req:>12}{b_s:>8.1f}{p_req:>16}{p_s:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
