"""Hostile listings cost bounded memory: each case runs in a fresh Python subprocess that
reports its peak resident memory (``VmHWM``, as in ``tests/test_fetch_memory.py``).

The bombs are sized so that code reading them whole would blow the bound many times
over: a gzipped sitemap inflating to 1 GB, a feed inflating to 1 GB, billion laughs
(10^9 ``lol``s if expanded), a 1.2-million-entry sitemap, 9 MB of broken feed markup,
15 MB of nested JSON arrays.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

LIMIT_MIB = 200

SCRIPT = """
import json, sys, time, zlib
sys.path.insert(0, {tests!r})
from crawler.discover import parse_sitemap, parse_feed, parse_comment_feed, parse_wp_posts

def peak_mib():
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024

def gzipped(prefix, nbytes, block):
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [compressor.compress(prefix)]
    chunk = block * ((1 << 20) // len(block))
    for _ in range(nbytes // len(chunk)):
        parts.append(compressor.compress(chunk))
    parts.append(compressor.flush())
    return b"".join(parts)

def laughs(root, inner):
    ents = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{{i}} "' + ("&lol%s;" % ("" if i == 1 else i - 1)) * 10 + '">'
        for i in range(1, 10))
    return f'<?xml version="1.0"?><!DOCTYPE {{root}} [{{ents}}]>{{inner}}'.encode()

case = {case!r}
if case == "sitemap_gzip_bomb":
    parser, body = parse_sitemap, gzipped(b"<urlset><url><loc>", 1 << 30, b" ")
elif case == "sitemap_many_urls":
    entry = b"<url><loc>https://blog.example/a-post-with-a-longer-slug/</loc></url>"
    parser, body = parse_sitemap, gzipped(b"<urlset>", 80 << 20, entry)
elif case == "sitemap_billion_laughs":
    parser, body = parse_sitemap, laughs("urlset", "<urlset><url><loc>&lol9;</loc></url></urlset>")
elif case == "feed_gzip_bomb":
    parser, body = parse_feed, gzipped(b"<rss><channel><title>", 1 << 30, b"x")
elif case == "feed_billion_laughs":
    inner = "<rss><channel><title>&lol9;</title></channel></rss>"
    parser, body = parse_comment_feed, laughs("rss", inner)
elif case == "feed_broken_markup":
    item = b"<item><title>x<link>https://blog.example/p/</link><description><b>unclosed "
    parser, body = parse_feed, b"<rss version='2.0'><channel>" + item * (9_000_000 // len(item))
elif case == "rest_deep_json":
    parser, body = parse_wp_posts, b"[" * 15_000_000
before = peak_mib()
started = time.monotonic()
result = parser(body, "https://blog.example/listing", {{}})
seconds = time.monotonic() - started
print(json.dumps({{"before": before, "peak": peak_mib(), "seconds": seconds,
                  "body": len(body), "result": type(result).__name__,
                  "reason": str(getattr(result, "reason", ""))}}))
"""

CASES = {
    "sitemap_gzip_bomb": "listing_too_large",
    "sitemap_many_urls": "listing_too_many_urls",
    "sitemap_billion_laughs": "listing_entities",
    "feed_gzip_bomb": "listing_too_large",
    "feed_billion_laughs": "listing_entities",
    "feed_broken_markup": "listing_malformed",  # too large to read leniently
    "rest_deep_json": "listing_malformed",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_listing_memory_is_bounded(case: str) -> None:
    tests = Path(__file__).parent
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(tests=str(tests), case=case)],
        cwd=tests.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    print(case, report)  # shown with -s: the measured figures
    expected = CASES[case]
    if expected is not None:
        assert report["result"] == "Failure" and report["reason"] == expected, report
    assert report["peak"] < LIMIT_MIB, report
