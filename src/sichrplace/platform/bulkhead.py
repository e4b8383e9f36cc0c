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
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import Counter, Gauge, Histogram

from sichrplace.kit.errors import ServiceUnavailable
from sichrplace.kit.i18n import N_

BULKHEAD_WAITING = Gauge(
    "sichrplace_bulkhead_waiting", "Requests waiting for a bulkhead slot", ["bulkhead"]
)
BULKHEAD_REJECTED = Counter(
    "sichrplace_bulkhead_rejected_total",
    "Requests answered 503 because no bulkhead slot came free in time",
    ["bulkhead"],
)
BULKHEAD_WAIT = Histogram(
    "sichrplace_bulkhead_wait_seconds",
    "Time a request waited for a bulkhead slot (admission: bulkhead=requests), rejected ones "
    "included.",
    ["bulkhead"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
BULKHEAD_ACTIVE = Gauge("sichrplace_bulkhead_active", "Runs holding a bulkhead slot", ["bulkhead"])
BULKHEAD_LIMIT = Gauge("sichrplace_bulkhead_limit", "Slots of a bulkhead", ["bulkhead"])


class Bulkhead:
    def __init__(self, name: str, *, limit: int, max_wait_seconds: float) -> None:
        if limit < 1:
            raise ValueError("a bulkhead needs at least one slot")
        self.name = name
        self.limit = limit
        self.max_wait_seconds = max_wait_seconds
        self._slots = asyncio.Semaphore(limit)
        # Children looked up once: admission passes every request through here.
        self._waiting = BULKHEAD_WAITING.labels(name)
        self._rejected = BULKHEAD_REJECTED.labels(name)
        self._wait = BULKHEAD_WAIT.labels(name)
        self._active = BULKHEAD_ACTIVE.labels(name)
        BULKHEAD_LIMIT.labels(name).set(limit)

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
        if not self._slots.locked():
            # A free slot is taken without waiting (the common case): no clock, no timeout.
            await self._slots.acquire()
            self._wait.observe(0.0)
            self._active.inc()
            return
        started = time.perf_counter()
        self._waiting.inc()
        try:
            async with asyncio.timeout(self.max_wait_seconds):
                await self._slots.acquire()
        except TimeoutError:
            self._rejected.inc()
            raise ServiceUnavailable(
                N_("Too many of these requests are being computed; retry shortly."),
                retry_after=2,
            ) from None
        finally:
            self._waiting.dec()
            self._wait.observe(time.perf_counter() - started)
        self._active.inc()

    def leave(self) -> None:
        self._active.dec()
        self._slots.release()
