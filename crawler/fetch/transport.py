"""Step 4 of the data flow (fetch): the HTTP transport under the one ``httpx.AsyncClient``.

The crawler keeps the httpx API but sends through aiohttp: the benchmark showed httpcore's
pool spending most of a many-host crawl re-sorting its connections (about 260 pages/s
through a proxy), where aiohttp's connector does the same job at several thousand.
:class:`WireTransport` is a small httpx transport of our own over an aiohttp session, so
that what reaches the wire is under the fetcher's control:

- **One request, one send.** aiohttp re-sends an idempotent request on its own when a
  connection fails after the request went out (a server resetting a kept-alive
  connection): the host then sees a second, unpaced request 1–40 ms later, and every
  configured retry is doubled. A client middleware (aiohttp's per-attempt hook) turns such a
  failure into :class:`ConnectionDropped`, which aiohttp does not retry; the fetcher's own
  retries — paced by the host's slot, counted, bounded by ``http.retries`` — take over.
- **The real send moment.** aiohttp's ``on_request_headers_sent`` trace hook fires as the
  request line and headers are written; it fills the request's :class:`Wire` record (the
  headers exactly as sent, Host and User-Agent included, and the wall-clock time) and calls
  its ``on_sent`` (the fetcher's ``Slots.mark_sent``). A request whose Wire has no
  ``sent_at`` never reached a server.
- **Exact errors.** aiohttp's exceptions map to httpx's with the aiohttp one as
  ``__cause__``; :func:`classify` names the failure (``dns_error``, ``connection_error``,
  ``connection_reset``, ``timeout``, ``proxy_error``, ``private``).

Without a proxy, the connector resolves through :class:`PublicResolver`, which refuses
private addresses at connection time (the fetcher's earlier check cannot see DNS rebinding).
Tests may still inject any httpx transport (``httpx.MockTransport``); pacing and retry tests
use this one against a local server.
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.client_middlewares import ClientHandlerType
from aiohttp.resolver import ThreadedResolver

from crawler.fetch.safety import ip_of_host, is_forbidden_ip

KEEPALIVE_SECONDS = 15.0
WIRE = "pingcrawl.wire"  # the httpx request extension carrying the request's Wire
BODY_CHUNK = 64 * 1024


class PrivateAddressError(OSError):
    """A host name resolved only to addresses the crawler must not contact."""


class ConnectionDropped(aiohttp.ClientConnectionError):
    """The connection failed after the request went out. Not an ``OSError`` subclass, so
    aiohttp does not re-send the request on its own (see the module docstring)."""


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


@dataclass
class Wire:
    """What reached the wire of one request; filled by the trace hook, read by the fetcher."""

    on_sent: Callable[[], None] | None = None
    sent_at: float | None = None  # wall clock when the request line and headers went out
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    sends: int = 0  # how many times this request went out: 1, or 0 if it never did

    def sent(self, headers: Any) -> None:
        self.sends += 1
        self.sent_at = time.time()
        self.request_headers = [(str(k), str(v)) for k, v in headers.items()]
        if self.on_sent is not None:
            self.on_sent()


async def _on_headers_sent(
    _session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestHeadersSentParams,
) -> None:
    wire = context.trace_request_ctx
    if isinstance(wire, Wire):
        wire.sent(params.headers)


async def _no_silent_resend(
    request: aiohttp.ClientRequest, handler: ClientHandlerType
) -> aiohttp.ClientResponse:
    """Runs around each attempt aiohttp makes; stops the attempt after a dropped one."""
    try:
        return await handler(request)
    except aiohttp.ClientConnectorError:
        raise  # no connection was made: nothing was sent, and aiohttp does not retry these
    except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
        raise ConnectionDropped(str(exc) or type(exc).__name__) from exc


class _Body(httpx.AsyncByteStream):
    """The response body as it came (content-encoded), in the transport's chunks."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(BODY_CHUNK):
                yield chunk
        except aiohttp.ClientError as exc:
            raise _httpx_error(exc) from exc

    async def aclose(self) -> None:
        self._response.release()


class WireTransport(httpx.AsyncBaseTransport):
    """An httpx transport over one aiohttp session; see the module docstring."""

    def __init__(self, proxy: str = "", resolver: AbstractResolver | None = None) -> None:
        self._proxy = proxy or None
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Created lazily inside the running loop. No connection limit here: the politeness
        # slots bound what is in flight. No cookie jar: a crawler has no use for cookies.
        tracing = aiohttp.TraceConfig()
        tracing.on_request_headers_sent.append(_on_headers_sent)
        connector = aiohttp.TCPConnector(
            limit=0, keepalive_timeout=KEEPALIVE_SECONDS, resolver=self._resolver
        )
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            trace_configs=[tracing],
            middlewares=(_no_silent_resend,),
            auto_decompress=False,  # the fetcher inflates, in bounded steps
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:
            self._session = self._open()
        timeout = request.extensions.get("timeout", {})
        try:
            response = await self._session.request(
                request.method,
                str(request.url),
                headers=[
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                ],
                allow_redirects=False,
                compress=None,
                proxy=self._proxy,
                timeout=aiohttp.ClientTimeout(
                    sock_connect=timeout.get("connect"), sock_read=timeout.get("read")
                ),
                trace_request_ctx=request.extensions.get(WIRE),
            )
        except aiohttp.ClientError as exc:
            raise _httpx_error(exc) from exc
        except (ValueError, UnicodeError) as exc:  # a URL or header yarl/aiohttp refuse
            raise httpx.UnsupportedProtocol(str(exc)) from exc
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response),
            request=request,
            extensions={
                "http_version": _version(response.version),
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _version(version: aiohttp.HttpVersion | None) -> bytes:
    return b"HTTP/1.1" if version is None else f"HTTP/{version.major}.{version.minor}".encode()


def build_transport(
    proxy: str, allow_private: bool = False, resolver: AbstractResolver | None = None
) -> httpx.AsyncBaseTransport:
    """The production transport; every request goes through ``proxy`` when it is set.
    Without a proxy, connections go only to public addresses unless ``allow_private``.
    ``resolver`` replaces the resolver (tests: a name that resolves slowly, or not at all)."""
    if resolver is None and not proxy and not allow_private:
        resolver = PublicResolver()
    return WireTransport(proxy, resolver)


# -- errors -------------------------------------------------------------------------------

# aiohttp failure -> (error, connect_failed: no connection at all, counts towards a pause).
# First match wins, so subclasses come before their bases.
_CLASSES: tuple[tuple[type[BaseException], str, bool, type[httpx.TransportError]], ...] = (
    (aiohttp.ClientProxyConnectionError, "proxy_error", False, httpx.ProxyError),
    (aiohttp.ClientHttpProxyError, "proxy_error", False, httpx.ProxyError),
    (aiohttp.ClientConnectorDNSError, "dns_error", True, httpx.ConnectError),
    (aiohttp.ConnectionTimeoutError, "timeout", True, httpx.ConnectTimeout),
    (aiohttp.ClientConnectorError, "connection_error", True, httpx.ConnectError),
    (aiohttp.ServerTimeoutError, "timeout", False, httpx.ReadTimeout),
    (ConnectionDropped, "connection_reset", False, httpx.ReadError),
    (aiohttp.ServerDisconnectedError, "connection_reset", False, httpx.ReadError),
    (aiohttp.ClientOSError, "connection_reset", False, httpx.ReadError),
    (aiohttp.ClientPayloadError, "connection_reset", False, httpx.ReadError),
    # A status line or header block no HTTP parser accepts: the exchange broke off.
    (aiohttp.ClientResponseError, "connection_reset", False, httpx.RemoteProtocolError),
    (aiohttp.InvalidURL, "invalid_url", False, httpx.UnsupportedProtocol),
    (aiohttp.NonHttpUrlClientError, "invalid_url", False, httpx.UnsupportedProtocol),
)


def _httpx_error(exc: aiohttp.ClientError) -> httpx.TransportError:
    for kind, _error, _connect_failed, mapped in _CLASSES:
        if isinstance(exc, kind):
            return mapped(str(exc) or type(exc).__name__)
    return httpx.TransportError(str(exc) or type(exc).__name__)


def classify(exc: BaseException) -> tuple[str, bool] | None:
    """``(error, connect_failed)`` for an aiohttp failure (or an httpx one caused by it)."""
    cause = exc.__cause__ if isinstance(exc, httpx.HTTPError) else exc
    if not isinstance(cause, aiohttp.ClientError):
        return None
    # The resolver's refusal travels as the OSError inside a connector (DNS) error.
    if isinstance(getattr(cause, "os_error", None), PrivateAddressError):
        return "private", False
    for kind, error, connect_failed, _mapped in _CLASSES:
        if isinstance(cause, kind):
            return error, connect_failed
    return "connection_error", False
