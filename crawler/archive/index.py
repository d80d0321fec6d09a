"""Step 8 (after a run): a CDXJ index of a WARC directory, the lookup table replay tools use.

One line per response, revisit and resource record, ``SURT timestamp {json}``, sorted; the
JSON holds url, mime, status, digest, length, offset and the file name (relative to the
directory). Only finished files are indexed: a ``.open`` file is still being written, and
one left by a crash is repaired and finished first (:func:`~crawler.archive.recover.recover_dir`).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdxj_indexer.main import write_cdx_index  # type: ignore[import-untyped]

from crawler.archive.recover import recover_dir


@dataclass(frozen=True)
class IndexLine:
    urlkey: str
    timestamp: str  # 14 digits, UTC
    fields: dict[str, Any]


def warc_files(warc_dir: str | os.PathLike[str]) -> list[Path]:
    """The finished WARC files of a directory, oldest name first (names sort by time)."""
    directory = Path(warc_dir)
    recover_dir(directory)
    return sorted(path for path in directory.glob("*.warc.gz") if path.is_file())


def cdxj_lines(warc_dir: str | os.PathLike[str]) -> str:
    """The sorted CDXJ index of every finished WARC file in ``warc_dir``, as text."""
    files = warc_files(warc_dir)
    if not files:
        return ""
    out = io.StringIO()
    write_cdx_index(out, [str(path) for path in files], {"sort": True, "dir_root": str(warc_dir)})
    return out.getvalue()


def write_cdxj(warc_dir: str | os.PathLike[str], out_path: str | os.PathLike[str]) -> int:
    """Write the CDXJ index of ``warc_dir`` to ``out_path``; return its number of lines."""
    text = cdxj_lines(warc_dir)
    tmp = Path(f"{out_path}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out_path)  # a reader never sees half an index
    return text.count("\n")


def parse_cdxj(text: str) -> Iterator[IndexLine]:
    for line in text.splitlines():
        if line.strip():
            urlkey, timestamp, fields = line.split(" ", 2)
            yield IndexLine(urlkey, timestamp, json.loads(fields))
