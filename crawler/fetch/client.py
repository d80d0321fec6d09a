"""Step 4 of the data flow: fetch one URL politely and safely, and record what happened.

The send path is layered, one concern per function (the shape of httpx's ``send``):

``Fetcher.fetch()``      safety check, host pause, robots.txt, Crawl-delay → FetchResult
 → ``_with_retries()``   tenacity: backoff with jitter on timeouts, connection errors,
                         429 and 5xx; Retry-After; host pauses
 → ``_follow()``         redirects: each hop checked (safety, robots), paced, bounded, loops
 → ``_send_once()``      one request in the host's politeness slot, under the timeout
 → ``_exchange()``       stream the body through bounded decoders, cut at ``max_bytes``

``fetch()`` never raises for anything the network or a server does: a failure is a short
``error`` string, a URL that was not requested at all has a ``skip_reason``.

Errors: ``timeout``, ``connection_error``, ``connection_reset``, ``proxy_error``,
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
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC
from types import TracebackType
from typing import Any, Protocol

import httpx
from aiohttp import ClientError
from tenacity import AsyncRetrying, retry_if_result, stop_after_attempt, stop_any
from tenacity.wait import wait_exponential, wait_random

from crawler.config import Config
from crawler.fetch import safety
from crawler.fetch.decode import decode_html
from crawler.fetch.inflate import Decoder, DecodingError, Identity, accept_encoding, decoder_for
from crawler.fetch.robots import (
    MAX_ROBOTS_BYTES,
    MAX_ROBOTS_REDIRECTS,
    ROBOTS_TTL,
    UNREACHABLE,
    RobotsRules,
    decode_robots,
    robots_url,
)
from crawler.fetch.slots import Slots
from crawler.fetch.transport import build_transport, classify_aiohttp_error
from crawler.records import iso_at, parse_iso
from crawler.urls import host_of, normalize_url

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_AFTER_CAP = 3600.0  # a Retry-After longer than this is read as this
DISCARD_BYTES = 64 * 1024  # of an error or redirect body, read so the connection is reused
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<title", b"<meta", b"<!--")
_PACE_EVENTS = ("send_request_headers.started", "receive_response_headers.complete")
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
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """Fetch ``url`` (already normalised); never raises for network or server trouble."""
        started = time.monotonic()
        result = FetchResult(url=url, final_url=url)
        refusal = await self._admit(url)
        if refusal is not None:
            result.skip_reason, result.error = refusal
        else:
            headers = _conditional_headers(etag, last_modified)
            counter = [0]
            chain = await self._with_retries(url, headers, counter)
            _fill_result(result, chain, self._http.max_bytes)
            result.attempts = counter[0]
            self._note_request(host_of(url))
        result.elapsed = time.monotonic() - started
        return result

    async def _admit(self, url: str) -> tuple[str | None, str | None] | None:
        """``(skip_reason, error)`` when ``url`` must not be requested now, else None."""
        reason = await self._unsafe(url)
        if reason is not None:
            return reason, None
        if self._paused(host_of(url)):
            return None, "host_paused"
        return await self._robots_refusal(url)

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

    async def _robots_refusal(self, url: str) -> tuple[str | None, str | None] | None:
        if not self._polite.obey_robots:
            return None
        rules = await self._robots(url)
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

    async def _robots(self, url: str) -> RobotsRules:
        """The rules for ``url``'s host: from memory, the store, or a (paced) request."""
        host = host_of(url)
        state = self._host(host)
        async with state.robots_lock:
            if state.robots is None or not state.robots.is_fresh(ttl=self._robots_ttl):
                state.robots = await self._read_robots(robots_url(url))
                if self._store is not None:
                    self._store.save_host(host, **state.robots.to_store(self._token))
            return state.robots

    async def _read_robots(self, url: str) -> RobotsRules:
        seen = {url}
        for _ in range(MAX_ROBOTS_REDIRECTS + 1):
            answer = await self._send_once(url, {}, robots=True)
            if answer.error is not None:
                return RobotsRules(0)
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

    async def _with_retries(self, url: str, headers: dict[str, str], counter: list[int]) -> _Chain:
        base, cap = self._backoff
        retrying = AsyncRetrying(
            stop=stop_any(
                stop_after_attempt(self._http.retries + 1),
                lambda state: self._stop_early(state.outcome.result()),
            ),
            wait=wait_exponential(multiplier=base, max=cap) + wait_random(0, base),
            retry=retry_if_result(self._retryable),
            retry_error_callback=lambda state: state.outcome.result(),
        )
        chain: _Chain = await retrying(self._follow, url, headers, counter)
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

    async def _follow(self, url: str, headers: dict[str, str], counter: list[int]) -> _Chain:
        chain = _Chain(_Answer(url))
        seen = {url}
        current = url
        while True:
            counter[0] += 1
            answer = await self._send_once(current, headers)
            chain.answer = answer
            target = _redirect_target(answer)
            if target is None:
                return chain
            refusal = await self._refuse_hop(target, seen, len(chain.redirects))
            if refusal is not None:
                answer.error = refusal
                if refusal != "redirect_loop":
                    answer.url = target
                return chain
            chain.redirects.append(target)
            seen.add(target)
            current = target

    async def _refuse_hop(self, target: str, seen: set[str], hops: int) -> str | None:
        if target in seen:
            return "redirect_loop"
        if hops >= self._http.max_redirects:
            return "too_many_redirects"
        reason = await self._unsafe(target)
        if reason is not None:
            return f"redirect_{reason}"
        if self._paused(host_of(target)):
            return "host_paused"
        refusal = await self._robots_refusal(target)
        if refusal is not None:
            skip, error = refusal
            return error or f"redirect_{skip}"
        return None

    # -- layer 4: one request --------------------------------------------------------------

    async def _send_once(self, url: str, headers: dict[str, str], robots: bool = False) -> _Answer:
        """One request in its host's slot, the whole of it under ``http.timeout``."""
        host = host_of(url)
        try:
            request = self._build_request(url, headers, host)
        except (httpx.InvalidURL, UnicodeError, ValueError):  # bad port, bad IDNA label, …
            return _Answer(url, error="invalid_url")
        async with self._slots.request(host):
            try:
                async with asyncio.timeout(self._http.timeout):
                    answer = await self._exchange(url, request, robots)
            except _CAUGHT as exc:
                answer = _failure(url, exc)
        if not robots:
            self._note_answer(host, answer)
        return answer

    def _build_request(self, url: str, headers: dict[str, str], host: str) -> httpx.Request:
        async def trace(event: str, info: dict[str, Any]) -> None:
            # The slot's start time was taken before connecting; the host sees the request
            # some time after its headers go out, but surely before its answer starts. Pacing
            # from the answer makes "delay" hold as the server measures it.
            if event.endswith(_PACE_EVENTS):
                self._slots.mark_sent(host)

        return self._client.build_request("GET", url, headers=headers, extensions={"trace": trace})

    async def _exchange(self, url: str, request: httpx.Request, robots: bool) -> _Answer:
        response = await self._client.send(request, stream=True)
        # The answer has started: the host has seen the request (the aiohttp transport
        # fires no trace events, so this is where pacing learns it).
        self._slots.mark_sent(request.url.netloc.decode("ascii"))
        try:
            answer = _Answer(url, response.status_code, dict(response.headers.items()))
            if robots:
                await _read_body(response, answer, MAX_ROBOTS_BYTES, keep=True, cut_ok=True)
            elif 200 <= response.status_code < 300:
                keep = _media_type(answer.headers) in HTML_TYPES | {None}
                await _read_body(response, answer, self._http.max_bytes, keep=keep)
            else:
                await _discard_body(response)
            return answer
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


def _failure(url: str, exc: BaseException) -> _Answer:
    known = classify_aiohttp_error(exc)
    if known is not None:
        return _Answer(url, error=known[0], connect_failed=known[1])
    for kinds, error, connect_failed in _ERRORS:
        if isinstance(exc, kinds):
            return _Answer(url, error=error, connect_failed=connect_failed)
    return _Answer(url, error="connection_error")


async def _read_body(
    response: httpx.Response, answer: _Answer, limit: int, keep: bool, cut_ok: bool = False
) -> None:
    """Stream the body through a bounded decoder; keep it (if ``keep``) up to ``limit``
    decoded bytes. Past the limit the rest is never read: ``too_large`` unless ``cut_ok``."""
    chunks: list[bytes] = []
    size = 0
    decoder, raw_chunks = _raw_stream(response, answer.headers.get("content-encoding"))
    async for raw in raw_chunks:
        for piece in decoder.feed(raw):
            if size + len(piece) > limit:
                if keep:
                    chunks.append(piece[: limit - size])
                answer.size, answer.body = limit, b"".join(chunks) if keep else None
                answer.error = None if cut_ok else "too_large"
                return
            size += len(piece)
            if keep:
                chunks.append(piece)
    for piece in decoder.flush():
        size += len(piece)
        if keep:
            chunks.append(piece)
    answer.size = min(size, limit)
    answer.body = b"".join(chunks)[:limit] if keep else None


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


async def _discard_body(response: httpx.Response) -> None:
    read = 0
    _decoder, raw_chunks = _raw_stream(response, None)
    async for raw in raw_chunks:
        read += len(raw)
        if read > DISCARD_BYTES:
            return


def _fill_result(result: FetchResult, chain: _Chain, max_bytes: int) -> None:
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
    if value.isdigit():
        return min(float(value), cap)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
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
