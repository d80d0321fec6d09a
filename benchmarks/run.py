"""pingcrawl vs Scrapy on a local virtual web, in one go (issue 7, SPEC section 9).

Starts the virtual web (:mod:`benchmarks.virtual_web`, its own process), then runs in
subprocesses, one after the other against the same server:

(a) ``python -m crawler crawl -c <config> --no-progress -q`` with the virtual web as the
    HTTP proxy, ``allow_private = true``, ``delay = 0``, ``per_host = 4``,
    ``concurrency = 64`` and the seeds (the first post of every blog);
(b) the Scrapy spider of :mod:`benchmarks.scrapy_spider` with the same settings.

Each tool's wall time and peak RSS (the resident memory of its process and every process
it started, such as pingcrawl's page parser, added up and polled) are measured;
pages are the ``status = 200`` rows of the database it wrote, checked against the full
list of posts. Prints a table and the pingcrawl/Scrapy ratios; exits 1 when a tool
missed a page (or failed), 2 on bad usage.

    python -m benchmarks.run                         # 100 blogs x 50 posts = 5,000 pages
    python -m benchmarks.run --blogs 1000            # 50,000 pages (peak RSS must stay flat)
    python -m benchmarks.run --only pingcrawl
    python -m benchmarks.run --politeness            # delay 0.2 s, 50 blogs: overhead vs bound
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.virtual_web import VirtualWeb, VirtualWebServer

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("pingcrawl", "scrapy")


@dataclass
class Settings:
    delay: float = 0.0
    per_host: int = 4
    concurrency: int = 64
    max_depth: int = 10
    timeout: float = 1800.0
    archive: bool = False  # pingcrawl writes WARC files too


@dataclass
class Result:
    tool: str
    returncode: int
    seconds: float  # wall time of the process, start-up included
    crawl_seconds: float | None  # the tool's own measure of its crawl, when it has one
    peak_rss_mib: float
    pages: int  # status-200 posts stored
    missing: int
    server: dict[str, Any]
    log: Path
    stored_bytes: dict[str, int] = field(default_factory=dict)  # what the tool left on disk

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.missing == 0


# -- running one measured process -------------------------------------------------------
def _status_kib(pid: int, field: str) -> int:
    """A ``/proc/PID/status`` field in KiB (``VmRSS``, ``VmHWM``), 0 when unreadable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    """The processes ``pid`` started, and theirs (from ``/proc/*/task/*/children``)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children", encoding="ascii") as f:
                    children = [int(c) for c in f.read().split()]
            except (OSError, ValueError):
                continue
            found += children
            todo += children
    return found


def _tree_rss_kib(pid: int) -> int:
    """What ``pid`` and its descendants hold resident now; the process itself counts
    with its own peak (``VmHWM``), which polling cannot miss."""
    return _status_kib(pid, "VmHWM") + sum(_status_kib(c, "VmRSS") for c in _descendants(pid))


def run_measured(
    cmd: list[str], log: Path, timeout: float, env: dict[str, str] | None = None
) -> tuple[int, float, float]:
    """Run ``cmd``; return (exit code, wall seconds, peak RSS in MiB) of it and its children.

    The peak is the process's ``VmHWM`` plus the resident memory of the processes it
    started (a crawler's parse workers), polled every few milliseconds; ``ru_maxrss``
    from ``wait4`` is the fallback where /proc is missing (Linux carries the forking
    parent's peak over into the child, so it would not do alone).
    """
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    deadline = started + timeout
    peak_kib = 0
    while True:
        peak_kib = max(peak_kib, _tree_rss_kib(proc.pid))
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.005)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return proc.returncode, seconds, (peak_kib or usage.ru_maxrss) / 1024  # KiB on Linux


def stored_pages(database: Path, expected: set[str]) -> tuple[int, int]:
    """(status-200 pages that are posts of the web, posts missing) in a crawl database."""
    if not database.exists():
        return 0, len(expected)
    conn = sqlite3.connect(database)
    try:
        got = {url for (url,) in conn.execute("SELECT url FROM pages WHERE status = 200")}
    finally:
        conn.close()
    return len(got & expected), len(expected - got)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        env.pop(name, None)
    return env


def _toml(value: Any) -> str:
    return json.dumps(value)  # strings, numbers, booleans and string lists: valid TOML


def run_pingcrawl(
    web: VirtualWeb, server: VirtualWebServer, settings: Settings, work: Path
) -> Result:
    database = work / "pingcrawl.db"
    config = work / "pingcrawl.toml"
    config.write_text(
        "[crawl]\n"
        f"seeds = {_toml(web.seeds())}\n"
        f"database = {_toml(str(database))}\n"
        f"max_depth = {settings.max_depth}\n"
        f"max_pages = {web.total_pages * 2}\n"
        "[politeness]\n"
        f"delay = {float(settings.delay)}\n"
        f"per_host = {settings.per_host}\n"
        f"concurrency = {settings.concurrency}\n"
        "[http]\n"
        f"proxy = {_toml(server.proxy)}\n"
        "timeout = 30\n"
        "[safety]\n"
        "allow_private = true\n"
        + (f"[archive]\nwarc_dir = {_toml(str(work / 'warc'))}\n" if settings.archive else ""),
        encoding="utf-8",
    )
    shutil.rmtree(work / "warc", ignore_errors=True)
    cmd = [sys.executable, "-m", "crawler", "crawl", "-c", str(config), "--no-progress", "-q"]
    server.reset()
    code, seconds, rss = run_measured(cmd, work / "pingcrawl.log", settings.timeout, _env())
    served = server.stats()
    pages, missing = stored_pages(database, set(web.post_urls()))
    return Result(
        "pingcrawl", code, seconds, _pingcrawl_run_seconds(database), rss, pages, missing,
        served, work / "pingcrawl.log", _disk_bytes(database, work / "warc"),
    )  # fmt: skip


def _disk_bytes(database: Path, warc_dir: Path) -> dict[str, int]:
    """Bytes of the database (with its WAL) and of the WARC files, and pages stored."""
    files = [database, database.with_name(database.name + "-wal")]
    sizes = {"database": sum(f.stat().st_size for f in files if f.exists())}
    sizes["warc"] = sum(f.stat().st_size for f in warc_dir.glob("*.warc.gz"))
    if database.exists():
        conn = sqlite3.connect(database)
        try:
            sizes["pages"] = conn.execute("SELECT count(*) FROM pages").fetchone()[0]
        finally:
            conn.close()
    return sizes


def storage_report(results: list[Result]) -> list[str]:
    lines = []
    for result in results:
        sizes = result.stored_bytes
        if sizes.get("pages"):
            per_page = sizes["database"] / sizes["pages"] / 1024
            line = f"{result.tool}: database {per_page:.1f} KB per stored page"
            if sizes.get("warc"):
                line += f", WARC {sizes['warc'] / sizes['pages'] / 1024:.1f} KB per page"
            lines.append(line + f" ({sizes['pages']:,} pages)")
    return lines


def _pingcrawl_run_seconds(database: Path) -> float | None:
    if not database.exists():
        return None
    conn = sqlite3.connect(database)
    try:
        row = conn.execute("SELECT started_at, finished_at FROM runs ORDER BY id DESC").fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    if not row or not row[1]:
        return None
    start, end = (datetime.fromisoformat(v.replace("Z", "+00:00")) for v in row)
    return (end - start).total_seconds()


def run_scrapy(web: VirtualWeb, server: VirtualWebServer, settings: Settings, work: Path) -> Result:
    database, seeds, stats = work / "scrapy.db", work / "seeds.json", work / "scrapy-stats.json"
    seeds.write_text(json.dumps(web.seeds()), encoding="utf-8")
    cmd = [
        sys.executable, "-m", "benchmarks.scrapy_spider", "--seeds", str(seeds),
        "--db", str(database), "--proxy", server.proxy, "--delay", str(settings.delay),
        "--depth", str(settings.max_depth), "--concurrency", str(settings.concurrency),
        "--per-host", str(settings.per_host), "--stats", str(stats),
    ]  # fmt: skip
    server.reset()
    code, seconds, rss = run_measured(cmd, work / "scrapy.log", settings.timeout, _env())
    served = server.stats()
    pages, missing = stored_pages(database, set(web.post_urls()))
    crawl_seconds = None
    if stats.exists():
        crawl_seconds = json.loads(stats.read_text()).get("elapsed_time_seconds")
    return Result(
        "scrapy", code, seconds, crawl_seconds, rss, pages, missing, served, work / "scrapy.log"
    )


RUNNERS = {"pingcrawl": run_pingcrawl, "scrapy": run_scrapy}


# -- reporting --------------------------------------------------------------------------
def table(results: list[Result]) -> str:
    head = (
        f"{'tool':<10} {'pages':>7} {'seconds':>8} {'pages/s':>8} {'peak RSS MiB':>13} "
        f"{'requests':>9} {'conns':>6} {'crawl s':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        crawl = f"{r.crawl_seconds:8.2f}" if r.crawl_seconds is not None else f"{'-':>8}"
        lines.append(
            f"{r.tool:<10} {r.pages:>7,} {r.seconds:>8.2f} {r.pages_per_second:>8,.0f} "
            f"{r.peak_rss_mib:>13.1f} {r.server.get('requests', 0):>9,} "
            f"{r.server.get('connections', 0):>6,} {crawl}"
        )
    return "\n".join(lines)


def ratios(results: list[Result]) -> str | None:
    by_tool = {r.tool: r for r in results}
    if set(by_tool) != set(TOOLS):
        return None
    ours, theirs = by_tool["pingcrawl"], by_tool["scrapy"]
    speed = ours.pages_per_second / theirs.pages_per_second if theirs.pages_per_second else 0
    memory = ours.peak_rss_mib / theirs.peak_rss_mib if theirs.peak_rss_mib else 0
    return (
        f"pingcrawl / scrapy: {speed:.2f}x the pages/s (target >= 2.1x: "
        f"{'met' if speed >= 2.1 else 'NOT met'}), {memory:.2f}x the peak RSS "
        f"(target <= 1.0x: {'met' if memory <= 1.0 else 'NOT met'})"
    )


def problems(results: list[Result]) -> list[str]:
    out = []
    for r in results:
        if r.returncode != 0:
            out.append(f"{r.tool} exited with {r.returncode} (log: {r.log})")
        if r.missing:
            out.append(f"{r.tool} missed {r.missing:,} of the posts (log: {r.log})")
    return out


def politeness_report(results: list[Result], web: VirtualWeb, delay: float) -> list[str]:
    """The run against its bound. The verdict is on the tool's own run time when it has
    one (pingcrawl's ``runs`` row): the interpreter's start-up and imports (about 0.4 s
    here) are a fixed cost of a process, not of the crawl. Wall time is shown beside it."""
    bound = web.posts * delay
    lines = [
        f"politeness bound: {web.posts} pages per host x {delay:g} s = {bound:.1f} s "
        "(the last page of a host cannot start earlier)"
    ]
    for r in results:
        run = r.crawl_seconds if r.crawl_seconds is not None else r.seconds
        overhead = (run - bound) / bound * 100
        gap = r.server.get("min_gap_seconds")
        gap_text = f"{gap:.3f} s" if gap is not None else "n/a"
        lines.append(
            f"  {r.tool:<10} run {run:6.2f} s = {overhead:+.1f}% over the bound (target <= +10%: "
            f"{'met' if overhead <= 10 else 'NOT met'}); process wall time {r.seconds:.2f} s "
            f"({_pct(r.seconds, bound)}); smallest gap between two requests to one host seen "
            f"by the server: {gap_text}"
        )
        lines.append(f"             {_gap_details(r.server)}")
    return lines


def _gap_details(served: dict[str, Any]) -> str:
    """Where a paced run loses time, as the server saw it."""

    def fmt(q: dict[str, float] | None) -> str:
        return "n/a" if not q else " ".join(f"{k} {v:.3f}" for k, v in q.items())

    first = served.get("first_request_seconds")
    first_text = f"{first:.3f} s" if first is not None else "n/a"
    return (
        f"gaps per host [{fmt(served.get('gap_quantiles'))}] s; first-to-last request span "
        f"per host [{fmt(served.get('span_quantiles'))}] s; last host's first request "
        f"{first_text} after the first host's"
    )


def _pct(seconds: float, bound: float) -> str:
    return f"{(seconds - bound) / bound * 100:+.1f}%"


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# -- main -------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="pingcrawl vs Scrapy on a local virtual web (SPEC section 9)"
    )
    parser.add_argument("--blogs", type=int, help="blogs in the web [100; 50 with --politeness]")
    parser.add_argument("--posts", type=int, default=50, help="posts per blog [50]")
    parser.add_argument("--only", choices=TOOLS, help="run one tool only")
    parser.add_argument(
        "--politeness",
        action="store_true",
        help="delay 0.2 s on 50 blogs: compare wall time with pages per host x delay",
    )
    parser.add_argument("--delay", type=float, help="politeness delay [0; 0.2 with --politeness]")
    parser.add_argument("--per-host", type=int, default=4, help="requests in flight per host [4]")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight [64]")
    parser.add_argument("--max-depth", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=1800.0, help="per tool, seconds")
    parser.add_argument("--keep", type=Path, help="keep databases and logs in this directory")
    parser.add_argument(
        "--archive", action="store_true", help="pingcrawl also writes WARC files ([archive])"
    )
    args = parser.parse_args(argv)
    blogs = args.blogs or (50 if args.politeness else 100)
    delay = args.delay if args.delay is not None else (0.2 if args.politeness else 0.0)
    if blogs < 1 or args.posts < 1:
        parser.error("--blogs and --posts must be at least 1")
    web = VirtualWeb(blogs, args.posts)
    settings = Settings(
        delay=delay,
        per_host=args.per_host,
        concurrency=args.concurrency,
        max_depth=args.max_depth,
        timeout=args.timeout,
        archive=args.archive,
    )
    if settings.max_depth < web.max_link_depth:
        parser.error(f"--max-depth must be at least {web.max_link_depth} to reach every post")
    tools = [args.only] if args.only else list(TOOLS)
    if "scrapy" in tools:
        try:
            import scrapy  # noqa: F401
        except ImportError:
            parser.error("Scrapy is not installed: pip install -e '.[bench]' (or --only pingcrawl)")

    work = args.keep or Path(tempfile.mkdtemp(prefix="pingcrawl-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    for name in ("pingcrawl.db", "scrapy.db"):
        for suffix in ("", "-wal", "-shm"):
            (work / f"{name}{suffix}").unlink(missing_ok=True)
    try:
        print(f"building the virtual web: {blogs} blogs x {args.posts} posts ...", flush=True)
        with VirtualWebServer(web) as server:
            info = server.info
            print(
                f"virtual web: {web.blogs:,} blogs x {web.posts} posts = {web.total_pages:,} "
                f"pages, {info['bytes'] / web.total_pages / 1024:.1f} KB/page on average, "
                f"robots.txt per host; served from its own process on {server.proxy}\n"
                f"settings: delay {delay:g} s, per_host {settings.per_host}, concurrency "
                f"{settings.concurrency}, max_depth {settings.max_depth} (every post is within "
                f"{web.max_link_depth} hops of a seed), {len(web.seeds()):,} seeds",
                flush=True,
            )
            results = []
            for tool in tools:
                print(f"running {tool} ...", flush=True)
                result = RUNNERS[tool](web, server, settings, work)
                results.append(result)
                if not result.ok:
                    print(_tail(result.log), flush=True)
        print()
        print(table(results))
        print(
            "seconds: wall time of the whole process (start-up included); requests and conns:\n"
            "answered and accepted by the server (pages + robots.txt); crawl s: the tool's own "
            "run time"
        )
        print("\n".join(storage_report(results)))
        line = ratios(results)
        if line and delay == 0:  # the speed targets are for the unpaced crawl
            print(line)
        if delay > 0:
            print("\n".join(politeness_report(results, web, delay)))
        issues = problems(results)
        for issue in issues:
            print(f"FAILED: {issue}")
        if not issues:
            print(f"check: every tool stored all {web.total_pages:,} posts with status 200")
        return 1 if issues else 0
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
