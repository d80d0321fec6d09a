"""The WARC writer (crawler/archive/warc.py): what an archivist's tools find in its files."""

from __future__ import annotations

import errno
import json
import os
import re
import threading
from pathlib import Path

import pytest
from archive_helpers import UA, exchange, gzipped_page, records, robots, warc_files, warcio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.archive.warc import (
    IDENTICAL_PAYLOAD,
    NOT_MODIFIED,
    ArchiveError,
    Capture,
    PageMeta,
    WarcWriter,
    parse_size,
    payload_digest,
)

NAME = re.compile(r"^crawl-\d{17}-(\d{5})\.warc\.gz$")


def writer(directory: Path, **options: object) -> WarcWriter:
    return WarcWriter(directory, user_agent=UA, is_part_of="run-7", prefix="crawl", **options)


def by_type(found: list[dict], kind: str) -> list[dict]:
    return [record for record in found if record["type"] == kind]


def test_warcio_checks_the_files_and_indexes_a_response_per_page_and_robots(tmp_path: Path) -> None:
    with writer(tmp_path) as warc:
        warc.write_fetch([robots()])
        warc.write_fetch([exchange("/post")], PageMeta(exchange().url, None, "0", 12))
        warc.write_fetch([gzipped_page()])
    [path] = warc_files(tmp_path)
    check = warcio("check", "-v", str(path))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "digest pass" in check.stdout
    index = warcio("index", "-f", "warc-type,warc-target-uri,http:status", str(path))
    assert index.returncode == 0, index.stderr
    responses = [
        entry["warc-target-uri"]
        for entry in map(json.loads, index.stdout.splitlines())
        if entry["warc-type"] == "response"
    ]
    assert sorted(responses) == sorted([robots().url, exchange("/post").url, gzipped_page().url])


def test_each_file_starts_with_a_warcinfo_naming_software_format_robots_and_operator(
    tmp_path: Path,
) -> None:
    with writer(tmp_path) as warc:
        warc.write_fetch([exchange()])
    [path] = warc_files(tmp_path)
    first = records(path)[0]
    assert first["type"] == "warcinfo"
    assert first["headers"]["WARC-Filename"] == path.name
    fields = dict(line.split(": ", 1) for line in first["body"].decode().splitlines())
    assert fields["software"].startswith("pingcrawl/")
    assert fields["format"] == "WARC File Format 1.1"
    assert fields["robots"] == "obey"
    assert fields["operator"] == UA
    assert fields["isPartOf"] == "run-7"
    assert path.read_bytes()[:2] == b"\x1f\x8b"  # gzip, one member per record
    assert NAME.match(path.name)


def test_the_response_is_kept_as_received_and_the_request_as_sent(tmp_path: Path) -> None:
    sent = gzipped_page()
    with writer(tmp_path) as warc:
        placed = warc.write_fetch([sent])
    found = records(warc_files(tmp_path)[0])
    [response] = by_type(found, "response")
    [request] = by_type(found, "request")
    assert response["headers"]["WARC-Type"] == "response"
    assert response["statusline"] == "HTTP/1.1 200 OK"
    assert response["http"] == sent.response_headers  # order and spelling kept
    assert response["body"] == sent.raw_body  # still gzip: before content decoding
    assert response["headers"]["WARC-Payload-Digest"] == payload_digest(sent.raw_body)
    assert "WARC-Block-Digest" in response["headers"]
    assert request["statusline"] == "GET /zipped HTTP/1.1"
    assert request["http"] == sent.request_headers
    assert request["headers"]["WARC-Concurrent-To"] == response["headers"]["WARC-Record-ID"]
    assert request["headers"]["WARC-Date"] == response["headers"]["WARC-Date"]
    assert [r.record_type for r in placed] == ["response", "request"]


def test_a_query_string_is_part_of_the_request_line(tmp_path: Path) -> None:
    with writer(tmp_path) as warc:
        warc.write_fetch([exchange("/search?q=warc&page=2")])
    [request] = by_type(records(warc_files(tmp_path)[0]), "request")
    assert request["statusline"] == "GET /search?q=warc&page=2 HTTP/1.1"


def test_a_body_cut_at_max_bytes_is_marked_truncated(tmp_path: Path) -> None:
    cut = exchange(body=b"x" * 1000, truncated=True, error="too_large")
    with writer(tmp_path) as warc:
        warc.write_fetch([cut, exchange("/whole")])
    responses = by_type(records(warc_files(tmp_path)[0]), "response")
    assert responses[0]["headers"]["WARC-Truncated"] == "length"
    assert "WARC-Truncated" not in responses[1]["headers"]
    assert warcio("check", str(warc_files(tmp_path)[0])).returncode == 0


def test_a_dechunked_body_does_not_claim_to_be_chunked(tmp_path: Path) -> None:
    chunked = exchange(headers=[("Content-Type", "text/html"), ("Transfer-Encoding", "chunked")])
    with writer(tmp_path) as warc:
        warc.write_fetch([chunked])
    [response] = by_type(records(warc_files(tmp_path)[0]), "response")
    assert response["http"] == [
        ("Content-Type", "text/html"),
        ("X-Archive-Orig-Transfer-Encoding", "chunked"),
    ]


def test_a_304_is_a_server_not_modified_revisit_of_the_earlier_capture(tmp_path: Path) -> None:
    earlier = Capture(exchange().url, "2026-11-30T10:00:00.000000Z", "sha1:ABC", "<urn:uuid:1>")
    not_modified = exchange(status=304, body=b"", headers=[("ETag", '"v1"')], reason="Not Modified")
    with writer(tmp_path) as warc:
        placed = warc.write_fetch([not_modified], previous={earlier.url: earlier})
    [revisit] = by_type(records(warc_files(tmp_path)[0]), "revisit")
    headers = revisit["headers"]
    assert headers["WARC-Profile"] == NOT_MODIFIED
    assert headers["WARC-Refers-To-Target-URI"] == earlier.url
    assert headers["WARC-Refers-To-Date"] == earlier.date
    assert headers["WARC-Refers-To"] == earlier.record_id
    assert revisit["statusline"] == "HTTP/1.1 304 Not Modified"
    assert placed[0].record_type == "revisit" and placed[0].profile == NOT_MODIFIED
    index = warcio(
        "index", "-f", "warc-type,warc-profile,http:status", str(warc_files(tmp_path)[0])
    )
    assert {"warc-type": "revisit", "warc-profile": NOT_MODIFIED, "http:status": "304"} in [
        json.loads(line) for line in index.stdout.splitlines()
    ]


def test_an_unchanged_200_is_an_identical_payload_revisit_a_changed_one_a_response(
    tmp_path: Path,
) -> None:
    with writer(tmp_path) as warc:
        [first, _] = warc.write_fetch([exchange()])
        [again, _] = warc.write_fetch([exchange()])
        [changed, _] = warc.write_fetch([exchange(body=b"<p>edited</p>")])
    assert first.record_type == "response"
    assert again.record_type == "revisit" and again.profile == IDENTICAL_PAYLOAD
    assert changed.record_type == "response"
    revisit = by_type(records(warc_files(tmp_path)[0]), "revisit")[0]["headers"]
    assert revisit["WARC-Refers-To"] == first.record_id
    assert revisit["WARC-Refers-To-Date"] == first.date
    assert revisit["WARC-Payload-Digest"] == first.payload_digest


def test_only_a_whole_200_body_becomes_an_identical_payload_revisit(tmp_path: Path) -> None:
    redirect = exchange("/old", status=301, body=b"", headers=[("Location", "/new")])
    missing = exchange("/gone", status=404, body=b"<p>not here</p>")
    with writer(tmp_path) as warc:
        for answer in (redirect, redirect, missing, missing):
            warc.write_fetch([answer])
    kinds = [r["type"] for r in records(warc_files(tmp_path)[0]) if r["type"] != "request"]
    assert kinds == ["warcinfo", "response", "response", "response", "response"]


def test_a_capture_from_an_earlier_run_is_recognised_through_previous(tmp_path: Path) -> None:
    with writer(tmp_path / "one") as warc:
        [first, _] = warc.write_fetch([exchange()])
    with writer(tmp_path / "two") as warc:
        [again, _] = warc.write_fetch([exchange()], previous={first.target_uri: first.as_capture()})
    assert again.profile == IDENTICAL_PAYLOAD


def test_a_page_gets_a_metadata_record_with_via_hops_time_outlinks_and_pingbacks(
    tmp_path: Path,
) -> None:
    page = exchange("/post")
    meta = PageMeta(
        url=page.url,
        via="http://127.0.0.1:8123/",
        hops_from_seed="1",
        fetch_time_ms=42,
        outlinks=[("http://a/", "citation"), ("http://b/", "nav"), ("http://c/", "citation")],
        pingbacks=[("http://d/p", "valid"), ("http://e/p", "no_link")],
    )
    with writer(tmp_path) as warc:
        warc.write_fetch([exchange("/old", status=301), page], meta)
    found = records(warc_files(tmp_path)[0])
    [metadata] = by_type(found, "metadata")
    lines = metadata["body"].decode().splitlines()
    assert lines == [
        "via: http://127.0.0.1:8123/",
        "hopsFromSeed: 1",
        "fetchTimeMs: 42",
        "outlink: http://a/ citation",
        "outlink: http://c/ citation",
        "outlink: http://b/ nav",
        "pingback: http://d/p valid",
        "pingback: http://e/p no_link",
    ]
    page_response = [
        r for r in by_type(found, "response") if r["headers"]["WARC-Target-URI"] == page.url
    ]
    assert (
        metadata["headers"]["WARC-Concurrent-To"] == page_response[0]["headers"]["WARC-Record-ID"]
    )


def test_a_request_without_an_answer_keeps_the_request_and_the_error(tmp_path: Path) -> None:
    with writer(tmp_path) as warc:
        warc.write_fetch([exchange(status=None, body=b"", headers=[], error="connection_reset")])
    found = records(warc_files(tmp_path)[0])
    assert [r["type"] for r in found] == ["warcinfo", "metadata", "request"]
    assert b"fetchError: connection_reset" in found[1]["body"]


def test_the_run_log_is_a_resource_record(tmp_path: Path) -> None:
    with writer(tmp_path) as warc:
        warc.write_fetch([exchange()])
        placed = warc.write_run_log(7, "21:00 started\n21:05 finished: 3 pages\n")
    [resource] = by_type(records(warc_files(tmp_path)[0]), "resource")
    assert resource["body"] == b"21:00 started\n21:05 finished: 3 pages\n"
    assert resource["headers"]["WARC-Target-URI"] == placed.target_uri == "urn:pingcrawl:run:7:log"


def test_files_roll_over_at_max_size_and_each_offset_finds_its_record(tmp_path: Path) -> None:
    with writer(tmp_path, max_size=4000) as warc:
        placed = [
            r
            for n in range(12)
            for r in warc.write_fetch([exchange(f"/p{n}", body=b"%d" % n * 500)])
        ]
    files = warc_files(tmp_path)
    assert len(files) > 2
    assert [int(NAME.match(p.name).group(1)) for p in files] == list(range(1, len(files) + 1))
    for path in files:
        found = records(path)
        assert found[0]["type"] == "warcinfo"
        assert path.stat().st_size <= 4000 or len(found) == 3  # only one fetch may exceed
        assert warcio("check", str(path)).returncode == 0
    for record in placed:
        with (tmp_path / record.filename).open("rb") as stream:
            stream.seek(record.offset)
            member = stream.read(record.length)
        assert record.record_id.encode() in __import__("gzip").decompress(member)


def test_a_new_writer_continues_the_serials_and_never_appends(tmp_path: Path) -> None:
    with writer(tmp_path) as warc:
        warc.write_fetch([exchange()])
    before = warc_files(tmp_path)[0].read_bytes()
    with writer(tmp_path) as warc:
        warc.write_fetch([exchange()])
    first, second = warc_files(tmp_path)
    assert first.read_bytes() == before
    assert NAME.match(second.name).group(1) == "00002"


def test_the_file_being_written_is_marked_open_until_closed(tmp_path: Path) -> None:
    warc = writer(tmp_path)
    placed = warc.write_fetch([exchange()])
    [open_file] = tmp_path.glob("*.warc.gz.open")
    assert open_file.name == placed[0].filename + ".open"
    assert warc_files(tmp_path) == []
    warc.close()
    assert [p.name for p in warc_files(tmp_path)] == [placed[0].filename]


def test_hostile_headers_and_statuses_still_make_a_valid_file(tmp_path: Path) -> None:
    hostile = exchange(
        "/caf%C3%A9/ü?x= y",
        status=999,
        reason="Weird\r\nInjected: yes",
        headers=[
            ("X-Evil", "a\r\nSet-Cookie: b"),
            ("X-Utf8", "café ☕"),
            ("Bad:Name", "v"),
            ("Content-Type", "text/html"),
        ],
        body=bytes(range(256)),
        request_headers=[("Host", "127.0.0.1:8123"), ("X-Line", "1\n2")],
    )
    with writer(tmp_path) as warc:
        warc.write_fetch([hostile, exchange(status=204, body=b"", headers=[], reason="")])
    [path] = warc_files(tmp_path)
    assert warcio("check", str(path)).returncode == 0
    responses = by_type(records(path), "response")
    assert responses[0]["body"] == bytes(range(256))
    assert [name for name, _ in responses[0]["http"]][:2] == ["X-Evil", "X-Utf8"]
    assert not any(name.lower() == "set-cookie" for name, _ in responses[0]["http"])
    assert responses[1]["statusline"] == "HTTP/1.1 204"


def test_a_url_with_spaces_or_line_breaks_cannot_break_the_record_headers(tmp_path: Path) -> None:
    with writer(tmp_path) as warc:
        [response, _] = warc.write_fetch([exchange("/a b\r\nWARC-Type: resource\x00")])
    assert response.target_uri == exchange("/a%20b%0D%0AWARC-Type:%20resource%00").url
    [path] = warc_files(tmp_path)
    assert [r["type"] for r in records(path)] == ["warcinfo", "response", "request"]
    assert warcio("check", str(path)).returncode == 0


def test_each_record_names_the_exchange_it_came_from(tmp_path: Path) -> None:
    hops = [exchange("/old", status=301, body=b""), exchange("/new"), robots()]
    with writer(tmp_path) as warc:
        placed = warc.write_fetch(hops, PageMeta(hops[1].url, None, "0", 3))
    assert [(r.record_type, r.exchange) for r in placed] == [
        ("response", 0),
        ("request", 0),
        ("response", 1),
        ("request", 1),
        ("response", 2),
        ("request", 2),
        ("metadata", None),
    ]


def test_a_full_disk_is_an_archive_error_and_leaves_no_partial_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warc = writer(tmp_path)
    warc.write_fetch([exchange("/before")])
    real_write = os.write

    def disk_full(fd: int, data: bytes) -> int:
        real_write(fd, bytes(data)[:100])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(ArchiveError, match="No space left"):
        warc.write_fetch([exchange("/lost")])
    monkeypatch.setattr(os, "write", real_write)
    warc.write_fetch([exchange("/after")])
    warc.close()
    [path] = warc_files(tmp_path)
    targets = [r["headers"].get("WARC-Target-URI", "") for r in by_type(records(path), "response")]
    assert [t.rsplit("/", 1)[1] for t in targets] == ["before", "after"]
    assert warcio("check", str(path)).returncode == 0


def test_threads_calling_at_once_do_not_mix_their_records(tmp_path: Path) -> None:
    warc = writer(tmp_path, max_size=20_000)

    def fetch_many(worker: int) -> None:
        for n in range(25):
            warc.write_fetch([exchange(f"/w{worker}/{n}", body=b"y" * 300)])

    threads = [threading.Thread(target=fetch_many, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    warc.close()
    found = [r for path in warc_files(tmp_path) for r in records(path)]
    assert len(by_type(found, "response")) == 100
    ids = {r["headers"]["WARC-Record-ID"]: r for r in found}
    for request in by_type(found, "request"):
        response = ids[request["headers"]["WARC-Concurrent-To"]]
        assert response["headers"]["WARC-Target-URI"] == request["headers"]["WARC-Target-URI"]


def test_a_directory_that_cannot_be_made_is_an_archive_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(ArchiveError, match="cannot create WARC directory"):
        writer(tmp_path / "file" / "warcs")


def test_a_prefix_that_could_leave_the_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="prefix"):
        WarcWriter(tmp_path, user_agent=UA, is_part_of="x", prefix="../up")


@pytest.mark.parametrize(
    ("text", "size"),
    [("1GB", 10**9), ("500 MB", 5 * 10**8), ("64kb", 64_000), ("4096", 4096), (2048, 2048)],
)
def test_sizes_read_as_decimal_bytes(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "-1GB", "0", "1 XB", True])
def test_a_bad_size_is_a_one_line_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)  # type: ignore[arg-type]


# Any code point, lone surrogates too: aiohttp hands non-UTF-8 header bytes over that way.
header_text = st.text(st.characters(exclude_categories=()), max_size=30)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=header_text,
    status=st.integers(min_value=100, max_value=999),
    reason=header_text,
    headers=st.lists(st.tuples(header_text, header_text), max_size=6),
    sent=st.lists(st.tuples(header_text, header_text), max_size=4),
    body=st.binary(max_size=300),
    links=st.lists(st.tuples(header_text, header_text), max_size=3),
)
def test_any_answer_a_server_sends_makes_a_readable_record(
    tmp_path_factory: pytest.TempPathFactory,
    path: str,
    status: int,
    reason: str,
    headers: list[tuple[str, str]],
    sent: list[tuple[str, str]],
    body: bytes,
    links: list[tuple[str, str]],
) -> None:
    directory = tmp_path_factory.mktemp("any")
    answer = exchange(
        "/" + path, status=status, reason=reason, headers=headers, body=body, request_headers=sent
    )
    page = PageMeta(answer.url, path, path, 1, outlinks=links, pingbacks=links)
    with writer(directory) as warc:
        placed = warc.write_fetch([answer], page)
    [file] = warc_files(directory)
    found = records(file)  # reads to its end, digests and lengths checked
    [response] = by_type(found, "response") or by_type(found, "revisit")
    assert placed[0].record_type in ("response", "revisit")
    if status != 304:
        assert response["body"] == body
    assert len(response["http"]) == len(headers)
    [request] = by_type(found, "request")
    assert len(request["http"]) == len(sent)
