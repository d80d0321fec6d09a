"""Step 4 of the data flow (fetch): per-host politeness slots (the Scrapy downloader ``Slot``).

Each host has a delay, an in-flight limit and the time its last request started. A
request to a host waits for a free place among its ``per_host``, then for the rest of the
delay since the previous start (and for any hold-off a Retry-After set), then for a place
in the global ``concurrency``; its start time is taken only then, so start-to-start gaps
at the server are never shorter than the delay. The fetcher moves the start time later
(``mark_sent``) when the request really goes out (after connecting) and again when its
answer starts to arrive — by then the server has surely seen it — so the delay holds as the
server measures it, whatever the connection setup or the server's own latency.
Waiting for one host never holds a global place, so a slow host does not hold up the
others. Idle slots are dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

_SWEEP_EVERY = 256


class HostSlot:
    """Pacing state of one host."""

    def __init__(self, delay: float, per_host: int) -> None:
        self.delay = delay
        self.in_flight = 0
        self.waiting = 0
        self.last_start = float("-inf")
        self.not_before = 0.0  # monotonic time before which nothing starts (Retry-After)
        self._places = asyncio.Semaphore(per_host)
        self._turn = asyncio.Lock()  # one request at a time decides its start time

    def next_start(self) -> float:
        return max(self.last_start + self.delay, self.not_before)

    def is_idle(self, now: float) -> bool:
        return self.in_flight == 0 and self.waiting == 0 and now >= self.next_start()


class Slots:
    """All hosts' slots plus the global concurrency limit."""

    def __init__(self, delay: float, per_host: int, concurrency: int) -> None:
        self.delay = delay
        self.per_host = per_host
        self._global = asyncio.Semaphore(concurrency)
        self._slots: dict[str, HostSlot] = {}
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
        """Let no request to ``host`` start for ``seconds`` from now (Retry-After)."""
        slot = self.slot(host)
        slot.not_before = max(slot.not_before, time.monotonic() + seconds)

    def mark_sent(self, host: str) -> None:
        """The host has surely seen the request by now: pace the next one from here."""
        slot = self._slots.get(host)
        if slot is not None:
            slot.last_start = max(slot.last_start, time.monotonic())

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
    while (wait := slot.next_start() - time.monotonic()) > 0:
        await asyncio.sleep(wait)
