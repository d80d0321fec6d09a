"""Step 3 of the data flow: robots.txt rules per host (RFC 9309, parsed by protego).

What an answer to ``/robots.txt`` means (RFC 9309 section 2.3.1):

- 2xx: the rules in the body (the first :data:`MAX_ROBOTS_BYTES` of it) apply;
- 4xx ("unavailable"): no rules, everything is allowed — except 429, which, like 5xx, says
  the server is struggling;
- 5xx, 429, a timeout or no connection ("unreachable"): everything is disallowed until it
  can be read; such an answer is kept for :data:`UNREACHABLE_TTL` within a run and never
  trusted from the store, so the next run asks again;
- more than five redirects: treated as unavailable (allow all), as the RFC permits.

Rules are cached per host for at most :data:`ROBOTS_TTL` (24 h), in memory and through the
fetcher's ``HostStore`` (``robots_status``, ``robots_txt``, ``robots_fetched_at``,
``crawl_delay``, ``sitemaps``: the ``Sitemap:`` URLs as a JSON list, at most
:data:`MAX_SITEMAPS`, for the discovery of a blog's posts). Fetching robots.txt is the
fetcher's job (it is paced and checked like any request); this module decides what an answer
means. An answer that never came carries its ``error`` (``dns_error`` for a host name that
does not resolve: the fetcher records that on the page instead of ``robots``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from protego import Protego

from crawler.records import iso_at, parse_iso

ROBOTS_TTL = 24 * 3600.0
UNREACHABLE_TTL = 3600.0
MAX_ROBOTS_BYTES = 500 * 1024
MAX_ROBOTS_REDIRECTS = 5
MAX_SITEMAPS = 1000  # Sitemap lines kept of one robots.txt
UNREACHABLE = "robots_unavailable"  # the FetchResult.error of pages skipped for this


@dataclass
class RobotsRules:
    """What one host's robots.txt says, and when we read it."""

    status: int  # HTTP status of the final answer; 0 when none arrived
    text: str = ""
    fetched_at: float = field(default_factory=time.time)  # wall clock, for the store
    error: str | None = None  # why no answer came (status 0): timeout, dns_error, …
    _parser: Protego | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self._parser is None and 200 <= self.status < 300 and self.text.strip():
            self._parser = Protego.parse(self.text)

    @property
    def reachable(self) -> bool:
        """False when the host's robots.txt could not be read: then nothing is allowed."""
        return 200 <= self.status < 500 and self.status != 429

    def allows(self, url: str, token: str) -> bool:
        if not self.reachable:
            return False
        return self._parser is None or bool(self._parser.can_fetch(url, token))

    def crawl_delay(self, token: str) -> float | None:
        if self._parser is None:
            return None
        delay = self._parser.crawl_delay(token)
        return float(delay) if delay is not None else None

    @property
    def sitemaps(self) -> list[str]:
        """The ``Sitemap:`` URLs, in file order (they apply whatever the user agent)."""
        if self._parser is None:
            return []
        return list(self._parser.sitemaps)[:MAX_SITEMAPS]

    def is_fresh(
        self,
        now: float | None = None,
        ttl: float = ROBOTS_TTL,
        unreachable_ttl: float = UNREACHABLE_TTL,
    ) -> bool:
        """Readable rules last ``ttl``; an unreachable robots.txt only ``unreachable_ttl``."""
        now = time.time() if now is None else now
        limit = ttl if self.reachable else min(ttl, unreachable_ttl)
        return now - self.fetched_at < limit

    def to_store(self, token: str) -> dict[str, Any]:
        """The ``hosts`` columns that persist these rules."""
        return {
            "robots_status": self.status,
            "robots_txt": self.text,
            "robots_fetched_at": iso_at(self.fetched_at),
            "crawl_delay": self.crawl_delay(token),
            "sitemaps": json.dumps(self.sitemaps),
        }

    @classmethod
    def from_store(cls, row: dict[str, Any] | None, ttl: float = ROBOTS_TTL) -> RobotsRules | None:
        """Rules read from a ``hosts`` row if still fresh; unreachable answers are re-asked."""
        if not row or row.get("robots_status") is None or not row.get("robots_fetched_at"):
            return None
        fetched = parse_iso(row["robots_fetched_at"])
        try:
            rules = cls(int(row["robots_status"]), str(row.get("robots_txt") or ""), fetched)
        except (TypeError, ValueError):
            return None
        if not rules.reachable or not rules.is_fresh(ttl=ttl):
            return None
        return rules


def robots_url(url: str) -> str:
    """The robots.txt URL that governs ``url`` (same scheme, host and port)."""
    scheme, rest = url.split("://", 1)
    netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return f"{scheme}://{netloc}/robots.txt"


def decode_robots(body: bytes) -> str:
    """robots.txt is UTF-8 (RFC 9309); a stray byte must not lose the whole file."""
    return body[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace").lstrip("\ufeff")
