"""Index and package (crawler/archive/index.py, wacz.py): CDXJ and WACZ that tools accept."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
from archive_helpers import BIN, UA, exchange, gzipped_page, records, robots

from crawler.archive.index import cdxj_lines, parse_cdxj, write_cdxj
from crawler.archive.wacz import WaczPage, build_wacz, validate_wacz
from crawler.archive.warc import ArchivedRecord, ArchiveError, WarcWriter

POST = b"<html><title>A stored post</title><p>Pingbacks are comments.</p></html>"


def crawl_into(directory: Path) -> list[ArchivedRecord]:
    """Two runs' worth of records: robots.txt, a post, a gzip page, then a 304 of the post."""
    with WarcWriter(directory, user_agent=UA, is_part_of="run-1", max_size=2500) as warc:
        placed = warc.write_fetch([robots()])
        placed += warc.write_fetch([exchange("/post", body=POST)])
        placed += warc.write_fetch([gzipped_page()])
    first = next(r for r in placed if r.target_uri.endswith("/post"))
    with WarcWriter(directory, user_agent=UA, is_part_of="run-2") as warc:
        placed += warc.write_fetch(
            [exchange("/post", status=304, body=b"", headers=[("ETag", '"1"')])],
            previous={first.target_uri: first.as_capture()},
        )
    return placed


def pages_of(placed: list[ArchivedRecord]) -> list[WaczPage]:
    return [
        WaczPage(r.target_uri, r.date, "A stored post" if "post" in r.target_uri else None)
        for r in placed
        if r.record_type == "response" and not r.target_uri.endswith("robots.txt")
    ]


def test_the_cdxj_index_points_at_every_response_and_revisit(tmp_path: Path) -> None:
    placed = crawl_into(tmp_path)
    lines = list(parse_cdxj(cdxj_lines(tmp_path)))
    keys = [(line.urlkey, line.timestamp) for line in lines]
    assert keys == sorted(keys)
    indexed = {(line.fields.get("url"), line.fields.get("offset")) for line in lines}
    for record in placed:
        if record.record_type in ("response", "revisit"):
            assert (record.target_uri, str(record.offset)) in indexed
    for line in lines:  # each line's file and offset hold the record it names
        if "url" not in line.fields:
            continue  # the warcinfo
        with (tmp_path / line.fields["filename"]).open("rb") as stream:
            stream.seek(int(line.fields["offset"]))
            member = gzip.decompress(stream.read(int(line.fields["length"])))
        assert f"WARC-Target-URI: {line.fields['url']}".encode() in member
    out = tmp_path / "index.cdxj"
    assert write_cdxj(tmp_path, out) == len(lines)


def test_the_wacz_passes_wacz_validate(tmp_path: Path) -> None:
    placed = crawl_into(tmp_path / "warcs")
    wacz = build_wacz(tmp_path / "warcs", pages_of(placed), tmp_path / "crawl.wacz")
    checked = subprocess.run(
        [str(BIN / "wacz"), "validate", "-f", str(wacz)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Validation succeeded" in checked.stdout
    assert validate_wacz(wacz)[0]


def test_hostile_titles_and_urls_in_pages_still_validate(tmp_path: Path) -> None:
    placed = crawl_into(tmp_path / "warcs")
    [post] = [r for r in placed if r.record_type == "response" and r.target_uri.endswith("/post")]
    titles = [
        'Comma, "quoted", and\nnewline',
        "\u2603 snow; tab\there",
        "",
        "\\back,slash",
        "x" * 5000,
    ]
    pages = [WaczPage(post.target_uri, post.date, title) for title in titles]
    pages.append(WaczPage(post.target_uri + '?a=1,2&b="3"', post.date, None))
    wacz = build_wacz(tmp_path / "warcs", pages, tmp_path / "crawl.wacz")
    valid, said = validate_wacz(wacz)
    assert valid, said


def test_the_wacz_holds_every_finished_warc_the_pages_and_an_index(tmp_path: Path) -> None:
    placed = crawl_into(tmp_path / "warcs")
    live = WarcWriter(tmp_path / "warcs", user_agent=UA, is_part_of="live")
    live.write_fetch([exchange("/during-packing")])  # still being written: not packed
    wacz = build_wacz(tmp_path / "warcs", pages_of(placed), tmp_path / "crawl.wacz")
    live.close()
    with zipfile.ZipFile(wacz) as archive:
        names = archive.namelist()
        pages = [json.loads(line) for line in archive.read("pages/pages.jsonl").splitlines()]
    finished = {r.filename for r in placed}
    assert {n.removeprefix("archive/") for n in names if n.startswith("archive/")} == finished
    assert {"indexes/index.cdx.gz", "indexes/index.idx", "datapackage.json"} <= set(names)
    assert pages[0]["format"] == "json-pages-1.0"
    assert {p["url"] for p in pages[1:]} == {p.url for p in pages_of(placed)}


def replay_from_wacz(wacz: Path, url: str, scratch: Path) -> bytes:
    """What a replay tool does first: find the URL in the WACZ's index, read its record."""
    with zipfile.ZipFile(wacz) as archive:
        index = gzip.decompress(archive.read("indexes/index.cdx.gz")).decode()
        [entry] = [
            line.fields
            for line in parse_cdxj(index)
            if line.fields.get("url") == url and line.fields.get("status") == "200"
        ]
        warc = archive.read("archive/" + entry["filename"])
    start = int(entry["offset"])
    one_record = scratch / "one-record.warc.gz"
    one_record.write_bytes(warc[start : start + int(entry["length"])])
    [record] = records(one_record)
    return bytes(record["body"])


def test_a_stored_post_comes_back_out_of_the_wacz_through_its_index(tmp_path: Path) -> None:
    placed = crawl_into(tmp_path / "warcs")
    wacz = build_wacz(tmp_path / "warcs", pages_of(placed), tmp_path / "crawl.wacz")
    assert replay_from_wacz(wacz, exchange("/post").url, tmp_path) == POST


def test_a_tampered_wacz_fails_validation(tmp_path: Path) -> None:
    placed = crawl_into(tmp_path / "warcs")
    wacz = build_wacz(tmp_path / "warcs", pages_of(placed), tmp_path / "crawl.wacz")
    tampered = tmp_path / "tampered.wacz"
    with zipfile.ZipFile(wacz) as source, zipfile.ZipFile(tampered, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.startswith("archive/"):
                data = data + gzip.compress(b"extra")
            target.writestr(item, data)
    valid, said = validate_wacz(tampered)
    assert not valid, said


def test_an_empty_directory_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="no WARC files"):
        build_wacz(tmp_path, [], tmp_path / "out.wacz")
    assert not (tmp_path / "out.wacz").exists()


def test_a_crash_leftover_is_repaired_and_packed(tmp_path: Path) -> None:
    directory = tmp_path / "warcs"
    crashed = WarcWriter(directory, user_agent=UA, is_part_of="crashed")
    [response, _] = crashed.write_fetch([exchange("/post", body=POST)])
    os.close(crashed._fd)  # the process died: no rename, no lock, a partial tail
    [left] = directory.glob("*.open")
    with left.open("ab") as tail:
        tail.write(gzip.compress(b"WARC/1.1\r\nContent-Length: 10\r\n\r\n0123456789\r\n\r\n")[:20])
    wacz = build_wacz(
        directory, [WaczPage(response.target_uri, response.date)], tmp_path / "c.wacz"
    )
    assert validate_wacz(wacz)[0]
    assert replay_from_wacz(wacz, response.target_uri, tmp_path) == POST


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# pywb lives in a venv of its own (`make test` builds .venv-replay): its brotlipy dependency
# would replace the Brotli module the fetcher's bounded inflater uses.
WAYBACK = os.environ.get(
    "PINGCRAWL_WAYBACK", str(Path(__file__).resolve().parents[1] / ".venv-replay/bin/wayback")
)


def test_pywb_replays_a_stored_post_from_the_wacz(tmp_path: Path) -> None:
    assert Path(WAYBACK).exists(), f"no pywb at {WAYBACK}: run 'make test', which installs it"
    placed = crawl_into(tmp_path / "warcs")
    wacz = build_wacz(tmp_path / "warcs", pages_of(placed), tmp_path / "crawl.wacz")
    manager = str(Path(WAYBACK).with_name("wb-manager"))
    subprocess.run([manager, "init", "c"], cwd=tmp_path, check=True, capture_output=True)
    subprocess.run(
        [manager, "add", "--unpack-wacz", "c", str(wacz)],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = subprocess.Popen(
        [WAYBACK, "-b", "127.0.0.1", "-p", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        body = fetch_when_up(f"http://127.0.0.1:{port}/c/2030id_/{exchange('/post').url}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert body == POST


def fetch_when_up(url: str, seconds: float = 60.0) -> bytes:
    """Poll until the replay server answers (it takes a moment to start), then GET."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                return bytes(answer.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # readiness poll, not a timing assertion
