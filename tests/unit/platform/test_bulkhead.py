"""Bulkheads: at most N at once, the rest wait their turn, and a wait that is too long is a
503 with Retry-After."""

from __future__ import annotations

import asyncio

import pytest

from sichrplace.kit.errors import ServiceUnavailable
from sichrplace.platform.bulkhead import Bulkhead


async def test_at_most_limit_run_at_once_and_the_rest_wait() -> None:
    bulkhead = Bulkhead("test", limit=2, max_wait_seconds=5)
    running = peak = 0

    async def work() -> None:
        nonlocal running, peak
        async with bulkhead.slot():
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.02)
            running -= 1

    await asyncio.gather(*(work() for _ in range(10)))
    assert peak == 2


async def test_a_wait_longer_than_allowed_is_service_unavailable() -> None:
    bulkhead = Bulkhead("test", limit=1, max_wait_seconds=0.05)
    async with bulkhead.slot():
        with pytest.raises(ServiceUnavailable) as raised:
            async with bulkhead.slot():
                pass
    assert raised.value.headers["Retry-After"] == "2"
    async with bulkhead.slot():  # the slot was given back
        pass


def test_a_bulkhead_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        Bulkhead("test", limit=0, max_wait_seconds=1)


def _sample(bulkhead: str, name: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, {"bulkhead": bulkhead}) or 0.0


async def test_waits_and_slots_in_use_are_measured() -> None:
    """Admission (the `requests` bulkhead) shows how long requests queued and how many run."""
    bulkhead = Bulkhead("metrics-test", limit=1, max_wait_seconds=5)
    entered = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with bulkhead.slot():
            entered.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await entered.wait()
    assert _sample("metrics-test", "sichrplace_bulkhead_active") == 1
    assert _sample("metrics-test", "sichrplace_bulkhead_limit") == 1
    waiter = asyncio.create_task(bulkhead.enter())
    await asyncio.sleep(0.05)
    assert _sample("metrics-test", "sichrplace_bulkhead_waiting") == 1
    release.set()
    await waiter
    bulkhead.leave()
    await task
    assert _sample("metrics-test", "sichrplace_bulkhead_active") == 0
    assert _sample("metrics-test", "sichrplace_bulkhead_wait_seconds_count") == 2
    # The second entry waited about 50 ms; the first took a free slot at once.
    assert _sample("metrics-test", "sichrplace_bulkhead_wait_seconds_sum") >= 0.04
