"""The archive sink: every finished URL's exchanges as WARC records, before the database.

It runs first on the database thread (:mod:`crawler.writer`), so the database sink can
store where each record went in ``fetches``, and it is flushed (fsync) before each commit:
a page stored is a page archived. A 304 becomes a ``server-not-modified`` revisit that
refers to the URL's last archived response, which earlier runs left in ``fetches``. At the
end of the run its log (warnings and the counters) is kept as a ``resource`` record.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from crawler.archive.warc import ArchiveError, Capture, PageMeta, WarcWriter
from crawler.config import Config
from crawler.fetch.exchange import Exchange
from crawler.records import PING_KINDS, CommentRecord, RunCounters, SaveOutcome
from crawler.sinks import PageWrite
from db.backend import Backend

log = logging.getLogger(__name__)
LOG_LINES = 10_000  # of a run's log kept for its resource record
# comments.verified as a metadata record names it. A pingback first seen on this page has
# none yet ("pending"): its source may come later, and the verdict is settled at the
# commit; the next capture of the page shows it.
VERDICTS: dict[int | None, str] = {1: "verified", 0: "refused"}


class RunLog(logging.Handler):
    """The run's log lines (warnings and up), bounded, for the resource record."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.lines) < LOG_LINES:
            self.lines.append(self.format(record))


class ArchiveSink:
    """A :class:`~crawler.sinks.Sink` around one :class:`WarcWriter`."""

    def __init__(
        self, writer: WarcWriter, store: Backend, run_id: int, counters: RunCounters
    ) -> None:
        self.writer = writer
        self.store = store
        self.run_id = run_id
        self.counters = counters
        self._log = RunLog()
        logging.getLogger("crawler").addHandler(self._log)

    @classmethod
    def open(
        cls, config: Config, store: Backend, run_id: int, counters: RunCounters
    ) -> ArchiveSink:
        """The sink for ``config.archive`` (raises ArchiveError when it cannot write)."""
        writer = WarcWriter(
            config.archive.warc_dir,
            user_agent=config.politeness.user_agent,
            is_part_of=f"pingcrawl {config.crawl.database}",
            max_size=config.archive.warc_max_bytes,
            robots="obey" if config.politeness.obey_robots else "ignore",
        )
        return cls(writer, store, run_id, counters)

    def write_many(self, items: Sequence[PageWrite]) -> list[SaveOutcome | None]:
        return [self.write(item) for item in items]

    def write(self, item: PageWrite) -> SaveOutcome | None:
        exchanges = item.result.exchanges
        if exchanges:
            verdicts = self.store.known_verdicts([c.id for c in _pingbacks(item)])
            item.archived = self.writer.write_fetch(
                exchanges, page_meta(item, verdicts), self._previous(exchanges)
            )
        return None

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        logging.getLogger("crawler").removeHandler(self._log)
        try:
            self.writer.write_run_log(self.run_id, self._log_text())
        except ArchiveError as exc:  # the run ends anyway; its files are still closed
            log.warning("run log not archived: %s", exc)
        finally:
            self.writer.close()

    def _previous(self, exchanges: Sequence[Exchange]) -> dict[str, Capture]:
        """Earlier runs' captures of the URLs that answered 304 (what a revisit names)."""
        previous: dict[str, Capture] = {}
        for exchange in exchanges:
            if exchange.status == 304 and (found := self.store.last_capture(exchange.url)):
                previous[exchange.url] = Capture(*found)
        return previous

    def _log_text(self) -> str:
        c = self.counters
        summary = (
            f"run {self.run_id}: fetched {c.fetched}, failed {c.failed}, skipped {c.skipped}, "
            f"not modified {c.not_modified}, new pages {c.new_pages}, new links {c.new_links}, "
            f"new comments {c.new_comments}"
        )
        return "\n".join([*self._log.lines, summary]) + "\n"


def page_meta(item: PageWrite, verdicts: Mapping[str, int | None]) -> PageMeta | None:
    """The page's ``metadata`` record: how it was found, its outlinks and pingbacks with
    the verdict known when it was archived (``verdicts``: comments.verified by id)."""
    page = item.page
    if item.action != "page" or page is None:
        return None
    return PageMeta(
        url=item.result.final_url or page.url,
        via=item.row.found_on,
        hops_from_seed=str(item.row.depth),
        fetch_time_ms=round(item.result.elapsed * 1000),
        outlinks=[(link.dst, link.kind) for link in item.links],
        pingbacks=[
            (comment.source_url or "", VERDICTS.get(verdicts.get(comment.id), "pending"))
            for comment in _pingbacks(item)
        ],
    )


def _pingbacks(item: PageWrite) -> list[CommentRecord]:
    return [comment for comment in item.comments if comment.kind in PING_KINDS]
