"""URL normalisation (SPEC section 6) and the small URL facts every stage asks for.

Every URL is normalised before it is stored or compared, so "the same page" means
"the same string": lower-case scheme and host, IDN to punycode, no default port, no
fragment, dot segments resolved, tracking parameters and ``replytocom`` dropped, every
other query parameter and the trailing slash kept as they are.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from urllib.parse import (
    SplitResult,
    parse_qsl,
    quote,
    unquote,
    urlencode,
    urljoin,
    urlsplit,
    urlunsplit,
)

TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "_ga",
        "_hsenc",
        "_hsmi",
        "replytocom",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_COMMENT_PAGE = re.compile(r"^(?P<post>.*?/)comment-page-(?P<n>\d+)/?$")
_SAFE_PATH = "/:@!$&'()*+,;=-._~%"
_SAFE_QUERY = _SAFE_PATH + "?"
_SESSION_PARAMS = frozenset({"phpsessid", "jsessionid", "sid", "s", "sessionid"})
_SESSION_VALUE = re.compile(r"^[0-9a-fA-F]{32}$")
# Blogger serves one blog under many country domains: x.blogspot.de is x.blogspot.com.
_BLOGSPOT_CCTLD = re.compile(r"^(.+\.blogspot)\.(?!com$)[a-z]{2,3}(?:\.[a-z]{2})?$")
_IGNORED_SCHEMES = ("javascript:", "mailto:", "tel:", "data:", "sms:", "about:", "ftp:", "file:")
# A host name is letters, digits, hyphens, underscores and dots (after IDNA): anything
# else (spaces, quotes, angle brackets, percent signs, controls) is markup or an attack
# that slipped into an href, not a host, and must not become a node of the graph.
_HOST_NAME = re.compile(r"^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$")
_HOST_LABEL_MAX, _HOST_MAX = 63, 253


def _idna_host(host: str) -> str:
    # Percent-encoded hosts (``%31%32%37.0.0.1``) are decoded first, as browsers do, so
    # the safety check sees the address a connection would really use.
    host = unquote(host, errors="strict") if "%" in host else host
    host = host.strip().rstrip(".").lower()
    if ".blogspot." in host:
        host = _BLOGSPOT_CCTLD.sub(r"\1.com", host)
    if not host or host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return ".".join(
            label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
            for label in host.split(".")
        )


def _valid_host(host: str) -> bool:
    """True for an IPv6 literal or a host name of well-formed labels (IDNA applied)."""
    if ":" in host:  # an IPv6 literal; a zone id (``%eth0``) names no host on the web
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return "%" not in host
    if len(host) > _HOST_MAX or not _HOST_NAME.match(host):
        return False
    return all(len(label) <= _HOST_LABEL_MAX and _punycode_ok(label) for label in host.split("."))


def _punycode_ok(label: str) -> bool:
    """An ``xn--`` label must carry a decodable, non-empty punycode part."""
    if not label.startswith("xn--"):
        return True
    try:
        return bool(label[4:]) and bool(label[4:].encode("ascii").decode("punycode"))
    except UnicodeError:
        return False


def _clean_path(path: str) -> str:
    if not path:
        return "/"
    trailing = path.endswith("/") or path.endswith("/.") or path.endswith("/..")
    resolved = posixpath.normpath(path)
    if resolved.startswith("//"):
        resolved = "/" + resolved.lstrip("/")
    if resolved == ".":
        resolved = "/"
    if trailing and not resolved.endswith("/"):
        resolved += "/"
    return quote(resolved, safe=_SAFE_PATH)


def _clean_query(query: str) -> str:
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not _is_tracking(k) and not _is_session(k, v)]
    if len(kept) == len(pairs):
        return quote(query, safe=_SAFE_QUERY)
    return urlencode(kept, doseq=True)


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith("utm_") or lowered in TRACKING_PARAMS


def _is_session(name: str, value: str) -> bool:
    """Session ids in URLs (vBulletin's ``s=<32 hex>``) make endless copies of each page.
    WordPress search (``?s=term``) is kept: only 32-hex-digit values count."""
    return name.lower() in _SESSION_PARAMS and bool(_SESSION_VALUE.match(value))


def normalize_url(url: str, base: str | None = None) -> str | None:
    """Return the normal form of ``url`` (resolved against ``base``), or None if it is not
    an http(s) URL we could fetch (``mailto:``, ``javascript:``, empty, malformed)."""
    if url is None:
        return None
    url = url.strip().replace("\n", "").replace("\r", "").replace("\t", "")
    if not url or url.lower().startswith(_IGNORED_SCHEMES):
        return None
    try:
        absolute = urljoin(base, url) if base else url
        parts = urlsplit(absolute)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            return None
        host = _idna_host(parts.hostname or "")
        port = parts.port
    except (ValueError, UnicodeError):
        return None
    if not host or not _valid_host(host):
        return None
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return urlunsplit(
        SplitResult(scheme, netloc, _clean_path(parts.path), _clean_query(parts.query), "")
    )


def host_of(url: str) -> str:
    """The host (with port if not default) of a normalised URL: the one definition, used
    by the crawler and by the database's ``pingcrawl_host()`` SQL function alike."""
    # Normalised URLs are always "scheme://netloc/…": no urlsplit needed on the hot path.
    netloc = url.split("/", 3)[2]
    return netloc.split("?", 1)[0].split("#", 1)[0].lower()


def blog_of(url: str) -> str:
    """The blog a URL belongs to: its host with a leading ``www.`` removed (SPEC section 6)."""
    host = host_of(url)
    return host[4:] if host.startswith("www.") else host


def same_blog(a: str, b: str) -> bool:
    return blog_of(a) == blog_of(b)


def comment_page_post(url: str) -> str | None:
    """For ``…/post/comment-page-2/`` return ``…/post/``; None for other URLs."""
    parts = urlsplit(url)
    match = _COMMENT_PAGE.match(parts.path)
    if not match:
        return None
    return urlunsplit(SplitResult(parts.scheme, parts.netloc, match.group("post"), "", ""))


_CPAGE = re.compile(r"(?:^|&)cpage=(\d+)")


def comment_page_number(url: str) -> int | None:
    """N of ``…/comment-page-N/`` or ``?cpage=N`` (WordPress's two spellings), else None."""
    parts = urlsplit(url)
    match = _COMMENT_PAGE.match(parts.path)
    if match:
        return int(match.group("n"))
    query = _CPAGE.search(parts.query)
    return int(query.group(1)) if query else None


def trap_reason(url: str, max_segments: int = 20, max_length: int = 2000) -> str | None:
    """Return ``"trap"`` when a URL looks like a crawler trap (SPEC section 7), else None."""
    if len(url) > max_length:
        return "trap"
    segments = [s for s in urlsplit(url).path.split("/") if s]
    if len(segments) > max_segments:
        return "trap"
    counts: dict[str, int] = {}
    for segment in segments:
        counts[segment] = counts.get(segment, 0) + 1
        if counts[segment] >= 3:
            return "trap"
    return None
