"""The process's analytics buffer: events appended in memory by request handlers (no I/O, no
await), written by a background task in one statement per flush. Views are counted per
listing and second rather than kept one by one: a flush writes a row per listing seen in a
second, however often it was seen (docs/performance-log.md, round 16).

Bounded: beyond `capacity` waiting events a new one is dropped and counted. A flush that
fails (Postgres down, a timeout) drops its batch, counts it and logs one line. Either way the
request that recorded the event never sees an error: analytics may lose events under
pressure, the requests they describe never wait for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeAlias

import structlog
from prometheus_client import Counter, Histogram

from sichrplace.kit.tasks import stop_task
from sichrplace.platform.analytics.events import (
    EVENT_KINDS,
    Batch,
    CacheStatus,
    EventKind,
    Journey,
    JourneyKind,
    Search,
    View,
)

log = structlog.get_logger(__name__)

# Writes one batch (the analytics domain's INSERT, handed over by the composition root).
Sink = Callable[[Batch], Awaitable[None]]
# (the whole second, as epoch seconds; the listing) -> views in that second.
ViewCounts: TypeAlias = dict[tuple[float, uuid.UUID], int]

DROPPED = Counter(
    "sichrplace_analytics_events_dropped_total",
    "Analytics events not written: the buffer was full, its flush failed, or the process was"
    " stopping.",
    ["kind", "reason"],
)
WRITTEN = Counter(
    "sichrplace_analytics_events_written_total",
    "Analytics events written to Postgres.",
    ["kind"],
)
FLUSH_SECONDS = Histogram(
    "sichrplace_analytics_flush_seconds",
    "Time one flush of the analytics buffer took (successful or not).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
DROP_REASONS = ("buffer_full", "flush_failed", "stopped")
for _kind in EVENT_KINDS:
    WRITTEN.labels(_kind)
    for _reason in DROP_REASONS:
        DROPPED.labels(_kind, _reason)


class EventBuffer:
    """Bounded counts of views and lists of searches and journey steps, flushed every
    `interval` seconds or as soon as `batch` events wait.

    Plain containers rather than an asyncio.Queue: a record is a tuple appended to a list,
    or a view counted in a dict (no future to wake, nothing to await), and a flush takes them
    whole by swapping them. The bound is on events, counted views included, so a dict never
    holds more keys than `capacity`. `clock` is time.time (tests pass their own).
    """

    def __init__(
        self,
        sink: Sink,
        *,
        interval: float = 1.0,
        batch: int = 5000,
        capacity: int = 50_000,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sink = sink
        self._interval = interval
        self._batch = batch
        self._capacity = capacity
        self._timeout = timeout
        self._clock = clock
        self._views: ViewCounts = {}
        self._searches: list[Search] = []
        self._journeys: list[Journey] = []
        self._pending = 0
        self._accepting = True
        self._stopping = False
        self._wake = asyncio.Event()
        self._flushing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        # Children resolved once: a drop under pressure costs one increment, not a lookup.
        self._full = {kind: DROPPED.labels(kind, "buffer_full") for kind in EVENT_KINDS}
        self._stopped = {kind: DROPPED.labels(kind, "stopped") for kind in EVENT_KINDS}

    # --- the request path: no I/O, no await ---------------------------------------------------

    def _admit(self, kind: EventKind) -> bool:
        if not self._accepting:
            self._stopped[kind].inc()
            return False
        if self._pending >= self._capacity:
            self._full[kind].inc()
            return False
        self._pending += 1
        if self._pending == self._batch:
            self._wake.set()  # a full batch goes now rather than at the next tick
        return True

    def view(self, listing_id: uuid.UUID) -> None:
        if self._admit("view"):
            # A float floor (not int()): View.at is a float, like the other kinds' times.
            key = (self._clock() // 1, listing_id)
            views = self._views
            views[key] = views.get(key, 0) + 1

    def search(
        self,
        *,
        city_key: str | None,
        filters: tuple[str, ...],
        sort: str,
        results: int,
        latency_ms: float,
        cache: CacheStatus,
        next_page: bool,
    ) -> None:
        if self._admit("search"):
            self._searches.append(
                Search(
                    self._clock(), city_key, filters, sort, results, latency_ms, cache, next_page
                )
            )

    def journey(
        self, kind: JourneyKind, listing_id: uuid.UUID, subject_id: uuid.UUID | None
    ) -> None:
        if self._admit("journey"):
            self._journeys.append(Journey(self._clock(), kind, listing_id, subject_id))

    @property
    def pending(self) -> int:
        """Events waiting for the next flush."""
        return self._pending

    # --- the background side --------------------------------------------------------------------

    def _take(self) -> Batch:
        views = [View(at, listing_id, n) for (at, listing_id), n in self._views.items()]
        batch = Batch(views, self._searches, self._journeys)
        self._views, self._searches, self._journeys = {}, [], []
        self._pending = 0
        return batch

    async def flush(self) -> int:
        """Write what waits in one call of the sink; the events written (0 when it failed:
        the batch is dropped and counted, never retried, so a slow database cannot make the
        buffer grow without bound). One flush at a time: when it returns, every event
        recorded before the call has been written or dropped (a flush under way included)."""
        async with self._flushing:
            if not self._pending:
                return 0
            return await self._write(self._take())

    async def _write(self, batch: Batch) -> int:
        counts = batch.counts()
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                await self._sink(batch)
        except Exception as exc:
            for kind, n in counts.items():
                if n:
                    DROPPED.labels(kind, "flush_failed").inc(n)
            log.warning(
                "analytics_flush_failed", events=sum(counts.values()), error=repr(exc)[:200]
            )
            return 0
        finally:
            FLUSH_SECONDS.observe(time.perf_counter() - started)
        for kind, n in counts.items():
            if n:
                WRITTEN.labels(kind).inc(n)
        return sum(counts.values())

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="analytics-buffer")

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # flush catches the sink's errors; this is a bug, keep running
                log.exception("analytics_flush_crashed")

    async def aclose(self) -> None:
        """Stop taking events, let a flush under way finish, write the rest."""
        self._accepting = False
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=self._timeout + 1)
            except TimeoutError:
                await stop_task(task)
        await self.flush()
