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
from collections.abc import Sequence
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
    PageSave,
    PageState,
    RunCounters,
    SaveOutcome,
    iso_in,
)
from db.backend import Backend
from db.store import DatabaseFault

log = logging.getLogger(__name__)

ABSENT = PageState(False, None, None)  # a page the store has never had
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

    def write_many(self, items: Sequence[PageWrite]) -> list[SaveOutcome | None]:
        """Take the items queued together, in order; the database sink says what each
        added (the others answer None for each)."""
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

    def write_many(self, items: Sequence[PageWrite]) -> list[SaveOutcome | None]:
        """The items together (one savepoint; consecutive pages in shared statements);
        when that fails for a reason that is not the database's, each on its own, so only
        the page at fault is recorded as failed."""
        if len(items) == 1:
            return [self.write(items[0])]
        try:
            with self.store.atomic():
                self._log_fetches(items)
                return self._apply_all(items)
        except DatabaseFault:
            raise
        except Exception:
            return [self.write(item) for item in items]

    def write(self, item: PageWrite) -> SaveOutcome | None:
        try:
            with self.store.atomic():
                self._log_fetches([item])
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

    def _log_fetches(self, items: Sequence[PageWrite]) -> None:
        self.store.log_fetches(
            [
                row
                for item in items
                for row in fetch_rows(
                    self.run_id, item.row.url, item.result.exchanges, item.archived
                )
            ]
        )

    def _apply_all(self, items: Sequence[PageWrite]) -> list[SaveOutcome | None]:
        """What :meth:`_apply` does for each item in turn, with runs of pages written as
        one group. A page goes alone (after the group before it) when its URL was written
        earlier in this call (its prior state has changed) or when it replaces the links
        of a copy stored before (the stale ones must go before the group's links come)."""
        urls = [item.page.url for item in items if item.page is not None]
        states = self.store.page_states(urls)
        outcomes: list[SaveOutcome | None] = []
        group: list[PageWrite] = []
        written: set[str] = set()
        for item in items:
            page = item.page
            alone = (
                item.action != "page"
                or page is None
                or page.url in written
                or item.row.url in written
                or (item.fresh and page.url in states)
            )
            if not alone:
                group.append(item)
            else:
                outcomes += self._save_group(group, states)
                group = []
                outcomes.append(self._apply(item))
            written.update((item.row.url, page.url) if page is not None else (item.row.url,))
        outcomes += self._save_group(group, states)
        return outcomes

    def _save_group(
        self, group: Sequence[PageWrite], states: dict[str, PageState]
    ) -> list[SaveOutcome | None]:
        if not group:
            return []
        saves = [
            self._page_save(item, states.get(item.page.url, ABSENT)) for item in group if item.page
        ]
        outcomes = self.store.save_pages(saves)
        self.store.enqueue([entry for item in group for entry in item.entries])
        self.store.finish_many([self._finished(item) for item in group])
        for save in saves:
            self._touched.update((save.page.url, save.page.post_url or save.page.url))
        return list(outcomes)

    def _page_save(self, item: PageWrite, prior: PageState) -> PageSave:
        page = item.page
        assert page is not None
        if page.is_post:
            changed = item.digest is not None and item.digest != prior.comments_hash
            page.next_fetch_at, page.recrawl_interval = self._next_visit(prior, changed)
        return PageSave(page, item.comments, item.links, item.digest, prior)

    @staticmethod
    def _finished(item: PageWrite) -> tuple[str, str, str | None]:
        return item.row.url, "failed" if item.failed else "done", item.reason

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
        save = self._page_save(item, store.page_state(page.url))
        outcome = store.save_page(
            page, save.comments, save.links, save.comments_hash, item.fresh, save.prior
        )
        store.enqueue(item.entries)
        store.finish(*self._finished(item))
        self._touched.update((page.url, page.post_url or page.url))
        return outcome

    def _next_visit(self, prior: PageState, changed: bool) -> tuple[str, float]:
        interval = revisit_interval(prior.recrawl_interval, changed, self.recrawl_after)
        return iso_in(interval), interval
