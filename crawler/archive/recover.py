"""Crash safety for WARC files: find where the last whole record ends, cut what follows.

A writer puts each record in a gzip member of its own and writes whole groups of members;
a process killed with SIGKILL (or a full disk) can leave a *prefix* of a group at the end
of the file it was writing, which is still named ``*.warc.gz.open``. Such a tail never
decompresses with an error: its last gzip member simply never ends. :func:`scan` walks the
members, and :func:`repair_file` truncates the file after the last member that ends and
holds one whole WARC record (``Content-Length`` checked), so every kept record reads to its
end with warcio. The cut bytes are a record the database never heard of (the writer had
not returned), so nothing that was stored points into them.

Choice: cut, not keep-and-start-anew. A file left with a partial record fails
``warcio check`` and trips replay tools; the cut bytes hold nothing a reader could use.

:func:`recover_dir` does this for every ``.open`` file that no live writer holds (an
exclusive ``flock`` marks a live one), then renames it to its final name. A file whose
middle is damaged (a gzip error, a member that is not one record) is reported and left
untouched: that is not what a crash does, and cutting it would lose good records.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

OPEN_SUFFIX = ".open"
_CHUNK = 1 << 20
_HEAD_BYTES = 64 * 1024  # enough of a member's start to hold its WARC header block
_GZIP = zlib.MAX_WBITS | 16
_LENGTH_RE = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)[ \t]*\r\n", re.IGNORECASE)


@dataclass(frozen=True)
class Scan:
    """How much of a WARC file is whole records."""

    size: int  # bytes in the file
    good_end: int  # the end of the last whole record
    records: int  # whole records before good_end
    damaged: str | None = None  # why the file is not just cut short, if it is not

    @property
    def partial(self) -> bool:
        return self.damaged is None and self.good_end < self.size


@dataclass(frozen=True)
class Repair:
    """What :func:`recover_dir` did to one file."""

    path: Path  # where the file is now
    records: int
    cut_bytes: int
    damaged: str | None = None


class _Member:
    """The decompressed size and head of one gzip member, fed chunk by chunk."""

    def __init__(self) -> None:
        self.inflater = zlib.decompressobj(_GZIP)
        self.head = bytearray()
        self.size = 0

    def feed(self, data: bytes) -> bytes:
        """Inflate what ``data`` holds of this member (bounded steps); return what is left."""
        while data and not self.inflater.eof:
            out = self.inflater.decompress(data, _CHUNK)
            self.size += len(out)
            if len(self.head) < _HEAD_BYTES:
                self.head += out[: _HEAD_BYTES - len(self.head)]
            data = self.inflater.unconsumed_tail
        return self.inflater.unused_data if self.inflater.eof else b""

    def problem(self) -> str | None:
        """Why this whole member is not one whole WARC record, if it is not."""
        head = bytes(self.head)
        end = head.find(b"\r\n\r\n")
        if not head.startswith(b"WARC/") or end < 0:
            return "a gzip member that does not start with a WARC header"
        match = _LENGTH_RE.search(head[: end + 2])
        if not match:
            return "a WARC record without Content-Length"
        expected = end + 4 + int(match.group(1)) + 4
        if self.size != expected:
            return f"a WARC record of {self.size} bytes where its header says {expected}"
        return None


def scan(path: str | os.PathLike[str]) -> Scan:
    """Walk the gzip members of a WARC file: where do its whole records end?"""
    good_end = records = 0
    offset = 0  # file offset of the first byte of ``pending``
    member = _Member()
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        pending = b""
        while True:
            if not pending:
                pending = file.read(_CHUNK)
                if not pending:
                    break
            before = len(pending)
            try:
                rest = member.feed(pending)
            except zlib.error as exc:
                return Scan(size, good_end, records, f"gzip error after byte {good_end}: {exc}")
            if not member.inflater.eof:
                offset += before
                pending = b""
                continue
            offset += before - len(rest)
            problem = member.problem()
            if problem:
                return Scan(size, good_end, records, f"{problem} at byte {good_end}")
            good_end, records = offset, records + 1
            member, pending = _Member(), rest
    return Scan(size, good_end, records)


def repair_file(path: str | os.PathLike[str]) -> Scan:
    """Cut a partial last record off ``path`` (a file cut short stays whole otherwise)."""
    found = scan(path)
    if found.partial:
        os.truncate(path, found.good_end)
    return found


def recover_dir(directory: str | os.PathLike[str]) -> list[Repair]:
    """Repair and finish every ``*.warc.gz.open`` file that no live writer holds."""
    repairs = []
    for path in sorted(Path(directory).glob(f"*.warc.gz{OPEN_SUFFIX}")):
        repair = _recover_file(path)
        if repair is not None:
            repairs.append(repair)
    return repairs


def _recover_file(path: Path) -> Repair | None:
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None  # its writer finished it a moment ago
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                return None  # a live writer's file
            raise
        found = repair_file(path)
        if found.damaged:
            return Repair(path, found.records, 0, found.damaged)
        final = path.with_name(path.name.removesuffix(OPEN_SUFFIX))
        if found.good_end == 0:
            path.unlink()  # not even its warcinfo was whole: nothing to keep
        else:
            os.rename(path, final)
        return Repair(final, found.records, found.size - found.good_end)
    finally:
        os.close(fd)
