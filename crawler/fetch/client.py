"""Step 4 of the data flow: fetch one URL politely and safely, and record what happened.

The send path is layered, one concern per function (the shape of httpx's ``send``):

``Fetcher.fetch()``      safety check, host pause, robots.txt, Crawl-delay → FetchResult
 → ``_with_retries()``   tenacity: backoff with jitter on timeouts, connection errors,
                         429 and 5xx; Retry-After; host pauses
 → ``_follow()``         redirects: each hop checked (safety, robots), paced, bounded, loops
 → ``_send_once()``      one request in the host's politeness slot, under the timeout
 → ``_exchange()``       stream the body through bounded decoders, cut at ``max_bytes``

``fetch()`` never raises for anything the network or a server does: a failure is a short
``error`` string, a URL that was not requested at all has a ``skip_reason``. Every request
that reaches a server — robots.txt, redirect hops and retries included — passes through the
host's slot (paced, counted in ``attempts``, bounded by ``http.retries``: the transport
refuses aiohttp's silent re-sends) and leaves an :class:`~crawler.fetch.exchange.Exchange`
in ``FetchResult.exchanges`` (the output seam: see ``exchange.py``).

Bodies: HTML is decoded into ``text``; HTML, XML (sitemaps), RSS/Atom and JSON bodies are
kept in ``body`` (content-decoded bytes, at most ``max_bytes``); other types are read,
counted and kept only as the exchange's raw bytes.

Errors: ``timeout``, ``connection_error`` (refused, unreachable), ``connection_reset``
(dropped after the request went out, or an answer no HTTP parser accepts), ``dns_error``
(the host name does not resolve; also when that stopped its robots.txt), ``proxy_error``,
``invalid_url``, ``decoding_error``, ``too_large``, ``redirect_loop``,
``too_many_redirects``, ``redirect_private`` / ``redirect_scheme`` / ``redirect_robots`` /
``redirect_crawl_delay`` (a hop we refused to follow; ``final_url`` is that hop),
``robots_unavailable`` (with skip_reason ``robots``: the host's robots.txt could not be read,
ask again later), ``host_paused`` (the host is paused after repeated 429/503 or refused
connections, or asked for a Retry-After longer than we wait inline: ask again later).
``private`` (the connection found the host name resolving to private addresses only, though
the check before the request did not: DNS rebinding).
Skip reasons: ``scheme``, ``private``, ``robots``, ``crawl_delay``.
"""

from __future__ import annotations

import asyncio
import email.utils
import http.cookiejar
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC
from types import TracebackType
from typing import Any, Protocol

import httpx
from aiohttp import ClientError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_result,
    stop_after_attempt,
    stop_any,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_exponential, wait_random

from crawler.config import Config
from crawler.fetch import safety
from crawler.fetch.decode import decode_html
from crawler.fetch.exchange import Exchange, Purpose
from crawler.fetch.inflate import Decoder, DecodingError, Identity, accept_encoding, decoder_for
from crawler.fetch.robots import (
    MAX_ROBOTS_BYTES,
    MAX_ROBOTS_REDIRECTS,
    ROBOTS_TTL,
    UNREACHABLE,
    UNREACHABLE_TTL,
    RobotsRules,
    decode_robots,
    robots_url,
)
from crawler.fetch.slots import Slots
from crawler.fetch.transport import WIRE, Wire, build_transport, classify
from crawler.records import iso_at, parse_iso
from crawler.urls import host_of, normalize_url

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Bodies the crawler parses (pages; sitemaps, feeds and REST listings next): kept in ``body``.
KEPT_TYPES = HTML_TYPES | {
    "application/xml",
    "text/xml",
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/json",
    "application/feed+json",
    "application/ld+json",
    "application/gzip",  # gzipped sitemaps (sitemap.xml.gz), unpacked by their parser
    "application/x-gzip",
}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_AFTER_CAP = 3600.0  # a Retry-After longer than this is read as this
DISCARD_BYTES = 64 * 1024  # of an error or redirect body, read so the connection is reused
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<title", b"<meta", b"<!--")
# Exceptions of one request -> (error, "no connection at all" for host pauses); first match.
_ERRORS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str, bool], ...] = (
    (TimeoutError, "timeout", False),  # asyncio.timeout: the whole request took too long
    (httpx.ConnectTimeout, "timeout", True),
    (httpx.TimeoutException, "timeout", False),
    (httpx.ProxyError, "proxy_error", False),
    (httpx.ConnectError, "connection_error", True),
    ((httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError), "connection_reset", False),
    ((httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL), "invalid_url", False),
    (DecodingError, "decoding_error", False),
)
_CAUGHT = (TimeoutError, httpx.TransportError, httpx.InvalidURL, DecodingError, ClientError)
_DNS_CHECK_TTL = 300.0  # seconds a host's resolved-address check is trusted
_LAST_REQUEST_EVERY = 60.0  # seconds between hosts.last_request_at writes for one host


class HostStore(Protocol):
    """Per-host state kept across runs (the ``hosts`` table, implemented in ``db/store.py``).

    Columns the fetcher reads and writes (``save_host`` passes only some of them):

    - ``robots_status`` INTEGER: HTTP status of the last robots.txt answer, 0 if none came
    - ``robots_txt`` TEXT: its body (at most 500 KiB), ``robots_fetched_at`` TEXT (ISO UTC)
    - ``crawl_delay`` REAL: the Crawl-delay for our product token, NULL when none
    - ``sitemaps`` TEXT: the robots.txt ``Sitemap:`` URLs, a JSON list (``[]`` when none)
    - ``paused_until`` TEXT (ISO UTC, NULL when not paused), ``pause_seconds`` REAL (length
      of the last pause before jitter, 0 after a good answer: the next one doubles it),
      ``errors`` INTEGER (consecutive throttling answers or refused connections)
    - ``last_request_at`` TEXT (ISO UTC), written at most once a minute per host
    """

    def get_host(self, host: str) -> dict[str, Any] | None: ...

    def save_host(self, host: str, **values: Any) -> None: ...


@dataclass
class FetchResult:
    """The outcome of fetching one URL: what the engine stores and tests assert on."""

    url: str
    final_url: str
    status: int | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    size: int = 0
    error: str | None = None
    skip_reason: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    redirects: list[str] = field(default_factory=list)
    attempts: int = 0
    elapsed: float = 0.0
    body: bytes | None = None  # content-decoded body of a kept type (KEPT_TYPES), cut at max_bytes
    exchanges: list[Exchange] = field(default_factory=list)  # every request that reached a server

    @property
    def ok(self) -> bool:
        return self.error is None and self.skip_reason is None and self.status is not None


@dataclass
class _Answer:
    """One request's outcome, internal to the send path."""

    url: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    size: int = 0
    error: str | None = None
    connect_failed: bool = False  # no connection at all: counts towards a host pause
    reason: str = ""
    http_version: str = "1.1"
    raw_headers: list[tuple[str, str]] = field(default_factory=list)
    raw_chunks: list[bytes] = field(default_factory=list)  # the body as received
    truncated: bool = False


@dataclass
class _Trip:
    """What one ``fetch()`` accumulates across its layers: attempts and exchanges."""

    attempts: int = 0
    exchanges: list[Exchange] = field(default_factory=list)
    max_bytes: int | None = None  # this fetch's body limit, when not http.max_bytes


@dataclass
class _Chain:
    """The outcome of one redirect chain."""

    answer: _Answer
    redirects: list[str] = field(default_factory=list)


@dataclass
class _HostState:
    robots: RobotsRules | None = None
    robots_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    strikes: int = 0
    pause_seconds: float = 0.0  # the last pause's length before jitter; the next doubles it
    paused_until: float = 0.0  # wall clock
    last_saved: float = 0.0  # monotonic time of the last last_request_at write
    dns_checked_at: float | None = None  # monotonic
    dns_refusal: str | None = None


class Fetcher:
    """Fetches URLs for one run. Build one, use it as ``async with Fetcher(config) as f``.

    The backoff and pause figures are constructor parameters with production defaults so
    tests can make them tiny; ``check_dns`` defaults to "when no proxy and no injected
    transport" (a proxy or a test transport decides where requests really go).
    """

    def __init__(
        self,
        config: Config,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        host_store: HostStore | None = None,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        retry_after_cap: float = RETRY_AFTER_CAP,
        max_inline_wait: float = 60.0,
        pause_after: int = 3,
        pause_base: float = 60.0,
        pause_max: float = 86400.0,
        robots_ttl: float = ROBOTS_TTL,
        robots_unreachable_ttl: float = UNREACHABLE_TTL,
        check_dns: bool | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._polite = config.politeness
        self._http = config.http
        self._store = host_store
        self._backoff = (backoff_base, backoff_max)
        self._retry_after_cap = retry_after_cap
        self._max_inline_wait = max_inline_wait
        self._pause = (pause_after, pause_base, pause_max)
        self._robots_ttl = robots_ttl
        self._robots_unreachable_ttl = robots_unreachable_ttl
        self._check_dns = (
            check_dns if check_dns is not None else (transport is None and not self._http.proxy)
        )
        self._rng = rng or random.Random()
        self._token = self._polite.product_token
        self._slots = Slots(self._polite.delay, self._polite.per_host, self._polite.concurrency)
        self._hosts: dict[str, _HostState] = {}
        self._client = self._build_client(transport)

    def _build_client(self, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
        """The one HTTP client of the run: redirects are ours, the proxy takes everything."""
        concurrency = self._polite.concurrency
        if transport is None:
            transport = build_transport(self._http.proxy, self.config.safety.allow_private)
        return httpx.AsyncClient(
            transport=transport,
            cookies=_NoCookies(),
            follow_redirects=False,
            trust_env=False,  # config.toml is the one place a proxy is set
            timeout=httpx.Timeout(self._http.timeout),
            limits=httpx.Limits(
                max_connections=None,  # the slots bound what is in flight
                max_keepalive_connections=max(20, 2 * concurrency),
            ),
            headers={
                "User-Agent": self._polite.user_agent,
                "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
                "Accept-Encoding": accept_encoding(),
            },
        )

    @property
    def slots(self) -> Slots:
        """The per-host slots: the engine queues its work there and asks who is ready."""
        return self._slots

    def host_delay(self, host: str) -> float:
        """Seconds between request starts to ``host`` (the delay, or its Crawl-delay)."""
        return self._slots.delay_of(host)

    def robots_sitemaps(self, host: str) -> list[str]:
        """The ``Sitemap:`` URLs of ``host``'s robots.txt as read this run ([] if unread)."""
        state = self._hosts.get(host)
        return state.robots.sitemaps if state is not None and state.robots is not None else []

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- layer 1: admission and the result -------------------------------------------------

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        max_bytes: int | None = None,
    ) -> FetchResult:
        """Fetch ``url`` (already normalised); never raises for network or server trouble.
        ``max_bytes``: this body's limit instead of ``http.max_bytes`` (sitemaps: 50 MB)."""
        started = time.monotonic()
        result = FetchResult(url=url, final_url=url)
        trip = _Trip(max_bytes=max_bytes)
        refusal = await self._admit(url, trip)
        if refusal is not None:
            result.skip_reason, result.error = refusal
        else:
            headers = _conditional_headers(etag, last_modified)
            chain = await self._with_retries(url, headers, trip)
            _fill_result(result, chain)
            result.attempts = trip.attempts
            self._note_request(host_of(url))
        result.exchanges = trip.exchanges
        result.elapsed = time.monotonic() - started
        return result

    async def _admit(self, url: str, trip: _Trip) -> tuple[str | None, str | None] | None:
        """``(skip_reason, error)`` when ``url`` must not be requested now, else None."""
        reason = await self._unsafe(url)
        if reason is not None:
            return reason, None
        if self._paused(host_of(url)):
            return None, "host_paused"
        return await self._robots_refusal(url, trip)

    async def _unsafe(self, url: str) -> str | None:
        allow = self.config.safety.allow_private
        reason = safety.check_url(url, allow_private=allow)
        if reason is None and self._check_dns and not allow:
            reason = await self._check_resolved(url)
        return reason

    async def _check_resolved(self, url: str) -> str | None:
        """The resolved-address check, remembered per host for a few minutes."""
        state = self._host(host_of(url))
        now = time.monotonic()
        if state.dns_checked_at is None or now - state.dns_checked_at > _DNS_CHECK_TTL:
            state.dns_refusal = await safety.check_resolved(url)
            state.dns_checked_at = now
        return state.dns_refusal

    async def _robots_refusal(self, url: str, trip: _Trip) -> tuple[str | None, str | None] | None:
        if not self._polite.obey_robots:
            return None
        rules = await self._robots(url, trip)
        if rules.error == "dns_error":
            return None, "dns_error"  # the host does not exist (now): not a robots question
        if not rules.reachable:
            return "robots", UNREACHABLE
        if not rules.allows(url, self._token):
            return "robots", None
        delay = rules.crawl_delay(self._token)
        if delay is not None and delay > self._polite.max_crawl_delay:
            return "crawl_delay", None
        if delay is not None:
            self._slots.set_delay(host_of(url), delay)
        return None

    # -- robots.txt ------------------------------------------------------------------------

    async def _robots(self, url: str, trip: _Trip) -> RobotsRules:
        """The rules for ``url``'s host: from memory, the store, or a (paced) request, whose
        exchanges go into ``trip`` (the fetch that needed the rules)."""
        host = host_of(url)
        state = self._host(host)
        async with state.robots_lock:
            if state.robots is None or not state.robots.is_fresh(
                ttl=self._robots_ttl, unreachable_ttl=self._robots_unreachable_ttl
            ):
                state.robots = await self._read_robots(robots_url(url), trip)
                if self._store is not None:
                    self._store.save_host(host, **state.robots.to_store(self._token))
            return state.robots

    async def _read_robots(self, url: str, trip: _Trip) -> RobotsRules:
        seen = {url}
        for _ in range(MAX_ROBOTS_REDIRECTS + 1):
            answer = await self._send_once(url, {}, trip, purpose="robots")
            if answer.error is not None:
                return RobotsRules(0, error=answer.error)
            target = _redirect_target(answer)
            if target is None:
                text = decode_robots(answer.body or b"") if answer.status == 200 else ""
                return RobotsRules(answer.status or 0, text)
            if target in seen or await self._unsafe(target) is not None:
                break
            seen.add(target)
            url = target
        return RobotsRules(404)  # RFC 9309: too many redirects may be read as unavailable

    # -- layer 2: retries ------------------------------------------------------------------

    async def _with_retries(self, url: str, headers: dict[str, str], trip: _Trip) -> _Chain:
        base, cap = self._backoff
        retrying = AsyncRetrying(
            stop=stop_any(
                stop_after_attempt(self._http.retries + 1),
                _StopIf(lambda state: self._stop_early(_chain_of(state))),
            ),
            wait=wait_exponential(multiplier=base, max=cap) + wait_random(0, base),
            retry=retry_if_result(self._retryable),
            retry_error_callback=_chain_of,
        )
        chain: _Chain = await retrying(self._follow, url, headers, trip)
        if self._paused(host_of(chain.answer.url)) and self._retryable(chain):
            chain.answer.error = "host_paused"
        return chain

    def _retryable(self, chain: _Chain) -> bool:
        answer = chain.answer
        if answer.error in ("timeout", "connection_error", "connection_reset"):
            return True
        return answer.error is None and answer.status is not None and _retry_status(answer.status)

    def _stop_early(self, chain: _Chain) -> bool:
        return self._paused(host_of(chain.answer.url))

    # -- layer 3: redirects ----------------------------------------------------------------

    async def _follow(self, url: str, headers: dict[str, str], trip: _Trip) -> _Chain:
        chain = _Chain(_Answer(url))
        seen = {url}
        current = url
        while True:
            trip.attempts += 1
            answer = await self._send_once(current, headers, trip)
            chain.answer = answer
            target = _redirect_target(answer)
            if target is None:
                return chain
            refusal = await self._refuse_hop(target, seen, len(chain.redirects), trip)
            if refusal is not None:
                answer.error = refusal
                if refusal != "redirect_loop":
                    answer.url = target
                return chain
            chain.redirects.append(target)
            seen.add(target)
            current = target

    async def _refuse_hop(self, target: str, seen: set[str], hops: int, trip: _Trip) -> str | None:
        if target in seen:
            return "redirect_loop"
        if hops >= self._http.max_redirects:
            return "too_many_redirects"
        reason = await self._unsafe(target)
        if reason is not None:
            return f"redirect_{reason}"
        if self._paused(host_of(target)):
            return "host_paused"
        refusal = await self._robots_refusal(target, trip)
        if refusal is not None:
            skip, error = refusal
            return error or f"redirect_{skip}"
        return None

    # -- layer 4: one request --------------------------------------------------------------

    async def _send_once(
        self, url: str, headers: dict[str, str], trip: _Trip, purpose: Purpose = "page"
    ) -> _Answer:
        """One request in its host's slot, the whole of it under ``http.timeout``; the
        exchange goes into ``trip`` if the request reached a server."""
        host = host_of(url)
        # The transport's trace hook calls this as the request line goes out: the host's
        # next request is paced from the real send, not from when this one took its slot.
        wire = Wire(on_sent=lambda: self._slots.mark_sent(host))
        try:
            request = self._client.build_request(
                "GET", url, headers=headers, extensions={WIRE: wire}
            )
        except (httpx.InvalidURL, UnicodeError, ValueError):  # bad port, bad IDNA label, …
            return _Answer(url, error="invalid_url")
        answer = partial = _Answer(url)
        async with self._slots.request(host):
            started = time.monotonic()
            try:
                async with asyncio.timeout(self._http.timeout):
                    await self._exchange(request, partial, purpose, trip.max_bytes)
            except _CAUGHT as exc:
                answer = _failure(partial, exc)
        exchange = _exchange_record(request, wire, partial, purpose, time.monotonic() - started)
        if exchange is not None:
            trip.exchanges.append(exchange)
        if purpose == "page":
            self._note_answer(host, answer)
        return answer

    async def _exchange(
        self, request: httpx.Request, answer: _Answer, purpose: Purpose, limit: int | None = None
    ) -> None:
        """Send ``request`` and read its answer into ``answer`` (in place, so that what was
        received before a failure is still there for the exchange record)."""
        response = await self._client.send(request, stream=True)
        # The answer has started: the host has surely seen the request by now (an injected
        # test transport fires no trace hook, so this is also where pacing learns it).
        self._slots.mark_sent(request.url.netloc.decode("ascii"))
        try:
            _start_answer(answer, response)
            if purpose == "robots":
                await _read_body(response, answer, MAX_ROBOTS_BYTES, keep=True, cut_ok=True)
            elif 200 <= response.status_code < 300:
                keep = _media_type(answer.headers) in KEPT_TYPES | {None}
                await _read_body(response, answer, limit or self._http.max_bytes, keep=keep)
            else:
                await _discard_body(response, answer)
        finally:
            await response.aclose()

    # -- host state: pauses and Retry-After ------------------------------------------------

    def _host(self, host: str) -> _HostState:
        state = self._hosts.get(host)
        if state is None:
            state = self._hosts[host] = _HostState()
            self._load_host(host, state)
        return state

    def _load_host(self, host: str, state: _HostState) -> None:
        row = self._store.get_host(host) if self._store is not None else None
        if not row:
            return
        state.robots = RobotsRules.from_store(row, ttl=self._robots_ttl)
        state.pause_seconds = float(row.get("pause_seconds") or 0.0)
        state.paused_until = parse_iso(row.get("paused_until"))
        if state.paused_until > time.time():  # the slot holds the host's work till then
            self._slots.hold_off(host, state.paused_until - time.time())
        state.strikes = int(row.get("errors") or 0)

    def _paused(self, host: str) -> bool:
        return self._host(host).paused_until > time.time()

    def _note_answer(self, host: str, answer: _Answer) -> None:
        """Honour Retry-After; count throttling answers and refused connections; pause."""
        state = self._host(host)
        wait = None
        if answer.status in (429, 503):
            wait = _retry_after(answer.headers.get("retry-after"), self._retry_after_cap)
        if wait is not None:
            self._slots.hold_off(host, wait)
            if wait > self._max_inline_wait:
                self._pause_until(host, state, time.time() + wait, escalate=False)
        elif answer.status in (429, 503) or answer.connect_failed:
            state.strikes += 1
            if state.strikes >= self._pause[0]:
                self._pause_host(host, state)
        elif (
            answer.status is not None
            and answer.status < 500
            and (state.strikes or state.pause_seconds)
        ):
            state.strikes = 0
            if state.pause_seconds:
                state.pause_seconds = 0.0
                self._save(host, pause_seconds=0.0, paused_until=None, errors=0)

    def _pause_host(self, host: str, state: _HostState) -> None:
        _after, base, cap = self._pause
        state.pause_seconds = min(cap, 2 * state.pause_seconds if state.pause_seconds else base)
        length = min(cap, state.pause_seconds * self._rng.uniform(0.8, 1.2))
        self._pause_until(host, state, time.time() + length, escalate=True)

    def _pause_until(self, host: str, state: _HostState, until: float, escalate: bool) -> None:
        state.paused_until = max(state.paused_until, until)
        self._slots.hold_off(host, state.paused_until - time.time())
        if escalate:
            state.strikes = 0
        self._save(
            host,
            paused_until=iso_at(state.paused_until),
            pause_seconds=state.pause_seconds,
            errors=state.strikes,
        )

    def _note_request(self, host: str) -> None:
        state = self._host(host)
        now = time.monotonic()
        if self._store is not None and now - state.last_saved >= _LAST_REQUEST_EVERY:
            state.last_saved = now
            self._save(host, last_request_at=iso_at(time.time()))

    def _save(self, host: str, **values: Any) -> None:
        if self._store is not None:
            self._store.save_host(host, **values)


# -- helpers -------------------------------------------------------------------------------


class _NoCookies(http.cookiejar.CookieJar):
    """A crawler keeps no cookies. httpx parses every response's headers into its jar
    (a tenth of the fetch path's CPU time in the benchmark): this jar skips that."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


class _StopIf(stop_base):
    """A tenacity stop condition from a predicate on the retry state."""

    def __init__(self, predicate: Callable[[RetryCallState], bool]) -> None:
        self._predicate = predicate

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._predicate(retry_state)


def _chain_of(state: RetryCallState) -> _Chain:
    """The chain an attempt returned (attempts return, never raise: failures are data)."""
    assert state.outcome is not None  # stop and the error callback run after an attempt
    chain: _Chain = state.outcome.result()
    return chain


def _failure(partial: _Answer, exc: BaseException) -> _Answer:
    """The answer of a request that failed with ``exc``: no status, an error name. The
    partial answer keeps what came before the failure, for the exchange record."""
    error, connect_failed = _error_of(exc)
    partial.error = error
    partial.truncated = partial.status is not None
    return _Answer(partial.url, error=error, connect_failed=connect_failed)


def _error_of(exc: BaseException) -> tuple[str, bool]:
    known = classify(exc)
    if known is not None:
        return known
    for kinds, error, connect_failed in _ERRORS:
        if isinstance(exc, kinds):
            return error, connect_failed
    return "connection_error", False


def _start_answer(answer: _Answer, response: httpx.Response) -> None:
    answer.status = response.status_code
    answer.reason = response.reason_phrase
    answer.http_version = response.http_version.removeprefix("HTTP/")
    raw = [
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in response.headers.raw
    ]
    answer.raw_headers = raw
    answer.headers = _merged(raw)


def _merged(raw: list[tuple[str, str]]) -> dict[str, str]:
    """Lower-case names; a repeated header's values joined with ", " (as httpx does)."""
    merged: dict[str, str] = {}
    for name, value in raw:
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


def _exchange_record(
    request: httpx.Request, wire: Wire, answer: _Answer, purpose: Purpose, elapsed: float
) -> Exchange | None:
    """The Exchange of one request, or None when it never reached a server. A transport
    without the trace hook (a test's MockTransport) counts as sent once it answered."""
    if wire.sent_at is None and answer.status is None:
        return None
    return Exchange(
        method=request.method,
        url=answer.url,
        request_headers=wire.request_headers
        or [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
        sent_at=wire.sent_at if wire.sent_at is not None else time.time() - elapsed,
        http_version=answer.http_version,
        status=answer.status,
        reason=answer.reason,
        response_headers=answer.raw_headers,
        raw_body=_raw_body(answer),
        truncated=answer.truncated,
        error=answer.error,
        elapsed=elapsed,
        purpose=purpose,
    )


async def _read_body(
    response: httpx.Response, answer: _Answer, limit: int, keep: bool, cut_ok: bool = False
) -> None:
    """Stream the body through a bounded decoder, at most ``limit`` bytes both as received
    and decoded; keep the decoded bytes in ``answer.body`` if ``keep``. Past the limit the
    rest is never read: ``too_large`` unless ``cut_ok``."""
    decoder, chunks = _raw_stream(response, answer.headers.get("content-encoding"))
    identity = isinstance(decoder, Identity)  # decoded == raw: keep the bytes once
    decoded: list[bytes] | None = [] if keep and not identity else None
    raw, body = _Bounded(limit, answer.raw_chunks), _Bounded(limit, decoded)
    complete = await _pump(chunks, decoder, raw, body)
    raw_bytes = _collapse(answer)
    answer.size = raw.size if identity else body.size
    answer.truncated = not complete
    if not complete and not cut_ok:
        answer.error = "too_large"
    if keep:
        answer.body = raw_bytes if decoded is None else b"".join(decoded)


class _Bounded:
    """Counts bytes up to a limit, keeping them in ``store`` if one is given."""

    def __init__(self, limit: int, store: list[bytes] | None = None) -> None:
        self.limit = limit
        self.size = 0
        self.store = store

    def add(self, data: bytes) -> bool:
        """Take what fits of ``data``; False when not all of it did (the limit is reached)."""
        room = self.limit - self.size
        part = data if len(data) <= room else data[:room]
        self.size += len(part)
        if self.store is not None and part:
            self.store.append(part)
        return len(part) == len(data)


async def _pump(
    chunks: AsyncIterator[bytes], decoder: Decoder, raw: _Bounded, body: _Bounded
) -> bool:
    """Feed the raw chunks through the decoder; False when a limit cut the body short."""
    async for chunk in chunks:
        if not raw.add(chunk):
            return False
        for piece in decoder.feed(chunk):
            if not body.add(piece):
                return False
    return all(body.add(piece) for piece in decoder.flush())


def _collapse(answer: _Answer) -> bytes:
    """Join the raw chunks once, and hold only the joined bytes from now on."""
    chunks = answer.raw_chunks
    joined = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    answer.raw_chunks = [joined] if joined else []
    return joined


def _raw_body(answer: _Answer) -> bytes:
    return _collapse(answer)


def _raw_stream(
    response: httpx.Response, content_encoding: str | None
) -> tuple[Decoder, AsyncIterator[bytes]]:
    """The body's bytes as sent and their decoder. A response built in memory (by a
    MockTransport) is already read and decoded by httpx: then its content passes through."""
    if response.is_stream_consumed and hasattr(response, "_content"):
        return Identity(), _one(response.content)
    return decoder_for(content_encoding), response.aiter_raw()


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _discard_body(response: httpx.Response, answer: _Answer) -> None:
    """Read a little of an error or redirect body — kept as the exchange's raw body — so
    that a short one leaves the connection reusable."""
    raw = _Bounded(DISCARD_BYTES, answer.raw_chunks)
    _decoder, chunks = _raw_stream(response, None)
    async for chunk in chunks:
        if not raw.add(chunk):
            answer.truncated = True
            break
    _collapse(answer)


def _fill_result(result: FetchResult, chain: _Chain) -> None:
    answer = chain.answer
    result.final_url = answer.url
    result.redirects = chain.redirects
    result.status = answer.status
    result.headers = answer.headers
    result.content_type = _media_type(answer.headers)
    result.size = answer.size
    result.error = answer.error
    result.etag = answer.headers.get("etag")
    result.last_modified = answer.headers.get("last-modified")
    result.body = answer.body
    if _is_html_body(answer, result.content_type):
        result.text, _codec = decode_html(answer.body or b"", answer.headers.get("content-type"))


def _is_html_body(answer: _Answer, content_type: str | None) -> bool:
    if answer.body is None or answer.status is None or not 200 <= answer.status < 300:
        return False
    return content_type in HTML_TYPES or (content_type is None and looks_like_html(answer.body))


def looks_like_html(body: bytes) -> bool:
    """The HTML standard's sniffing, reduced to what a blog crawler meets."""
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n\f").lower()
    return head.startswith(_HTML_STARTS)


def _media_type(headers: dict[str, str]) -> str | None:
    value = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return value or None


def _redirect_target(answer: _Answer) -> str | None:
    if answer.error is not None or answer.status not in REDIRECT_STATUSES:
        return None
    location = answer.headers.get("location")
    if not location:
        return None
    return normalize_url(location, base=answer.url) or "invalid:" + location


def _retry_status(status: int) -> bool:
    return status == 429 or 500 <= status < 600


def _retry_after(value: str | None, cap: float) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # "²" is a digit to str.isdigit(), not to float()
        return min(float(value), cap)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, when.timestamp() - time.time()), cap)


def _conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers
