"""GET /listings/{id}/stats: the owner sees views, enquiries and bookings per day from the
rollups (every day of the range, zeros where nothing happened); anyone else gets 404."""

from __future__ import annotations

from datetime import timedelta

import httpx

from sichrplace.platform.analytics import Batch
from sichrplace.platform.db.engines import Database
from tests.analytics.conftest import (
    API,
    MakeUser,
    days_back,
    journeys,
    make_place,
    rollup,
    settled,
    today,
    views,
    write,
)


async def test_the_owner_sees_each_day_from_the_rollups_zero_filled(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser, unique: str
) -> None:
    place = await make_place(client, db, await make_user("landlord"), unique, n=1)
    (listing,) = place.listings
    d1, d3 = days_back(4), days_back(2)
    await write(
        db,
        Batch(
            views=[*views(listing, d1, 3), *views(listing, d3, 6)],
            journeys=[
                *journeys("enquiry", listing, d3, 2),
                *journeys("viewing_booked", listing, d3, 1),
            ],
        ),
    )
    await rollup(db, d1, today())
    await settled(db)
    url = f"{API}/listings/{listing}/stats"
    first, last = d1 - timedelta(days=1), today()
    r = await client.get(
        url,
        params={"from": first.isoformat(), "to": last.isoformat()},
        headers=place.landlord.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["listing_id"] == str(listing)
    assert (body["from"], body["to"]) == (first.isoformat(), last.isoformat())
    days = {d["day"]: (d["views"], d["enquiries"], d["bookings"]) for d in body["days"]}
    assert list(days) == [(first + timedelta(days=n)).isoformat() for n in range(6)]
    assert days[d1.isoformat()] == (3, 0, 0)
    assert days[d3.isoformat()] == (6, 2, 1)
    assert days[first.isoformat()] == (0, 0, 0)  # zero-filled
    assert days[days_back(3).isoformat()] == (0, 0, 0)
    assert body["totals"] == {"views": 9, "enquiries": 2, "bookings": 1}

    # From the rollups: events not rolled up yet are not shown.
    await write(db, Batch(views=views(listing, d3, 4)))
    again = await client.get(
        url, params={"from": d3.isoformat(), "to": d3.isoformat()}, headers=place.landlord.headers
    )
    assert again.json()["days"] == [
        {"day": d3.isoformat(), "views": 6, "enquiries": 2, "bookings": 1}
    ]
    await rollup(db, d3, d3)
    await settled(db)
    rolled = await client.get(
        url, params={"from": d3.isoformat(), "to": d3.isoformat()}, headers=place.landlord.headers
    )
    assert rolled.json()["days"][0]["views"] == 10

    # Without a range: the last 30 days up to today.
    default = (await client.get(url, headers=place.landlord.headers)).json()
    assert len(default["days"]) == 30
    assert default["to"] == today().isoformat()


async def test_others_get_404_and_bad_ranges_422(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser, unique: str
) -> None:
    place = await make_place(client, db, await make_user("landlord"), unique, n=1)
    url = f"{API}/listings/{place.listings[0]}/stats"
    for other in (await make_user("landlord"), await make_user("tenant")):
        r = await client.get(url, headers=other.headers)
        assert r.status_code == 404, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(url)).status_code == 401
    admin = await make_user("admin")
    assert (await client.get(url, headers=admin.headers)).status_code == 200  # manages all
    owner = place.landlord.headers
    assert (await client.get(f"{API}/listings/not-an-id/stats", headers=owner)).status_code == 404
    unknown = f"{API}/listings/00000000-0000-4000-8000-000000000000/stats"
    assert (await client.get(unknown, headers=owner)).status_code == 404
    backwards = await client.get(
        url, params={"from": "2026-12-05", "to": "2026-12-01"}, headers=owner
    )
    assert backwards.status_code == 422
    assert [e["field"] for e in backwards.json()["errors"]] == ["to"]
    too_long = await client.get(
        url, params={"from": "2025-01-01", "to": "2026-12-31"}, headers=owner
    )
    assert too_long.status_code == 422
    not_a_day = await client.get(url, params={"from": "gestern"}, headers=owner)
    assert not_a_day.status_code == 422
    assert [e["field"] for e in not_a_day.json()["errors"]] == ["from"]
