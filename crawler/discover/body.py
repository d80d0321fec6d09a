"""Bounded reading of listing bodies: gzip sniffing, byte limits, entity-declaring DTDs.

A sitemap may be served gzipped as a file (``sitemap.xml.gz``, not a Content-Encoding the
fetcher undoes), so bodies starting with the gzip magic are inflated here — in the
fetcher's bounded steps (:mod:`crawler.fetch.inflate`), stopping at the limit, so a bomb
costs a chunk more than the limit and no more.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from crawler.fetch.inflate import CHUNK, DecodingError, Zlib

GZIP_MAGIC = b"\x1f\x8b"
# The sitemap protocol's limits: 50,000 URLs and 50 MB (52,428,800 bytes) uncompressed.
MAX_SITEMAP_BYTES = 50 * 1024 * 1024
MAX_SITEMAP_URLS = 50_000

# A DOCTYPE whose internal subset declares entities: no sitemap or feed needs one, and it
# is how billion-laughs and external-entity attacks are written.
_PROLOG_BYTES = 64 * 1024  # an internal subset longer than this is itself a refusal
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)


class TooLarge(Exception):
    """More than the limit of decoded bytes."""


def is_gzipped(body: bytes) -> bool:
    return body[:2] == GZIP_MAGIC


def chunks(body: bytes, limit: int) -> Iterator[bytes]:
    """The body's bytes (inflated if gzipped) in pieces of at most :data:`CHUNK`.

    Raises :class:`TooLarge` past ``limit`` decoded bytes and ``DecodingError`` on bad gzip.
    """
    total = 0
    for piece in _raw_chunks(body):
        total += len(piece)
        if total > limit:
            raise TooLarge(f"more than {limit} bytes decoded")
        yield piece


def _raw_chunks(body: bytes) -> Iterator[bytes]:
    if not is_gzipped(body):
        for start in range(0, len(body), CHUNK):
            yield body[start : start + CHUNK]
        return
    inflater = Zlib(gzip=True)
    for start in range(0, len(body), CHUNK):
        yield from inflater.feed(body[start : start + CHUNK])
    yield from inflater.flush()


def read_bounded(body: bytes, limit: int) -> bytes:
    """The whole decoded body, or :class:`TooLarge` / ``DecodingError``."""
    return b"".join(chunks(body, limit))


def declares_entities(body: bytes) -> bool:
    """True when the prolog holds a DTD declaring entities (or a subset too long to check)."""
    head = body[:_PROLOG_BYTES]
    match = _DOCTYPE.search(head)
    if match is None:
        return False
    decl = head[match.end() :]
    bracket, close = decl.find(b"["), decl.find(b">")
    if bracket == -1 or -1 < close < bracket:
        return False  # no internal subset: an external DTD, which no parser here fetches
    end = decl.find(b"]", bracket)
    if end == -1:
        return True
    return b"<!entity" in decl[bracket:end].lower()


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, whatever the spelling of its name in ``headers``."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


__all__ = [
    "MAX_SITEMAP_BYTES",
    "MAX_SITEMAP_URLS",
    "DecodingError",
    "TooLarge",
    "chunks",
    "declares_entities",
    "header",
    "is_gzipped",
    "read_bounded",
]
