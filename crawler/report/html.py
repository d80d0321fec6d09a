"""Build the report page: server-side HTML tables, the data as JSON, the vendored scripts.

Everything a browser needs is inside the one file: no request leaves it when it opens. The
lists are plain HTML (readable without JavaScript); the two graphs are drawn by
``static/report.js`` with Cytoscape.js from the embedded JSON.
"""

from __future__ import annotations

import json
import re
from html import escape
from importlib.resources import files
from pathlib import Path
from typing import Any

import sqlite_utils

from crawler.records import iso
from db.report import report_data

# Load order matters: fCoSE's UMD wrappers find layoutBase and coseBase as globals.
VENDORED_SCRIPTS = ("cytoscape.min.js", "layout-base.js", "cose-base.js", "cytoscape-fcose.js")
VENDORED_LICENCES = (
    ("Cytoscape.js 3.35.0", "LICENSE-cytoscape.txt"),
    ("cytoscape-fcose 2.2.0", "LICENSE-cytoscape-fcose.txt"),
    ("cose-base 2.2.0", "LICENSE-cose-base.txt"),
    ("layout-base 2.0.1", "LICENSE-layout-base.txt"),
)
VERDICTS = {1: ("verified", "ok"), 0: ("spam: does not link back", "spam")}
UNVERIFIED = ("unverified", "unknown")


def _static(name: str) -> str:
    return files("crawler.report").joinpath("static", name).read_text(encoding="utf-8")


def _script(source: str) -> str:
    # "</script" (any case) would end the element early; "<!--" could start an escape state.
    safe = re.sub(r"</(script)", r"<\\/\1", source, flags=re.IGNORECASE)
    safe = safe.replace("<!--", "<\\!--")
    return f"<script>{safe}</script>"


def _json_script(element_id: str, data: Any) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # Inside <script> only "</" and "<!--" matter; \u escapes keep the JSON identical.
    text = text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def build_report(
    db: sqlite_utils.Database, title: str = "pingcrawl report", blogs: list[str] | None = None
) -> str:
    """The whole page as a string. ``blogs`` limits the per-blog graphs to those blogs."""
    data = report_data(db, blogs)
    body = "\n".join(
        [
            _header(title, data["totals"]),
            _graph_section(data),
            _across_section(),
            _cited_section(data["cited"]),
            _pinged_section(data["pinged"]),
            _latest_section(data["latest"]),
            _months_section(data["months"]),
            _licences(),
        ]
    )
    scripts = "\n".join(_script(_static(name)) for name in VENDORED_SCRIPTS)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_static('report.css')}</style>\n"
        f"</head>\n<body>\n{body}\n{_json_script('report-data', data)}\n{scripts}\n"
        f"{_script(_static('report.js'))}\n</body>\n</html>\n"
    )


def write_report(
    db: sqlite_utils.Database,
    path: str | Path,
    title: str = "pingcrawl report",
    blogs: list[str] | None = None,
) -> Path:
    """Write the page to ``path`` (UTF-8) and return the path."""
    target = Path(path)
    target.write_text(build_report(db, title, blogs), encoding="utf-8")
    return target


def _header(title: str, totals: dict[str, int]) -> str:
    figures = [
        ("pages", totals["pages"]),
        ("posts", totals["posts"]),
        ("blogs", totals["blogs"]),
        ("links", totals["links"]),
        ("pingbacks", totals["pingbacks"]),
        ("verified", totals["verified"]),
        ("spam", totals["spam"]),
        ("comments", totals["comments"]),
    ]
    cells = "".join(f"<li><b>{n:,}</b> {escape(name)}</li>" for name, n in figures)
    return (
        f'<header><h1>{escape(title)}</h1><p class="muted">generated {escape(iso())} by '
        f'pingcrawl</p><ul class="totals">{cells}</ul></header>'
    )


def _graph_section(data: dict[str, Any]) -> str:
    options = "".join(
        f'<option value="{escape(g["blog"] or "")}">{escape(g["blog"] or "(no blog)")} '
        f"({len(g['posts'])} posts)</option>"
        for g in data["blogs"]
    )
    return f"""<section id="related">
<h2>Related posts, blog by blog</h2>
<p><label>Blog <select id="blog-select">{options}</select></label>
<span id="graph-info" class="muted"></span></p>
<p class="legend"><span class="k citation">citation</span> <span class="k pingback">pingback</span>
<span class="k trackback">trackback</span> <span class="k unknown">unverified</span>
<span class="k spam">spam (does not link back)</span>
<span class="muted">· node size: in-links · grey squares: pages elsewhere that pinged the blog
· scroll to zoom, drag to pan, hover for the title, click to open</span></p>
<div id="graph" class="graph"></div>
<div id="tooltip" class="tooltip" hidden></div>
</section>"""


def _across_section() -> str:
    return """<section id="across">
<h2>Across blogs: who pings and cites whom</h2>
<p class="muted">An arrow A → B: posts on A cite or ping posts on B (spam left out);
its width grows with the count.</p>
<div id="across-graph" class="graph small"></div>
</section>"""


def _link(url: str | None, title: str | None) -> str:
    if not url:
        return escape(title or "")
    text = escape(title or url)
    return f'<a href="{escape(url)}" title="{escape(url)}">{text}</a>'


def _table(headers: list[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f'<p class="muted">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cited_section(cited: list[dict[str, Any]]) -> str:
    rows = [[_link(r["url"], r["title"]), str(r["pages"]), str(r["blogs"])] for r in cited]
    table = _table(["source", "citing pages", "citing blogs"], rows, "No citations yet.")
    return f'<section id="cited"><h2>Most-cited sources</h2>{table}</section>'


def _pinged_section(pinged: list[dict[str, Any]]) -> str:
    rows = [
        [
            _link(r["url"], r["title"]),
            escape(r["blog"] or ""),
            str(r["pingbacks"]),
            str(r["verified"] or 0),
            str(r["spam"] or 0),
        ]
        for r in pinged
    ]
    headers = ["post", "blog", "pingbacks", "verified", "spam"]
    table = _table(headers, rows, "No pingbacks yet.")
    return f'<section id="pinged"><h2>Most-pinged posts</h2>{table}</section>'


def _verdict(verified: int | None) -> str:
    word, css = VERDICTS.get(verified, UNVERIFIED) if verified is not None else UNVERIFIED
    return f'<span class="verdict {css}">{escape(word)}</span>'


def _latest_section(latest: list[dict[str, Any]]) -> str:
    rows = [
        [
            escape((r["date"] or "")[:10]),
            escape(r["kind"]),
            _link(r["source"], r["source_title"]),
            _link(r["target"], r["target_title"]),
            _verdict(r["verified"]),
        ]
        for r in latest
    ]
    table = _table(["date", "kind", "from", "to", "verdict"], rows, "No pingbacks yet.")
    return f'<section id="latest"><h2>Latest pingbacks</h2>{table}</section>'


def _months_section(months: list[dict[str, Any]]) -> str:
    peak = max([m["posts"] for m in months] + [m["pingbacks"] for m in months] + [1])
    rows = [
        [
            escape(m["month"]),
            _bar(m["posts"], peak, "posts"),
            _bar(m["pingbacks"], peak, "pingbacks"),
        ]
        for m in months
    ]
    table = _table(["month", "posts", "pingbacks"], rows, "No dated posts or pingbacks.")
    return f'<section id="months"><h2>Posts and pingbacks per month</h2>{table}</section>'


def _bar(count: int, peak: int, css: str) -> str:
    width = round(100 * count / peak)
    return f'<span class="bar {css}" style="width:{width}%"></span> {count}'


def _licences() -> str:
    parts = "".join(
        f"<h3>{escape(name)}</h3><pre>{escape(_static(file))}</pre>"
        for name, file in VENDORED_LICENCES
    )
    return (
        "<footer><details><summary>Graph drawing: Cytoscape.js with the fCoSE layout "
        f"(MIT licence), embedded in this file</summary>{parts}</details></footer>"
    )
