"""Bounded inflation: no decoder hands out more than about CHUNK bytes per step, whatever
the ratio.

The bombs are fixtures (``tests/fixtures/bombs``), because the quality-11 one takes half a
minute to make; both inflate to 1 GiB (2**30 zero bytes after a short HTML head)::

    zeros-1gib.q11.br   brotli quality 11, 1,702 bytes (~630,000:1)
    zeros-1gib.gz.gz    gzip -9 of gzip -9, 1,863 bytes (~576,000:1), sent as
                        ``Content-Encoding: gzip, gzip``

made with ``brotli.Compressor(quality=11)`` and ``zlib.compressobj(9, DEFLATED, 31)``
fed the head and then 1,024 blocks of 1 MiB of zeros. A quality-1 brotli bomb is only
~3,000:1: one 16 KiB network chunk of it is 48 MB, which an unbounded decoder survives;
one chunk of these is the whole gigabyte. ``tests/test_fetch_memory.py`` fetches them in a
fresh process under a peak-memory bound.
"""

from __future__ import annotations

import gzip
import itertools
import zlib
from pathlib import Path

import brotli
import pytest

from crawler.fetch.inflate import CHUNK, Brotli, Chain, Zlib, decoder_for

BOMBS = Path(__file__).parent / "fixtures" / "bombs"
HEAD = b"<!doctype html><html><body>"
GIB = 1 << 30


def bomb(name: str) -> bytes:
    return (BOMBS / name).read_bytes()


def first_steps(steps, n: int = 200) -> list[bytes]:
    return list(itertools.islice(steps, n))


@pytest.mark.parametrize(
    ("name", "encoding"), [("zeros-1gib.q11.br", "br"), ("zeros-1gib.gz.gz", "gzip, gzip")]
)
def test_a_whole_bomb_in_one_chunk_comes_out_a_chunk_at_a_time(name: str, encoding: str) -> None:
    data = bomb(name)
    assert len(data) < 2000  # a bomb of the order the issue names (~600,000:1)
    steps = first_steps(decoder_for(encoding).feed(data))
    # brotli's output_buffer_limit is a soft one: it finishes the block it is in (~1.5 CHUNK)
    assert len(steps) == 200 and max(len(s) for s in steps) <= 2 * CHUNK
    assert steps[0].startswith(HEAD)
    assert sum(len(s) for s in steps) >= 199 * CHUNK  # it does inflate, just not at once


def test_the_brotli_bomb_is_quality_11_sized() -> None:
    """The ratio: 1 GiB from under 2 KB. Counted through the bounded decoder, never held."""
    decoder = Brotli()
    total = sum(len(s) for s in decoder.feed(bomb("zeros-1gib.q11.br")))
    assert total == len(HEAD) + GIB


def test_zlib_steps_are_bounded_even_when_zlib_holds_more() -> None:
    packed = zlib.compress(b"\0" * (20 * CHUNK), 9)
    steps = list(Zlib(gzip=False).feed(packed))
    assert max(len(s) for s in steps) <= CHUNK and sum(map(len, steps)) == 20 * CHUNK


def test_gzip_members_and_raw_deflate_are_read() -> None:
    two = gzip.compress(b"one ") + gzip.compress(b"two")
    assert b"".join(Zlib(gzip=True).feed(two)) == b"one two"
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = raw.compress(b"raw deflate") + raw.flush()
    assert b"".join(Zlib(gzip=False).feed(body)) == b"raw deflate"


def test_a_chain_undoes_codings_in_reverse_order() -> None:
    body = brotli.compress(gzip.compress(b"layered"))  # gzip first, then br
    decoder = decoder_for("gzip, br")
    assert isinstance(decoder, Chain)
    assert b"".join([*decoder.feed(body), *decoder.flush()]) == b"layered"
