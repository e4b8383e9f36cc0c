"""PATCH and DELETE /listings/{id}: owner/admin rules, merged validation, status transitions,
and archived listings hidden from the public."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.listings.conftest import API, MakeUser, Member, field_names, listing_body


async def _create(client: httpx.AsyncClient, owner: Member, **overrides: Any) -> dict[str, Any]:
    r = await client.post(f"{API}/listings", json=listing_body(**overrides), headers=owner.headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_owner_patch_recomputes_warm_rent(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner = await make_user("landlord")
    listing = await _create(client, owner)
    r = await client.patch(
        f"{API}/listings/{listing['id']}",
        json={"title": "Sanierte Altbauwohnung", "utilities_cents": 30_000, "rooms": 3.5},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["title"] == "Sanierte Altbauwohnung"
    assert out["warm_rent_cents"] == 95_000 + 30_000
    assert out["rooms"] == 3.5
    assert out["updated_at"] > listing["updated_at"]
    assert out["description"] == listing["description"]  # untouched fields stay


async def test_admin_may_patch_any_listing(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    owner, admin = await make_user("landlord"), await make_user("admin")
    listing = await _create(client, owner)
    r = await client.patch(
        f"{API}/listings/{listing['id']}", json={"furnished": True}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["furnished"] is True


async def test_other_landlord_and_tenant_get_403_anonymous_401(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner, other, tenant = (
        await make_user("landlord"),
        await make_user("landlord"),
        await make_user("tenant"),
    )
    listing = await _create(client, owner)
    url = f"{API}/listings/{listing['id']}"
    for user in (other, tenant):
        assert (
            await client.patch(url, json={"title": "Meins"}, headers=user.headers)
        ).status_code == 403
        assert (await client.delete(url, headers=user.headers)).status_code == 403
    assert (await client.patch(url, json={"title": "Meins"})).status_code == 401
    assert (await client.delete(url)).status_code == 401
    got = await client.get(url)
    assert got.json()["title"] == listing["title"]
    assert got.json()["status"] == "active"


async def test_missing_listing_is_404(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    owner = await make_user("landlord")
    url = f"{API}/listings/00000000-0000-4000-8000-000000000000"
    assert (await client.get(url)).status_code == 404
    assert (
        await client.patch(url, json={"title": "Neu"}, headers=owner.headers)
    ).status_code == 404
    assert (await client.delete(url, headers=owner.headers)).status_code == 404
    assert (await client.get(f"{API}/listings/not-a-uuid")).status_code == 404


async def test_patch_deposit_cap_checks_merged_values(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner = await make_user("landlord")
    listing = await _create(client, owner, cold_rent_cents=100_000, deposit_cents=300_000)
    url = f"{API}/listings/{listing['id']}"
    # Lowering the cold rent alone would leave the stored deposit above 3 x the new rent.
    r = await client.patch(url, json={"cold_rent_cents": 90_000}, headers=owner.headers)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/deposit-cap-exceeded")
    assert field_names(r.json()) == {"deposit_cents"}
    r = await client.patch(url, json={"deposit_cents": 300_001}, headers=owner.headers)
    assert r.status_code == 422
    r = await client.patch(
        url, json={"cold_rent_cents": 90_000, "deposit_cents": 270_000}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    assert (await client.get(url)).json()["deposit_cents"] == 270_000


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"postal_code": "9999"}, "postal_code"),
        ({"amenities": ["pool"]}, "amenities.0"),
        ({"energy_class": "J"}, "energy_class"),
        ({"rooms": 1.25}, "rooms"),
        ({"title": None}, "title"),
        ({"cold_rent_cents": -1}, "cold_rent_cents"),
        ({"latitude": None}, "latitude"),  # one coordinate without the other
        ({"owner_id": "00000000-0000-4000-8000-000000000000"}, "owner_id"),
    ],
)
async def test_patch_validation_names_the_field(
    client: httpx.AsyncClient, make_user: MakeUser, patch: dict[str, Any], field: str
) -> None:
    owner = await make_user("landlord")
    listing = await _create(client, owner)
    r = await client.patch(f"{API}/listings/{listing['id']}", json=patch, headers=owner.headers)
    assert r.status_code == 422, r.text
    assert field in field_names(r.json()), r.json()


async def test_optional_fields_may_be_cleared_with_null(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner = await make_user("landlord")
    listing = await _create(client, owner)
    url = f"{API}/listings/{listing['id']}"
    r = await client.patch(
        url, json={"available_from": None, "energy_class": None}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    assert (r.json()["available_from"], r.json()["energy_class"]) == (None, None)
    assert r.json()["title"] == listing["title"]
    assert (await client.get(url)).json()["energy_class"] is None


async def test_an_illegal_status_transition_is_a_409_problem(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner = await make_user("landlord")
    listing = await _create(client, owner)
    url = f"{API}/listings/{listing['id']}"
    assert (await client.patch(url, json={"status": "rented"}, headers=owner.headers)).is_success
    r = await client.patch(
        url, json={"status": "reserved", "title": "Wieder frei?"}, headers=owner.headers
    )
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["type"].endswith("/illegal-status-transition")
    assert problem["status"] == 409
    assert problem["detail"] == "Eine Anzeige kann nicht von 'rented' zu 'reserved' wechseln."
    assert problem["errors"] == [{"field": "status", "message": "nicht erlaubt aus 'rented'"}]
    after = (await client.get(url, headers=owner.headers)).json()
    assert (after["status"], after["title"]) == ("rented", listing["title"])  # nothing stored


async def test_status_transitions(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    owner = await make_user("landlord")
    listing = await _create(client, owner)
    url = f"{API}/listings/{listing['id']}"

    async def move(to: str) -> httpx.Response:
        return await client.patch(url, json={"status": to}, headers=owner.headers)

    assert (await move("reserved")).json()["status"] == "reserved"
    assert (await move("rented")).json()["status"] == "rented"
    r = await move("reserved")  # a rented flat is not reserved again without being re-let
    assert r.status_code == 409
    assert field_names(r.json()) == {"status"}
    assert (await move("archived")).json()["status"] == "archived"
    assert (await move("rented")).status_code == 409
    assert (await move("active")).json()["status"] == "active"
    assert (await move("sold")).status_code == 422


async def test_delete_archives_and_hides_from_public(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner, other, admin = (
        await make_user("landlord"),
        await make_user("landlord"),
        await make_user("admin"),
    )
    listing = await _create(client, owner)
    url = f"{API}/listings/{listing['id']}"
    assert (await client.get(url)).status_code == 200  # cached as active
    r = await client.delete(url, headers=owner.headers)
    assert r.status_code == 204
    assert (await client.get(url)).status_code == 404
    assert (await client.get(url, headers=other.headers)).status_code == 404
    # Another landlord may not learn that it exists: 404, not 403.
    assert (
        await client.patch(url, json={"title": "x" * 5}, headers=other.headers)
    ).status_code == 404
    mine = await client.get(url, headers=owner.headers)
    assert mine.status_code == 200
    assert mine.json()["status"] == "archived"
    assert (await client.get(url, headers=admin.headers)).status_code == 200
    assert (await client.delete(url, headers=owner.headers)).status_code == 204  # idempotent
