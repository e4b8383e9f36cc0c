"""Viewing routes: a listing's slots, bookings and their state changes, the calendar feed.

Routers: `slots_router` (under /listings), `router` (/viewings), `calendar_api_router`
(/calendar/feed) go under /api/v1; `calendar_router` serves the feed itself at
/calendar/{token}.ics, outside the API prefix (calendar clients subscribe to a plain URL).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse

from sichrplace.accounts.dependencies import (
    CurrentUser,
    OptionalUser,
    RoutedReplicaDB,
    TenantUser,
    caller_replica,
)
from sichrplace.kit.clock import utcnow
from sichrplace.kit.errors import Unprocessable
from sichrplace.kit.i18n import N_
from sichrplace.listings.errors import ListingNotFound
from sichrplace.payments.idempotency import Stored
from sichrplace.payments.parts import PAYMENTS, PaymentsParts
from sichrplace.payments.records import PaymentRecord
from sichrplace.platform.db import ReplicaSession
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.routing import mark_recent_write
from sichrplace.platform.db.sessions import PrimarySession, on_commit
from sichrplace.platform.http.dependencies import (
    PrimaryDB,
    RedisDep,
    SettingsDep,
    SnapshotDB,
    database,
    part,
    parts_of,
)
from sichrplace.platform.http.openapi import problems
from sichrplace.viewings import calendar, rules, service
from sichrplace.viewings.errors import SlotNotFound, ViewingNotFound
from sichrplace.viewings.records import SlotRow, ViewingRow
from sichrplace.viewings.schemas import (
    AsParty,
    FeedOut,
    PaymentOut,
    SlotCreate,
    SlotOut,
    SlotPage,
    SlotRef,
    ViewingCreate,
    ViewingOut,
    ViewingPage,
)

slots_router = APIRouter(prefix="/listings", tags=["viewings"])
router = APIRouter(prefix="/viewings", tags=["viewings"])
calendar_api_router = APIRouter(prefix="/calendar", tags=["calendar"])
calendar_router = APIRouter(tags=["calendar"])

PaymentsDep = Annotated[PaymentsParts, Depends(part(PAYMENTS))]
DatabaseDep = Annotated[Database, Depends(database)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="repeat a booking safely: the first response is replayed for 24 h",
    ),
]


def _uuid(value: str, not_found: type[SlotNotFound] | type[ViewingNotFound]) -> uuid.UUID:
    """Ids are opaque: anything that is not one of ours is simply not found."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise not_found() from None


def _listing_id(listing_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(listing_id)
    except ValueError:
        raise ListingNotFound() from None


async def _replica(request: Request, user: CurrentUser) -> ReplicaSession:
    """The signed-in caller's lag-tolerant reads (the primary inside their write window)."""
    return await caller_replica(request, user)


CallerReplica = Annotated[ReplicaSession, Depends(_replica)]


def _pin_author(request: Request, session: PrimarySession, user_id: uuid.UUID) -> None:
    """Once the write commits, the author's lag-tolerant reads go to the primary for a
    while (read-your-writes: their list shows what they just did)."""
    parts = parts_of(request)
    seconds = parts.settings.cache.read_your_writes_seconds

    async def pin() -> None:
        await mark_recent_write(parts.redis, user_id, seconds)

    on_commit(session, pin)


def _slot_out(slot: SlotRow, timezone: str) -> dict[str, Any]:
    return SlotOut(
        id=slot.id,
        listing_id=slot.listing_id,
        starts_at=rules.local(slot.starts_at, timezone),
        ends_at=rules.local(slot.ends_at, timezone),
    ).model_dump(mode="json")


def _payment_out(payment: PaymentRecord | None) -> PaymentOut | None:
    if payment is None:
        return None
    return PaymentOut(
        id=payment.id,
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        approval_url=payment.approval_url,
        status=str(payment.status),
        provider=payment.provider,
    )


def _local(moment: datetime | None, timezone: str) -> datetime | None:
    return None if moment is None else rules.local(moment, timezone)


def _viewing_out(
    viewing: ViewingRow, timezone: str, payment: PaymentRecord | None = None
) -> dict[str, Any]:
    return ViewingOut(
        id=viewing.id,
        status=viewing.status,
        listing_id=viewing.listing_id,
        slot=SlotRef(
            id=viewing.slot_id,
            starts_at=rules.local(viewing.starts_at, timezone),
            ends_at=rules.local(viewing.ends_at, timezone),
        ),
        tenant_id=viewing.tenant_id,
        landlord_id=viewing.landlord_id,
        message=viewing.message,
        created_at=rules.local(viewing.created_at, timezone),
        expires_at=rules.local(viewing.expires_at, timezone),
        confirmed_at=_local(viewing.confirmed_at, timezone),
        cancelled_at=_local(viewing.cancelled_at, timezone),
        completed_at=_local(viewing.completed_at, timezone),
        expired_at=_local(viewing.expired_at, timezone),
        sequence=viewing.sequence,
        payment=_payment_out(payment),
    ).model_dump(mode="json")


# --- slots ------------------------------------------------------------------------------------


@slots_router.post(
    "/{listing_id}/slots",
    status_code=status.HTTP_201_CREATED,
    response_model=SlotOut,
    responses=problems(
        401,
        403,
        404,
        409,
        422,
        s403="Not the listing's owner",
        s404="No such listing (or not visible to the caller)",
        s409="Overlaps another slot of the listing, or the listing is not active",
    ),
)
async def create_slot(
    listing_id: str,
    body: SlotCreate,
    user: CurrentUser,
    session: PrimaryDB,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> dict[str, Any]:
    """A viewing slot of the caller's listing (times RFC 3339 with offset, stored in UTC)."""
    slot = await service.create_slot(
        session,
        user,
        _listing_id(listing_id),
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        settings=settings.viewings,
        now=utcnow(),
    )
    _pin_author(request, session, user.id)
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{slot.id}"
    return _slot_out(slot, settings.viewings.timezone)


@slots_router.get(
    "/{listing_id}/slots",
    response_model=SlotPage,
    responses=problems(404, 422, s404="No such listing (or not visible to the caller)"),
)
async def list_slots(
    listing_id: str,
    user: OptionalUser,
    replica: RoutedReplicaDB,
    settings: SettingsDep,
    start: Annotated[
        datetime | None, Query(alias="from", description="RFC 3339; default now")
    ] = None,
    end: Annotated[datetime | None, Query(alias="to", description="RFC 3339, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> dict[str, Any]:
    """The listing's free future slots (no live booking), soonest first."""
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise Unprocessable.field(name, N_("must carry a UTC offset"))
    found = await service.free_slots(
        replica, user, _listing_id(listing_id), start=start, end=end, now=utcnow(), limit=limit
    )
    tz = settings.viewings.timezone
    return {"items": [_slot_out(slot, tz) for slot in found]}


@slots_router.delete(
    "/{listing_id}/slots/{slot_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(
        401,
        403,
        404,
        409,
        s403="Not the listing's owner",
        s409="The slot has a live booking (cancel it first)",
    ),
)
async def delete_slot(
    listing_id: str, slot_id: str, user: CurrentUser, session: PrimaryDB, request: Request
) -> Response:
    await service.delete_slot(
        session, user, _listing_id(listing_id), _uuid(slot_id, SlotNotFound), now=utcnow()
    )
    _pin_author(request, session, user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- viewings ---------------------------------------------------------------------------------


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ViewingOut,
    responses=problems(
        401,
        402,
        403,
        404,
        409,
        422,
        503,
        s402="The payment provider declined the payment",
        s403="Only tenants book viewings",
        s404="No such slot (or its listing is not visible)",
        s409="The slot is taken or has begun, or the listing is not active",
        s422="Invalid input, one's own listing, or an Idempotency-Key reused for another body",
    ),
)
async def book_viewing(
    body: ViewingCreate,
    user: TenantUser,
    session: PrimaryDB,
    payments: PaymentsDep,
    settings: SettingsDep,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Book a slot: the booking waits for its fee (`pending_payment`; the payment's
    `approval_url` is where the tenant pays) and expires unpaid after the payment window.
    With an `Idempotency-Key` a repeated request gets the first response back."""
    tz = settings.viewings.timezone

    async def create() -> Stored:
        booking = await service.book(
            session,
            payments,
            user,
            body.slot_id,
            message=body.message,
            idempotency_key=idempotency_key,
            settings=settings.viewings,
            fee_cents=settings.payments.viewing_fee_cents,
            now=utcnow(),
        )
        _pin_author(request, session, user.id)
        return Stored(201, _viewing_out(booking.viewing, tz, booking.payment))

    outcome = await payments.idempotency.run(
        session,
        user_id=user.id,
        key=idempotency_key,
        method="POST",
        path=request.url.path,
        body=body.model_dump(mode="json", exclude_unset=True),
        execute=create,
    )
    headers = dict(outcome.headers)
    if outcome.status == 201:
        headers["Location"] = f"{request.url.path.rstrip('/')}/{outcome.body['id']}"
    return JSONResponse(outcome.body, outcome.status, headers=headers)


@router.get("", response_model=ViewingPage, responses=problems(401, 422))
async def list_viewings(
    user: CurrentUser,
    replica: CallerReplica,
    settings: SettingsDep,
    as_party: Annotated[
        AsParty | None,
        Query(alias="as", description="which side: default tenant, landlord for landlords"),
    ] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """The caller's bookings, newest first (`next_cursor` pages on)."""
    side: AsParty = as_party or ("landlord" if user.role == "landlord" else "tenant")
    rows, next_cursor = await service.list_viewings(
        replica, user, as_party=side, cursor=cursor, limit=limit
    )
    tz = settings.viewings.timezone
    items = [
        {
            **_viewing_out(row.viewing, tz),
            "tenant_name": row.tenant_name,
            "landlord_name": row.landlord_name,
        }
        for row in rows
    ]
    return {"items": items, "next_cursor": next_cursor}


@router.get(
    "/{viewing_id}",
    response_model=ViewingOut,
    responses=problems(401, 404, s404="No such viewing (or the caller is not a party)"),
)
async def get_viewing(
    viewing_id: str, user: CurrentUser, session: SnapshotDB, settings: SettingsDep
) -> dict[str, Any]:
    # One snapshot for both reads: the payment's webhook may commit between them.
    viewing = await service.viewing_for(session, user, _uuid(viewing_id, ViewingNotFound))
    payment = await service.payment_of(session, viewing.id)
    return _viewing_out(viewing, settings.viewings.timezone, payment)


@router.post(
    "/{viewing_id}/cancel",
    response_model=ViewingOut,
    responses=problems(
        401,
        404,
        409,
        s404="No such viewing (or the caller is not a party)",
        s409="The viewing cannot be cancelled in its state",
    ),
)
async def cancel_viewing(
    viewing_id: str,
    user: CurrentUser,
    session: PrimaryDB,
    payments: PaymentsDep,
    redis: RedisDep,
    settings: SettingsDep,
    request: Request,
) -> dict[str, Any]:
    """Either party cancels; a paid viewing is refunded (`payment.status` refund_pending,
    then refunded)."""
    viewing = await service.cancel(
        session,
        payments,
        user,
        _uuid(viewing_id, ViewingNotFound),
        redis=redis,
        settings=settings.viewings,
        now=utcnow(),
    )
    _pin_author(request, session, user.id)
    payment = await service.payment_of(session, viewing.id)
    return _viewing_out(viewing, settings.viewings.timezone, payment)


@router.post(
    "/{viewing_id}/complete",
    response_model=ViewingOut,
    responses=problems(
        401,
        403,
        404,
        409,
        s403="Only the landlord completes a viewing",
        s404="No such viewing (or the caller is not a party)",
        s409="Not confirmed, or its slot has not begun",
    ),
)
async def complete_viewing(
    viewing_id: str,
    user: CurrentUser,
    session: PrimaryDB,
    redis: RedisDep,
    settings: SettingsDep,
    request: Request,
) -> dict[str, Any]:
    viewing = await service.complete(
        session,
        user,
        _uuid(viewing_id, ViewingNotFound),
        redis=redis,
        settings=settings.viewings,
        now=utcnow(),
    )
    _pin_author(request, session, user.id)
    return _viewing_out(viewing, settings.viewings.timezone)


# --- the calendar feed ------------------------------------------------------------------------


@calendar_api_router.post(
    "/feed", status_code=status.HTTP_201_CREATED, response_model=FeedOut, responses=problems(401)
)
async def rotate_feed(user: CurrentUser, session: PrimaryDB, settings: SettingsDep) -> FeedOut:
    """A new secret URL of the caller's viewings as iCalendar; an older one stops working.
    Only a hash of it is kept: it is shown this once."""
    url = await service.rotate_feed(session, user, base_url=settings.app.public_base_url)
    return FeedOut(url=url)


@calendar_api_router.delete(
    "/feed", status_code=status.HTTP_204_NO_CONTENT, responses=problems(401)
)
async def revoke_feed(user: CurrentUser, session: PrimaryDB) -> Response:
    """The feed URL stops working (idempotent)."""
    await service.revoke_feed(session, user, now=utcnow())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@calendar_router.get(
    "/calendar/{feed_token}.ics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/calendar": {}},
            "description": "The feed owner's confirmed, completed and cancelled viewings "
            "(RFC 5545; times in Europe/Berlin)",
        },
        **problems(404, s404="Unknown or revoked feed token"),
    },
)
async def calendar_feed(feed_token: str, db: DatabaseDep, settings: SettingsDep) -> Response:
    # The primary: a revoked token must stop at once (the feed is polled rarely).
    primary = ReplicaSession(db, force_primary=True)
    body = await service.feed_ics(primary, feed_token, settings=settings.viewings, now=utcnow())
    return Response(
        content=body,
        media_type=calendar.CONTENT_TYPE,
        headers={
            "Content-Disposition": 'inline; filename="sichrplace-besichtigungen.ics"',
            "Cache-Control": "private, no-store",
        },
    )
