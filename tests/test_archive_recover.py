"""Crash safety (crawler/archive/recover.py): a killed writer leaves files that read to the end."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from archive_helpers import UA, CutShort, exchange, records, warc_files, warcio

from crawler.archive.recover import recover_dir, repair_file, scan
from crawler.archive.warc import WarcWriter

ROOT = Path(__file__).resolve().parent.parent


def small_warc(directory: Path) -> tuple[Path, list[int]]:
    """A closed WARC file of a few records and the offsets where its records end."""
    with WarcWriter(directory, user_agent=UA, is_part_of="t") as warc:
        placed = warc.write_fetch([exchange("/a"), exchange("/b", body=b"<p>b</p>" * 20)])
    [path] = warc_files(directory)
    ends = [placed[0].offset] + [record.offset + record.length for record in placed]
    return path, ends


def test_a_file_cut_at_any_byte_is_cut_back_to_its_last_whole_record(tmp_path: Path) -> None:
    original, ends = small_warc(tmp_path / "w")
    data = original.read_bytes()
    assert ends[-1] == len(data)
    cut = tmp_path / "cut.warc.gz"
    near_ends = {size for end in ends for size in range(end - 40, end + 41)}
    cut_points = sorted({*range(0, len(data) + 1, 7), *near_ends} & set(range(len(data) + 1)))
    for size in cut_points:  # every byte around each record's end, every 7th elsewhere
        cut.write_bytes(data[:size])
        found = repair_file(cut)
        whole = [end for end in [0, *ends] if end <= size]
        assert found.damaged is None
        assert found.good_end == whole[-1] == cut.stat().st_size, size
        assert len(records(cut)) == len(whole) - 1  # reads to its end, digests checked


def test_a_cut_file_fails_to_read_until_repaired_then_warcio_checks_it(tmp_path: Path) -> None:
    original, ends = small_warc(tmp_path)
    cut_at = (ends[2] + ends[3]) // 2  # inside the third record
    original.write_bytes(original.read_bytes()[:cut_at])
    with pytest.raises(CutShort):
        records(original)
    found = repair_file(original)
    assert found.partial and found.records == 3
    assert len(records(original)) == 3
    assert warcio("check", str(original)).returncode == 0


def test_a_damaged_middle_is_reported_and_left_alone(tmp_path: Path) -> None:
    original, ends = small_warc(tmp_path)
    data = bytearray(original.read_bytes())
    data[ends[1] + 20] ^= 0xFF  # inside the deflate stream of the second record
    original.write_bytes(bytes(data))
    found = scan(original)
    assert found.damaged is not None and found.good_end == ends[1]
    repair_file(original)
    assert original.read_bytes() == bytes(data)


def test_a_member_that_is_not_one_whole_record_is_damage_not_a_tail(tmp_path: Path) -> None:
    original, _ = small_warc(tmp_path)
    original.write_bytes(
        original.read_bytes() + gzip.compress(b"WARC/1.1\r\nContent-Length: 99\r\n\r\nshort")
    )
    assert "Content-Length" not in (scan(original).damaged or "")
    assert scan(original).damaged is not None


def test_recovery_leaves_the_open_file_of_a_live_writer_alone(tmp_path: Path) -> None:
    live = WarcWriter(tmp_path, user_agent=UA, is_part_of="live")
    live.write_fetch([exchange()])
    [open_file] = tmp_path.glob("*.open")
    before = open_file.read_bytes()
    assert recover_dir(tmp_path) == []
    second = WarcWriter(tmp_path, user_agent=UA, is_part_of="second")
    assert second.repairs == [] and open_file.read_bytes() == before
    live.close()
    second.close()


CHILD = textwrap.dedent(
    """
    import json, os, sys
    sys.path.insert(0, {tests!r})
    from archive_helpers import UA, exchange
    from crawler.archive.warc import WarcWriter, PageMeta

    warc = WarcWriter(sys.argv[1], user_agent=UA, is_part_of="killed")
    for n in range({whole}):
        page = exchange(f"/p{{n}}", body=os.urandom(30_000))
        placed = warc.write_fetch([page], PageMeta(page.url, None, "1", 5))
        print(json.dumps([[r.filename, r.offset, r.record_id, r.record_type] for r in placed]))
        sys.stdout.flush()
    real_write = os.write

    def half_then_hang(fd, data):  # the kill lands in the middle of the next write
        real_write(fd, bytes(data)[: len(data) // 2])
        print("mid-write")
        sys.stdout.flush()
        sys.stdin.read()

    os.write = half_then_hang
    page = exchange("/never", body=os.urandom(30_000))
    warc.write_fetch([page], PageMeta(page.url, None, "1", 5))
    """
)


def start_child(directory: Path, whole: int) -> subprocess.Popen[str]:
    script = CHILD.format(tests=str(ROOT / "tests"), whole=whole)
    return subprocess.Popen(
        [sys.executable, "-c", script, str(directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def test_kill_9_mid_write_then_a_new_writer_every_file_reads_to_its_end(tmp_path: Path) -> None:
    child = start_child(tmp_path, whole=5)
    stored = []  # what a database sink would have saved: only calls that returned
    assert child.stdout is not None
    for line in child.stdout:
        if line.strip() == "mid-write":
            break
        stored.extend(json.loads(line))
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    [left] = tmp_path.glob("*.warc.gz.open")
    assert scan(left).partial  # the kill left half a group
    with pytest.raises(CutShort):
        records(left)

    with WarcWriter(tmp_path, user_agent=UA, is_part_of="resumed") as warc:
        [repair] = warc.repairs
        warc.write_fetch([exchange("/after")])
    assert repair.cut_bytes > 0 and repair.damaged is None
    assert list(tmp_path.glob("*.open")) == []
    files = warc_files(tmp_path)
    assert len(files) == 2
    for path in files:
        assert warcio("check", str(path)).returncode == 0
    kept = {r["headers"]["WARC-Record-ID"]: r for path in files for r in records(path)}
    for filename, offset, record_id, _ in stored:  # a page stored is a page archived
        assert record_id in kept
        assert kept[record_id]["offset"] == offset
        assert (tmp_path / filename).exists()
    assert len([s for s in stored if s[3] == "response"]) == 5


def test_kill_9_at_a_random_moment_leaves_a_directory_the_next_writer_repairs(
    tmp_path: Path,
) -> None:
    child = start_child(tmp_path, whole=10_000)
    assert child.stdout is not None
    deadline = time.monotonic() + 60
    while (
        time.monotonic() < deadline
        and len(child.stdout.readline())
        and not any(p.stat().st_size > 300_000 for p in tmp_path.glob("*.open"))
    ):
        pass  # paced by the child's own output, one line per fetch
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    WarcWriter(tmp_path, user_agent=UA, is_part_of="resumed").close()
    for path in warc_files(tmp_path):
        assert warcio("check", str(path)).returncode == 0
        assert records(path)[0]["type"] == "warcinfo"
