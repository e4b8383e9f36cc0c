"""The rollups equal the raw counts of the same days: raw events of several days written as
the buffer writes them, the rollup run, then listing_daily and city_daily compared with
counts taken straight from the raw tables (and with what was written). Running it again
changes nothing."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import text

from sichrplace.platform.analytics import Batch
from sichrplace.platform.db.engines import Database
from tests.analytics.conftest import (
    MakeUser,
    days_back,
    journeys,
    make_place,
    raw_count,
    rollup,
    searches,
    views,
    write,
)


async def _listing_row(db: Database, listing_id: uuid.UUID, day: object) -> tuple[int, ...]:

    async with db.primary.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT views, enquiries, bookings, payments, signings FROM listing_daily "
                    "WHERE listing_id = :id AND day = :day"
                ),
                {"id": listing_id, "day": day},
            )
        ).one_or_none()
    return tuple(row) if row is not None else (0, 0, 0, 0, 0)


async def _city_row(db: Database, city_key: str, day: object) -> tuple[int, ...]:

    async with db.primary.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT views, searches, bookings FROM city_daily "
                    "WHERE city_key = :city AND day = :day"
                ),
                {"city": city_key, "day": day},
            )
        ).one_or_none()
    return tuple(row) if row is not None else (0, 0, 0)


async def test_rollups_equal_the_raw_counts_of_the_same_days(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser, unique: str
) -> None:
    place = await make_place(client, db, await make_user("landlord"), unique)
    a, b = place.listings
    d1, d2, d3 = days_back(3), days_back(2), days_back(1)
    await write(
        db,
        Batch(
            views=[*views(a, d1, 5), *views(a, d2, 2), *views(b, d2, 7), *views(b, d3, 1)],
            searches=[*searches(place.city_key, d1, 3), *searches(place.city_key, d3, 4)],
            journeys=[
                *journeys("enquiry", a, d1, 2),
                *journeys("viewing_booked", a, d2, 1),
                *journeys("viewing_paid", a, d2, 1),
                *journeys("deposit_paid", b, d3, 2),
                *journeys("contract_signed", b, d3, 1),
                *journeys("viewing_booked", b, d3, 3),
            ],
        ),
    )
    report = await rollup(db, d1, d3)
    assert report.listing_rows >= 4

    expected = {
        (a, d1): (5, 2, 0, 0, 0),
        (a, d2): (2, 0, 1, 1, 0),
        (a, d3): (0, 0, 0, 0, 0),
        (b, d1): (0, 0, 0, 0, 0),
        (b, d2): (7, 0, 0, 0, 0),
        (b, d3): (1, 0, 3, 2, 1),
    }
    for (listing_id, day), counts in expected.items():
        assert await _listing_row(db, listing_id, day) == counts, (listing_id, day)
        # ... and the same as counted in the raw tables for that listing and day
        raw_views = await raw_count(
            db,
            "SELECT coalesce(sum(views), 0) FROM listing_views WHERE listing_id = :id "
            "AND (viewed_at AT TIME ZONE 'UTC')::date = :day",
            id=listing_id,
            day=day,
        )
        raw_bookings = await raw_count(
            db,
            "SELECT count(*) FROM journey_events WHERE listing_id = :id AND kind = "
            "'viewing_booked' AND (occurred_at AT TIME ZONE 'UTC')::date = :day",
            id=listing_id,
            day=day,
        )
        assert (raw_views, raw_bookings) == (counts[0], counts[2])

    for day, wanted in ((d1, (5, 3, 0)), (d2, (9, 0, 1)), (d3, (1, 4, 3))):
        assert await _city_row(db, place.city_key, day) == wanted, day
        raw_searches = await raw_count(
            db,
            "SELECT count(*) FROM search_events WHERE city_key = :city "
            "AND (searched_at AT TIME ZONE 'UTC')::date = :day",
            city=place.city_key,
            day=day,
        )
        assert raw_searches == wanted[1]

    # Idempotent: the same days again give the same rows, and rewrite none of ours.
    await rollup(db, d1, d3)
    assert await _listing_row(db, b, d3) == (1, 0, 3, 2, 1)
    assert await _city_row(db, place.city_key, d2) == (9, 0, 1)

    # Events that arrive late for a day already rolled up are counted by the next run.
    await write(db, Batch(views=views(a, d3, 2)))
    await rollup(db, d3, d3)
    assert await _listing_row(db, a, d3) == (2, 0, 0, 0, 0)
    assert await _city_row(db, place.city_key, d3) == (3, 4, 3)
