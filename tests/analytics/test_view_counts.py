"""Views counted per listing and second (migration 0029): a thousand views of a listing within
one second are one listing_views row of 1000, and the rollup and the landlord's statistics
report 1000; a row written without a count (as before 0029) is one view. The flush's
statement runs on the driver's cursor: when it fails or times out, nothing of its batch is
written, the events are dropped and counted, and the next flush writes on a clean connection."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import cast

import httpx
from prometheus_client import REGISTRY
from sqlalchemy import text

from sichrplace.analytics import repository, service
from sichrplace.platform.analytics import EventBuffer, JourneyKind
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.unit import transaction
from tests.analytics.conftest import (
    API,
    MakeUser,
    at,
    days_back,
    make_place,
    rollup,
    settled,
    today,
)


class Clock:
    """A settable time.time for the buffer."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def dropped(kind: str) -> float:
    labels = {"kind": kind, "reason": "flush_failed"}
    return REGISTRY.get_sample_value("sichrplace_analytics_events_dropped_total", labels) or 0.0


async def _rows(db: Database, listing_id: uuid.UUID) -> list[tuple[datetime, int]]:
    async with db.primary.connect() as conn:
        result = await conn.execute(
            text(
                "SELECT viewed_at, views FROM listing_views WHERE listing_id = :id "
                "ORDER BY viewed_at"
            ),
            {"id": listing_id},
        )
        return [(row[0], row[1]) for row in result.all()]


async def test_a_thousand_views_in_one_second_are_one_row_and_the_stats_show_1000(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser, unique: str
) -> None:
    place = await make_place(client, db, await make_user("landlord"), unique, n=2)
    hot, quiet = place.listings
    day = days_back(1)
    second = at(day, 8, 0) + 17  # 08:00:17 UTC yesterday, a whole second
    clock = Clock(second)
    buffer = EventBuffer(service.writer(db), interval=3600, capacity=10_000, clock=clock)
    for i in range(1000):
        clock.now = second + i / 1000  # all within the one second
        buffer.view(hot)
    buffer.view(quiet)
    assert await buffer.flush() == 1001

    assert await _rows(db, hot) == [(datetime.fromtimestamp(second, UTC), 1000)]
    # A row that names no count (every row written before 0029) is one view.
    async with db.primary.begin() as conn:
        await conn.execute(
            text("INSERT INTO listing_views (viewed_at, listing_id) VALUES (:at, :id)"),
            {"at": datetime.fromtimestamp(second + 60, UTC), "id": quiet},
        )
    assert [n for _, n in await _rows(db, quiet)] == [1, 1]

    await rollup(db, day, day)
    await settled(db)
    for listing_id, views in ((hot, 1000), (quiet, 2)):
        r = await client.get(
            f"{API}/listings/{listing_id}/stats",
            params={"from": day.isoformat(), "to": day.isoformat()},
            headers=place.landlord.headers,
        )
        assert r.status_code == 200, r.text
        assert r.json()["days"] == [
            {"day": day.isoformat(), "views": views, "enquiries": 0, "bookings": 0}
        ]
    async with db.primary.connect() as conn:
        city = await conn.execute(
            text("SELECT views FROM city_daily WHERE city_key = :city AND day = :day"),
            {"city": place.city_key, "day": day},
        )
        assert city.scalar_one() == 1002


async def test_a_failed_statement_writes_nothing_and_the_next_flush_writes(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser, unique: str
) -> None:
    place = await make_place(client, db, await make_user("landlord"), unique, n=1)
    (listing,) = place.listings
    buffer = EventBuffer(service.writer(db), interval=3600)
    before_views, before_journeys = dropped("view"), dropped("journey")
    for _ in range(5):
        buffer.view(listing)
    # A kind the table's CHECK refuses: the one statement fails, views included.
    buffer.journey(cast(JourneyKind, "teleported"), listing, None)
    assert await buffer.flush() == 0
    assert dropped("view") - before_views == 5  # the views, not the one row
    assert dropped("journey") - before_journeys == 1
    assert await _rows(db, listing) == []

    for _ in range(3):
        buffer.view(listing)
    assert await buffer.flush() == 3  # the connection went back to the pool rolled back
    assert [n for _, n in await _rows(db, listing)] == [3]


async def test_a_flush_that_times_out_on_a_locked_partition_is_dropped_and_the_next_writes(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser, unique: str
) -> None:
    place = await make_place(client, db, await make_user("landlord"), unique, n=1)
    (listing,) = place.listings
    ahead = today() + timedelta(days=3)  # a premade day no one else writes to
    async with transaction(db) as session:
        names = {p.first_day: p.name for p in await repository.partitions(session, "listing_views")}
    clock = Clock(at(ahead, 6))
    buffer = EventBuffer(service.writer(db), interval=3600, timeout=0.3, clock=clock)
    before = dropped("view")
    async with db.primary.begin() as locker:
        await locker.execute(text(f'LOCK TABLE "{names[ahead]}" IN ACCESS EXCLUSIVE MODE'))
        buffer.view(listing)
        buffer.view(listing)
        assert await buffer.flush() == 0  # the insert waited for the lock past the timeout
    assert dropped("view") - before == 2

    clock.now = at(days_back(1), 6)
    buffer.view(listing)
    assert await asyncio.wait_for(buffer.flush(), 5) == 1
    rows = await _rows(db, listing)
    assert [n for _, n in rows] == [1]  # the timed-out insert was cancelled, not applied late
