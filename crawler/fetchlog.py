"""The fetch log: one ``fetches`` row per request that reached a server.

Built from a finished URL's :class:`~crawler.fetch.exchange.Exchange` list (robots.txt,
redirect hops and retries included) and, when the run archives, from where the archive
sink put each exchange's answer record (:class:`~crawler.archive.warc.ArchivedRecord`), so
"what happened to this URL over time" is one query and a row names its WARC record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crawler.archive.warc import ArchivedRecord, payload_digest
from crawler.fetch.exchange import Exchange
from crawler.records import iso_at
from crawler.urls import host_of


def fetch_rows(
    run_id: int,
    page_url: str,
    exchanges: Sequence[Exchange],
    archived: Sequence[ArchivedRecord] = (),
) -> list[dict[str, Any]]:
    """The ``fetches`` rows of one finished URL, in the order the requests went out."""
    answers = _answer_records(archived)
    return [
        _row(run_id, page_url, exchange, answers.get(number))
        for number, exchange in enumerate(exchanges)
    ]


def _answer_records(archived: Sequence[ArchivedRecord]) -> dict[int, ArchivedRecord]:
    """Exchange index → its first record (response, revisit or error metadata)."""
    answers: dict[int, ArchivedRecord] = {}
    for record in archived:
        if record.exchange is not None and record.record_type != "request":
            answers.setdefault(record.exchange, record)
    return answers


def _row(
    run_id: int, page_url: str, exchange: Exchange, record: ArchivedRecord | None
) -> dict[str, Any]:
    answered = exchange.status is not None
    row: dict[str, Any] = {
        "run_id": run_id,
        "url": exchange.url,
        "host": host_of(exchange.url),
        "page_url": page_url,
        "purpose": exchange.purpose,
        "method": exchange.method,
        "fetched_at": iso_at(exchange.sent_at),
        "status": exchange.status,
        "error": exchange.error,
        "bytes": len(exchange.raw_body),
        "elapsed": round(exchange.elapsed, 6),
        "payload_digest": None,
    }
    if answered:  # the archive computed it already (a 304's revisit names the earlier one)
        if record is not None and record.record_type == "response":
            row["payload_digest"] = record.payload_digest
        else:
            row["payload_digest"] = payload_digest(exchange.raw_body)
    if record is not None:
        row.update(
            warc_file=record.filename,
            warc_offset=record.offset,
            warc_length=record.length,
            warc_type=record.record_type,
            warc_record_id=record.record_id,
            warc_date=record.date,
        )
    return row
