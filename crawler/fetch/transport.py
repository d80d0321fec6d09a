"""Step 4 of the data flow (fetch): the HTTP transport under the one ``httpx.AsyncClient``.

The crawler keeps the httpx API but sends through aiohttp (``httpx-aiohttp``): the
benchmark showed httpcore's pool spending most of a many-host crawl re-sorting its
connections (about 260 pages/s through a proxy), where aiohttp's connector does the
same job at several thousand. Tests may still inject any httpx transport. Without a
proxy, the connector resolves through :class:`PublicResolver`, which refuses private
addresses at connection time (the fetcher's earlier check cannot see DNS rebinding).
"""

from __future__ import annotations

import socket

import aiohttp
import httpx
from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver
from httpx_aiohttp import AiohttpTransport

from crawler.fetch.safety import ip_of_host, is_forbidden_ip

KEEPALIVE_SECONDS = 15.0


class PrivateAddressError(OSError):
    """A host name resolved only to addresses the crawler must not contact."""


class PublicResolver(ThreadedResolver):
    """aiohttp's resolver, keeping only public addresses.

    The fetcher checks a host's addresses before the request, but the connection resolves
    the name again: a name whose answer changes in between (DNS rebinding) would reach a
    private address. Checking here, on the addresses actually connected to, closes that.
    """

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await super().resolve(host, port, family)
        public = [a for a in answers if not _forbidden(a["host"])]
        if not public:
            raise PrivateAddressError(f"{host} resolves only to private addresses")
        return public


def _forbidden(address: str) -> bool:
    ip = ip_of_host(address)
    return ip is None or is_forbidden_ip(ip)


def build_transport(proxy: str, allow_private: bool = False) -> httpx.AsyncBaseTransport:
    """An aiohttp-backed transport; every request goes through ``proxy`` when it is set.
    Without a proxy, connections go only to public addresses unless ``allow_private``."""

    def session() -> aiohttp.ClientSession:
        # Created lazily inside the running loop. No connection limit here: the politeness
        # slots bound what is in flight. No cookie jar: a crawler has no use for cookies.
        resolver = None if proxy or allow_private else PublicResolver()
        connector = aiohttp.TCPConnector(
            limit=0, keepalive_timeout=KEEPALIVE_SECONDS, resolver=resolver
        )
        return aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
        )

    return AiohttpTransport(proxy=httpx.Proxy(proxy) if proxy else None, client=session)


def classify_aiohttp_error(exc: BaseException) -> tuple[str, bool] | None:
    """``(error, connect_failed)`` for an aiohttp failure behind an httpx exception.

    httpx-aiohttp maps every dropped connection to ``ConnectTimeout``; a server closing a
    kept-alive connection is a reset, not a host refusing us.
    """
    cause = exc.__cause__ if isinstance(exc, httpx.HTTPError) else exc
    if not isinstance(cause, aiohttp.ClientError):
        return None
    if isinstance(cause, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        return "proxy_error", False
    if isinstance(getattr(cause, "os_error", None), PrivateAddressError):
        return "private", False
    if isinstance(cause, aiohttp.ClientConnectorError):
        return "connection_error", True
    if isinstance(cause, aiohttp.ServerTimeoutError):
        return "timeout", False
    if isinstance(cause, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError):
        return "connection_reset", False
    if isinstance(cause, aiohttp.ClientPayloadError):
        return "connection_reset", False
    return "connection_error", False
