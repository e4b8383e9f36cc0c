"""The district (Stadtteil) and the compound parts through the listings API: optional in POST
and PATCH, shown in the listing, and what search finds after each write."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sichrplace.platform.db.engines import Database
from tests.listings.conftest import (
    API,
    MakeUser,
    Member,
    field_names,
    listing_body,
    replica_caught_up,
)

SEARCH = f"{API}/search/listings"
BYPASS = {"X-Cache-Bypass": "1"}


async def _create(client: httpx.AsyncClient, owner: Member, **overrides: Any) -> dict[str, Any]:
    r = await client.post(f"{API}/listings", json=listing_body(**overrides), headers=owner.headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def _found(client: httpx.AsyncClient, db: Database, **params: Any) -> set[str]:
    await replica_caught_up(db)
    resp = await client.get(SEARCH, params=dict(params, limit=100), headers=BYPASS)
    assert resp.status_code == 200, resp.text
    return {item["id"] for item in resp.json()["items"]}


async def test_district_is_stored_shown_and_searchable(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database, unique: str
) -> None:
    owner = await make_user("landlord")
    city = f"Bezirkstadt {unique}"
    listing = await _create(
        client,
        owner,
        city=city,
        district="Prenzlauer Berg",
        title="Altbauwohnung mit Südbalkon",
        description="Einbauküche, Dielenboden.",
    )
    assert listing["district"] == "Prenzlauer Berg"
    assert "search_extra" not in listing
    assert "district_key" not in listing
    detail = (await client.get(f"{API}/listings/{listing['id']}")).json()
    assert detail["district"] == "Prenzlauer Berg"
    ours = {listing["id"]}
    # The compound parts the service stored: a part finds the listing, with its city.
    for q in ("Balkon", "Altbau", "Küche", "Prenzlauer Berg"):
        assert await _found(client, db, city=city, q=q) == ours, q
    assert await _found(client, db, city=city, district="prenzlauer berg") == ours
    assert await _found(client, db, city=city, q="Terrasse") == set()


async def test_patch_moves_the_listing_between_districts_and_texts(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database, unique: str
) -> None:
    owner = await make_user("landlord")
    city = f"Bezirkstadt {unique}"
    listing = await _create(client, owner, city=city, district="Altona", title="Wohnung mit Balkon")
    url = f"{API}/listings/{listing['id']}"
    async with db.primary.connect() as conn:
        stamp = text("SELECT changed_at FROM listings WHERE id = :id")
        before = (await conn.execute(stamp, {"id": uuid.UUID(listing["id"])})).scalar_one()

    r = await client.patch(url, json={"district": "St. Pauli"}, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["district"] == "St. Pauli"
    async with db.primary.connect() as conn:
        after = (await conn.execute(stamp, {"id": uuid.UUID(listing["id"])})).scalar_one()
    assert after > before  # the change stamp the facet index reads follows the district
    r = await client.patch(url, json={"title": "Wohnung mit Dachterrasse"}, headers=owner.headers)
    assert r.status_code == 200, r.text
    ours = {listing["id"]}
    assert await _found(client, db, city=city, district="Sankt Pauli") == ours
    assert await _found(client, db, city=city, district="Altona") == set()
    assert await _found(client, db, city=city, q="Terrasse") == ours
    assert await _found(client, db, city=city, q="Balkon") == set()

    r = await client.patch(url, json={"district": None}, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["district"] is None
    assert await _found(client, db, city=city, district="St. Pauli") == set()
    assert await _found(client, db, city=city) == ours


@pytest.mark.parametrize("district", ["", "   ", "x" * 101])
async def test_a_bad_district_is_a_422_naming_it(
    client: httpx.AsyncClient, make_user: MakeUser, district: str
) -> None:
    owner = await make_user("landlord")
    r = await client.post(
        f"{API}/listings", json=listing_body(district=district), headers=owner.headers
    )
    assert r.status_code == 422
    assert field_names(r.json()) == {"district"}


async def test_city_spellings_share_one_key(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database, unique: str
) -> None:
    owner = await make_user("landlord")
    a = await _create(client, owner, city=f"Großdorf am Main {unique}")
    b = await _create(client, owner, city=f"GROSSDORF AM MAIN {unique}")
    found = await _found(client, db, city=f"grossdorf am main {unique}")
    assert found == {a["id"], b["id"]}
