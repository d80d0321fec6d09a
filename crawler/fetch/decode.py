"""Step 4 of the data flow (fetch): turn an HTML body's bytes into text, the HTML way.

The order is the HTML standard's encoding sniffing: a byte order mark, then the
Content-Type charset, then ``<meta charset>`` / ``<meta http-equiv="content-type">`` in
the first bytes, then a guess (UTF-8 if the bytes are valid UTF-8, else windows-1252).
Labels are mapped as the Encoding standard maps them: ``iso-8859-1``, ``latin1`` and
``ascii`` mean windows-1252, ``shift_jis`` means windows-31j, ``euc-kr`` means windows-949 —
which is what browsers do and what real pages labelled that way contain. A label naming a
Python codec that is not a text encoding of the web (``hex``, ``base64``, ``rot13``,
``undefined``, ``utf-7``, …) counts as unknown: the next rule decides.
"""

from __future__ import annotations

import codecs
import functools
import re

PRESCAN_BYTES = 4096
FALLBACK = "cp1252"

# WHATWG Encoding standard label -> the Python codec that decodes it the way browsers do.
_WHATWG_TO_PYTHON = {
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "iso-ir-100": "cp1252",
    "cp819": "cp1252",
    "ibm819": "cp1252",
    "ascii": "cp1252",
    "us-ascii": "cp1252",
    "ansi_x3.4-1968": "cp1252",
    "windows-1252": "cp1252",
    "x-cp1252": "cp1252",
    "iso-8859-9": "cp1254",
    "latin5": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "ms932": "cp932",
    "windows-31j": "cp932",
    "csshiftjis": "cp932",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "ksc5601": "cp949",
    "windows-949": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "chinese": "gb18030",
    "big5": "big5hkscs",
    "x-x-big5": "big5hkscs",
    # A page cannot really be UTF-16 if its ASCII <meta> was readable (HTML standard).
    "utf-16": "utf-8",
    "utf-16le": "utf-8",
    "utf-16be": "utf-8",
}
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CHARSET_PARAM = re.compile(rb"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.I)
_META = re.compile(rb"<meta\b[^>]*>", re.I)
_HTTP_EQUIV = re.compile(rb"""http-equiv\s*=\s*["']?\s*content-type""", re.I)
_CONTENT = re.compile(rb"""content\s*=\s*(["'])(.*?)\1""", re.I | re.S)
_COMMENT = re.compile(rb"<!--.*?-->", re.S)
# Text codecs Python knows that no web page is written in (the Encoding standard has none of
# them) or that decode markup into something else: a label naming one is ignored.
_NOT_WEB = frozenset(
    {"undefined", "utf-7", "idna", "punycode", "unicode-escape", "raw-unicode-escape", "palmos"}
)


def python_codec(label: str | bytes | None) -> str | None:
    """The Python codec for an encoding label, or None when the label is unknown."""
    if not label:
        return None
    if isinstance(label, bytes):
        label = label.decode("ascii", "ignore")
    return _codec_of(label.strip().strip("\"'").lower()[:64])


@functools.lru_cache(maxsize=256)
def _codec_of(label: str) -> str | None:
    if label in _WHATWG_TO_PYTHON:
        return _WHATWG_TO_PYTHON[label]
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):  # ValueError: a label with a NUL in it
        return None
    # bytes-to-bytes (hex, base64, zlib) and str-to-str (rot13) codecs are not text encodings
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_WEB:
        return None
    name = info.name
    return _WHATWG_TO_PYTHON.get(name) or _WHATWG_TO_PYTHON.get(name.replace("_", "-"), name)


def charset_from_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = _CHARSET_PARAM.search(content_type.encode("latin-1", "ignore"))
    return python_codec(match.group(1)) if match else None


def charset_from_meta(head: bytes) -> str | None:
    """The charset a ``<meta>`` in the first :data:`PRESCAN_BYTES` declares, or None."""
    head = _COMMENT.sub(b"", head[:PRESCAN_BYTES])
    for tag in _META.finditer(head):
        text = tag.group(0)
        direct = re.search(rb"""\bcharset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", text, re.I)
        if direct and not _HTTP_EQUIV.search(text):
            codec = python_codec(direct.group(1))
            if codec:
                return codec
        if _HTTP_EQUIV.search(text):
            content = _CONTENT.search(text)
            found = _CHARSET_PARAM.search(content.group(2)) if content else None
            codec = python_codec(found.group(1)) if found else None
            if codec:
                return codec
    return None


def sniff_encoding(body: bytes, content_type: str | None = None) -> tuple[str, int]:
    """Return ``(codec, bom_length)`` for ``body`` following the HTML standard's order."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return codec, len(bom)
    declared = charset_from_content_type(content_type) or charset_from_meta(body)
    if declared:
        return declared, 0
    return guess_encoding(body), 0


def guess_encoding(body: bytes) -> str:
    """UTF-8 when the bytes are UTF-8 (a cut-off last character is forgiven), else 1252."""
    try:
        body.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(body) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
        return FALLBACK


def decode_html(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Decode an HTML body; return ``(text, codec used)``. Never raises on bad bytes."""
    codec, skip = sniff_encoding(body, content_type)
    try:
        return body[skip:].decode(codec, errors="replace"), codec
    except (LookupError, UnicodeError):  # a codec that cannot even replace: guess instead
        codec = guess_encoding(body)
        return body.decode(codec, errors="replace"), codec
