"""POST /contracts: from a confirmed viewing or for a listing and a tenant; the deposit cap;
roles and ownership; bad input answered with a problem and nothing written."""

from __future__ import annotations

import uuid

import httpx
import pytest

from sichrplace.platform.db.engines import Database
from tests.contracts.conftest import (
    API,
    MakeDeal,
    MakeUser,
    contract_body,
    count,
    create_contract,
    field_names,
    insert_viewing,
    new_listing,
)

PROBLEM = "application/problem+json"


async def _contracts_of(db: Database, landlord_id: uuid.UUID) -> int:
    return await count(db, "SELECT count(*) FROM contracts WHERE landlord_id = :id", id=landlord_id)


@pytest.mark.parametrize("viewing_status", ["confirmed", "completed"])
async def test_draft_from_a_viewing(
    client: httpx.AsyncClient, make_deal: MakeDeal, viewing_status: str
) -> None:
    deal = await make_deal(viewing_status)
    r = await client.post(
        f"{API}/contracts", json=contract_body(deal), headers=deal.landlord.headers
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["status"] == "draft"
    assert out["viewing_id"] == deal.viewing_id
    assert out["listing_id"] == deal.listing_id
    assert out["tenant_id"] == str(deal.tenant.id)
    assert out["landlord_id"] == str(deal.landlord.id)
    assert out["warm_rent_cents"] == 117_000
    assert out["end_date"] is None
    assert out["document_sha256"] is None
    assert out["deposit_plan"] == "once"
    assert out["deposit_status"] == "unpaid"
    assert out["deposit_installments"] == [
        {
            "installment": 1,
            "amount_cents": 285_000,
            "due_date": "2027-01-01",
            "paid_at": None,
            "refunded_at": None,
        }
    ]
    assert out["signatures"] == []
    assert r.headers["location"] == f"{API}/contracts/{out['id']}"


async def test_draft_for_a_listing_and_a_tenant(
    client: httpx.AsyncClient, make_deal: MakeDeal
) -> None:
    deal = await make_deal(None)
    out = await create_contract(
        client, deal, end_date="2028-12-31", deposit_plan="three_parts", deposit_cents=100_000
    )
    assert out["viewing_id"] is None
    assert out["end_date"] == "2028-12-31"
    assert [p["amount_cents"] for p in out["deposit_installments"]] == [33_334, 33_333, 33_333]
    assert [p["due_date"] for p in out["deposit_installments"]] == [
        "2027-01-01",
        "2027-02-01",
        "2027-03-01",
    ]


@pytest.mark.parametrize("viewing_status", ["pending_payment", "cancelled", "expired"])
async def test_unconfirmed_viewing_is_409(
    client: httpx.AsyncClient, make_deal: MakeDeal, db: Database, viewing_status: str
) -> None:
    deal = await make_deal(viewing_status)
    r = await client.post(
        f"{API}/contracts", json=contract_body(deal), headers=deal.landlord.headers
    )
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["type"].endswith("/viewing-not-confirmed")
    assert await _contracts_of(db, deal.landlord.id) == 0


async def test_another_landlords_viewing_is_404(
    client: httpx.AsyncClient, make_deal: MakeDeal, make_user: MakeUser, db: Database
) -> None:
    deal = await make_deal("confirmed")
    other = await make_user("landlord")
    r = await client.post(f"{API}/contracts", json=contract_body(deal), headers=other.headers)
    assert r.status_code == 404, r.text
    assert r.json()["type"].endswith("/viewing-not-found")
    assert await _contracts_of(db, other.id) == 0


@pytest.mark.parametrize(
    ("field", "slug"),
    [
        ("viewing_id", "viewing-not-found"),
        ("listing_id", "listing-not-found"),
        ("tenant_id", "tenant-not-found"),
    ],
)
async def test_unknown_ids_are_404(
    client: httpx.AsyncClient, make_deal: MakeDeal, db: Database, field: str, slug: str
) -> None:
    deal = await make_deal(None)
    body = contract_body(deal)
    if field == "viewing_id":
        body = {
            **contract_body(deal, listing_id=..., tenant_id=...),
            "viewing_id": str(uuid.uuid4()),
        }
    else:
        body[field] = str(uuid.uuid4())
    r = await client.post(f"{API}/contracts", json=body, headers=deal.landlord.headers)
    assert r.status_code == 404, r.text
    assert r.json()["type"].endswith(f"/{slug}")
    assert await _contracts_of(db, deal.landlord.id) == 0


async def test_another_landlords_listing_is_403(
    client: httpx.AsyncClient, make_deal: MakeDeal, make_user: MakeUser, db: Database
) -> None:
    deal = await make_deal(None)
    other = await make_user("landlord")
    r = await client.post(f"{API}/contracts", json=contract_body(deal), headers=other.headers)
    assert r.status_code == 403, r.text
    assert await _contracts_of(db, other.id) == 0


async def test_tenant_must_be_a_tenant(
    client: httpx.AsyncClient, make_deal: MakeDeal, make_user: MakeUser
) -> None:
    deal = await make_deal(None)
    other = await make_user("landlord")
    r = await client.post(
        f"{API}/contracts",
        json=contract_body(deal, tenant_id=str(other.id)),
        headers=deal.landlord.headers,
    )
    assert r.status_code == 422, r.text
    assert field_names(r.json()) == {"tenant_id"}


async def test_only_landlords_draft(
    client: httpx.AsyncClient, make_deal: MakeDeal, make_user: MakeUser
) -> None:
    deal = await make_deal("confirmed")
    r = await client.post(f"{API}/contracts", json=contract_body(deal), headers=deal.tenant.headers)
    assert r.status_code == 403
    admin = await make_user("admin")
    r = await client.post(f"{API}/contracts", json=contract_body(deal), headers=admin.headers)
    assert r.status_code == 403
    r = await client.post(f"{API}/contracts", json=contract_body(deal))
    assert r.status_code == 401


async def test_deposit_of_exactly_three_cold_rents_is_allowed(
    client: httpx.AsyncClient, make_deal: MakeDeal
) -> None:
    deal = await make_deal("confirmed")
    out = await create_contract(client, deal, cold_rent_cents=80_000, deposit_cents=240_000)
    assert out["deposit_cents"] == 240_000


async def test_deposit_over_three_cold_rents_is_422(
    client: httpx.AsyncClient, make_deal: MakeDeal, db: Database
) -> None:
    deal = await make_deal("confirmed")
    body = contract_body(deal, cold_rent_cents=80_000, deposit_cents=240_001)
    r = await client.post(f"{API}/contracts", json=body, headers=deal.landlord.headers)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert field_names(r.json()) == {"deposit_cents"}
    assert r.json()["type"].endswith("/deposit-cap-exceeded")
    assert await _contracts_of(db, deal.landlord.id) == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"end_date": "2026-12-31"}, "end_date"),
        ({"end_date": "2027-01-01"}, "end_date"),
        ({"start_date": "01.01.2027"}, "start_date"),
        ({"start_date": ...}, "start_date"),
        ({"cold_rent_cents": "95000"}, "cold_rent_cents"),
        ({"cold_rent_cents": -1}, "cold_rent_cents"),
        ({"utilities_cents": 1.5}, "utilities_cents"),
        ({"deposit_cents": ...}, "deposit_cents"),
        ({"deposit_plan": "monthly"}, "deposit_plan"),
        ({"listing_id": str(uuid.uuid4())}, "listing_id"),
        ({"viewing_id": "not-a-uuid"}, "viewing_id"),
        ({"amount_cents": 1}, "amount_cents"),
    ],
)
async def test_bad_input_is_422_naming_the_field_and_writes_nothing(
    client: httpx.AsyncClient,
    make_deal: MakeDeal,
    db: Database,
    overrides: dict[str, object],
    field: str,
) -> None:
    deal = await make_deal("confirmed")
    r = await client.post(
        f"{API}/contracts", json=contract_body(deal, **overrides), headers=deal.landlord.headers
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert field in field_names(r.json())
    assert await _contracts_of(db, deal.landlord.id) == 0
    events = await count(
        db,
        "SELECT count(*) FROM contract_events e JOIN contracts c ON c.id = e.contract_id "
        "WHERE c.landlord_id = :id",
        id=deal.landlord.id,
    )
    assert events == 0


async def test_viewing_of_another_listing_keeps_its_own_listing(
    client: httpx.AsyncClient, make_deal: MakeDeal, db: Database
) -> None:
    """The contract is for the viewing's listing and tenant, whatever else the landlord owns."""
    deal = await make_deal(None)
    second = await new_listing(client, deal.landlord)
    viewing = await insert_viewing(db, second, deal.tenant.id, deal.landlord.id, "confirmed")
    body = {**contract_body(deal, listing_id=..., tenant_id=...), "viewing_id": viewing}
    r = await client.post(f"{API}/contracts", json=body, headers=deal.landlord.headers)
    assert r.status_code == 201, r.text
    assert r.json()["listing_id"] == second
