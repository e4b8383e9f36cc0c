"""Viewing slots over HTTP: the owner creates and deletes them, the public lists the free
ones; bad times are 422 naming the field; overlaps are refused by the database (409)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from sichrplace.platform.db.engines import Database
from tests.listings.conftest import replica_caught_up
from tests.viewings.conftest import (
    API,
    MakeUser,
    Stage,
    book,
    create_listing,
    create_slot,
    field_names,
    slug,
    soon,
)

BERLIN = ZoneInfo("Europe/Berlin")


def _slots_url(listing_id: str) -> str:
    return f"{API}/listings/{listing_id}/slots"


async def test_the_owner_creates_a_slot_shown_in_berlin_time(
    client: httpx.AsyncClient, stage: Stage
) -> None:
    """Sent in UTC (or any offset), stored as that instant, shown with Berlin's offset of
    the day (+01:00 in winter, +02:00 in summer)."""
    today = datetime.now(UTC).replace(hour=17, minute=0, second=0, microsecond=0)
    for days in (30, 100, 170):
        starts = today + timedelta(days=days)
        ends = starts + timedelta(minutes=30)
        r = await client.post(
            _slots_url(stage.listing_id),
            json={
                "starts_at": starts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ends_at": ends.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            headers=stage.landlord.headers,
        )
        assert r.status_code == 201, r.text
        shown = r.json()["starts_at"]
        assert shown == starts.astimezone(BERLIN).isoformat()
        assert shown.endswith(("+01:00", "+02:00"))
        assert datetime.fromisoformat(shown) == starts
        assert r.headers["location"].endswith(f"/slots/{r.json()['id']}")
    assert stage.slot["listing_id"] == stage.listing_id


async def test_only_the_owner_creates_slots(
    client: httpx.AsyncClient, stage: Stage, make_user: MakeUser
) -> None:
    starts_at, ends_at = soon(48)
    body = {"starts_at": starts_at, "ends_at": ends_at}
    other = await make_user("landlord")
    admin = await make_user("admin")
    for member in (other, stage.tenant, admin):
        r = await client.post(_slots_url(stage.listing_id), json=body, headers=member.headers)
        assert r.status_code == 403, r.text
        assert slug(r) == "not-listing-owner"
    r = await client.post(_slots_url(stage.listing_id), json=body)
    assert r.status_code == 401


async def test_unknown_and_archived_listings_are_not_found(
    client: httpx.AsyncClient, stage: Stage, make_user: MakeUser, db: Database
) -> None:
    starts_at, ends_at = soon(48)
    body = {"starts_at": starts_at, "ends_at": ends_at}
    for missing in ("00000000-0000-4000-8000-000000000000", "not-an-id"):
        r = await client.post(_slots_url(missing), json=body, headers=stage.landlord.headers)
        assert r.status_code == 404
        assert slug(r) == "listing-not-found"
        assert (await client.get(_slots_url(missing))).status_code == 404
    r = await client.delete(f"{API}/listings/{stage.listing_id}", headers=stage.landlord.headers)
    assert r.status_code == 204
    other = await make_user("landlord")
    await replica_caught_up(db)
    # Everything under an archived listing is as invisible as the listing.
    for headers in ({}, stage.tenant.headers, other.headers):
        assert (await client.get(_slots_url(stage.listing_id), headers=headers)).status_code == 404
    r = await client.post(_slots_url(stage.listing_id), json=body, headers=other.headers)
    assert r.status_code == 404
    # Its owner still sees it, but it takes no new slots.
    r = await client.post(_slots_url(stage.listing_id), json=body, headers=stage.landlord.headers)
    assert r.status_code == 409
    assert slug(r) == "listing-not-bookable"
    r = await client.get(_slots_url(stage.listing_id), headers=stage.landlord.headers)
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("starts", "ends", "field"),
    [
        (-2.0, -1.5, "starts_at"),  # in the past
        (24.0, 23.5, "ends_at"),  # inverted
        (24.0, 24.0, "ends_at"),  # empty
        (24.0, 24.1, "ends_at"),  # 6 minutes: too short
        (24.0, 29.0, "ends_at"),  # 5 hours: too long
        (24 * 200, 24 * 200 + 0.5, "starts_at"),  # too far ahead
    ],
)
async def test_bad_times_are_422_naming_the_field(
    client: httpx.AsyncClient, stage: Stage, starts: float, ends: float, field: str
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    body = {
        "starts_at": (now + timedelta(hours=starts)).isoformat(),
        "ends_at": (now + timedelta(hours=ends)).isoformat(),
    }
    r = await client.post(_slots_url(stage.listing_id), json=body, headers=stage.landlord.headers)
    assert r.status_code == 422, r.text
    assert field_names(r.json()) == {field}


@pytest.mark.parametrize(
    "body",
    [
        {"starts_at": "2027-01-12T18:00:00", "ends_at": "2027-01-12T18:30:00+01:00"},  # no offset
        {"starts_at": 1799000000, "ends_at": "2027-01-12T18:30:00+01:00"},  # a number
        {"starts_at": "morgen", "ends_at": "2027-01-12T18:30:00+01:00"},
        {"ends_at": "2027-01-12T18:30:00+01:00"},  # missing
    ],
)
async def test_malformed_times_are_422(
    client: httpx.AsyncClient, stage: Stage, body: dict[str, object]
) -> None:
    r = await client.post(_slots_url(stage.listing_id), json=body, headers=stage.landlord.headers)
    assert r.status_code == 422, r.text
    assert "starts_at" in field_names(r.json())


async def test_overlapping_slots_are_409_back_to_back_ones_fine(
    client: httpx.AsyncClient, stage: Stage
) -> None:
    start = datetime.fromisoformat(stage.slot["starts_at"])
    end = datetime.fromisoformat(stage.slot["ends_at"])
    url, headers = _slots_url(stage.listing_id), stage.landlord.headers
    for s, e in (
        (start, end),  # the same
        (start + timedelta(minutes=10), end + timedelta(minutes=10)),  # overlapping the end
        (start - timedelta(minutes=20), start + timedelta(minutes=1)),  # overlapping the start
        (start - timedelta(hours=1), end + timedelta(hours=1)),  # around it
    ):
        r = await client.post(
            url, json={"starts_at": s.isoformat(), "ends_at": e.isoformat()}, headers=headers
        )
        assert r.status_code == 409, r.text
        assert slug(r) == "slot-overlap"
    r = await client.post(
        url,
        json={"starts_at": end.isoformat(), "ends_at": (end + timedelta(minutes=30)).isoformat()},
        headers=headers,
    )
    assert r.status_code == 201, r.text


async def test_the_database_refuses_overlaps_and_inverted_slots(db: Database, stage: Stage) -> None:
    """Not only the API: an INSERT past it is refused by the exclusion constraint."""
    params = {
        "listing": stage.listing_id,
        "s": datetime.fromisoformat(stage.slot["starts_at"]) + timedelta(minutes=5),
        "e": datetime.fromisoformat(stage.slot["ends_at"]) + timedelta(minutes=5),
    }
    insert = text(
        "INSERT INTO viewing_slots (id, listing_id, starts_at, ends_at) "
        "VALUES (gen_random_uuid(), :listing, :s, :e)"
    )
    with pytest.raises(IntegrityError, match="ex_viewing_slots_no_overlap"):
        async with db.primary.begin() as conn:
            await conn.execute(insert, params)
    with pytest.raises(IntegrityError, match="ck_viewing_slots_ordered"):
        async with db.primary.begin() as conn:
            await conn.execute(insert, {**params, "s": params["e"], "e": params["s"]})


async def test_parallel_overlapping_slots_one_wins(client: httpx.AsyncClient, stage: Stage) -> None:
    start = datetime.fromisoformat(stage.slot["ends_at"]) + timedelta(hours=2)
    bodies = [
        {
            "starts_at": (start + timedelta(minutes=i)).isoformat(),
            "ends_at": (start + timedelta(minutes=30 + i)).isoformat(),
        }
        for i in range(10)
    ]
    answers = await asyncio.gather(
        *(
            client.post(_slots_url(stage.listing_id), json=b, headers=stage.landlord.headers)
            for b in bodies
        )
    )
    assert sorted(r.status_code for r in answers) == [201] + [409] * 9


async def test_the_public_lists_free_future_slots(
    client: httpx.AsyncClient, stage: Stage, payments: object, db: Database
) -> None:
    later = await create_slot(client, stage.landlord, stage.listing_id, hours=72)
    url = _slots_url(stage.listing_id)
    await replica_caught_up(db)
    r = await client.get(url)
    assert r.status_code == 200
    assert [s["id"] for s in r.json()["items"]] == [stage.slot["id"], later["id"]]
    # A window: from/to (RFC 3339).
    r = await client.get(url, params={"from": later["starts_at"]})
    assert [s["id"] for s in r.json()["items"]] == []  # strictly after
    r = await client.get(url, params={"to": later["starts_at"]})
    assert [s["id"] for s in r.json()["items"]] == [stage.slot["id"]]
    r = await client.get(url, params={"from": later["starts_at"], "to": stage.slot["starts_at"]})
    assert r.status_code == 422
    assert field_names(r.json()) == {"to"}
    r = await client.get(url, params={"from": "gestern"})
    assert r.status_code == 422
    # A booked slot is no longer free.
    assert (await book(client, stage.tenant, stage.slot["id"])).status_code == 201
    await replica_caught_up(db)
    r = await client.get(url)
    assert [s["id"] for s in r.json()["items"]] == [later["id"]]


async def test_the_owner_deletes_a_free_slot_not_a_booked_one(
    client: httpx.AsyncClient, stage: Stage, make_user: MakeUser, payments: object, db: Database
) -> None:
    free = await create_slot(client, stage.landlord, stage.listing_id, hours=72)
    url = f"{_slots_url(stage.listing_id)}/{free['id']}"
    other = await make_user("landlord")
    r = await client.delete(url, headers=other.headers)
    assert r.status_code == 403
    r = await client.delete(url, headers=stage.tenant.headers)
    assert r.status_code == 403
    assert (await client.delete(url, headers=stage.landlord.headers)).status_code == 204
    assert (await client.delete(url, headers=stage.landlord.headers)).status_code == 404
    await replica_caught_up(db)
    listed = (await client.get(_slots_url(stage.listing_id))).json()["items"]
    assert free["id"] not in [s["id"] for s in listed]
    # A deleted slot's time can be offered again.
    r = await client.post(
        _slots_url(stage.listing_id),
        json={"starts_at": free["starts_at"], "ends_at": free["ends_at"]},
        headers=stage.landlord.headers,
    )
    assert r.status_code == 201, r.text

    assert (await book(client, stage.tenant, stage.slot["id"])).status_code == 201
    booked_url = f"{_slots_url(stage.listing_id)}/{stage.slot['id']}"
    r = await client.delete(booked_url, headers=stage.landlord.headers)
    assert r.status_code == 409
    assert slug(r) == "slot-booked"
    # A slot of another listing, or no slot at all, is not found under this one.
    elsewhere = await create_listing(client, stage.landlord)
    r = await client.delete(
        f"{_slots_url(elsewhere)}/{stage.slot['id']}", headers=stage.landlord.headers
    )
    assert r.status_code == 404
    assert slug(r) == "slot-not-found"
    r = await client.delete(f"{_slots_url(elsewhere)}/nope", headers=stage.landlord.headers)
    assert r.status_code == 404
