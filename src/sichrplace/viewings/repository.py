"""All viewings SQL (Core, column projections). Rows come back as `viewings.records`.

The two booking invariants are the database's: inserts that would break them do nothing
(`ON CONFLICT DO NOTHING` against the exclusion constraint and the partial unique index) and
come back as None, which the service answers with 409. A concurrent insert into the same
slot waits for the first one's transaction and then does nothing, so no interleaving of
requests on any number of instances books a slot twice.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, and_, exists, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from sichrplace.accounts.models import User
from sichrplace.listings.models import Listing
from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession
from sichrplace.viewings.models import LIVE_SQL, CalendarFeed, Viewing, ViewingSlot
from sichrplace.viewings.records import (
    BookableSlot,
    ListedViewing,
    Person,
    SlotRow,
    ViewingContext,
    ViewingRow,
)
from sichrplace.viewings.vocabulary import LIVE_STATUSES, ViewingStatus

slots: Table = ViewingSlot.__table__  # type: ignore[assignment]
viewings: Table = Viewing.__table__  # type: ignore[assignment]
feeds: Table = CalendarFeed.__table__  # type: ignore[assignment]
listings: Table = Listing.__table__  # type: ignore[assignment]
users: Table = User.__table__  # type: ignore[assignment]

AnySession = PrimarySession | ReplicaSession

SLOT_COLUMNS = [slots.c[f.name] for f in dataclasses.fields(SlotRow)]
_SLOT_TIMES = ("starts_at", "ends_at")
VIEWING_COLUMNS = [
    (slots.c[f.name] if f.name in _SLOT_TIMES else viewings.c[f.name])
    for f in dataclasses.fields(ViewingRow)
]
_OWN_COLUMNS = [f.name for f in dataclasses.fields(ViewingRow) if f.name not in _SLOT_TIMES]
_JOINED = viewings.join(slots, slots.c.id == viewings.c.slot_id)
_LIVE = viewings.c.status.in_([s.value for s in LIVE_STATUSES])


def _viewing(row: Row[Any]) -> ViewingRow:
    return _viewing_from(row._asdict())


def _viewing_from(values: dict[str, Any]) -> ViewingRow:
    return ViewingRow(**{**values, "status": ViewingStatus(values["status"])})


def _slot(row: Row[Any]) -> SlotRow:
    return SlotRow(**row._asdict())


# --- slots ------------------------------------------------------------------------------------


async def insert_slot(
    session: PrimarySession,
    *,
    listing_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
) -> SlotRow | None:
    """The new slot, or None when it overlaps a slot of the listing (the exclusion
    constraint; DO NOTHING without a target is the form Postgres allows for one)."""
    stmt = (
        pg_insert(slots)
        .values(id=uuid.uuid4(), listing_id=listing_id, starts_at=starts_at, ends_at=ends_at)
        .on_conflict_do_nothing()
        .returning(*SLOT_COLUMNS)
    )
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else _slot(row)


async def get_slot(
    session: AnySession, slot_id: uuid.UUID, *, lock: bool = False, share: bool = False
) -> SlotRow | None:
    """A slot not deleted. `lock`: FOR UPDATE (deleting it), `share`: FOR SHARE (booking
    it: many bookers at once, but a deletion waits for them and they for it)."""
    stmt = select(*SLOT_COLUMNS).where(slots.c.id == slot_id, slots.c.deleted_at.is_(None))
    if lock:
        stmt = stmt.with_for_update()
    elif share:
        stmt = stmt.with_for_update(read=True)
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else _slot(row)


async def bookable_slot(session: PrimarySession, slot_id: uuid.UUID) -> BookableSlot | None:
    """A slot not deleted, FOR SHARE as get_slot(share=True) (only the slot's row: the
    listing stays free to edit), with its listing's owner, status and title."""
    stmt = (
        select(*SLOT_COLUMNS, listings.c.owner_id, listings.c.status, listings.c.title)
        .select_from(slots.join(listings, listings.c.id == slots.c.listing_id))
        .where(slots.c.id == slot_id, slots.c.deleted_at.is_(None))
        .with_for_update(read=True, of=slots)
    )
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        return None
    values = row._asdict()
    return BookableSlot(
        slot=SlotRow(**{f.name: values[f.name] for f in dataclasses.fields(SlotRow)}),
        owner_id=values["owner_id"],
        listing_status=str(values["status"]),
        title=values["title"],
    )


async def slot_has_live_booking(session: AnySession, slot_id: uuid.UUID) -> bool:
    stmt = select(exists().where(viewings.c.slot_id == slot_id, _LIVE))
    return bool((await session.execute(stmt)).scalar_one())


async def delete_slot(session: PrimarySession, slot_id: uuid.UUID, *, now: datetime) -> None:
    await session.execute(update(slots).where(slots.c.id == slot_id).values(deleted_at=now))


async def free_slots(
    session: AnySession,
    listing_id: uuid.UUID,
    *,
    after: datetime,
    before: datetime | None,
    limit: int,
) -> list[SlotRow]:
    """Slots of the listing starting after `after` (and before `before`) with no live
    booking, soonest first."""
    stmt = select(*SLOT_COLUMNS).where(
        slots.c.listing_id == listing_id,
        slots.c.deleted_at.is_(None),
        slots.c.starts_at > after,
        ~exists().where(viewings.c.slot_id == slots.c.id, _LIVE),
    )
    if before is not None:
        stmt = stmt.where(slots.c.starts_at < before)
    stmt = stmt.order_by(slots.c.starts_at, slots.c.id).limit(limit)
    return [_slot(r) for r in (await session.execute(stmt)).all()]


# --- viewings ---------------------------------------------------------------------------------


async def insert_viewing(
    session: PrimarySession,
    *,
    slot: SlotRow,
    tenant_id: uuid.UUID,
    landlord_id: uuid.UUID,
    message: str | None,
    expires_at: datetime,
) -> ViewingRow | None:
    """The new booking (pending payment), or None when the slot already has a live one
    (the partial unique index `ux_viewings_live_slot` is the arbiter)."""
    viewing_id = uuid.uuid4()
    stmt = (
        pg_insert(viewings)
        .values(
            id=viewing_id,
            slot_id=slot.id,
            listing_id=slot.listing_id,
            tenant_id=tenant_id,
            landlord_id=landlord_id,
            status=ViewingStatus.PENDING_PAYMENT.value,
            message=message,
            expires_at=expires_at,
        )
        .on_conflict_do_nothing(index_elements=["slot_id"], index_where=text(LIVE_SQL))
        .returning(*(viewings.c[name] for name in _OWN_COLUMNS))
    )
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        return None
    # The slot's times are known: no second statement to join them in.
    return _viewing_from({**row._asdict(), "starts_at": slot.starts_at, "ends_at": slot.ends_at})


async def get_viewing(
    session: AnySession, viewing_id: uuid.UUID, *, lock: bool = False
) -> ViewingRow | None:
    stmt = select(*VIEWING_COLUMNS).select_from(_JOINED).where(viewings.c.id == viewing_id)
    if lock:
        # Only the booking's row: its slot stays free for others to read.
        stmt = stmt.with_for_update(of=viewings)
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else _viewing(row)


async def set_status(
    session: PrimarySession,
    viewing_id: uuid.UUID,
    status: ViewingStatus,
    *,
    now: datetime,
    bump_sequence: bool,
    cancelled_by: uuid.UUID | None = None,
) -> ViewingRow:
    """Move a (locked) booking to `status`, stamping the time of the change."""
    values: dict[str, object] = {"status": status.value, "updated_at": now}
    stamp = {
        ViewingStatus.CONFIRMED: "confirmed_at",
        ViewingStatus.CANCELLED: "cancelled_at",
        ViewingStatus.COMPLETED: "completed_at",
        ViewingStatus.EXPIRED: "expired_at",
    }.get(status)
    if stamp is not None:
        values[stamp] = now
    if cancelled_by is not None:
        values["cancelled_by"] = cancelled_by
    if bump_sequence:
        values["sequence"] = viewings.c.sequence + 1
    # UPDATE ... FROM the slot: the changed row with its slot's times in one round trip.
    stmt = (
        update(viewings)
        .where(viewings.c.id == viewing_id, slots.c.id == viewings.c.slot_id)
        .values(**values)
        .returning(*VIEWING_COLUMNS)
    )
    return _viewing((await session.execute(stmt)).one())  # locked by the caller: it exists


async def mark_refunded(session: PrimarySession, viewing_id: uuid.UUID, *, now: datetime) -> None:
    await session.execute(
        update(viewings)
        .where(viewings.c.id == viewing_id, viewings.c.refunded_at.is_(None))
        .values(refunded_at=now, updated_at=now)
    )


async def expire_unpaid(
    session: PrimarySession,
    *,
    now: datetime,
    limit: int,
    only: Collection[uuid.UUID] | None = None,
) -> list[ViewingRow]:
    """Expire up to `limit` unpaid bookings whose payment window ended by `now` (their slots
    are free again); SKIP LOCKED leaves a booking being confirmed right now to its webhook.
    `only`: just these bookings (a clock moved forward for some must not expire all)."""
    conditions = [
        viewings.c.status == ViewingStatus.PENDING_PAYMENT.value,
        viewings.c.expires_at <= now,
    ]
    if only is not None:
        conditions.append(viewings.c.id.in_(list(only)))
    due = (
        select(viewings.c.id)
        .where(*conditions)
        .order_by(viewings.c.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = (
        update(viewings)
        .where(viewings.c.id.in_(due))
        .values(status=ViewingStatus.EXPIRED.value, expired_at=now, updated_at=now)
        .returning(viewings.c.id)
    )
    ids = [r[0] for r in (await session.execute(stmt)).all()]
    if not ids:
        return []
    rows = await session.execute(
        select(*VIEWING_COLUMNS).select_from(_JOINED).where(viewings.c.id.in_(ids))
    )
    return [_viewing(r) for r in rows.all()]


async def list_viewings(
    session: AnySession,
    user_id: uuid.UUID,
    *,
    as_party: str,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[ListedViewing]:
    """The user's bookings on one side, newest first, after a keyset cursor, with both
    parties' names."""
    column = viewings.c.tenant_id if as_party == "tenant" else viewings.c.landlord_id
    named = _JOINED.join(_tenants, _tenants.c.id == viewings.c.tenant_id).join(
        _landlords, _landlords.c.id == viewings.c.landlord_id
    )
    stmt = (
        select(
            *VIEWING_COLUMNS,
            _tenants.c.full_name.label("tenant_name"),
            _landlords.c.full_name.label("landlord_name"),
        )
        .select_from(named)
        .where(column == user_id)
    )
    if after is not None:
        created, last_id = after
        stmt = stmt.where(
            or_(
                viewings.c.created_at < created,
                and_(viewings.c.created_at == created, viewings.c.id < last_id),
            )
        )
    stmt = stmt.order_by(viewings.c.created_at.desc(), viewings.c.id.desc()).limit(limit)
    listed = []
    for row in (await session.execute(stmt)).all():
        values = row._asdict()
        tenant_name, landlord_name = values.pop("tenant_name"), values.pop("landlord_name")
        listed.append(ListedViewing(_viewing_from(values), tenant_name, landlord_name))
    return listed


async def has_confirmed_viewing(
    session: AnySession, listing_id: uuid.UUID, tenant_id: uuid.UUID
) -> bool:
    stmt = select(
        exists().where(
            viewings.c.listing_id == listing_id,
            viewings.c.tenant_id == tenant_id,
            viewings.c.status.in_([ViewingStatus.CONFIRMED.value, ViewingStatus.COMPLETED.value]),
        )
    )
    return bool((await session.execute(stmt)).scalar_one())


# --- contexts (emails, calendar) --------------------------------------------------------------

_tenants = users.alias("tenant")
_landlords = users.alias("landlord")
_CONTEXT = (
    _JOINED.join(listings, listings.c.id == viewings.c.listing_id)
    .join(_tenants, _tenants.c.id == viewings.c.tenant_id)
    .join(_landlords, _landlords.c.id == viewings.c.landlord_id)
)
_CONTEXT_COLUMNS = [
    *VIEWING_COLUMNS,
    listings.c.title,
    listings.c.street,
    listings.c.house_number,
    listings.c.postal_code,
    listings.c.city,
    _tenants.c.email.label("tenant_email"),
    _tenants.c.full_name.label("tenant_name"),
    _tenants.c.language.label("tenant_language"),
    _landlords.c.email.label("landlord_email"),
    _landlords.c.full_name.label("landlord_name"),
    _landlords.c.language.label("landlord_language"),
]
_VIEWING_FIELDS = frozenset(f.name for f in dataclasses.fields(ViewingRow))


def _context(row: Row[Any]) -> ViewingContext:
    values = row._asdict()
    viewing = _viewing_from({k: v for k, v in values.items() if k in _VIEWING_FIELDS})
    return ViewingContext(
        viewing=viewing,
        title=values["title"],
        street=values["street"],
        house_number=values["house_number"],
        postal_code=values["postal_code"],
        city=values["city"],
        tenant=Person(
            viewing.tenant_id,
            values["tenant_email"],
            values["tenant_name"],
            values["tenant_language"],
        ),
        landlord=Person(
            viewing.landlord_id,
            values["landlord_email"],
            values["landlord_name"],
            values["landlord_language"],
        ),
    )


async def viewing_context(
    session: AnySession, viewing_id: uuid.UUID, *, lock: bool = False
) -> ViewingContext | None:
    stmt = select(*_CONTEXT_COLUMNS).select_from(_CONTEXT).where(viewings.c.id == viewing_id)
    if lock:
        stmt = stmt.with_for_update(of=viewings)  # as get_viewing(lock=True)
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else _context(row)


async def calendar_contexts(
    session: AnySession, user_id: uuid.UUID, *, since: datetime, limit: int
) -> list[ViewingContext]:
    """The user's (either side) viewings a calendar shows, slots starting after `since`:
    confirmed, completed, and cancelled after confirmation (rules.in_calendar)."""
    stmt = (
        select(*_CONTEXT_COLUMNS)
        .select_from(_CONTEXT)
        .where(
            or_(viewings.c.tenant_id == user_id, viewings.c.landlord_id == user_id),
            viewings.c.confirmed_at.is_not(None),
            viewings.c.status.in_(
                [
                    ViewingStatus.CONFIRMED.value,
                    ViewingStatus.COMPLETED.value,
                    ViewingStatus.CANCELLED.value,
                ]
            ),
            slots.c.starts_at > since,
        )
        .order_by(slots.c.starts_at, viewings.c.id)
        .limit(limit)
    )
    return [_context(r) for r in (await session.execute(stmt)).all()]


# --- calendar feeds ---------------------------------------------------------------------------


async def upsert_feed(session: PrimarySession, user_id: uuid.UUID, token_sha256: bytes) -> None:
    """Create the user's feed, or rotate it (the old token stops working at once)."""
    stmt = pg_insert(feeds).values(user_id=user_id, token_sha256=token_sha256)
    stmt = stmt.on_conflict_do_update(
        index_elements=[feeds.c.user_id],
        set_={"token_sha256": token_sha256, "created_at": func.now(), "revoked_at": None},
    )
    await session.execute(stmt)


async def revoke_feed(session: PrimarySession, user_id: uuid.UUID, *, now: datetime) -> bool:
    stmt = (
        update(feeds)
        .where(feeds.c.user_id == user_id, feeds.c.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(feeds.c.user_id)
    )
    return (await session.execute(stmt)).one_or_none() is not None


async def feed_owner(session: AnySession, token_sha256: bytes) -> uuid.UUID | None:
    stmt = select(feeds.c.user_id).where(
        feeds.c.token_sha256 == token_sha256, feeds.c.revoked_at.is_(None)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


# --- personal data (privacy: export and deletion) ---------------------------------------------


async def export_viewings(session: PrimarySession, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """The user's bookings as tenant or landlord, with their slot's times."""
    stmt = text(
        """
        SELECT v.id, v.listing_id, v.slot_id,
               CASE WHEN v.tenant_id = :uid THEN 'tenant' ELSE 'landlord' END AS role,
               v.status, v.message, s.starts_at, s.ends_at, v.created_at, v.updated_at,
               v.confirmed_at, v.cancelled_at, v.completed_at, v.expired_at, v.refunded_at
        FROM viewings v JOIN viewing_slots s ON s.id = v.slot_id
        WHERE v.tenant_id = :uid OR v.landlord_id = :uid
        ORDER BY v.created_at, v.id
        """
    )
    return [dict(r._mapping) for r in await session.execute(stmt, {"uid": user_id})]


async def export_feed(session: PrimarySession, user_id: uuid.UUID) -> dict[str, Any] | None:
    """Whether the user has a calendar feed (its times; never the token or its hash)."""
    stmt = select(CalendarFeed.created_at, CalendarFeed.revoked_at).where(
        CalendarFeed.user_id == user_id
    )
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else dict(row._mapping)


async def open_viewings_of(
    session: PrimarySession, user_id: uuid.UUID, *, now: datetime
) -> list[uuid.UUID]:
    """The user's bookings still ahead: pending payment, or confirmed for a slot not begun."""
    stmt = text(
        """
        SELECT v.id FROM viewings v JOIN viewing_slots s ON s.id = v.slot_id
        WHERE (v.tenant_id = :uid OR v.landlord_id = :uid)
          AND (v.status = 'pending_payment' OR (v.status = 'confirmed' AND s.starts_at > :now))
        ORDER BY v.id
        """
    )
    return list((await session.execute(stmt, {"uid": user_id, "now": now})).scalars())
