"""Step 4 of the data flow (fetch): the HTTP transport under the one ``httpx.AsyncClient``.

The crawler keeps the httpx API but sends through aiohttp (``httpx-aiohttp``): the
benchmark showed httpcore's pool spending most of a many-host crawl re-sorting its
connections (about 260 pages/s through a proxy), where aiohttp's connector does the
same job at several thousand. Tests may still inject any httpx transport.
"""

from __future__ import annotations

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

KEEPALIVE_SECONDS = 15.0


def build_transport(proxy: str) -> httpx.AsyncBaseTransport:
    """An aiohttp-backed transport; every request goes through ``proxy`` when it is set."""

    def session() -> aiohttp.ClientSession:
        # Created lazily inside the running loop. No connection limit here: the politeness
        # slots bound what is in flight. No cookie jar: a crawler has no use for cookies.
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEPALIVE_SECONDS)
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
    if isinstance(cause, aiohttp.ClientConnectorError):
        return "connection_error", True
    if isinstance(cause, aiohttp.ServerTimeoutError):
        return "timeout", False
    if isinstance(cause, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError):
        return "connection_reset", False
    if isinstance(cause, aiohttp.ClientPayloadError):
        return "connection_reset", False
    return "connection_error", False
