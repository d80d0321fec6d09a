"""Per-host politeness slots: start-to-start delay, per-host and global limits, hold-offs."""

from __future__ import annotations

import asyncio
import time

import pytest

from crawler.fetch.slots import LAUNCH_LEAD, Slots

SLACK = 0.005


async def _request(slots: Slots, host: str, hold: float, log: list[tuple[str, float, float]]):
    async with slots.request(host):
        started = time.monotonic()
        await asyncio.sleep(hold)
        log.append((host, started, time.monotonic()))


def run(slots_args: tuple[float, int, int], jobs: list[tuple[str, float]]):
    log: list[tuple[str, float, float]] = []

    async def go() -> float:
        slots = Slots(*slots_args)
        started = time.monotonic()
        await asyncio.gather(*(_request(slots, host, hold, log) for host, hold in jobs))
        return time.monotonic() - started

    return asyncio.run(go()), log


def starts(log: list[tuple[str, float, float]], host: str) -> list[float]:
    return sorted(s for h, s, _ in log if h == host)


def test_starts_to_one_host_are_spaced_by_the_delay() -> None:
    _elapsed, log = run((0.05, 4, 16), [("a", 0.0)] * 5)
    times = starts(log, "a")
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.05 - SLACK


def test_per_host_limit() -> None:
    _elapsed, log = run((0.0, 2, 16), [("a", 0.05)] * 6)
    events = sorted([(s, 1) for _, s, _ in log] + [(e, -1) for _, _, e in log])
    in_flight = peak = 0
    for _, change in events:
        in_flight += change
        peak = max(peak, in_flight)
    assert peak == 2


def test_global_limit_and_hosts_in_parallel() -> None:
    elapsed, log = run((0.0, 1, 3), [(f"h{i}", 0.1) for i in range(6)])
    assert len(log) == 6 and 0.2 - SLACK <= elapsed < 0.3


def test_a_waiting_host_does_not_block_others() -> None:
    elapsed, log = run((0.3, 1, 2), [("slow", 0.0), ("slow", 0.0)] + [("fast", 0.0)] * 1)
    fast_start = starts(log, "fast")[0]
    assert fast_start - min(s for _, s, _ in log) < 0.05
    assert elapsed >= 0.3 - SLACK


def test_hold_off_and_crawl_delay() -> None:
    async def go() -> list[float]:
        slots = Slots(0.0, 1, 4)
        slots.set_delay("a", 0.1)
        times = []
        for _ in range(2):
            async with slots.request("a") as started:
                times.append(started)
        slots.hold_off("a", 0.2)
        async with slots.request("a") as started:
            times.append(started)
        return times

    first, second, third = asyncio.run(go())
    assert second - first >= 0.1 - SLACK and third - second >= 0.2 - SLACK


def test_idle_slots_are_dropped() -> None:
    async def go() -> int:
        slots = Slots(0.0, 1, 4)
        for i in range(600):
            async with slots.request(f"h{i}"):
                pass
        return len(slots)

    assert asyncio.run(go()) < 300


# -- the queued work the engine hands out through the slots --------------------------------
def test_a_hosts_next_url_is_handed_out_only_when_its_turn_is_near() -> None:
    slots = Slots(0.2, 4, 16)
    slots.push("a", [1, 2, 3])
    now = time.monotonic()
    assert slots.ready_hosts(now) == ["a"] and slots.take("a", now) == 1
    # The next one would only wait in its slot, holding a place other hosts need.
    assert not slots.can_take("a", now) and slots.ready_hosts(now) == []
    assert slots.next_ready() == pytest.approx(now + 0.2 - LAUNCH_LEAD)
    assert slots.can_take("a", now + 0.2 - LAUNCH_LEAD)
    assert slots.ready_hosts(now + 0.2) == ["a"] and slots.take("a", now + 0.2) == 2
    assert slots.next_ready() == pytest.approx(now + 0.4 - LAUNCH_LEAD)


def test_work_in_hand_is_bounded_per_host_and_hosts_take_turns() -> None:
    slots = Slots(0.0, 2, 16)
    slots.push("a", [1, 2, 3])
    slots.push("b", [4])
    now = time.monotonic()
    assert slots.ready_hosts(now) == ["a", "b"]
    slots.take("a", now)
    assert slots.ready_hosts(now) == ["b", "a"]  # round robin
    slots.take("a", now)
    assert not slots.can_take("a", now)  # per_host items in hand
    slots.done("a")
    assert slots.can_take("a", now) and slots.queued() == 2


def test_a_long_hold_off_gives_the_hosts_work_back() -> None:
    slots = Slots(0.0, 1, 16)
    slots.push("paused", ["x", "y"])
    slots.push("fine", ["z"])
    slots.hold_off("paused", 3600)
    now = time.monotonic()
    assert slots.ready_hosts(now) == ["fine"]
    assert slots.held_hosts(longer_than=60) == ["paused"]
    assert 3500 < slots.held_for("paused") <= 3600
    assert slots.drain("paused") == ["x", "y"] and slots.queued() == 1
