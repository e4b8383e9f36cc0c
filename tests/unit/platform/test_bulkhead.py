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
