"""What a run fetched is committed soon even when nothing follows it: the last pages before
a quiet spell (the hosts left are slow) must not wait for the next write to be committed,
or a kill -9 loses them and `pingcrawl status` cannot see them."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from siteserver import SiteServer


def test_a_page_is_committed_while_the_run_waits_on_a_slow_host(
    site: SiteServer, tmp_path: Path
) -> None:
    site.add_page(
        "/", "<html><head><title>quick</title></head><body>q</body></html>", host="quick.test"
    )
    site.add_page(
        "/", "<html><head><title>slow</title></head><body>s</body></html>", host="slow.test"
    )
    site.slow("/", 8.0, host="slow.test")  # answers only after 8 s
    database = tmp_path / "c.db"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[crawl]\nseeds = ["http://quick.test/", "http://slow.test/"]\ndatabase = "{database}"\n'
        f'[politeness]\ndelay = 0.0\n[http]\nproxy = "{site.proxy_url}"\ntimeout = 20\n'
        "[safety]\nallow_private = true\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "PINGCRAWL_CONFIG"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "crawler", "crawl", "-c", str(config), "-q", "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        seen_at = None
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            if database.exists():
                try:
                    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
                        row = conn.execute(
                            "SELECT 1 FROM pages WHERE url = 'http://quick.test/'"
                        ).fetchone()
                    conn.close()
                except sqlite3.Error:
                    row = None
                if row:
                    seen_at = time.monotonic()
                    break
            time.sleep(0.05)  # polling a file another process writes, not a timing assertion
        slow_answered = bool(site.hits(host="slow.test", path="/")) and proc.poll() is not None
        assert seen_at is not None, "the quick page was never committed"
        print("LAG", seen_at - site.hits(host="quick.test", path="/")[0].time)
        assert not slow_answered, "committed only when the run ended"
        assert proc.poll() is None, "the run should still be waiting on the slow host"
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
