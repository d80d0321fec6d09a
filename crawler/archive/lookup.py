"""Read one record back from a WARC file, at the offset ``fetches`` stored for it."""

from __future__ import annotations

import os
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator  # type: ignore[import-untyped]
from warcio.exceptions import ArchiveLoadFailed  # type: ignore[import-untyped]

from crawler.archive.warc import ArchiveError


def response_headers(warc_dir: str | os.PathLike[str], filename: str, offset: int) -> str:
    """The status line and headers of the response record at ``offset``, as received."""
    path = Path(warc_dir, filename)
    try:
        with path.open("rb") as stream:
            stream.seek(offset)
            record = next(iter(ArchiveIterator(stream)), None)
    except (OSError, ArchiveLoadFailed, ValueError) as exc:
        raise ArchiveError(f"cannot read {path} at {offset}: {exc}") from exc
    if record is None or record.http_headers is None:
        raise ArchiveError(f"no HTTP response in {path} at offset {offset}")
    headers = record.http_headers
    lines = [headers.protocol + " " + headers.statusline]
    lines.extend(f"{name}: {value}" for name, value in headers.headers)
    return "\n".join(lines)
