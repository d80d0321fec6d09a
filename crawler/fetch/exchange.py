"""Step 4 of the data flow (fetch): the output seam — one record per request that reached a server.

A fetch leaves one :class:`Exchange` per request that went out on the wire: the robots.txt
request it triggered, every redirect hop, every retry. Each holds what an archive (WARC)
writer needs besides the decoded text: the request as sent, the status line, the response
headers in order as received and the body bytes before content decoding. They reach a
consumer in ``FetchResult.exchanges``, in the order they were made; a robots.txt exchange
(``purpose = "robots"``) sits in the result of the fetch that caused it (a rules cache hit,
from memory or from the store, makes none). A request that never reached a server (refused
connection, unresolvable name, a target the safety check refused) makes none either: the
result's ``error`` records it.

Memory: ``raw_body`` is at most ``http.max_bytes`` (robots.txt: 500 KiB; an error or
redirect body: the 64 KiB read so the connection can be reused), and when the body had no
content encoding it is the same ``bytes`` object as ``FetchResult.body``, not a copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Purpose = Literal["page", "robots"]


@dataclass
class Exchange:
    """One HTTP request that reached a server, and what came back."""

    method: str
    url: str
    request_headers: list[tuple[str, str]]  # as sent, in order (Host, User-Agent, …)
    sent_at: float  # wall clock (time.time()) when the request went out
    http_version: str = "1.1"
    status: int | None = None  # None when no answer came (timeout, reset)
    reason: str = ""  # the status line's phrase, as the server wrote it
    response_headers: list[tuple[str, str]] = field(default_factory=list)  # raw, in order
    raw_body: bytes = b""  # as received, before content decoding
    truncated: bool = False  # the body was not read to its end (limit, error)
    error: str | None = None  # timeout, connection_reset, too_large, decoding_error, …
    elapsed: float = 0.0  # seconds from sending to the end of reading
    purpose: Purpose = "page"
