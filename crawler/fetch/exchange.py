"""One request that reached a server, as sent and as answered: what an archive writer keeps.

Provisional copy for the archive branch (issue 15); the fetch engineer's version of this
module is the one kept at merge. The fields are the agreed contract.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Exchange:
    """A request on the wire and its answer, before any content decoding."""

    method: str
    url: str
    request_headers: list[tuple[str, str]]  # as sent, in order
    sent_at: float  # wall clock (time.time()) when the request was sent
    http_version: str  # "1.1"
    status: int | None  # None: no response (the error says why)
    reason: str
    response_headers: list[tuple[str, str]]  # raw, in order as received
    raw_body: bytes  # before content decoding, within max_bytes
    truncated: bool  # the body was cut at max_bytes
    error: str | None
    elapsed: float
    purpose: str  # "page" | "robots" | ...
