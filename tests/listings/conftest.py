"""Listings fixtures: users inserted directly with a real signed access token (no password
hashing or login throttling on this path), and a valid listing body to vary."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.helpers.members import Member, create_member

API = "/api/v1"


MakeUser = Callable[[str], Awaitable[Member]]


@pytest.fixture
def make_user(db: Database, settings: Settings) -> MakeUser:
    async def make(role: str) -> Member:
        return await create_member(db, settings, role, label="lst")

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
