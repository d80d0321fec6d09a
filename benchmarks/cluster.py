"""Benchmark: 1, 2 and 3 ``pingcrawl worker`` processes on one PostgreSQL, against the
local virtual web (``benchmarks/virtual_web.py``).

Two modes, each run for 1, 2 and 3 workers on a fresh database:

- **throughput**: delay 0, ``per_host = 4``, ``concurrency = 64`` per worker (SPEC
  section 9's settings): pages per second, from the first worker's start to the last
  one's end;
- **politeness**: ``delay = 0.25``, ``per_host = 1``: the server's smallest start-to-start
  gap to any host must not be below the delay however many workers share the hosts.

A row with ``workers: 0`` is the single-machine ``pingcrawl crawl`` into SQLite on the
same web, for comparison. Every post must be stored exactly once (``pages`` rows) and
requested once (server count). PostgreSQL is started the way the tests start it
(``tests/pgserver.py``).

    python -m benchmarks.cluster                      # 40 blogs x 25 posts
    python -m benchmarks.cluster --blogs 100 --posts 50
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.virtual_web import VirtualWeb, VirtualWebServer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from pgserver import PgServer  # noqa: E402

MODES = {
    "throughput": {"delay": 0.0, "per_host": 4, "concurrency": 64},
    "politeness": {"delay": 0.25, "per_host": 1, "concurrency": 16},
}


def write_config(work: Path, web: VirtualWeb, proxy: str, database: str, mode: dict) -> Path:
    seeds = json.dumps(web.seeds())
    text = (
        f"[crawl]\nseeds = {seeds}\ndatabase = {json.dumps(str(work / 'unused.db'))}\n"
        f"max_depth = {web.max_link_depth + 4}\nmax_pages = {web.total_pages * 2}\n"
        f"[politeness]\ndelay = {mode['delay']}\nper_host = {mode['per_host']}\n"
        f"concurrency = {mode['concurrency']}\n"
        f'[http]\nproxy = "{proxy}"\ntimeout = 30\n[safety]\nallow_private = true\n'
        f'[cluster]\ndatabase = "{database}"\nlease = 30\n'
    )
    path = work / "cluster.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run_workers(config: Path, count: int) -> tuple[float, list[int]]:
    """``count`` workers at once, or (0) one single-machine ``crawl`` into SQLite."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "crawler", "worker", "-q", "-c", str(config)]
    if count == 0:
        command = [sys.executable, "-m", "crawler", "crawl", "-q", "-c", str(config)]
        count = 1
    started = time.monotonic()
    workers = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        for _ in range(count)
    ]
    codes = [w.wait(timeout=1800) for w in workers]
    return time.monotonic() - started, codes


def stored(database: str) -> dict[str, Any]:
    with psycopg.connect(database) as conn:
        pages = conn.execute("SELECT count(*) FROM pages WHERE status = 200").fetchone()
        per_run = conn.execute("SELECT fetched FROM runs ORDER BY id").fetchall()
    return {"pages": int(pages[0]) if pages else 0, "per_worker": [r[0] for r in per_run]}


def stored_sqlite(path: Path) -> dict[str, Any]:
    import sqlite3

    conn = sqlite3.connect(path)
    pages = conn.execute("SELECT count(*) FROM pages WHERE status = 200").fetchone()[0]
    conn.close()
    return {"pages": int(pages), "per_worker": [int(pages)]}


def one(pg: PgServer, web: VirtualWeb, server: VirtualWebServer, mode: str, count: int) -> dict:
    database = pg.new_database()
    with tempfile.TemporaryDirectory() as folder:
        config = write_config(Path(folder), web, server.proxy, database, MODES[mode])
        server.reset()
        seconds, codes = run_workers(config, count)
        served = server.stats()
        result = stored(database) if count else stored_sqlite(Path(folder) / "unused.db")
    delay = MODES[mode]["delay"]
    min_gap = served["min_gap_seconds"]
    return {
        "mode": mode,
        "workers": count,
        "exit_codes": codes,
        "seconds": round(seconds, 2),
        "pages_per_second": round(result["pages"] / seconds, 1),
        "pages": result["pages"],
        "expected": web.total_pages,
        "page_requests": served["pages"],
        "per_worker": result["per_worker"],
        "min_gap_seconds": min_gap,
        "polite": min_gap is None or min_gap >= delay * 0.95,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blogs", type=int, default=40)
    parser.add_argument("--posts", type=int, default=25)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument(
        "--workers", nargs="+", type=int, default=[0, 1, 2, 3], help="0: a SQLite crawl"
    )
    args = parser.parse_args(argv)
    web = VirtualWeb(blogs=args.blogs, posts=args.posts)
    ok = True
    with PgServer() as pg, VirtualWebServer(web) as server:
        for mode in args.modes:
            for count in args.workers:
                row = one(pg, web, server, mode, count)
                ok = ok and row["polite"] and row["pages"] == web.total_pages
                ok = ok and row["page_requests"] == web.total_pages
                print(json.dumps(row), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
