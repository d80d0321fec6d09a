"""Step 4 of the data flow (fetch): per-host politeness slots (the Scrapy downloader ``Slot``).

The one owner of per-host politeness. Each host's slot holds

- its **queue**: work for the host not started yet (the engine's frontier rows),
- its **delay** (the configured one, raised by Crawl-delay) and ``not_before`` (a
  Retry-After hold-off or a pause: nothing starts before it),
- its **in-flight counts**: work items taken from the queue and not finished
  (``working``, at most ``per_host``) and requests on the wire (``in_flight``),
- the **time its last request started** (``last_start``) and the planned start of the
  last work item handed out (``turn``), so the engine never starts a task that would only
  sit waiting for its host's delay while holding one of the ``concurrency`` places.

The engine pushes work into the slots and asks which hosts are ready now and when the next
one will be (:meth:`Slots.ready_hosts`, :meth:`Slots.take`, :meth:`Slots.next_ready`).

A request to a host (:meth:`Slots.request`) waits for a free place among its
``per_host``, then for the rest of the delay since the previous start (and for any
hold-off), then for a place in the global ``concurrency``; its start time is taken only
then, so start-to-start gaps at the server are never shorter than the delay. The fetcher
moves the start time later (``mark_sent``) when the request really goes out and again when
its answer starts to arrive, so the delay holds as the server measures it. Waiting for one
host never holds a global place, so a slow host does not hold up the others. Idle slots are
dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

_SWEEP_EVERY = 256
LAUNCH_LEAD = 0.05  # seconds before its host's turn that a work item may be handed out


class HostSlot:
    """Pacing state and queued work of one host."""

    def __init__(self, delay: float, per_host: int) -> None:
        self.delay = delay
        self.per_host = per_host
        self.in_flight = 0  # requests on the wire
        self.waiting = 0  # requests waiting for their turn
        self.working = 0  # work items handed out and not finished
        self.queue: deque[Any] = deque()
        self.last_start = float("-inf")
        self.turn = float("-inf")  # planned start of the last work item handed out
        self.not_before = 0.0  # monotonic time before which nothing starts
        self._places = asyncio.Semaphore(per_host)
        self._turn = asyncio.Lock()  # one request at a time decides its start time

    def next_start(self) -> float:
        """When the next request to this host may start."""
        return max(self.last_start + self.delay, self.turn + self.delay, self.not_before)

    def ready_at(self) -> float:
        """When the next queued work item may be handed out (a little before its turn,
        so robots and address checks are done when the turn comes)."""
        return self.next_start() - min(LAUNCH_LEAD, self.delay / 2)

    def has_room(self) -> bool:
        return bool(self.queue) and self.working < self.per_host

    def is_idle(self, now: float) -> bool:
        busy = self.in_flight or self.waiting or self.working or self.queue
        return not busy and now >= self.next_start()


class Slots:
    """All hosts' slots plus the global concurrency limit."""

    def __init__(self, delay: float, per_host: int, concurrency: int) -> None:
        self.delay = delay
        self.per_host = per_host
        self._global = asyncio.Semaphore(concurrency)
        self._slots: dict[str, HostSlot] = {}
        self._with_work: dict[str, HostSlot] = {}  # hosts with queued work, round robin
        self._queued = 0  # items in all queues
        self._held: set[str] = set()  # hosts whose hold-off may not be over
        self._next_ready: float | None = None  # found by the last ready_hosts()
        self._releases = 0

    def slot(self, host: str) -> HostSlot:
        slot = self._slots.get(host)
        if slot is None:
            slot = self._slots[host] = HostSlot(self.delay, self.per_host)
        return slot

    def delay_of(self, host: str) -> float:
        slot = self._slots.get(host)
        return self.delay if slot is None else slot.delay

    def set_delay(self, host: str, delay: float) -> None:
        """Raise a host's delay (Crawl-delay); never below the configured delay."""
        self.slot(host).delay = max(self.delay, delay)

    def hold_off(self, host: str, seconds: float) -> None:
        """Let no request to ``host`` start for ``seconds`` from now (Retry-After, pause)."""
        slot = self.slot(host)
        slot.not_before = max(slot.not_before, time.monotonic() + seconds)
        self._held.add(host)

    def held_for(self, host: str) -> float:
        """Seconds until requests to ``host`` may start again (0 when not held off)."""
        slot = self._slots.get(host)
        return 0.0 if slot is None else max(0.0, slot.not_before - time.monotonic())

    def mark_sent(self, host: str) -> None:
        """The host has surely seen the request by now: pace the next one from here."""
        slot = self._slots.get(host)
        if slot is not None:
            slot.last_start = max(slot.last_start, time.monotonic())

    # -- queued work (the engine's side) ----------------------------------------------------
    def push(self, host: str, items: Iterable[Any]) -> None:
        """Queue work for ``host``, started when :meth:`ready_hosts` names the host."""
        slot = self.slot(host)
        before = len(slot.queue)
        slot.queue.extend(items)
        self._queued += len(slot.queue) - before
        if slot.queue:
            self._with_work.setdefault(host, slot)

    def queued(self) -> int:
        return self._queued

    def has_work(self, host: str) -> bool:
        return host in self._with_work

    def hosts_with_work(self) -> int:
        return len(self._with_work)

    def ready_hosts(self, now: float) -> list[str]:
        """Hosts whose next queued item may be handed out now, in round-robin order; also
        notes when the first of the others will be (:meth:`next_ready`)."""
        ready, later = [], []
        for host, slot in self._with_work.items():
            if slot.has_room():
                at = slot.ready_at()
                if now >= at:
                    ready.append(host)
                else:
                    later.append(at)
        self._next_ready = min(later, default=None)
        return ready

    def can_take(self, host: str, now: float) -> bool:
        slot = self._with_work.get(host)
        return slot is not None and slot.has_room() and now >= slot.ready_at()

    def take(self, host: str, now: float) -> Any:
        """Hand out ``host``'s next queued item; :meth:`done` when it is finished."""
        slot = self._with_work[host]
        item = slot.queue.popleft()
        self._queued -= 1
        slot.working += 1
        slot.turn = max(now, slot.next_start()) if slot.delay else slot.turn
        del self._with_work[host]  # round robin: this host goes last
        if slot.queue:
            self._with_work[host] = slot
            if slot.has_room():
                at = slot.ready_at()
                self._next_ready = at if self._next_ready is None else min(self._next_ready, at)
        return item

    def done(self, host: str) -> None:
        slot = self._slots.get(host)
        if slot is not None:
            slot.working -= 1

    def next_ready(self) -> float | None:
        """The earliest time a host with queued work and room becomes ready, as of the last
        :meth:`ready_hosts` and the takes since (None: a finished item is what frees
        the others)."""
        return self._next_ready

    def held_hosts(self, longer_than: float) -> list[str]:
        """Hosts with queued work that are held off for more than ``longer_than`` seconds."""
        now = time.monotonic()
        self._held = {h for h in self._held if h in self._slots and self._slots[h].not_before > now}
        limit = now + longer_than
        return [h for h in self._held if h in self._with_work and self._slots[h].not_before > limit]

    def drain(self, host: str | None = None) -> list[Any]:
        """Remove and return the queued work of ``host`` (None: of every host)."""
        hosts = list(self._with_work) if host is None else [host]
        items: list[Any] = []
        for name in hosts:
            slot = self._with_work.pop(name, None)
            if slot is not None:
                items.extend(slot.queue)
                self._queued -= len(slot.queue)
                slot.queue.clear()
        return items

    # -- one request (the fetcher's side) --------------------------------------------------
    @asynccontextmanager
    async def request(self, host: str) -> AsyncIterator[float]:
        """Hold a place for one request to ``host``; yields the monotonic start time."""
        slot = self.slot(host)
        slot.waiting += 1
        try:
            await slot._places.acquire()
            try:
                async with slot._turn:
                    await _wait_for_turn(slot)
                    await self._global.acquire()
                    slot.last_start = time.monotonic()
            except BaseException:
                slot._places.release()
                raise
        finally:
            slot.waiting -= 1
        slot.in_flight += 1
        try:
            yield slot.last_start
        finally:
            slot.in_flight -= 1
            self._global.release()
            slot._places.release()
            self._sweep()

    def _sweep(self) -> None:
        self._releases += 1
        if self._releases % _SWEEP_EVERY:
            return
        now = time.monotonic()
        for host in [h for h, s in self._slots.items() if s.is_idle(now)]:
            del self._slots[host]

    def __len__(self) -> int:
        return len(self._slots)


async def _wait_for_turn(slot: HostSlot) -> None:
    # Loop: a Retry-After seen by a request in flight may push not_before while we sleep.
    # The planned turn of a work item does not hold its own request back: only the
    # previous real start, the delay and hold-offs do.
    while (wait := _request_start(slot) - time.monotonic()) > 0:
        await asyncio.sleep(wait)


def _request_start(slot: HostSlot) -> float:
    return max(slot.last_start + slot.delay, slot.not_before)
