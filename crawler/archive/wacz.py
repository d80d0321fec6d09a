"""Step 8 (after a run): pack a WARC directory into one WACZ file that replay tools open.

py-wacz does the packing (WARCs under ``archive/``, a compressed CDXJ index under
``indexes/``, ``datapackage.json`` with every file's hash); we give it the ``pages.jsonl`` of
the pages a user would start from (the posts and pages the crawl stored).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from wacz.main import main as wacz_main  # type: ignore[import-untyped]

from crawler.archive.index import warc_files
from crawler.archive.warc import ArchiveError

PAGES_HEADER = {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}


@dataclass(frozen=True)
class WaczPage:
    """One entry of ``pages.jsonl``."""

    url: str
    ts: str  # when it was captured, ISO 8601 UTC (its WARC-Date)
    title: str | None = None


def pages_jsonl(pages: Iterable[WaczPage]) -> str:
    lines = [json.dumps(PAGES_HEADER)]
    for page in pages:
        # Every entry has a title, the URL when the page has none: py-wacz's validator reads
        # the file as a table whose columns are the header's keys, and an entry whose only
        # shared key ("title") is missing or empty is a blank row, an invalid package.
        entry = {"url": page.url, "ts": page.ts, "title": page.title or page.url}
        lines.append(json.dumps(entry, ensure_ascii=False))
    # No newline after the last line: py-wacz's validator reads the file as a table, and a
    # final newline is a blank row to it (and an invalid package).
    return "\n".join(lines)


def build_wacz(
    warc_dir: str | os.PathLike[str],
    pages: Iterable[WaczPage],
    out_path: str | os.PathLike[str],
) -> Path:
    """Pack the finished WARC files of ``warc_dir`` and ``pages`` into ``out_path``."""
    files = warc_files(warc_dir)
    if not files:
        raise ArchiveError(f"no WARC files in {warc_dir}")
    out = Path(out_path)
    with tempfile.TemporaryDirectory(prefix="pingcrawl-wacz-") as tmp:
        pages_path = Path(tmp, "pages.jsonl")
        pages_path.write_text(pages_jsonl(pages), encoding="utf-8")
        partial = Path(tmp, "archive.wacz")
        args = ["create", "-o", str(partial), "-p", str(pages_path), "--copy-pages"]
        code, said = _run_wacz([*args, *(str(path) for path in files)])
        if code != 0:
            raise ArchiveError(f"py-wacz could not pack {warc_dir}: {_last_line(said)}")
        try:
            os.replace(partial, out)
        except OSError:  # another file system: copy, then the reader still sees it whole
            tmp_out = out.with_name(out.name + ".tmp")
            tmp_out.write_bytes(partial.read_bytes())
            tmp_out.replace(out)
    return out


def validate_wacz(path: str | os.PathLike[str]) -> tuple[bool, str]:
    """py-wacz's own validation (``wacz validate``): (valid, what it said)."""
    code, said = _run_wacz(["validate", "-f", str(path)])
    return code == 0, said


def _run_wacz(args: list[str]) -> tuple[int, str]:
    """py-wacz's command line in this process; it reports by printing, so keep its words."""
    said = io.StringIO()
    with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
        try:
            code = wacz_main(args)
        except SystemExit as exc:  # argparse and some checks exit
            code = exc.code if isinstance(exc.code, int) else 1
        except Exception as exc:  # py-wacz raises bare errors for unreadable input
            print(f"{type(exc).__name__}: {exc}")
            code = 1
    return int(code or 0), said.getvalue()


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
