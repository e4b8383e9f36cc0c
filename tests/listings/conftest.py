"""Listings fixtures: users inserted directly with a real signed access token (no password
hashing or login throttling on this path), and a valid listing body to vary."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, text

from sichrplace.accounts.models import User
from sichrplace.accounts.security import build_auth_runtime
from sichrplace.config import Settings
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database

API = "/api/v1"


@dataclass(frozen=True)
class Member:
    id: uuid.UUID
    role: str
    headers: dict[str, str]


MakeUser = Callable[[str], Awaitable[Member]]


@pytest.fixture
def make_user(db: Database, settings: Settings) -> MakeUser:
    tokens = build_auth_runtime(settings).access_tokens

    async def make(role: str) -> Member:
        user_id = uuid.uuid4()
        email = f"lst-{user_id.hex[:12]}@example.com"
        async with transaction(db) as session:
            await session.execute(
                insert(User).values(
                    id=user_id,
                    email=email,
                    password_hash="not-a-real-hash",
                    full_name="Test User",
                    role=role,
                )
            )
        token = tokens.issue(
            user_id=user_id, email=email, role=role, session_id=uuid.uuid4(), now=datetime.now(UTC)
        )
        return Member(user_id, role, {"Authorization": f"Bearer {token}"})

    return make


def listing_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Helle 3-Zimmer-Wohnung mit Balkon",
        "description": "Ruhige Lage, Einbauküche, Keller und Fahrradkeller.",
        "street": "Karl-Marx-Allee",
        "house_number": "12a",
        "postal_code": "10243",
        "city": "Berlin",
        "latitude": 52.5163,
        "longitude": 13.4376,
        "cold_rent_cents": 95_000,
        "utilities_cents": 22_000,
        "deposit_cents": 285_000,
        "rooms": 3,
        "size_sqm": 78.5,
        "furnished": False,
        "pets_allowed": True,
        "available_from": "2027-01-01",
        "amenities": ["balcony", "fitted_kitchen", "cellar"],
        "energy_class": "B",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def field_names(problem: dict[str, Any]) -> set[str]:
    return {e["field"] for e in problem.get("errors", [])}


async def replica_caught_up(db: Database, within: float = 15.0) -> None:
    """Wait until the replica has replayed everything committed on the primary so far.

    Tests that check cache or routing behaviour use it before a read computed from the
    replica, so that replication lag (other suites load the same stack) does not decide the
    outcome. Returns at once when the replica is not in use (reads then go to the primary).
    """
    async with db.primary.connect() as conn:
        target = (await conn.execute(text("SELECT pg_current_wal_lsn()"))).scalar_one()
    deadline = time.monotonic() + within
    while db.replica_usable():
        async with db.replica.connect() as conn:
            done = (
                await conn.execute(
                    text("SELECT pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn)"), {"lsn": target}
                )
            ).scalar_one()
        if done:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"replica did not replay {target} within {within}s")
        await asyncio.sleep(0.02)
