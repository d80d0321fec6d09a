"""Step 7 of the data flow, cluster edition: one worker of a crawl spread over many machines.

``pingcrawl worker`` runs :func:`work`: the usual engine (:mod:`crawler.engine`) over a
:class:`db.postgres.store.PgStore`, whose claims lease **hosts** before URLs, so a host
is crawled by one worker at a time and its politeness holds across all of them. What the
worker adds to the engine:

- a thread that renews the worker's host leases every third of ``[cluster] lease`` on a
  connection of its own, so a busy event loop never lets a lease lapse, while a dead
  worker's leases do (its hosts then go to the next worker that claims);
- the hold-offs of hosts it just took (a host given back by another worker, or taken
  from a dead one, waits out its delay first) are applied to the slots before any of the
  host's URLs is queued, and the fetcher forgets what it knew of such a host, so it reads
  the shared state (robots.txt, pauses) afresh from the database;
- the run ends only when the whole crawl has nothing due or in flight, not when this
  worker's hosts are done: while other workers still fetch, it keeps asking for work.

SIGTERM or SIGINT (the ``stop`` event) ends the run the usual way: in-flight fetches
finish or go back, and :meth:`PgStore.finish_run` gives back the claims and the hosts.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from contextlib import suppress

import httpx

from crawler.config import Config
from crawler.engine import MAX_ATTEMPTS, Engine, PageEvent, RunSummary
from crawler.fetch.slots import Slots
from crawler.frontier import seed_entries
from crawler.records import TRANSIENT_ERRORS
from crawler.writer import StoreWriter
from db.postgres.store import PgStore
from db.store import DatabaseBusy, DatabaseFault

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews run ``run_id``'s host leases every ``lease / 3`` seconds, on its own thread
    and connection, until :meth:`stop`."""

    def __init__(self, store: PgStore, run_id: int) -> None:
        self.store = store.reader()
        self.run_id = run_id
        self.every = store.lease / 3
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="lease-keeper", daemon=True)

    def start(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.store.renew_leases(self.run_id)
            except DatabaseFault as exc:  # the next claim meets it too, and ends the run
                log.warning("lease renewal failed: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        with suppress(DatabaseFault):
            self.store.close()


class WorkerEngine(Engine):
    """The engine over a :class:`PgStore`: hold-offs on hosts it takes, one run until the
    whole crawl is done."""

    store: PgStore  # type: ignore[assignment]  # the Backend a worker runs on

    def __init__(self, config: Config, store: PgStore, **options: object) -> None:
        super().__init__(config, store, **options)  # type: ignore[arg-type]
        self._keeper: LeaseKeeper | None = None
        self._fetcher_hosts: dict[str, object] | None = None

    def _prepare(self, seeds: Iterable[str]) -> list[str]:
        # As the engine's, without reopen(): what changed settings refused is re-opened
        # by 'pingcrawl requeue' on SQLite only for now.
        self.store.end_dead_runs(holding_lock=False)
        entries, invalid = seed_entries(seeds)
        self.store.enqueue(entries)
        self.store.queue_due_recrawls()
        self.store.requeue_failed(TRANSIENT_ERRORS, MAX_ATTEMPTS)
        return invalid

    async def _loop(self, fetcher, writer: StoreWriter, started: float) -> str:  # type: ignore[no-untyped-def]
        self._fetcher_hosts = getattr(fetcher, "_hosts", None)
        self._keeper = LeaseKeeper(self.store, writer.run_id).start()
        try:
            return await super()._loop(fetcher, writer, started)
        finally:
            self._keeper.stop()

    def _take_claim(self, writer: StoreWriter, slots: Slots) -> None:
        if self._claim is not None and self._claim.done() and not self._claim.exception():
            self._apply_hold_offs(slots)
        super()._take_claim(writer, slots)

    def _apply_hold_offs(self, slots: Slots) -> None:
        """Hosts just taken: wait out their delay, and read their shared state afresh."""
        while self.store.hold_offs:
            host, seconds = self.store.hold_offs.popitem()
            slots.hold_off(host, seconds)
            if self._fetcher_hosts is not None:
                self._fetcher_hosts.pop(host, None)

    def _finished(self, writer: StoreWriter, slots: Slots) -> bool:
        # Our hosts are done; the crawl is done only when nobody has work due or in flight.
        return super()._finished(writer, slots) and (
            self._budget_left() <= 0 or not self.store.work_elsewhere
        )


def open_cluster_store(config: Config) -> PgStore:
    return PgStore.open(
        config.cluster.database, delay=config.politeness.delay, lease=config.cluster.lease
    )


BUSY_RETRIES = 3  # runs started again after PostgreSQL aborted one (a deadlock, a lock timeout)


async def work_async(
    config: Config,
    seeds: Iterable[str] = (),
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    on_page: Callable[[PageEvent], None] | None = None,
    stop: asyncio.Event | None = None,
) -> RunSummary:
    """One worker's run against ``[cluster] database``, until the crawl is done. A run
    that PostgreSQL aborted as busy has given its claims and hosts back; the worker starts
    a new one (a few times) instead of leaving the crawl."""
    store = open_cluster_store(config)
    try:
        for attempt in range(BUSY_RETRIES + 1):
            engine = WorkerEngine(config, store, transport=transport, on_page=on_page, stop=stop)
            try:
                return await engine.run([*config.crawl.seeds, *seeds])
            except DatabaseBusy as exc:
                if attempt == BUSY_RETRIES:
                    raise
                log.warning("run aborted (%s); starting a new one", exc)
        raise AssertionError("unreachable")
    finally:
        with suppress(DatabaseFault):
            store.close()


def work(config: Config, seeds: Iterable[str] = (), **options: object) -> RunSummary:
    """Synchronous face of :func:`work_async`."""
    return asyncio.run(work_async(config, seeds, **options))  # type: ignore[arg-type]
