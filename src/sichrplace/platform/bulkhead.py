"""Bulkheads: at most N concurrent runs of one kind of heavy work per API process.

Heavy work started all at once on a few cores slows down together until the database cancels
some at its statement timeout; run a few at a time it finishes at full speed while the rest
wait their turn in the process (facet counts: docs/performance-log.md, round 2). A request
that would wait longer than `max_wait_seconds` gets a 503 with Retry-After straight away
instead of holding a connection until the database gives up.

    async with bulkhead.slot():  # e.g. SearchParts.facets_bulkhead
        rows = await heavy_query()
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import Counter, Gauge

from sichrplace.kit.errors import ServiceUnavailable

BULKHEAD_WAITING = Gauge(
    "sichrplace_bulkhead_waiting", "Requests waiting for a bulkhead slot", ["bulkhead"]
)
BULKHEAD_REJECTED = Counter(
    "sichrplace_bulkhead_rejected_total",
    "Requests answered 503 because no bulkhead slot came free in time",
    ["bulkhead"],
)


class Bulkhead:
    def __init__(self, name: str, *, limit: int, max_wait_seconds: float) -> None:
        if limit < 1:
            raise ValueError("a bulkhead needs at least one slot")
        self.name = name
        self.limit = limit
        self.max_wait_seconds = max_wait_seconds
        self._slots = asyncio.Semaphore(limit)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self.enter()
        try:
            yield
        finally:
            self.leave()

    async def enter(self) -> None:
        """Take a slot, waiting up to max_wait_seconds; ServiceUnavailable if none came free.
        Whoever enters must leave()."""
        waiting = BULKHEAD_WAITING.labels(self.name)
        waiting.inc()
        try:
            async with asyncio.timeout(self.max_wait_seconds):
                await self._slots.acquire()
        except TimeoutError:
            BULKHEAD_REJECTED.labels(self.name).inc()
            raise ServiceUnavailable(
                "Too many of these requests are being computed; retry shortly.", retry_after=2
            ) from None
        finally:
            waiting.dec()

    def leave(self) -> None:
        self._slots.release()
