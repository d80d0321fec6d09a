"""Step 4 of the data flow (fetch): the SSRF guard checked before every request and hop.

A crawler follows links written by strangers, so a link (or a redirect) must never make it
talk to the machine it runs on, the local network or a cloud metadata service. Only http
and https are fetched; loopback, private, link-local, multicast, unspecified and reserved
targets are refused, including IP literals spelled the way ``inet_aton`` accepts them
(``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``) and ``localhost`` names. When
no proxy is set, the addresses a host name resolves to are checked too.

``allow_private = true`` lifts all of it (tests and the demo serve from 127.0.0.1).
Known limit: the resolved-address check and the connection resolve separately, so a DNS
server that answers differently the second time (rebinding) is not caught here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# NAT64 (RFC 6052): the last 32 bits are an IPv4 address the gateway connects to.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

ALLOWED_SCHEMES = ("http", "https")
# 100.64/10 (carrier-grade NAT) is neither "private" nor global; is_global covers it.
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def parse_ipv4_literal(host: str) -> ipaddress.IPv4Address | None:
    """Read ``host`` the way the WHATWG URL parser (and ``inet_aton``) reads IPv4:
    one to four dot-separated parts, each decimal, octal (leading 0) or hex (0x).
    Return None when ``host`` is a name rather than a number."""
    parts = host.split(".")
    if parts and parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if not 1 <= len(parts) <= 4:
        return None
    numbers = [_parse_ipv4_part(p) for p in parts]
    if any(n is None for n in numbers):
        return None
    values: list[int] = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        return None
    total = values[-1]
    for index, value in enumerate(values[:-1]):
        total += value << (8 * (3 - index))
    return ipaddress.IPv4Address(total)


def _parse_ipv4_part(part: str) -> int | None:
    try:
        if part[:2].lower() == "0x":
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part.startswith("0"):
            return int(part[1:], 8)
        return int(part, 10) if part.isdigit() else None
    except ValueError:
        return None


def ip_of_host(host: str) -> IPAddress | None:
    """The IP address a URL host names literally (any IPv4 spelling, IPv6), else None."""
    host = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return parse_ipv4_literal(host)


def is_forbidden_ip(ip: IPAddress) -> bool:
    """True for every address a crawler of the public web has no business contacting.

    An IPv6 address that carries an IPv4 one is judged by it too: IPv4-mapped
    (``::ffff:127.0.0.1`` is 127.0.0.1 on a dual-stack socket: judged by it alone), 6to4
    (``2002:7f00:1::`` is routed to 127.0.0.1) and NAT64 (``64:ff9b::7f00:1``)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_forbidden_ip(ip.ipv4_mapped)
        embedded = ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and is_forbidden_ip(embedded):
            return True
    return (
        not ip.is_global
        or ip.is_multicast
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_reserved
        or ip.is_unspecified
    )


def is_local_name(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host in _LOCAL_NAMES or host.endswith(".localhost")


def check_url(url: str, *, allow_private: bool = False) -> str | None:
    """The static check: ``"scheme"``, ``"invalid_url"`` or ``"private"`` when ``url`` must not
    be requested, None when it may be (resolved addresses are checked by :func:`check_resolved`)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        return "invalid_url"
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not host:
        return "scheme"
    if allow_private:
        return None
    if is_local_name(host):
        return "private"
    ip = ip_of_host(host)
    if ip is not None and is_forbidden_ip(ip):
        return "private"
    return None


async def check_resolved(url: str) -> str | None:
    """``"private"`` when the URL's host name resolves to any forbidden address.

    A name that does not resolve is let through: the request then fails with a
    connection error, which is the more useful record."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ip_of_host(host) is not None:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    for _family, _type, _proto, _name, sockaddr in infos:
        ip = ip_of_host(str(sockaddr[0]))
        if ip is not None and is_forbidden_ip(ip):
            return "private"
    return None
