"""Synthetic exchanges and WARC readers for the archive tests (tests/test_archive*.py)."""

from __future__ import annotations

import gzip
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator

from crawler.fetch.exchange import Exchange

BIN = Path(sys.executable).parent
ORIGIN = "http://127.0.0.1:8123"
UA = "pingcrawl/0.1 (+mailto:archive@example.org)"


def exchange(
    path: str = "/post",
    *,
    status: int | None = 200,
    body: bytes = b"<html><title>A post</title><p>Hello</p></html>",
    headers: list[tuple[str, str]] | None = None,
    purpose: str = "page",
    **fields: Any,
) -> Exchange:
    values: dict[str, Any] = {
        "method": "GET",
        "url": ORIGIN + path,
        "request_headers": [
            ("Host", "127.0.0.1:8123"),
            ("User-Agent", UA),
            ("Accept-Encoding", "gzip, deflate, br"),
            ("Accept", "*/*"),
        ],
        "sent_at": time.time(),
        "http_version": "1.1",
        "status": status,
        "reason": "OK" if status == 200 else "",
        "response_headers": headers
        if headers is not None
        else [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
        "raw_body": body,
        "truncated": False,
        "error": None,
        "elapsed": 0.012,
        "purpose": purpose,
    }
    values.update(fields)
    return Exchange(**values)


def gzipped_page(text: str = "<html><title>Zipped</title><p>packed</p></html>") -> Exchange:
    body = gzip.compress(text.encode())
    return exchange(
        "/zipped",
        body=body,
        headers=[
            ("Content-Type", "text/html"),
            ("Content-Encoding", "gzip"),
            ("Vary", "Accept-Encoding"),
            ("Content-Length", str(len(body))),
        ],
    )


def robots() -> Exchange:
    body = b"User-agent: *\nDisallow: /private\n"
    return exchange(
        "/robots.txt", body=body, headers=[("Content-Type", "text/plain")], purpose="robots"
    )


class CutShort(AssertionError):
    """A record holds fewer bytes than its Content-Length says."""


def records(path: Path) -> list[dict[str, Any]]:
    """Every record of a WARC file, read to its end by warcio; raises if one is not whole.

    warcio alone is not enough: a last record cut inside its payload reads without an error
    and ``warcio check`` passes it ("digest present but not checked"), so the length each
    record's header promises is compared with what it holds.
    """
    try:
        return _read_records(path)
    except CutShort:
        raise
    except Exception as exc:  # warcio fails in many ways on a cut header: all mean "not whole"
        raise CutShort(f"{path.name}: {type(exc).__name__}: {exc}") from exc


def _read_records(path: Path) -> list[dict[str, Any]]:
    out = []
    with path.open("rb") as stream:
        iterator = ArchiveIterator(stream, check_digests="raise")
        for record in iterator:
            http = record.http_headers
            body = record.raw_stream.read()
            head = http.total_len if http and record.rec_type != "warcinfo" else 0
            if head + len(body) != record.length:
                raise CutShort(f"{path.name}: record at {iterator.get_record_offset()} is cut")
            out.append(
                {
                    "type": record.rec_type,
                    "headers": dict(record.rec_headers.headers),
                    "http": list(http.headers) if http else None,
                    "statusline": f"{http.protocol} {http.statusline}" if http else None,
                    "body": body,
                    "offset": iterator.get_record_offset(),
                }
            )
    return out


def warcio(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "warcio"), *args], capture_output=True, text=True, timeout=120, check=False
    )


def warc_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.warc.gz"))
