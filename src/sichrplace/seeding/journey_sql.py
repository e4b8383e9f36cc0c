"""The SQL the booking-journey seed runs itself (everything else goes through the domains'
services and repositories): finding what an earlier run made, and moving a booking made just
now into the past.

Why the move: the fake payment provider lives in real time (a payment is made and succeeds
now; that is what its own records and the reconciliation job see), and a confirmed booking
whose slot already ended cannot be made through the services (a slot in the past cannot be
booked). So the seed books and pays for an upcoming slot now, then shifts the booking's own
times (and, for a completed viewing, its slot) back by one interval, which keeps their order;
the payment rows keep the provider's times.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import Table, select, update

from sichrplace.contracts.models import Contract
from sichrplace.platform.db.sessions import PrimarySession
from sichrplace.viewings.models import Viewing, ViewingSlot
from sichrplace.viewings.vocabulary import ViewingStatus

viewings: Table = Viewing.__table__  # type: ignore[assignment]
slots: Table = ViewingSlot.__table__  # type: ignore[assignment]
contracts: Table = Contract.__table__  # type: ignore[assignment]


async def latest_viewing(
    session: PrimarySession,
    *,
    tenant_id: uuid.UUID,
    listing_id: uuid.UUID,
    status: ViewingStatus,
) -> uuid.UUID | None:
    """The tenant's newest booking of the listing in `status`, if any."""
    stmt = (
        select(viewings.c.id)
        .where(
            viewings.c.tenant_id == tenant_id,
            viewings.c.listing_id == listing_id,
            viewings.c.status == status.value,
        )
        .order_by(viewings.c.created_at.desc(), viewings.c.id.desc())
        .limit(1)
    )
    found: uuid.UUID | None = (await session.execute(stmt)).scalar_one_or_none()
    return found


async def slot_times(
    session: PrimarySession, listing_id: uuid.UUID
) -> list[tuple[datetime, datetime]]:
    """Every slot of the listing not deleted (booked or free, past or upcoming)."""
    stmt = select(slots.c.starts_at, slots.c.ends_at).where(
        slots.c.listing_id == listing_id, slots.c.deleted_at.is_(None)
    )
    return [(r.starts_at, r.ends_at) for r in (await session.execute(stmt)).all()]


async def shift_viewing(
    session: PrimarySession, viewing_id: uuid.UUID, by: timedelta, *, with_slot: bool
) -> None:
    """Move a booking's times (made, changed, payment deadline, confirmed) `by` earlier; with
    `with_slot` its slot's too (the caller checked that the moved slot overlaps none)."""
    await session.execute(
        update(viewings)
        .where(viewings.c.id == viewing_id)
        .values(
            created_at=viewings.c.created_at - by,
            updated_at=viewings.c.updated_at - by,
            expires_at=viewings.c.expires_at - by,
            confirmed_at=viewings.c.confirmed_at - by,
        )
    )
    if with_slot:
        slot_id = select(viewings.c.slot_id).where(viewings.c.id == viewing_id).scalar_subquery()
        await session.execute(
            update(slots)
            .where(slots.c.id == slot_id)
            .values(
                starts_at=slots.c.starts_at - by,
                ends_at=slots.c.ends_at - by,
                created_at=slots.c.created_at - by,
            )
        )


async def contract_of_viewing(session: PrimarySession, viewing_id: uuid.UUID) -> uuid.UUID | None:
    stmt = (
        select(contracts.c.id)
        .where(contracts.c.viewing_id == viewing_id)
        .order_by(contracts.c.created_at)
        .limit(1)
    )
    found: uuid.UUID | None = (await session.execute(stmt)).scalar_one_or_none()
    return found
