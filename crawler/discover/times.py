"""Listing times (W3C datetime, RFC 822 via feedparser, WordPress GMT) as stored ISO UTC."""

from __future__ import annotations

import calendar
import time
from datetime import UTC, datetime

from crawler.records import iso, iso_at


def w3c_time(text: str | None) -> str | None:
    """A sitemap ``lastmod`` / REST ``modified_gmt`` as :func:`crawler.records.iso`.

    W3C datetime allows ``YYYY``, ``YYYY-MM``, a date, or a date and time with a zone;
    a time without a zone is taken as UTC (WordPress's ``*_gmt`` fields have none).
    None for anything unreadable: a bad date is no reason to drop the URL.
    """
    if not text:
        return None
    value = text.strip()
    if len(value) > 40:
        return None
    if len(value) == 4 and value.isdigit():
        value += "-01-01"
    elif len(value) == 7 and value[4] == "-":
        value += "-01"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return iso(parsed.astimezone(UTC))
    except (OverflowError, ValueError):
        return None


def struct_time_iso(value: time.struct_time | None) -> str | None:
    """feedparser's ``*_parsed`` (a UTC struct_time) as stored ISO UTC."""
    if value is None:
        return None
    try:
        return iso_at(calendar.timegm(value))
    except (OverflowError, ValueError, TypeError, OSError):
        return None
