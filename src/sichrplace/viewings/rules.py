"""Viewing rules as pure functions (no I/O): slot times, the booking state machine, who may
see and act on a booking, and local (Europe/Berlin) times.

The service reads and writes; these decide, on typed rows, and raise the domain's problems.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from sichrplace.kit.errors import Unprocessable
from sichrplace.kit.i18n import N_
from sichrplace.listings.rules import Caller
from sichrplace.payments.sources import Charge
from sichrplace.viewings.errors import (
    IllegalViewingTransition,
    ListingNotBookable,
    NotSlotOwner,
    NotViewingLandlord,
    SlotStarted,
    ViewingNotFound,
    ViewingNotStarted,
    own_listing,
)
from sichrplace.viewings.records import ViewingRow
from sichrplace.viewings.vocabulary import TRANSITIONS, Party, ViewingStatus

# --- slot times -------------------------------------------------------------------------------


def check_slot_times(
    starts_at: datetime,
    ends_at: datetime,
    *,
    now: datetime,
    min_minutes: int,
    max_minutes: int,
    max_days_ahead: int,
) -> None:
    """422 naming the field at fault: a slot starts in the future (within `max_days_ahead`),
    ends after it starts, and lasts between `min_minutes` and `max_minutes`."""
    if starts_at.tzinfo is None:
        raise Unprocessable.field("starts_at", N_("must carry a UTC offset"))
    if ends_at.tzinfo is None:
        raise Unprocessable.field("ends_at", N_("must carry a UTC offset"))
    if starts_at <= now:
        raise Unprocessable.field("starts_at", N_("must be in the future"))
    if starts_at > now + timedelta(days=max_days_ahead):
        raise Unprocessable.field(
            "starts_at", N_("must be at most {n} days ahead", n=max_days_ahead)
        )
    if ends_at <= starts_at:
        raise Unprocessable.field("ends_at", N_("must be after starts_at"))
    length = ends_at - starts_at
    if length < timedelta(minutes=min_minutes):
        raise Unprocessable.field("ends_at", N_("a slot lasts at least {n} minutes", n=min_minutes))
    if length > timedelta(minutes=max_minutes):
        raise Unprocessable.field("ends_at", N_("a slot lasts at most {n} minutes", n=max_minutes))


def check_slot_owner(caller: Caller, owner_id: uuid.UUID) -> None:
    """Only the listing's owner manages its slots (403; who may not see it got 404 before)."""
    if caller.id != owner_id:
        raise NotSlotOwner()


def check_listing_bookable(listing_status: str) -> None:
    """New slots and bookings only for an active listing (reserved, rented: 409)."""
    if listing_status != "active":
        raise ListingNotBookable()


# --- booking ----------------------------------------------------------------------------------


def check_bookable(
    *, tenant_id: uuid.UUID, owner_id: uuid.UUID, starts_at: datetime, now: datetime
) -> None:
    """A tenant books another's listing (422 naming `slot_id`), and a slot not yet begun
    (409: the slot's time has come, a conflict with its state rather than bad input)."""
    if tenant_id == owner_id:
        raise own_listing()
    if starts_at <= now:
        raise SlotStarted()


def payment_deadline(created_at: datetime, window_minutes: int) -> datetime:
    """An unpaid booking expires (and frees its slot) this long after it was made."""
    return created_at + timedelta(minutes=window_minutes)


# --- the state machine ------------------------------------------------------------------------


def may_move(current: ViewingStatus, wanted: ViewingStatus) -> bool:
    return wanted in TRANSITIONS[current]


def check_transition(current: ViewingStatus, wanted: ViewingStatus) -> None:
    """409 naming `status` when a viewing may not go from `current` to `wanted` (staying in
    the same state is a conflict too: cancelling twice is not a no-op for the refund)."""
    if not may_move(current, wanted):
        raise IllegalViewingTransition(current, wanted)


def bumps_sequence(wanted: ViewingStatus) -> bool:
    """Whether the change alters the calendar event (RFC 5545 SEQUENCE): it appears when
    confirmed and is cancelled; completing changes nothing a calendar shows."""
    return wanted in (ViewingStatus.CONFIRMED, ViewingStatus.CANCELLED)


# --- who may see and do what ------------------------------------------------------------------


def party_of(caller: Caller, viewing: ViewingRow) -> Party | None:
    if caller.id == viewing.tenant_id:
        return "tenant"
    if caller.id == viewing.landlord_id:
        return "landlord"
    return None


def check_party(caller: Caller, viewing: ViewingRow) -> Party:
    """Only the two parties see a booking: 404 for everyone else (also admins: a viewing is
    a private arrangement; they never learn it exists)."""
    party = party_of(caller, viewing)
    if party is None:
        raise ViewingNotFound()
    return party


def check_may_complete(caller: Caller, viewing: ViewingRow, *, now: datetime) -> None:
    """The landlord completes a confirmed viewing once its slot has begun."""
    if check_party(caller, viewing) != "landlord":
        raise NotViewingLandlord()
    check_transition(viewing.status, ViewingStatus.COMPLETED)
    if now < viewing.starts_at:
        raise ViewingNotStarted()


def in_calendar(viewing: ViewingRow) -> bool:
    """A calendar shows viewings once confirmed: confirmed, completed, and those cancelled
    after confirmation (STATUS:CANCELLED, so clients drop them); a booking cancelled or
    expired unpaid never was an appointment."""
    if viewing.status in (ViewingStatus.CONFIRMED, ViewingStatus.COMPLETED):
        return True
    return viewing.status == ViewingStatus.CANCELLED and viewing.confirmed_at is not None


# --- local time -------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local(moment: datetime, timezone: str) -> datetime:
    """`moment` (stored in UTC) as shown: with the offset of `timezone` (Europe/Berlin)."""
    return moment.astimezone(zone(timezone))


def german_when(starts_at: datetime, ends_at: datetime, timezone: str) -> str:
    """E.g. "Mo., 14.12.2026, 18:00-18:30 Uhr" (weekday names without locale data)."""
    start, end = local(starts_at, timezone), local(ends_at, timezone)
    day = ("Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa.", "So.")[start.weekday()]
    return f"{day}, {start:%d.%m.%Y}, {start:%H:%M}-{end:%H:%M} Uhr"


def english_when(starts_at: datetime, ends_at: datetime, timezone: str) -> str:
    start, end = local(starts_at, timezone), local(ends_at, timezone)
    return f"{start:%a, %d %b %Y}, {start:%H:%M}-{end:%H:%M} ({timezone})"


def fee_charge(viewing: ViewingRow, title: str, *, fee_cents: int, timezone: str) -> Charge:
    """What the tenant owes for a booking: the fee by setting (never the client's), to the
    landlord, described in German for the provider's page."""
    when = german_when(viewing.starts_at, viewing.ends_at, timezone)
    return Charge(
        amount_cents=fee_cents,
        payer_id=viewing.tenant_id,
        payee_id=viewing.landlord_id,
        description=f"Besichtigungsgebühr: {title}, {when}",
        viewing_id=viewing.id,
    )
