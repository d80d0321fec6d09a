"""kill -9 in mid-crawl with the archive on, then a resumed run: every WARC file reads to
its end and every stored page has its response record (a page stored is a page archived)."""

from __future__ import annotations

import signal
from pathlib import Path

import sqlite_utils
from siteserver import SiteServer
from test_cron import build_web, start_crawl, wait_for_hits, write_config
from warcio.archiveiterator import ArchiveIterator


def _responses(warc_dir: Path) -> set[tuple[str, str, int]]:
    """(target URI, file, offset) of every response record; reads every file to its end."""
    found = set()
    for path in sorted(warc_dir.glob("*.warc.gz")):
        with path.open("rb") as stream:
            records = ArchiveIterator(stream)
            for record in records:
                if record.rec_type == "response":
                    uri = record.rec_headers.get_header("WARC-Target-URI")
                    found.add((uri, path.name, records.get_record_offset()))
                record.content_stream().read()  # the whole body: a cut record fails here
    return found


def test_kill_9_then_resume_leaves_whole_warcs_and_every_page_archived(
    tmp_path: Path, site: SiteServer
):
    seeds = build_web(site)
    config = write_config(tmp_path, site, seeds, delay=0.1)
    warc_dir = tmp_path / "warc"
    with config.open("a", encoding="utf-8") as out:
        out.write(f'[archive]\nwarc_dir = "{warc_dir}"\nwarc_max_size = "200KB"\n')
    proc = start_crawl(config)
    wait_for_hits(site, 50)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert list(warc_dir.glob("*.open")), "the killed run left its file open"

    second = start_crawl(config)
    _, err = second.communicate(timeout=180)
    assert second.returncode == 0, err
    assert not list(warc_dir.glob("*.open"))

    responses = _responses(warc_dir)
    db = sqlite_utils.Database(tmp_path / "crawl.db")
    stored = {
        r[0] for r in db.execute("SELECT coalesce(final_url, url) FROM pages WHERE status = 200")
    }
    assert len(stored) > 100
    assert stored <= {uri for uri, _, _ in responses}
    # Each fetch row of a stored page names a record that is there, where it says.
    named = set(
        db.execute("SELECT url, warc_file, warc_offset FROM fetches WHERE warc_type = 'response'")
    )
    assert named and named <= responses
