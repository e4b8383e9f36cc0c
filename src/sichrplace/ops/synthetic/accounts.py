"""The synthetic cast: a tenant and a landlord with reserved ids (platform/synthetic.py), made
once and kept, with the landlord's listing; fresh access tokens for each run.

The accounts are written straight to the database (like the benchmarks' casts): they need no
registration mail, no password and no login throttling, and a monitor that logs in every
five minutes would only measure the login. The listing is made through the public API, as a
landlord makes one, once: it stays active, in a seeded city (Berlin), with no free slot
outside a run, so nobody can book it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from sichrplace.accounts.security import AccessTokens, build_auth_runtime
from sichrplace.config import Settings
from sichrplace.ops.synthetic import repository
from sichrplace.platform import synthetic
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database

# Not a password hash: nothing can log in with it (the cast uses signed tokens).
NO_LOGIN_HASH = "!synthetic-account-no-login"
# A session (refresh-token family) is reused for a day, then a new one is made.
SESSION_REUSE_SECONDS = 86_400.0


@dataclass(frozen=True, slots=True)
class Person:
    id: uuid.UUID
    role: str
    name: str


TENANT = Person(synthetic.synthetic_user_id(1), "tenant", "Synthetik Mieterin")
LANDLORD = Person(synthetic.synthetic_user_id(2), "landlord", "Synthetik Vermieter")


def email_of(person: Person) -> str:
    return f"synthetic-{person.role}@{synthetic.EMAIL_DOMAIN}"


@dataclass(frozen=True, slots=True)
class Member:
    person: Person
    headers: dict[str, str]  # Authorization and the synthetic mark


@dataclass(frozen=True, slots=True)
class Cast:
    tenant: Member
    landlord: Member
    listing_id: uuid.UUID


def listing_body() -> dict[str, Any]:
    """The landlord's flat: plainly a monitor's, with coordinates (no geocoding)."""
    return {
        "title": "Synthetischer Monitor: keine echte Wohnung",
        "description": "Angelegt von den synthetischen Prüfungen (sichrplace synthetic).",
        "street": "Karl-Marx-Allee",
        "house_number": "1",
        "postal_code": "10243",
        "city": "Berlin",
        "latitude": 52.5163,
        "longitude": 13.4376,
        "cold_rent_cents": 80_000,
        "utilities_cents": 20_000,
        "deposit_cents": 160_000,
        "rooms": 2,
        "size_sqm": 60.0,
        "amenities": ["balcony"],
    }


async def _member(db: Database, tokens: AccessTokens, person: Person, now: datetime) -> Member:
    async with transaction(db) as session:
        await repository.ensure_user(
            session,
            user_id=person.id,
            email=email_of(person),
            role=person.role,
            name=person.name,
            hash_=NO_LOGIN_HASH,
        )
        family = await repository.live_session(session, person.id, SESSION_REUSE_SECONDS)
        if family is None:
            family = await repository.new_session(session, person.id)
    token = tokens.issue(
        user_id=person.id, email=email_of(person), role=person.role, session_id=family, now=now
    )
    return Member(person, {"Authorization": f"Bearer {token}", synthetic.HEADER: "1"})


async def ensure_cast(db: Database, settings: Settings, http: httpx.AsyncClient) -> Cast:
    """The cast, made where missing (idempotent: ids and emails are fixed)."""
    now, tokens = datetime.now(UTC), build_auth_runtime(settings).access_tokens
    tenant = await _member(db, tokens, TENANT, now)
    landlord = await _member(db, tokens, LANDLORD, now)
    async with transaction(db) as session:
        listing = await repository.listing_of(session, LANDLORD.id)
    if listing is None:
        resp = await http.post("/api/v1/listings", json=listing_body(), headers=landlord.headers)
        if resp.status_code != 201:
            raise RuntimeError(f"making the synthetic listing: {resp.status_code} {resp.text}")
        listing = uuid.UUID(resp.json()["id"])
    return Cast(tenant, landlord, listing)
