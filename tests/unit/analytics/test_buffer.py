"""The analytics buffer on its own (a sink that keeps batches, one that fails): recording
never raises or awaits, a full buffer drops and counts, a failed flush drops and counts, and
what waits is written by the buffer's own task, early when a batch is full, and on close."""

from __future__ import annotations

import asyncio
import time
import uuid

from prometheus_client import REGISTRY

from sichrplace.platform import analytics
from sichrplace.platform.analytics import Batch, EventBuffer


def dropped(kind: str, reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "sichrplace_analytics_events_dropped_total", {"kind": kind, "reason": reason}
    )
    return value or 0.0


class Kept:
    """A sink that keeps what it is given (the writer is tested against Postgres elsewhere)."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []

    async def __call__(self, batch: Batch) -> None:
        self.batches.append(batch)

    @property
    def views(self) -> list[uuid.UUID]:
        return [v.listing_id for b in self.batches for v in b.views]


async def failing(batch: Batch) -> None:
    raise ConnectionError("the database is away")


def search(buffer: EventBuffer, results: int = 3) -> None:
    buffer.search(
        city_key="berlin",
        filters=("city", "max_rent"),
        sort="newest",
        results=results,
        latency_ms=1.5,
        cache="hit",
        next_page=False,
    )


async def test_a_full_buffer_drops_and_counts_without_raising() -> None:
    kept = Kept()
    buffer = EventBuffer(kept, capacity=3, interval=3600)
    before_view, before_search = dropped("view", "buffer_full"), dropped("search", "buffer_full")
    ids = [uuid.uuid4() for _ in range(5)]
    for listing_id in ids:
        buffer.view(listing_id)  # returns None, never raises, never awaits
    search(buffer)
    assert buffer.pending == 3
    assert dropped("view", "buffer_full") - before_view == 2
    assert dropped("search", "buffer_full") - before_search == 1
    assert await buffer.flush() == 3
    assert kept.views == ids[:3]  # in the order recorded
    assert buffer.pending == 0
    buffer.view(ids[3])  # room again after the flush
    assert buffer.pending == 1


async def test_a_failed_flush_drops_the_batch_counts_it_and_goes_on() -> None:
    buffer = EventBuffer(failing, interval=3600)
    before = dropped("view", "flush_failed"), dropped("journey", "flush_failed")
    buffer.view(uuid.uuid4())
    buffer.view(uuid.uuid4())
    buffer.journey("viewing_booked", uuid.uuid4(), uuid.uuid4())
    assert await buffer.flush() == 0  # logged and dropped, nothing raised
    assert buffer.pending == 0
    assert dropped("view", "flush_failed") - before[0] == 2
    assert dropped("journey", "flush_failed") - before[1] == 1


async def test_a_slow_sink_times_out_and_is_dropped() -> None:
    async def stuck(batch: Batch) -> None:
        await asyncio.sleep(60)

    buffer = EventBuffer(stuck, interval=3600, timeout=0.05)
    before = dropped("search", "flush_failed")
    search(buffer)
    assert await buffer.flush() == 0
    assert dropped("search", "flush_failed") - before == 1


async def test_the_buffers_task_flushes_by_time_early_when_a_batch_is_full_and_on_close() -> None:
    kept = Kept()
    ticking = EventBuffer(kept, interval=0.05)
    ticking.start()
    first = uuid.uuid4()
    ticking.view(first)
    for _ in range(100):
        if kept.views:
            break
        await asyncio.sleep(0.01)
    assert kept.views == [first]
    await ticking.aclose()

    early = Kept()
    batched = EventBuffer(early, interval=3600, batch=4)
    batched.start()
    ids = [uuid.uuid4() for _ in range(4)]
    for listing_id in ids:
        batched.view(listing_id)
    for _ in range(100):
        if early.views:
            break
        await asyncio.sleep(0.01)
    assert early.views == ids  # long before the hour's tick
    last = uuid.uuid4()
    batched.view(last)
    before = dropped("view", "stopped")
    await batched.aclose()  # shutdown writes what is left
    assert early.views == [*ids, last]
    batched.view(uuid.uuid4())  # after close: counted, not kept, not raised
    assert dropped("view", "stopped") - before == 1
    assert early.views == [*ids, last]


async def test_record_calls_without_a_buffer_do_nothing_and_go_to_the_installed_one() -> None:
    kept = Kept()
    buffer = EventBuffer(kept, interval=3600)
    listing_id = uuid.uuid4()
    outer = analytics.current()
    analytics.install(buffer)
    try:
        assert analytics.current() is buffer
        analytics.record_view(listing_id)
        analytics.record_search(
            city_key=None,
            filters=(),
            sort="newest",
            results=0,
            latency_ms=0.1,
            cache="miss",
            next_page=False,
        )
        assert buffer.pending == 2
    finally:
        analytics.uninstall(buffer)
    assert analytics.current() is outer
    if outer is None:
        analytics.record_view(listing_id)  # nothing installed: a no-op, not an error
    assert buffer.pending == 2


async def test_recording_costs_microseconds() -> None:
    """A coarse guard against I/O creeping onto the request path (a round trip is ~100 us)."""
    events = 2000
    buffer = EventBuffer(Kept(), interval=3600, capacity=10 * events)
    listing_id = uuid.uuid4()
    started = time.perf_counter()
    for _ in range(events):
        buffer.view(listing_id)
    per_event = (time.perf_counter() - started) / events
    assert per_event < 50e-6
