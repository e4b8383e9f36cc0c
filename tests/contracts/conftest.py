"""Contracts fixtures: users with real access tokens (tests/helpers/members.py), a landlord's
listing made through the API, and viewings inserted with SQL into the viewings tables
(migration 0018), so these tests need nothing of the booking flow."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sichrplace.config import Settings
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from tests.helpers.members import Member, create_member
from tests.listings.conftest import listing_body

API = "/api/v1"

MakeUser = Callable[[str], Awaitable[Member]]


@pytest.fixture
def make_user(db: Database, settings: Settings) -> MakeUser:
    async def make(role: str) -> Member:
        return await create_member(db, settings, role, label="ctr")

    return make


@dataclass(frozen=True)
class Deal:
    """A landlord, a tenant, the landlord's listing and (optionally) a viewing of it."""

    landlord: Member
    tenant: Member
    listing_id: str
    viewing_id: str | None


async def new_listing(client: httpx.AsyncClient, landlord: Member, **overrides: Any) -> str:
    r = await client.post(
        f"{API}/listings", json=listing_body(**overrides), headers=landlord.headers
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def insert_viewing(
    db: Database, listing_id: str, tenant_id: uuid.UUID, landlord_id: uuid.UUID, status: str
) -> str:
    """A viewing in `status` (and its slot) as the booking journey would leave it."""
    slot_id, viewing_id = uuid.uuid4(), uuid.uuid4()
    # A random week in the past: slots of one listing must not overlap.
    starts = datetime(2026, 1, 1, 10, tzinfo=UTC) + timedelta(hours=uuid.uuid4().int % 5000)
    async with transaction(db) as session:
        await session.execute(
            text(
                "INSERT INTO viewing_slots (id, listing_id, starts_at, ends_at) "
                "VALUES (:id, :listing, :starts, :ends)"
            ),
            {
                "id": slot_id,
                "listing": listing_id,
                "starts": starts,
                "ends": starts + timedelta(minutes=30),
            },
        )
        await session.execute(
            text(
                "INSERT INTO viewings (id, slot_id, listing_id, tenant_id, landlord_id, status, "
                "expires_at, confirmed_at) VALUES (:id, :slot, :listing, :tenant, :landlord, "
                ":status, :expires, :confirmed)"
            ),
            {
                "id": viewing_id,
                "slot": slot_id,
                "listing": listing_id,
                "tenant": tenant_id,
                "landlord": landlord_id,
                "status": status,
                "expires": starts,
                "confirmed": starts if status in ("confirmed", "completed") else None,
            },
        )
    return str(viewing_id)


MakeDeal = Callable[..., Awaitable[Deal]]


@pytest.fixture
def make_deal(client: httpx.AsyncClient, db: Database, make_user: MakeUser) -> MakeDeal:
    async def make(viewing_status: str | None = "confirmed") -> Deal:
        landlord, tenant = await make_user("landlord"), await make_user("tenant")
        listing_id = await new_listing(client, landlord)
        viewing_id = None
        if viewing_status is not None:
            viewing_id = await insert_viewing(
                db, listing_id, tenant.id, landlord.id, viewing_status
            )
        return Deal(landlord, tenant, listing_id, viewing_id)

    return make


def contract_body(deal: Deal, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "start_date": "2027-01-01",
        "cold_rent_cents": 95_000,
        "utilities_cents": 22_000,
        "deposit_cents": 285_000,
    }
    if deal.viewing_id is not None:
        body["viewing_id"] = deal.viewing_id
    else:
        body.update(listing_id=deal.listing_id, tenant_id=str(deal.tenant.id))
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


async def create_contract(
    client: httpx.AsyncClient, deal: Deal, **overrides: Any
) -> dict[str, Any]:
    r = await client.post(
        f"{API}/contracts", json=contract_body(deal, **overrides), headers=deal.landlord.headers
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def send(client: httpx.AsyncClient, deal: Deal, contract_id: str) -> dict[str, Any]:
    r = await client.post(f"{API}/contracts/{contract_id}/send", headers=deal.landlord.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def sign_body(sha: str, name: str = "Erika Mustermann", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"full_name": name, "accept": True, "document_sha256": sha}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


async def sign(
    client: httpx.AsyncClient, member: Member, contract_id: str, sha: str
) -> httpx.Response:
    return await client.post(
        f"{API}/contracts/{contract_id}/sign",
        json=sign_body(sha),
        headers={**member.headers, "User-Agent": f"pytest-{member.role}"},
    )


async def signed_contract(
    client: httpx.AsyncClient, deal: Deal, **overrides: Any
) -> dict[str, Any]:
    """A contract both parties signed."""
    created = await create_contract(client, deal, **overrides)
    sha = (await send(client, deal, created["id"]))["document_sha256"]
    for member in (deal.tenant, deal.landlord):
        r = await sign(client, member, created["id"], sha)
        assert r.status_code == 200, r.text
    return dict(r.json())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def field_names(problem: dict[str, Any]) -> set[str]:
    return {e["field"] for e in problem.get("errors", [])}


async def count(db: Database, sql: str, **params: Any) -> int:
    async with db.primary.connect() as conn:
        return int((await conn.execute(text(sql), params)).scalar_one())
