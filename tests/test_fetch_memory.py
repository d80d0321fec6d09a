"""A 60 MB page and compression bombs are cut at ``max_bytes`` without costing memory.

The bombs include a quality-11 brotli one and a gzip of a gzip, both 1 GiB from under 2 KB:
an inflation step that is not bounded holds the whole gigabyte at once, far above the limit.

Peak memory is a property of a whole process, so the fetches run in a fresh Python
subprocess (with the test server in a thread of the same process: its memory counts too)
that reports its peak resident memory before and after. The peak is ``VmHWM`` of
``/proc/self/status``: unlike ``ru_maxrss``, which Linux carries over from the forking
parent (a big pytest process would set the floor), it belongs to this process alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LIMIT_MIB = 250
MAX_BYTES = 5_000_000

SCRIPT = """
import asyncio, json, sys
sys.path.insert(0, {tests!r})
from siteserver import SiteServer
from crawler.config import Config
from crawler.fetch.client import Fetcher

def peak_mib():
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024

async def main(site):
    config = Config().with_overrides(
        politeness={{"delay": 0.0}}, http={{"max_bytes": {max_bytes}}},
        safety={{"allow_private": True}},
    )
    async with Fetcher(config) as fetcher:
        paths = ("/big", "/gz", "/br", "/deflate", "/br11", "/gzgz")
        results = [await fetcher.fetch(site.url(p)) for p in paths]
    return [
        {{"path": r.url.rsplit("/", 1)[1], "size": r.size, "error": r.error,
          "text": len(r.text or ""), "status": r.status}}
        for r in results
    ]

with SiteServer() as site:
    site.big("/big", 60_000_000)
    site.gzip_bomb("/gz", 300_000_000, encoding="gzip")
    site.gzip_bomb("/br", 1_000_000_000, encoding="br")
    site.gzip_bomb("/deflate", 300_000_000, encoding="deflate")
    bombs = {bombs!r}
    with open(bombs + "/zeros-1gib.q11.br", "rb") as f:
        site.add_page("/br11", f.read(), headers={{"Content-Encoding": "br"}})
    with open(bombs + "/zeros-1gib.gz.gz", "rb") as f:
        site.add_page("/gzgz", f.read(), headers={{"Content-Encoding": "gzip, gzip"}})
    before = peak_mib()
    results = asyncio.run(main(site))
print(json.dumps({{"before": before, "peak": peak_mib(), "results": results}}))
"""


def test_big_page_and_bombs_stay_under_the_memory_limit() -> None:
    tests = Path(__file__).parent
    bombs = str(tests / "fixtures" / "bombs")  # 1 GiB each, ~600,000:1: see test_inflate.py
    script = SCRIPT.format(tests=str(tests), max_bytes=MAX_BYTES, bombs=bombs)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tests.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    print(report)  # shown with -s: the measured figures
    for result in report["results"]:
        assert result["status"] == 200 and result["error"] == "too_large", result
        assert result["size"] == MAX_BYTES and result["text"] == MAX_BYTES, result
    assert len(report["results"]) == 6
    assert report["peak"] < LIMIT_MIB, report
