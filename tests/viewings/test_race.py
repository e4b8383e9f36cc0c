"""50 tenants book one slot at the same moment: exactly one 201, 49 x 409 slot-taken, and one
row. The requests run concurrently against the in-process app (each its own transaction on
its own pooled connection through PgBouncer), so the race is decided by Postgres (the
partial unique index), not by Python."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import text

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.viewings.conftest import MakeUser, Stage, book, create_listing, create_slot, slug


@pytest.mark.usefixtures("payments")
async def test_fifty_parallel_bookings_of_one_slot(
    client: httpx.AsyncClient, db: Database, stage: Stage, make_user: MakeUser
) -> None:
    tenants = await asyncio.gather(*(make_user("tenant") for _ in range(50)))
    answers = await asyncio.gather(*(book(client, t, stage.slot["id"]) for t in tenants))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] + [409] * 49, [r.text for r in answers if r.status_code not in (201, 409)]
    assert {slug(r) for r in answers if r.status_code == 409} == {"slot-taken"}
    async with db.primary.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT count(*) FROM viewings WHERE slot_id = :s"), {"s": stage.slot["id"]}
            )
        ).scalar_one()
        payments = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM payments p JOIN viewings v ON v.id = p.viewing_id "
                    "WHERE v.slot_id = :s"
                ),
                {"s": stage.slot["id"]},
            )
        ).scalar_one()
    assert rows == 1
    assert payments == 1  # the losers' transactions (and any intent rows) rolled back


async def _stack_serves_viewings(base_url: str) -> bool:
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as c:
        try:
            r = await c.get("/openapi.json")
        except httpx.HTTPError:
            return False
    return r.status_code == 200 and "/api/v1/viewings" in r.json().get("paths", {})


async def test_fifty_parallel_bookings_through_nginx(
    settings: Settings, db: Database, make_user: MakeUser
) -> None:
    """The same race against the running stack: nginx spreads the 50 requests over the API
    instances (separate processes), each with its own PgBouncer connections."""
    base = settings.app.public_base_url
    if not await _stack_serves_viewings(base):
        pytest.skip("the stack's API instances do not run the viewings code yet (restart them)")
    landlord = await make_user("landlord")
    tenants = await asyncio.gather(*(make_user("tenant") for _ in range(50)))
    limits = httpx.Limits(max_connections=60, max_keepalive_connections=60)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as stack:
        listing_id = await create_listing(stack, landlord)
        slot = await create_slot(stack, landlord, listing_id)
        answers = await asyncio.gather(*(book(stack, t, slot["id"]) for t in tenants))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] + [409] * 49, [r.text for r in answers if r.status_code not in (201, 409)]
    async with db.primary.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT count(*) FROM viewings WHERE slot_id = :s"), {"s": slot["id"]}
            )
        ).scalar_one()
    assert rows == 1
