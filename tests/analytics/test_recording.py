"""What the application records: a listing detail seen by a visitor (not by its owner), a
search page (filters used, items, latency), an enquiry and a booking once they commit (not
a booking refused). And recording never stands in a request's way: with the buffer full the
detail still answers, and the drop is counted."""

from __future__ import annotations

import uuid

import httpx
from prometheus_client import REGISTRY
from sqlalchemy import text

from sichrplace.platform import analytics
from sichrplace.platform.analytics import Batch, EventBuffer
from sichrplace.platform.db.engines import Database
from tests.analytics.conftest import API, MakeUser, flush_app, make_place, raw_count
from tests.messaging.conftest import start
from tests.viewings.conftest import book, create_slot


async def _views_of(db: Database, listing_id: uuid.UUID) -> int:
    return await raw_count(
        db,
        "SELECT coalesce(sum(views), 0) FROM listing_views WHERE listing_id = :id "
        "AND viewed_at > now() - interval '1 hour'",
        id=listing_id,
    )


async def _journey(db: Database, kind: str, listing_id: uuid.UUID) -> int:
    return await raw_count(
        db,
        "SELECT count(*) FROM journey_events WHERE listing_id = :id AND kind = :kind",
        id=listing_id,
        kind=kind,
    )


async def test_detail_views_by_visitors_are_recorded_not_the_owners(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser, unique: str
) -> None:
    place = await make_place(client, db, await make_user("landlord"), unique, n=1)
    (listing,) = place.listings
    tenant = await make_user("tenant")
    for headers in ({}, tenant.headers, {}):
        assert (await client.get(f"{API}/listings/{listing}", headers=headers)).status_code == 200
    await client.get(f"{API}/listings/{listing}", headers=place.landlord.headers)  # the owner
    await flush_app()
    assert await _views_of(db, listing) == 3


async def test_a_search_page_is_recorded_with_its_filters_items_and_latency(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser, unique: str
) -> None:
    place = await make_place(client, db, await make_user("landlord"), unique, n=2)
    r = await client.get(
        f"{API}/search/listings",
        params={"city": place.city, "max_rent": 500_000, "limit": 5},
        headers={"X-Cache-Bypass": "1"},
    )
    assert r.status_code == 200, r.text
    shown = len(r.json()["items"])
    await flush_app()

    async with db.primary.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT filters, results, latency_ms, cache, next_page, sort "
                    "FROM search_events WHERE city_key = :city "
                    "AND searched_at > now() - interval '1 hour'"
                ),
                {"city": place.city_key},
            )
        ).one()
    filters, results, latency_ms, cache, next_page, sort = row
    assert {"city", "max_rent"} <= set(filters)
    assert results == shown == 2
    assert 0 < latency_ms < 10_000
    assert (cache, next_page, sort) == ("bypass", False, "newest")


async def test_an_enquiry_and_a_booking_are_recorded_after_commit_a_refused_one_not(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser, unique: str
) -> None:
    place = await make_place(client, db, await make_user("landlord"), unique, n=1)
    (listing,) = place.listings
    tenant, rival = await make_user("tenant"), await make_user("tenant")
    assert (await start(client, tenant, str(listing))).status_code == 201
    assert (await start(client, tenant, str(listing), "Noch eine Frage")).status_code == 200
    slot = await create_slot(client, place.landlord, str(listing))
    assert (await book(client, tenant, slot["id"])).status_code == 201
    assert (await book(client, rival, slot["id"])).status_code == 409  # rolled back
    await flush_app()
    assert await _journey(db, "enquiry", listing) == 1  # the second start found the first
    assert await _journey(db, "viewing_booked", listing) == 1


async def test_a_full_buffer_drops_and_counts_and_the_detail_still_answers(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser, unique: str
) -> None:
    place = await make_place(client, db, await make_user("landlord"), unique, n=1)
    (listing,) = place.listings
    kept: list[Batch] = []

    async def keep(batch: Batch) -> None:
        kept.append(batch)

    full = EventBuffer(keep, capacity=1, interval=3600)
    full.view(uuid.uuid4())  # the one place taken
    labels = {"kind": "view", "reason": "buffer_full"}
    before = REGISTRY.get_sample_value("sichrplace_analytics_events_dropped_total", labels) or 0
    analytics.install(full)
    try:
        for _ in range(3):
            assert (await client.get(f"{API}/listings/{listing}")).status_code == 200
    finally:
        analytics.uninstall(full)
    after = REGISTRY.get_sample_value("sichrplace_analytics_events_dropped_total", labels) or 0
    assert after - before == 3
    assert full.pending == 1
