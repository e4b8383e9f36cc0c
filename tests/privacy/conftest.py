"""Privacy fixtures: the viewings fixtures (members, a listing with a slot, payments wired to
a fake Stripe), registered users with a real password, and direct inserts of contracts (a
signed contract through the API would need the whole signing flow)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime
from typing import Any

import httpx
from sqlalchemy import insert, text

from sichrplace.accounts.models import RefreshTokenFamily
from sichrplace.accounts.security import build_auth_runtime
from sichrplace.config import Settings
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from tests.helpers.members import Member
from tests.viewings.conftest import (  # noqa: F401 - fixtures
    API,
    app_url,
    make_user,
    payments,
    stage,
    stripe_fake,
)

PASSWORD = "Privat-Sphäre-2026-xyz"


@dataclasses.dataclass(frozen=True)
class Account:
    member: Member
    password: str


async def registered(
    client: httpx.AsyncClient, db: Database, settings: Settings, role: str, label: str
) -> Account:
    """A user registered and signed in through the API (a real password hash)."""
    email = f"{label}-{uuid.uuid4().hex[:12]}@example.com"
    r = await client.post(
        f"{API}/auth/register",
        json={"email": email, "password": PASSWORD, "full_name": f"{label} Person", "role": role},
    )
    assert r.status_code == 201, r.text
    user_id = uuid.UUID(r.json()["id"])
    # A session and its token made directly, not through login: the suite's failed logins
    # from this address would otherwise throttle it (the password stays real for DELETE /me).
    return Account(await signed_in(db, settings, user_id, role, email), PASSWORD)


async def signed_in(
    db: Database, settings: Settings, user_id: uuid.UUID, role: str, email: str
) -> Member:
    session_id = uuid.uuid4()
    async with transaction(db) as session:
        await session.execute(insert(RefreshTokenFamily).values(id=session_id, user_id=user_id))
    token = build_auth_runtime(settings).access_tokens.issue(
        user_id=user_id, email=email, role=role, session_id=session_id, now=datetime.now(UTC)
    )
    return Member(user_id, role, email, {"Authorization": f"Bearer {token}"})


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post(f"{API}/auth/login", json={"email": email, "password": password})


async def rows(db: Database, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with db.primary.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(text(sql), params)]


async def insert_contract(
    db: Database,
    *,
    listing_id: str,
    landlord: Member,
    tenant: Member,
    status: str,
    deposit_status: str = "paid",
    signatures: dict[str, str] | None = None,
) -> uuid.UUID:
    """A contract row (and signatures by party, with the signer's IP) inserted directly."""
    contract_id = uuid.uuid4()
    sha = "a" * 64
    async with db.primary.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO contracts (id, listing_id, landlord_id, tenant_id, status, "
                "start_date, cold_rent_cents, utilities_cents, deposit_cents, deposit_plan, "
                "deposit_status, document_sha256, sent_at) VALUES (:id, :listing, :landlord, "
                ":tenant, :status, :start, 90000, 20000, 180000, 'once', :deposit, :sha, now())"
            ),
            {
                "id": contract_id,
                "listing": listing_id,
                "landlord": landlord.id,
                "tenant": tenant.id,
                "status": status,
                "start": date(2027, 1, 1),
                "deposit": deposit_status,
                "sha": sha,
            },
        )
        for party, ip in (signatures or {}).items():
            signer = tenant if party == "tenant" else landlord
            await conn.execute(
                text(
                    "INSERT INTO contract_signatures (contract_id, party, signer_id, full_name, "
                    "document_sha256, ip, user_agent) VALUES (:c, :party, :signer, :name, :sha, "
                    ":ip, :ua)"
                ),
                {
                    "c": contract_id,
                    "party": party,
                    "signer": signer.id,
                    "name": f"{party} name",
                    "sha": sha,
                    "ip": ip,
                    "ua": f"agent-of-{party}",
                },
            )
    return contract_id
