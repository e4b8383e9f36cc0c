"""Synthetic monitors' bookings and payments are not business: a synthetic tenant's booking,
paid at the fake Stripe and confirmed by its webhook (which carries no synthetic mark), moves
neither `sichrplace_bookings_total` nor `sichrplace_payments_total`, nor records the journey's
analytics steps; a real tenant's same booking moves each by one."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import insert

from sichrplace.accounts.models import RefreshTokenFamily, User
from sichrplace.accounts.security import build_auth_runtime
from sichrplace.config import Settings
from sichrplace.platform import analytics, synthetic
from sichrplace.platform.analytics.buffer import EventBuffer
from sichrplace.platform.analytics.events import Batch
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.platform.observability import business
from tests.helpers.members import Member
from tests.payments.conftest import Wired, paid
from tests.viewings.conftest import MakeUser, Stage, create_listing, create_slot


async def synthetic_tenant(db: Database, settings: Settings) -> Member:
    """A tenant with a reserved synthetic id (a fresh number per test: ids are unique)."""
    user_id = synthetic.synthetic_user_id(random.randrange(1000, 2**32))
    session_id, email = uuid.uuid4(), f"test-{user_id.hex[-8:]}@{synthetic.EMAIL_DOMAIN}"
    async with transaction(db) as session:
        await session.execute(
            insert(User).values(
                id=user_id, email=email, password_hash="x", full_name="Synthetik", role="tenant"
            )
        )
        await session.execute(insert(RefreshTokenFamily).values(id=session_id, user_id=user_id))
    token = build_auth_runtime(settings).access_tokens.issue(
        user_id=user_id, email=email, role="tenant", session_id=session_id, now=datetime.now(UTC)
    )
    return Member(user_id, "tenant", email, {"Authorization": f"Bearer {token}"})


def counts() -> tuple[float, float]:
    return (
        float(business.BOOKINGS.labels("succeeded")._value.get()),
        float(business.PAYMENTS.labels("succeeded")._value.get()),
    )


async def _paid_booking(
    client: httpx.AsyncClient, db: Database, wired: Wired, make_user: MakeUser, tenant: Member
) -> dict[str, Any]:
    landlord = await make_user("landlord")
    listing_id = await create_listing(client, landlord)
    slot = await create_slot(client, landlord, listing_id)
    booking, _ = await paid(client, db, wired, Stage(landlord, tenant, listing_id, slot))
    return booking


async def test_a_synthetic_tenants_paid_booking_is_not_counted(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    wired: Wired,
    make_user: MakeUser,
) -> None:
    journeys: list[Any] = []

    async def sink(batch: Batch) -> None:
        return None

    buffer = EventBuffer(sink)
    original_journey = buffer.journey

    def spy(*args: Any) -> None:
        journeys.append(args)
        original_journey(*args)

    buffer.journey = spy  # type: ignore[method-assign]
    analytics.install(buffer)
    try:
        before = counts()
        booking = await _paid_booking(
            client, db, wired, make_user, await synthetic_tenant(db, settings)
        )
        assert counts() == before, "a synthetic booking was counted"
        assert not [j for j in journeys if str(j[2]) == booking["id"]], journeys

        real = await _paid_booking(client, db, wired, make_user, await make_user("tenant"))
        after = counts()
        assert (after[0] - before[0], after[1] - before[1]) == (1, 1)
        assert {j[0] for j in journeys if str(j[2]) == real["id"]} == {
            "viewing_booked",
            "viewing_paid",
        }
    finally:
        analytics.uninstall(buffer)
