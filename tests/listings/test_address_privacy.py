"""Address privacy of the listing detail and popular: anonymous callers, tenants and other
landlords see no street, house number or owner id and coordinates rounded to a ~500 m cell,
unless the landlord shows the exact address; the owner and admins see everything; switching
the choice reaches the cached detail at once."""

from __future__ import annotations

from typing import Any

import httpx
import redis.asyncio as aioredis
from fastapi import FastAPI

from sichrplace.listings.rules import approximate_point
from sichrplace.platform.db.engines import Database
from tests.helpers.members import Member
from tests.listings.conftest import API, MakeUser, listing_body, replica_caught_up
from tests.listings.test_popular import _flush

EXACT = (52.5163, 13.4376)  # listing_body's coordinates
CELL = approximate_point(*EXACT)


async def _create(client: httpx.AsyncClient, owner: Member, **fields: Any) -> str:
    r = await client.post(f"{API}/listings", json=listing_body(**fields), headers=owner.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _strangers(make_user: MakeUser) -> list[dict[str, str]]:
    """Anonymous, a tenant and another landlord (their request headers)."""
    return [{}, (await make_user("tenant")).headers, (await make_user("landlord")).headers]


def _is_public(body: dict[str, Any]) -> None:
    assert "owner_id" not in body
    assert (body["street"], body["house_number"]) == (None, None)
    assert (body["latitude"], body["longitude"]) == CELL
    assert (body["postal_code"], body["city"]) == ("10243", "Berlin")


def _is_full(body: dict[str, Any], owner: Member) -> None:
    assert body["owner_id"] == str(owner.id)
    assert (body["street"], body["house_number"]) == ("Karl-Marx-Allee", "12a")
    assert (body["latitude"], body["longitude"]) == EXACT


async def test_strangers_see_the_cell_owner_and_admin_the_address(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database
) -> None:
    owner, admin = await make_user("landlord"), await make_user("admin")
    listing_id = await _create(client, owner, district="Friedrichshain")
    created = (await client.get(f"{API}/listings/{listing_id}", headers=owner.headers)).json()
    assert created["show_exact_address"] is False  # the default
    await replica_caught_up(db)
    url = f"{API}/listings/{listing_id}"

    for headers in await _strangers(make_user):
        for _ in range(2):  # from the database, then from the cache
            r = await client.get(url, headers=headers)
            assert r.status_code == 200
            _is_public(r.json())
            assert r.json()["district"] == "Friedrichshain"
    for member in (owner, admin):
        r = await client.get(url, headers=member.headers)
        assert r.status_code == 200
        _is_full(r.json(), owner)
    # Then strangers again: the managers' view never reached the shared cache.
    for headers in await _strangers(make_user):
        _is_public((await client.get(url, headers=headers)).json())


async def test_two_listings_in_one_cell_show_the_same_point(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database
) -> None:
    owner = await make_user("landlord")
    a = await _create(client, owner)
    b = await _create(client, owner, latitude=EXACT[0] + 0.0001, longitude=EXACT[1] + 0.0001)
    await replica_caught_up(db)
    shown = [(await client.get(f"{API}/listings/{i}")).json() for i in (a, b)]
    assert (shown[0]["latitude"], shown[0]["longitude"]) == CELL
    assert (shown[1]["latitude"], shown[1]["longitude"]) == CELL


async def test_switching_show_exact_address_reaches_the_cached_detail(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database
) -> None:
    owner = await make_user("landlord")
    strangers = await _strangers(make_user)
    listing_id = await _create(client, owner, show_exact_address=True)
    url = f"{API}/listings/{listing_id}"
    await replica_caught_up(db)
    for headers in strangers:
        body = (await client.get(url, headers=headers)).json()  # fills the cache
        assert "owner_id" not in body  # never public, even with the address shown
        assert (body["street"], body["house_number"]) == ("Karl-Marx-Allee", "12a")
        assert (body["latitude"], body["longitude"]) == EXACT

    r = await client.patch(url, json={"show_exact_address": False}, headers=owner.headers)
    assert r.status_code == 200
    _is_full(r.json(), owner)  # the owner's answer to the edit is the full view
    await replica_caught_up(db)
    for headers in strangers:
        r = await client.get(url, headers=headers)
        assert r.headers["x-read-source"] == "cache"  # refreshed from the primary by the edit
        _is_public(r.json())

    r = await client.patch(url, json={"show_exact_address": True}, headers=owner.headers)
    assert r.status_code == 200
    await replica_caught_up(db)
    assert (await client.get(url)).json()["street"] == "Karl-Marx-Allee"


async def test_show_exact_address_is_a_boolean(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner = await make_user("landlord")
    listing_id = await _create(client, owner)
    for body in ({"show_exact_address": None}, {"show_exact_address": "perhaps"}):
        r = await client.patch(f"{API}/listings/{listing_id}", json=body, headers=owner.headers)
        assert r.status_code == 422, (body, r.text)


async def test_popular_cards_are_public(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    db: Database,
    redis: aioredis.Redis,
    app: FastAPI,
    unique: str,
) -> None:
    owner = await make_user("landlord")
    city = f"Beliebtstadt {unique}"
    hidden = await _create(client, owner, city=city)
    shown = await _create(client, owner, city=city, show_exact_address=True)
    for listing_id in (hidden, hidden, shown):
        await client.get(f"{API}/listings/{listing_id}")
    await _flush(db, redis, app)

    r = await client.get(f"{API}/listings/popular", params={"city": city})

    assert r.status_code == 200
    cards = {card["id"]: card for card in r.json()["items"]}
    assert set(cards) == {hidden, shown}
    for card in cards.values():
        assert not {"street", "house_number", "owner_id", "show_exact_address"} & set(card)
    assert (cards[hidden]["latitude"], cards[hidden]["longitude"]) == CELL
    assert (cards[shown]["latitude"], cards[shown]["longitude"]) == EXACT
