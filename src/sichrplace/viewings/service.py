"""Viewing use cases: slots, bookings and their state changes, expiry, the calendar feed.
The decisions are the pure rules of `viewings.rules`; the SQL is `viewings.repository`.

Services never commit: the request boundary (or the job's unit of work) does. Emails are
queued in the same transaction (sent only if it commits); business counters count after it.
`now` is always passed in (kit/clock at the boundary), so tests move time instead of sleeping.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis.asyncio as aioredis

from sichrplace.config import ViewingsSettings
from sichrplace.kit.cursor import decode_time_id, encode_time_id
from sichrplace.kit.errors import Unprocessable
from sichrplace.kit.i18n import N_, Msg, when
from sichrplace.listings import rules as listing_rules
from sichrplace.listings.rules import Caller
from sichrplace.listings.service import visible_listing
from sichrplace.notifications import service as notifications
from sichrplace.notifications.service import Attachment, Email, queue_emails
from sichrplace.notifications.vocabulary import VIEWING
from sichrplace.payments import service as payments_service
from sichrplace.payments.parts import PaymentsParts
from sichrplace.payments.records import PaymentRecord
from sichrplace.payments.sources import Purpose
from sichrplace.payments.vocabulary import PaymentStatus
from sichrplace.platform import analytics, events
from sichrplace.platform.db.durability import require_synchronous_commit
from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession
from sichrplace.platform.observability import business, tracing
from sichrplace.viewings import calendar, emails, repository, rules
from sichrplace.viewings.errors import (
    CalendarFeedNotFound,
    SlotBooked,
    SlotNotFound,
    SlotOverlaps,
    SlotTaken,
    ViewingNotFound,
)
from sichrplace.viewings.records import ListedViewing, SlotRow, ViewingContext, ViewingRow
from sichrplace.viewings.vocabulary import VIEWING_UPDATED, Party, ViewingStatus

AnySession = PrimarySession | ReplicaSession
PURPOSE: Purpose = "viewing_fee"
ICS_TYPE = "text/calendar"
# The feed shows a year back and everything ahead, at most this many events.
FEED_HISTORY = timedelta(days=365)
FEED_LIMIT = 1000
EXPIRE_BATCH = 500
MAX_FEED_TOKEN = 100  # longer path segments are no token of ours
PARTIES: tuple[Party, Party] = ("tenant", "landlord")


# --- slots ------------------------------------------------------------------------------------


async def create_slot(
    session: PrimarySession,
    caller: Caller,
    listing_id: uuid.UUID,
    *,
    starts_at: datetime,
    ends_at: datetime,
    settings: ViewingsSettings,
    now: datetime,
) -> SlotRow:
    listing = await visible_listing(session, listing_id, caller)
    rules.check_slot_owner(caller, listing.owner_id)
    rules.check_listing_bookable(listing.status)
    rules.check_slot_times(
        starts_at,
        ends_at,
        now=now,
        min_minutes=settings.min_slot_minutes,
        max_minutes=settings.max_slot_minutes,
        max_days_ahead=settings.max_days_ahead,
    )
    row = await repository.insert_slot(
        session, listing_id=listing_id, starts_at=starts_at, ends_at=ends_at
    )
    if row is None:
        raise SlotOverlaps()
    return row


async def free_slots(
    session: AnySession,
    viewer: Caller | None,
    listing_id: uuid.UUID,
    *,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    limit: int,
) -> list[SlotRow]:
    """Bookable slots of a listing the viewer may see, soonest first, within [start, end)."""
    await visible_listing(session, listing_id, viewer)
    if start is not None and end is not None and end <= start:
        raise Unprocessable.field("to", N_("must be after from"))
    after = now if start is None or start < now else start
    return await repository.free_slots(session, listing_id, after=after, before=end, limit=limit)


async def delete_slot(
    session: PrimarySession,
    caller: Caller,
    listing_id: uuid.UUID,
    slot_id: uuid.UUID,
    *,
    now: datetime,
) -> None:
    """Delete a free slot (soft: past bookings keep pointing at it); a booked one is 409."""
    listing = await visible_listing(session, listing_id, caller)
    rules.check_slot_owner(caller, listing.owner_id)
    # FOR UPDATE: a booking of this slot (FOR SHARE) waits, then finds it gone.
    slot = await repository.get_slot(session, slot_id, lock=True)
    if slot is None or slot.listing_id != listing_id:
        raise SlotNotFound()
    if await repository.slot_has_live_booking(session, slot_id):
        raise SlotBooked()
    await repository.delete_slot(session, slot_id, now=now)


# --- booking ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Booking:
    viewing: ViewingRow
    payment: PaymentRecord


async def book(
    session: PrimarySession,
    payments: PaymentsParts,
    caller: Caller,
    slot_id: uuid.UUID,
    *,
    message: str | None,
    idempotency_key: str | None,
    settings: ViewingsSettings,
    fee_cents: int,
    now: datetime,
) -> Booking:
    """Book a slot and start paying its fee, in the caller's one transaction: the booking
    (pending payment; the database refuses a second live one: 409 slot-taken), then the
    payment intent. A failure of either rolls both back."""
    with tracing.span("viewing.book", {"viewing.slot_id": str(slot_id)}):
        # FOR SHARE: many bookers at once, but not while the owner deletes the slot. The
        # listing comes with it (one round trip); who may see it is the listings' rule.
        found = await repository.bookable_slot(session, slot_id)
        if found is None or not listing_rules.may_see(
            caller, owner_id=found.owner_id, status=found.listing_status
        ):
            raise SlotNotFound()  # an archived listing's slots are not found either
        slot = found.slot
        rules.check_listing_bookable(found.listing_status)
        rules.check_bookable(
            tenant_id=caller.id, owner_id=found.owner_id, starts_at=slot.starts_at, now=now
        )
        await require_synchronous_commit(session)  # an acknowledged booking survives failover
        viewing = await repository.insert_viewing(
            session,
            slot=slot,
            tenant_id=caller.id,
            landlord_id=found.owner_id,
            message=message,
            expires_at=rules.payment_deadline(now, settings.payment_window_minutes),
        )
        if viewing is None:
            raise SlotTaken()
        tracing.set_attributes(**{"viewing.id": str(viewing.id)})
        analytics.journey(
            session,
            "viewing_booked",
            listing_id=viewing.listing_id,
            subject_id=viewing.id,
            parties=(viewing.tenant_id,),
        )
        try:
            payment = await payments_service.start_payment(
                session,
                payments,
                purpose=PURPOSE,
                reference_id=viewing.id,
                payer=caller,
                idempotency_key=idempotency_key,
                new_charge=rules.fee_charge(
                    viewing, found.title, fee_cents=fee_cents, timezone=settings.timezone
                ),
            )
        except Exception:
            # Rolled back: no commit will count it, so it is counted here (the booking SLI).
            business.failed_now("booking", parties=(caller.id,))
            raise
        if payment.status == PaymentStatus.REQUIRES_ACTION:
            return Booking(viewing, payment)
        # A webhook that beat this transaction was applied by start_payment and may have
        # confirmed the booking already: read it again.
        current = await repository.get_viewing(session, viewing.id)
        assert current is not None
        return Booking(current, payment)


async def viewing_for(session: AnySession, caller: Caller, viewing_id: uuid.UUID) -> ViewingRow:
    """The booking if the caller is one of its parties, else 404."""
    viewing = await repository.get_viewing(session, viewing_id)
    if viewing is None:
        raise ViewingNotFound()
    rules.check_party(caller, viewing)
    return viewing


async def payment_of(session: AnySession, viewing_id: uuid.UUID) -> PaymentRecord | None:
    return await payments_service.payment_for(session, viewing_id=viewing_id)


async def list_viewings(
    session: AnySession,
    caller: Caller,
    *,
    as_party: Party,
    cursor: str | None,
    limit: int,
) -> tuple[list[ListedViewing], str | None]:
    """The caller's bookings on one side, newest first, and the cursor of the next page."""
    after = decode_cursor(cursor) if cursor else None
    rows = await repository.list_viewings(
        session, caller.id, as_party=as_party, after=after, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1].viewing if rows else None
    next_cursor = encode_cursor(last.created_at, last.id) if more and last else None
    return rows, next_cursor


def encode_cursor(created_at: datetime, viewing_id: uuid.UUID) -> str:
    return encode_time_id(created_at, viewing_id)


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        return decode_time_id(cursor)
    except ValueError:
        raise Unprocessable.field("cursor", N_("is not a cursor of this list")) from None


# --- state changes ----------------------------------------------------------------------------


async def _context(session: PrimarySession, viewing_id: uuid.UUID) -> ViewingContext:
    context = await repository.viewing_context(session, viewing_id)
    assert context is not None  # the caller holds the booking's lock
    return context


def _ics(context: ViewingContext, timezone: str) -> Attachment:
    data = calendar.attachment(context, timezone=timezone)
    return Attachment("besichtigung.ics", ICS_TYPE, data)


def viewing_event(viewing: ViewingRow) -> dict[str, Any]:
    """What a `viewing.updated` event says: the booking's new state and when it is (ids, no
    personal data; the client reads the rest with GET /viewings/{id})."""
    return {
        "id": str(viewing.id),
        "status": viewing.status.value,
        "listing_id": str(viewing.listing_id),
        "slot_id": str(viewing.slot_id),
        "starts_at": viewing.starts_at.isoformat(),
        "ends_at": viewing.ends_at.isoformat(),
        "updated_at": viewing.updated_at.isoformat(),
        "sequence": viewing.sequence,
    }


# Who gets an in-app notification of a change, and its title (a catalog message with the
# appointment as `when`): the party who made the change is not told of it.
_NOTICES: dict[ViewingStatus, dict[Party, Msg]] = {
    ViewingStatus.CONFIRMED: {
        "tenant": N_("Viewing confirmed: {when}"),
        "landlord": N_("New viewing booked: {when}"),
    },
    ViewingStatus.CANCELLED: {
        "tenant": N_("Viewing cancelled: {when}"),
        "landlord": N_("Viewing cancelled: {when}"),
    },
    ViewingStatus.EXPIRED: {
        "tenant": N_("Booking expired, not paid: {when}"),
    },
}


def viewing_group(viewing_id: uuid.UUID) -> str:
    """One unread notification per booking: a later change replaces an unread earlier one."""
    return f"viewing:{viewing_id}"


async def _announce(
    session: PrimarySession,
    redis: aioredis.Redis | None,
    viewing: ViewingRow,
    *,
    by: Party | None,
    timezone: str,
    now: datetime,
) -> None:
    """The change on both parties' event streams, and the in-app notification of each party
    the change concerns (not of `by`, who made it): two statements, stored with the change,
    published after the commit."""
    data = viewing_event(viewing)
    appointment = when(viewing.starts_at, viewing.ends_at, timezone)
    notices = [
        notifications.Notice(
            viewing.tenant_id if party == "tenant" else viewing.landlord_id,
            dataclasses.replace(title, params={"when": appointment}),
            data,
            group_key=viewing_group(viewing.id),
        )
        for party, title in _NOTICES.get(viewing.status, {}).items()
        if party != by
    ]
    await notifications.notify_many(
        session,
        redis,
        VIEWING,
        notices,
        now=now,
        also=[
            events.Event(viewing.tenant_id, VIEWING_UPDATED, data),
            events.Event(viewing.landlord_id, VIEWING_UPDATED, data),
        ],
    )


async def cancel(
    session: PrimarySession,
    payments: PaymentsParts,
    caller: Caller,
    viewing_id: uuid.UUID,
    *,
    redis: aioredis.Redis | None,
    settings: ViewingsSettings,
    now: datetime,
) -> ViewingRow:
    """Either party cancels a pending or confirmed booking (the slot is free again); a paid
    one is refunded through payments, and both parties of a confirmed one are told."""
    with tracing.span("viewing.cancel", {"viewing.id": str(viewing_id)}):
        current = await repository.get_viewing(session, viewing_id, lock=True)
        if current is None:
            raise ViewingNotFound()
        party = rules.check_party(caller, current)
        rules.check_transition(current.status, ViewingStatus.CANCELLED)
        await require_synchronous_commit(session)
        updated = await repository.set_status(
            session,
            viewing_id,
            ViewingStatus.CANCELLED,
            now=now,
            bump_sequence=rules.bumps_sequence(ViewingStatus.CANCELLED),
            cancelled_by=caller.id,
        )
        refunded = False
        payment = await payments_service.payment_for(session, viewing_id=viewing_id)
        if payment is not None and payment.status == PaymentStatus.SUCCEEDED:
            await payments_service.refund_payment(
                session, payments, payment_id=payment.id, reason="viewing_cancelled"
            )
            refunded = True
        # A payment still under way when a pending booking is cancelled: when it succeeds,
        # on_paid answers False (no longer pending) and payments refunds it.
        if current.status == ViewingStatus.CONFIRMED:
            context = await _context(session, viewing_id)
            mails = [
                emails.cancelled(
                    context, recipient, by=party, refunded=refunded, timezone=settings.timezone
                )
                for recipient in PARTIES
            ]
            await _send(session, mails, _ics(context, settings.timezone))
        else:
            # Ended before it succeeded, by the user's choice (a confirmed one was counted as
            # succeeded when it was confirmed).
            business.booking(session, "cancelled", parties=(current.tenant_id,))
        await _announce(session, redis, updated, by=party, timezone=settings.timezone, now=now)
        return updated


async def complete(
    session: PrimarySession,
    caller: Caller,
    viewing_id: uuid.UUID,
    *,
    redis: aioredis.Redis | None,
    settings: ViewingsSettings,
    now: datetime,
) -> ViewingRow:
    current = await repository.get_viewing(session, viewing_id, lock=True)
    if current is None:
        raise ViewingNotFound()
    rules.check_may_complete(caller, current, now=now)
    await require_synchronous_commit(session)
    updated = await repository.set_status(
        session,
        viewing_id,
        ViewingStatus.COMPLETED,
        now=now,
        bump_sequence=rules.bumps_sequence(ViewingStatus.COMPLETED),
    )
    await _announce(session, redis, updated, by="landlord", timezone=settings.timezone, now=now)
    return updated


async def confirm_paid(
    session: PrimarySession,
    redis: aioredis.Redis | None,
    viewing_id: uuid.UUID,
    *,
    settings: ViewingsSettings,
    now: datetime,
) -> bool:
    """The fee was paid (inside payments' webhook transaction): pending → confirmed, both
    parties are emailed (with the .ics). False when the booking can no longer be had
    (expired or cancelled meanwhile): payments then refunds. Confirmed already: True."""
    # The booking locked and read with what its emails say, in one statement.
    context = await repository.viewing_context(session, viewing_id, lock=True)
    if context is None:
        return False
    current = context.viewing
    if current.status == ViewingStatus.CONFIRMED:
        return True  # a repeated notice of the same payment
    if not rules.may_move(current.status, ViewingStatus.CONFIRMED):
        return False
    # Paid after the window but before the expiry job ran: the slot is still held, so the
    # booking stands (the job would have freed it; it did not).
    updated = await repository.set_status(
        session,
        viewing_id,
        ViewingStatus.CONFIRMED,
        now=now,
        bump_sequence=rules.bumps_sequence(ViewingStatus.CONFIRMED),
    )
    # A webhook confirms it (no request mark): a synthetic tenant's booking is left out.
    business.booking(session, "succeeded", parties=(updated.tenant_id,))
    analytics.journey(
        session,
        "viewing_paid",
        listing_id=updated.listing_id,
        subject_id=viewing_id,
        parties=(updated.tenant_id,),
    )
    context = dataclasses.replace(context, viewing=updated)
    attachment = _ics(context, settings.timezone)
    await _send(
        session,
        [emails.confirmed(context, r, timezone=settings.timezone) for r in PARTIES],
        attachment,
    )
    await _announce(session, redis, updated, by=None, timezone=settings.timezone, now=now)
    return True


async def record_refund(session: PrimarySession, viewing_id: uuid.UUID, *, now: datetime) -> None:
    await repository.mark_refunded(session, viewing_id, now=now)


async def _send(
    session: PrimarySession, mails: Sequence[emails.Mail], attachment: Attachment
) -> None:
    """Both parties' emails of one change, queued together (one statement)."""
    await queue_emails(
        session,
        [Email(m.to, m.subject, m.body, m.dedupe_key, (attachment,), m.language) for m in mails],
    )


async def expire_unpaid(
    session: PrimarySession,
    redis: aioredis.Redis | None,
    *,
    settings: ViewingsSettings,
    now: datetime,
    only: Collection[uuid.UUID] | None = None,
) -> list[ViewingRow]:
    """Expire the bookings whose payment window ended by `now` (their slots are free again);
    `only` limits it to some (the demo seed and tests, whose `now` is not everyone's)."""
    expired = await repository.expire_unpaid(session, now=now, limit=EXPIRE_BATCH, only=only)
    for viewing in expired:
        business.booking(session, "abandoned", parties=(viewing.tenant_id,))
        await _announce(session, redis, viewing, by=None, timezone=settings.timezone, now=now)
    return expired


async def has_confirmed_viewing(
    session: AnySession, listing_id: uuid.UUID, tenant_id: uuid.UUID
) -> bool:
    """Whether the tenant has a confirmed (or completed) viewing of the listing: the
    address-privacy rule lets them see its exact address (listings asks through its parts)."""
    return await repository.has_confirmed_viewing(session, listing_id, tenant_id)


# --- the calendar feed ------------------------------------------------------------------------


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def rotate_feed(session: PrimarySession, caller: Caller, *, base_url: str) -> str:
    """A new secret feed URL for the caller (the previous one stops working). Only the
    token's SHA-256 is stored: the URL is shown this once."""
    token = secrets.token_urlsafe(32)
    await repository.upsert_feed(session, caller.id, _token_hash(token))
    return f"{base_url.rstrip('/')}/calendar/{token}.ics"


async def revoke_feed(session: PrimarySession, caller: Caller, *, now: datetime) -> None:
    await repository.revoke_feed(session, caller.id, now=now)


async def feed_ics(
    session: AnySession, token: str, *, settings: ViewingsSettings, now: datetime
) -> bytes:
    """The feed's owner's viewings as iCalendar; an unknown or revoked token is 404."""
    if not token or len(token) > MAX_FEED_TOKEN:
        raise CalendarFeedNotFound()
    user_id = await repository.feed_owner(session, _token_hash(token))
    if user_id is None:
        raise CalendarFeedNotFound()
    contexts = await repository.calendar_contexts(
        session, user_id, since=now - FEED_HISTORY, limit=FEED_LIMIT
    )
    return calendar.feed(contexts, timezone=settings.timezone)
