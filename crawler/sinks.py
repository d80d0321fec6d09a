"""Step 6 of the data flow: where each finished URL goes — the output seam.

After each fetch the engine prepares a :class:`PageWrite` (the frontier row, the
:class:`FetchResult` and the records made from it) and hands it to the database thread
(:mod:`crawler.writer`), which gives it to every sink in order: the database first, then
any others (a WARC archive next). Sinks run on that one thread, so each sees the writes in
the order the engine finished them; before every commit the writer flushes the sinks in
reverse order — the others first, the database last — so a page stored is a page the
other sinks have made durable too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal, Protocol

from crawler.archive.warc import ArchivedRecord
from crawler.fetch.client import FetchResult
from crawler.fetchlog import fetch_rows
from crawler.frontier import revisit_interval
from crawler.records import (
    CommentRecord,
    FrontierEntry,
    FrontierRow,
    LinkRecord,
    PageRecord,
    PageState,
    RunCounters,
    SaveOutcome,
    iso_in,
)
from db.backend import Backend
from db.store import DatabaseFault

log = logging.getLogger(__name__)

STORE_ERROR = "store_error"  # the page's records could not be written (not the database's fault)


@dataclass
class PageWrite:
    """What one finished frontier URL changes.

    ``postpone``: ask again in ``retry_in`` seconds (host paused, robots.txt unreadable);
    ``skip``: never requested, for ``reason``; ``not_modified``: a 304 to a re-visit;
    ``page``: a fetched page (``failed`` with ``reason`` when it is an error).
    """

    row: FrontierRow
    result: FetchResult
    action: Literal["postpone", "skip", "not_modified", "page"]
    reason: str | None = None
    retry_in: float = 0.0
    page: PageRecord | None = None
    comments: list[CommentRecord] = field(default_factory=list)
    links: list[LinkRecord] = field(default_factory=list)
    digest: str | None = None
    entries: list[FrontierEntry] = field(default_factory=list)
    fresh: bool = False
    failed: bool = False
    # Where the archive sink (running before the database) put its records, for ``fetches``.
    archived: list[ArchivedRecord] = field(default_factory=list)

    def records(self) -> int:
        """How many records it carries besides the page (they cost memory too)."""
        return len(self.comments) + len(self.links) + len(self.entries)


class Sink(Protocol):
    """Takes every finished URL, on the database thread, in order."""

    def write(self, item: PageWrite) -> SaveOutcome | None:
        """Take one item; the database sink says what it added."""
        ...

    def flush(self) -> None:
        """Make what was written durable (called before each commit of the database)."""
        ...

    def close(self) -> None: ...


class DatabaseSink:
    """The first sink: pages, comments, links and frontier changes into the store.

    One item's writes are kept together or not at all: when they fail for a reason that is
    not the database's (a value SQLite refuses), the URL is recorded as failed with
    ``store_error`` instead, and the run goes on. Its :meth:`flush` gives the pingbacks
    the pages written since the last one settle their verdicts, writes the run's counters
    (renewing its lease) and commits.
    """

    def __init__(
        self, store: Backend, run_id: int, counters: RunCounters, recrawl_after: float
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.counters = counters  # the engine's, written with every commit
        self.recrawl_after = recrawl_after
        self._touched: set[str] = set()  # pages written since the last flush

    def write(self, item: PageWrite) -> SaveOutcome | None:
        try:
            with self.store.atomic():
                self.store.log_fetches(
                    fetch_rows(self.run_id, item.row.url, item.result.exchanges, item.archived)
                )
                return self._apply(item)
        except DatabaseFault:
            raise
        except Exception as exc:  # this page's data: record it, keep the run going
            log.warning("%s %s: %s: %s", STORE_ERROR, item.row.url, type(exc).__name__, exc)
            self.store.finish(item.row.url, "failed", STORE_ERROR)
            return None

    def flush(self) -> None:
        if self._touched:
            self.store.verify_pingbacks(self._touched)
            self._touched = set()
        self.store.update_run(self.run_id, self.counters)
        self.store.commit()

    def close(self) -> None:
        pass

    def _apply(self, item: PageWrite) -> SaveOutcome | None:
        store, url = self.store, item.row.url
        if item.action == "postpone":
            store.postpone(url, item.retry_in, item.reason or "")
        elif item.action == "skip":
            store.finish(url, "skipped", item.reason)
        elif item.action == "not_modified":
            prior = store.page_state(url)
            store.mark_not_modified(url, *self._next_visit(prior, changed=False))
            store.finish(url, "done")
        else:
            return self._save(item)
        return None

    def _save(self, item: PageWrite) -> SaveOutcome:
        store, page = self.store, item.page
        assert page is not None
        prior = store.page_state(page.url)
        if page.is_post:
            changed = item.digest is not None and item.digest != prior.comments_hash
            page.next_fetch_at, page.recrawl_interval = self._next_visit(prior, changed)
        outcome = store.save_page(
            page, item.comments, item.links, item.digest, replace_links=item.fresh, prior=prior
        )
        store.enqueue(item.entries)
        store.finish(item.row.url, "failed" if item.failed else "done", item.reason)
        self._touched.update((page.url, page.post_url or page.url))
        return outcome

    def _next_visit(self, prior: PageState, changed: bool) -> tuple[str, float]:
        interval = revisit_interval(prior.recrawl_interval, changed, self.recrawl_after)
        return iso_in(interval), interval
