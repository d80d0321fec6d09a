"""``pingcrawl report`` opened in a real headless browser (Debian's Chromium).

The page records on <body> what Cytoscape drew (data-graph-*) once the layout has
stopped; the tests read that from ``--dump-dom`` and look at a ``--screenshot``'s pixels.
There is no skip: without Chromium these tests fail (``.ci/run`` installs it).
"""

from __future__ import annotations

import html
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlite_utils
from click.testing import CliRunner

from crawler.cli.main import cli
from crawler.demo.run import run_demo
from crawler.report import build_report
from db.links import add_links
from db.schema import open_database

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]
NODE_COLOUR = (0x4A, 0x6F, 0xA5)  # report.js's post colour, used nowhere else on the page


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("Chromium is needed: apt-get install -y chromium (.ci/run does it)")
    return found


def browse(url: str, tmp_path: Path, *extra: str, budget_ms: int = 30000) -> str:
    """Run headless Chromium on ``url`` until the page is idle (virtual time); stdout."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    result = subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}",
            *extra,
            url,
        ],
        capture_output=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    return result.stdout.decode("utf-8", errors="replace")


def body_data(dom: str) -> dict[str, str]:
    """The data-* attributes of <body> in a dumped DOM."""
    tag = re.search(r"<body([^>]*)>", dom)
    assert tag, dom[:500]
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'data-([a-z-]+)="([^"]*)"', tag.group(1))
    }


def drawn(report: Path, tmp_path: Path, blog: str | None = None) -> dict[str, str]:
    url = report.resolve().as_uri() + (f"#blog={quote(blog)}" if blog else "")
    data = body_data(browse(url, tmp_path, "--dump-dom"))
    assert data.get("graph-ready") == "1", data
    return data


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "demo.db"
    lines: list[str] = []
    run_demo(path, echo=lines.append)
    assert any(str(path.with_name("demo-report.html")) in line for line in lines)
    return path


@pytest.fixture(scope="module")
def report(demo: Path) -> Path:
    out = demo.with_name("report.html")
    result = CliRunner().invoke(cli, ["report", "--db", str(demo), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _posts_by_blog(db_path: Path) -> dict[str, int]:
    db = sqlite_utils.Database(db_path)
    return dict(db.execute("SELECT blog, count(*) FROM pages WHERE is_post = 1 GROUP BY blog"))


def test_each_blog_graph_has_one_node_per_post(report, demo, tmp_path):
    db = sqlite_utils.Database(demo)
    posts = _posts_by_blog(demo)
    assert len(posts) == 3
    for blog, count in posts.items():
        data = drawn(report, tmp_path, blog)
        assert data["graph-blog"] == blog
        assert int(data["graph-posts"]) == count, (blog, data)
        spam = db.execute(
            "SELECT count(*) FROM comments c JOIN pages p ON p.url = c.post_url"
            " WHERE p.blog = ? AND c.verified = 0",
            [blog],
        ).fetchone()[0]
        assert int(data["graph-spam"]) == spam, (blog, data)
        assert int(data["graph-extent"]) > 0 or count == 1  # laid out, not all on one spot
    assert int(data["across-nodes"]) == len(posts)
    assert int(data["across-edges"]) > 0


def test_demo_report_is_written_and_draws_the_biggest_blog_first(demo, tmp_path):
    page = demo.with_name("demo-report.html")
    assert page.stat().st_size > 100_000  # the graph library is inside
    data = drawn(page, tmp_path)
    posts = _posts_by_blog(demo)
    biggest = max(posts, key=lambda b: (posts[b], b))
    assert data["graph-blog"] == biggest and int(data["graph-posts"]) == posts[biggest]
    assert int(data["graph-spam"]) == 1  # the demo's spam pingback, drawn as such


def test_screenshot_shows_the_drawn_graph(report, tmp_path):
    shot = tmp_path / "report.png"
    browse(report.resolve().as_uri(), tmp_path, f"--screenshot={shot}", "--window-size=1200,1000")
    width, height, pixels = read_png(shot)
    assert (width, height) == (1200, 1000)
    colours = {pixels[i : i + 3] for i in range(0, len(pixels), 3 * 7)}
    assert len(colours) > 50, "a blank or flat screenshot"
    node_pixels = sum(
        1 for i in range(0, len(pixels), 3) if tuple(pixels[i : i + 3]) == NODE_COLOUR
    )
    assert node_pixels > 500, f"only {node_pixels} pixels of post nodes"


def test_report_is_self_contained(report):
    text = report.read_text(encoding="utf-8")
    assert "cytoscape" in text and "Permission is hereby granted" in text  # library + licence
    # Nothing is fetched when it opens: no external scripts, styles or images.
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", text)


def test_hostile_titles_cannot_break_out_of_the_page(tmp_path):
    db = open_database(tmp_path / "evil.db")
    evil = '</script><script>document.body.dataset.pwned="1"</script><!--'
    db["pages"].insert_all(
        [
            {
                "url": f"https://evil.example/{i}/",
                "blog": "evil.example",
                "is_post": 1,
                "title": evil,
                "host": "evil.example",
            }  # fmt: skip
            for i in range(2)
        ]
    )
    add_links(
        db, {"src": "https://evil.example/0/", "dst": "https://evil.example/1/", "kind": "citation"}
    )
    page = tmp_path / "evil.html"
    page.write_text(build_report(db, title=evil), encoding="utf-8")
    data = drawn(page, tmp_path)
    assert "pwned" not in data
    assert data["graph-posts"] == "2" and data["graph-edges"] == "1"


def test_a_blog_of_2000_posts_lays_out_in_seconds(tmp_path):
    db = _big_blog(tmp_path / "big.db", posts=2000)
    page = tmp_path / "big.html"
    page.write_text(build_report(db), encoding="utf-8")
    data = drawn(page, tmp_path)
    assert data["graph-posts"] == "2000"
    assert int(data["graph-edges"]) == db["links"].count
    print(f"2000 posts, {data['graph-edges']} edges: layout {data['layout-ms']} ms")
    assert int(data["layout-ms"]) < 60_000  # generous on a shared machine; ~2 s when idle


def test_report_cli_errors_are_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["report", "--db", str(tmp_path / "missing.db")])
    assert result.exit_code == 2 and "does not exist" in result.output
    open_database(tmp_path / "ok.db")
    target = tmp_path / "no-such-dir" / "r.html"
    result = CliRunner().invoke(cli, ["report", "--db", str(tmp_path / "ok.db"), "-o", str(target)])
    assert result.exit_code == 2 and "cannot write" in result.output


def _big_blog(path: Path, posts: int) -> sqlite_utils.Database:
    """One blog of ``posts`` posts citing each other (a few links each), like a big archive."""
    import random

    rng = random.Random(7)
    db = open_database(path)
    urls = [
        f"https://big.example/{i // 12 + 2000}/{i % 12 + 1:02d}/post-{i}/" for i in range(posts)
    ]
    db["pages"].insert_all(
        {"url": u, "host": "big.example", "blog": "big.example", "is_post": 1,
         "title": f"Post number {i}", "published": f"{2000 + i // 120}-{i % 12 + 1:02d}-01"}
        for i, u in enumerate(urls)
    )  # fmt: skip
    pairs = {(rng.randrange(posts), rng.randrange(posts)) for _ in range(int(posts * 1.5))}
    add_links(
        db,
        [
            {"src": urls[a], "dst": urls[b], "kind": "citation", "same_blog": 1}
            for a, b in sorted(pairs)
            if a != b
        ],
    )
    return db


def read_png(path: Path) -> tuple[int, int, bytes]:
    """Width, height and RGB bytes of an 8-bit non-interlaced PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks, header = 8, [], b""
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        at += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and interlace == 0 and colour_type in (2, 6)
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        row = _unfilter(
            raw[start], bytearray(raw[start + 1 : start + 1 + stride]), previous, channels
        )
        rows.append(row)
        previous = row
    rgb = bytearray()
    for row in rows:
        if channels == 3:
            rgb += row
        else:
            for x in range(width):
                rgb += row[4 * x : 4 * x + 3]
    return width, height, bytes(rgb)


def _unfilter(kind: int, row: bytearray, above: bytearray, bpp: int) -> bytearray:
    for i in range(len(row)):
        left = row[i - bpp] if i >= bpp else 0
        up = above[i]
        corner = above[i - bpp] if i >= bpp else 0
        if kind == 1:
            row[i] = (row[i] + left) & 0xFF
        elif kind == 2:
            row[i] = (row[i] + up) & 0xFF
        elif kind == 3:
            row[i] = (row[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
            row[i] = (row[i] + predictor) & 0xFF
    return row


def test_an_empty_crawl_still_gives_a_page(tmp_path):
    page = tmp_path / "empty.html"
    page.write_text(build_report(open_database(tmp_path / "empty.db")), encoding="utf-8")
    data = drawn(page, tmp_path)
    assert data["graph-posts"] == "0" and data["across-nodes"] == "0"
    assert "No citations yet." in page.read_text(encoding="utf-8")


# Appended to a copy of the report: once drawn, hover and click the first post through
# Cytoscape's own events, with window.open recorded instead of opening anything.
_POKE = """<script>
(function poke() {
  if (document.body.dataset.graphReady !== "1") { setTimeout(poke, 50); return; }
  var cy = window.pingcrawlGraph;
  window.open = function (url) { document.body.dataset.opened = url; };
  var post = cy.nodes(".post").filter(function (n) { return n.data("title") !== n.id(); })[0];
  post.emit("mouseover");
  var tip = document.getElementById("tooltip");
  document.body.dataset.tip = tip.hidden ? "" : tip.textContent;
  document.body.dataset.hovered = post.id();
  post.emit("tap");
})();
</script></body>"""


def test_hover_shows_the_title_and_click_opens_the_post(report, demo, tmp_path):
    poked = tmp_path / "poked.html"
    poked.write_text(report.read_text(encoding="utf-8").replace("</body>", _POKE), "utf-8")
    data = body_data(browse(poked.resolve().as_uri(), tmp_path, "--dump-dom"))
    url = data["hovered"]
    title = sqlite_utils.Database(demo)["pages"].get(url)["title"]
    assert data["tip"] == f"{title}\n{url}"
    assert data["opened"] == url
