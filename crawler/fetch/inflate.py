"""Step 4 of the data flow (fetch): Content-Encoding decoding that never inflates much at once.

httpx's own decoders inflate a whole network chunk in one call, and 80 bytes of brotli can
hold 50 MB of zeros, so a compression bomb would land in memory before any byte limit is
checked. These decoders hand out at most :data:`CHUNK` bytes per step (zlib's
``max_length``, brotli's ``output_buffer_limit``), so the reader can stop at ``max_bytes``
having held only a chunk more than that. A Content-Encoding listing more than
:data:`MAX_CODINGS` codings (a server stacking ``gzip`` 1,200 times) is a
:class:`DecodingError`, not a chain of 1,200 decoders.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Protocol

try:
    import brotli  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - brotli is optional; we then do not ask for br
    brotli = None

CHUNK = 64 * 1024  # zlib stops exactly here; brotli finishes its block (up to ~1.5x)
MAX_CODINGS = 4  # real servers send one, rarely two; more is an attack or a broken server


class Decoder(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...
    def flush(self) -> Iterator[bytes]: ...


class DecodingError(ValueError):
    """The body is not valid for its Content-Encoding."""


class Identity:
    def feed(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data

    def flush(self) -> Iterator[bytes]:
        return iter(())


class Zlib:
    """gzip (possibly several members) or deflate (zlib-wrapped or, as some servers send, raw)."""

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._wbits = 16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS
        self._d = zlib.decompressobj(self._wbits)
        self._first = True

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data:
            try:
                out = self._d.decompress(data, CHUNK)
            except zlib.error as exc:
                if self._first and not self._gzip:
                    self._first = False
                    self._wbits = -zlib.MAX_WBITS
                    self._d = zlib.decompressobj(self._wbits)
                    continue
                raise DecodingError(str(exc)) from exc
            self._first = False
            if out:
                yield out
            if self._d.eof:
                # A further gzip member; trailing garbage after deflate is ignored.
                data = self._d.unused_data if self._gzip else b""
                if data:
                    self._d = zlib.decompressobj(self._wbits)
                continue
            data = self._d.unconsumed_tail
            # Output stopped at max_length with no input left: zlib may still hold some.
            while not data and len(out) == CHUNK:
                out = self._d.decompress(b"", CHUNK)
                if out:
                    yield out

    def flush(self) -> Iterator[bytes]:
        out = self._d.flush()
        if out:
            yield out


class Brotli:
    def __init__(self) -> None:
        if brotli is None:  # pragma: no cover
            raise DecodingError("brotli is not installed")
        self._d = brotli.Decompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            out = self._d.process(data, output_buffer_limit=CHUNK)
            if out:
                yield out
            while not self._d.can_accept_more_data():
                out = self._d.process(b"", output_buffer_limit=CHUNK)
                if not out:
                    break
                yield out
        except brotli.error as exc:
            raise DecodingError(str(exc)) from exc

    def flush(self) -> Iterator[bytes]:
        return iter(())


class Chain:
    """Content-Encoding lists the codings in the order applied; undo them in reverse.

    Lazy all the way down: each decoder's output is fed to the next a chunk at a time, so a
    gzip of a gzip bomb holds one chunk per layer, never a whole inner layer."""

    def __init__(self, decoders: list[Decoder]) -> None:
        self._decoders = decoders

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._through(0, self._decoders[0].feed(data))

    def flush(self) -> Iterator[bytes]:
        return self._flush_from(0)

    def _through(self, index: int, chunks: Iterator[bytes]) -> Iterator[bytes]:
        if index == len(self._decoders) - 1:
            yield from chunks
            return
        for chunk in chunks:
            yield from self._through(index + 1, self._decoders[index + 1].feed(chunk))

    def _flush_from(self, index: int) -> Iterator[bytes]:
        # Recursion depth is bounded by MAX_CODINGS.
        yield from self._through(index, self._decoders[index].flush())
        if index + 1 < len(self._decoders):
            yield from self._flush_from(index + 1)


def accept_encoding() -> str:
    """The Accept-Encoding we send: only codings we can decode in bounded steps."""
    return "gzip, deflate, br" if brotli is not None else "gzip, deflate"


def decoder_for(content_encoding: str | None) -> Decoder:
    """A decoder for a Content-Encoding header value; unknown codings pass through.
    Raises :class:`DecodingError` for more than :data:`MAX_CODINGS` codings."""
    names = [n.strip().lower() for n in (content_encoding or "").split(",") if n.strip()]
    names = [n for n in names if n != "identity"]
    if len(names) > MAX_CODINGS:
        raise DecodingError(f"{len(names)} content codings (at most {MAX_CODINGS} are undone)")
    decoders: list[Decoder] = []
    for name in reversed(names):
        if name in ("gzip", "x-gzip"):
            decoders.append(Zlib(gzip=True))
        elif name == "deflate":
            decoders.append(Zlib(gzip=False))
        elif name == "br":
            decoders.append(Brotli())
    if not decoders:
        return Identity()
    return decoders[0] if len(decoders) == 1 else Chain(decoders)
