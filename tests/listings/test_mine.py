"""GET /listings/mine: the caller's own listings, every status, newest first, keyset pages;
landlords and admins only."""

from __future__ import annotations

import httpx

from tests.listings.conftest import API, MakeUser, listing_body


async def test_lists_only_own_listings_newest_first_with_every_status(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner, other = await make_user("landlord"), await make_user("landlord")
    ids = []
    for n in range(3):
        r = await client.post(
            f"{API}/listings", json=listing_body(title=f"Wohnung {n}"), headers=owner.headers
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    foreign = await client.post(f"{API}/listings", json=listing_body(), headers=other.headers)
    assert foreign.status_code == 201
    assert (
        await client.delete(f"{API}/listings/{ids[0]}", headers=owner.headers)
    ).status_code == 204

    r = await client.get(f"{API}/listings/mine", headers=owner.headers)
    assert r.status_code == 200, r.text
    page = r.json()
    assert [item["id"] for item in page["items"]] == ids[::-1]
    assert page["next_cursor"] is None
    first = page["items"][0]
    assert first["title"] == "Wohnung 2"
    assert first["street"] == "Karl-Marx-Allee"  # the owner sees the address
    assert first["warm_rent_cents"] == 95_000 + 22_000
    assert page["items"][-1]["status"] == "archived"

    archived = await client.get(
        f"{API}/listings/mine", params={"status": "archived"}, headers=owner.headers
    )
    assert [item["id"] for item in archived.json()["items"]] == [ids[0]]


async def test_cursor_walks_every_listing_once(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner = await make_user("landlord")
    made = set()
    for _ in range(5):
        r = await client.post(f"{API}/listings", json=listing_body(), headers=owner.headers)
        made.add(r.json()["id"])
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await client.get(f"{API}/listings/mine", params=params, headers=owner.headers)
        assert r.status_code == 200, r.text
        seen += [item["id"] for item in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5
    assert set(seen) == made


async def test_tenants_are_refused_anonymous_is_401_bad_cursor_is_422(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    tenant, owner = await make_user("tenant"), await make_user("landlord")
    assert (await client.get(f"{API}/listings/mine", headers=tenant.headers)).status_code == 403
    assert (await client.get(f"{API}/listings/mine")).status_code == 401
    bad = await client.get(
        f"{API}/listings/mine", params={"cursor": "nonsense"}, headers=owner.headers
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in bad.json()["errors"]] == ["cursor"]
