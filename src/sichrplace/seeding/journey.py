"""The booking journey in the demo data: a landlord's flats with upcoming viewing slots, and one
viewing of a tenant in each state, paid through the stack's fake Stripe.

    report = await seed_journey(settings, Cast(landlord=anna_id, tenant=david_id))

What each state is made of, all through the domains' services (so the ledger, the payment
events, the emails and the calendar sequence are what a user's own journey leaves):
- pending_payment: booked now; its payment waits at the fake's approval page (the worker
  expires it after the payment window; a rerun then books a fresh one);
- confirmed: booked, approved at the fake, its signed `payment_intent.succeeded` applied;
- cancelled: confirmed, then cancelled by the tenant and refunded through the fake;
- completed: confirmed, moved into the past (`journey_sql.shift_viewing`), completed by the
  landlord; a contract is drafted from it and sent (awaiting both signatures);
- expired: booked, moved a day back, expired by the expiry job's own service call.

The seed applies the fake's events itself, signed as the fake signs them: `stack up` seeds
before the API instances run, so nobody else would. Instances already running get the same
events from the fake and find them applied (events are deduplicated by id).

Idempotent: a state is made only when the tenant has no viewing in that state on its flat,
and free slots are topped up to `FREE_SLOTS` per flat.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import redis.asyncio as aioredis

from sichrplace.composition import worker_parts
from sichrplace.config import Settings
from sichrplace.contracts import service as contracts_service
from sichrplace.contracts.records import Client
from sichrplace.contracts.schemas import ContractCreate
from sichrplace.kit.clock import utcnow
from sichrplace.kit.errors import ProblemError
from sichrplace.listings.records import ListingRow
from sichrplace.messaging import service as messaging_service
from sichrplace.payments import service as payments_service
from sichrplace.payments.parts import PAYMENTS, PaymentsParts
from sichrplace.payments.records import PaymentRecord
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import PrimarySession
from sichrplace.platform.db.unit import transaction
from sichrplace.seeding import journey_sql
from sichrplace.seeding.fake_payer import FakePayer, webhook_secret
from sichrplace.seeding.journey_listings import ensure_flats
from sichrplace.viewings import repository as viewings_repository
from sichrplace.viewings import service as viewings_service
from sichrplace.viewings.records import SlotRow, ViewingRow
from sichrplace.viewings.service import Booking
from sichrplace.viewings.vocabulary import ViewingStatus

V = ViewingStatus
# Made in this order, so the tenant's list of viewings (newest first) reads as a history.
STATES = (V.COMPLETED, V.EXPIRED, V.CANCELLED, V.CONFIRMED, V.PENDING_PAYMENT)
FREE_SLOTS = 3  # upcoming bookable slots per flat
SLOT_MINUTES = 30
# Daytime starts (Europe/Berlin): each flat takes two of them a day, Sundays off.
SLOT_STARTS = (time(10), time(11, 30), time(13), time(14, 30), time(16), time(17, 30))
COMPLETED_AT = time(11)  # the completed viewing took place a few days ago at this time
EXPIRED_BOOKED_AGO = timedelta(days=1)
MESSAGE = "Guten Tag, ich interessiere mich sehr für die Wohnung und würde sie gern besichtigen."
CLIENT = Client(ip="127.0.0.1", user_agent="sichrplace seed demo")
# The demo conversation about the confirmed viewing's flat, in order: who writes what (each
# message's client_message_id makes a second seed find it instead of writing it again).
CONVERSATION: tuple[tuple[str, str, str], ...] = (
    (
        "tenant",
        "demo-question",
        "Guten Tag, ist die Wohnung noch frei? Gibt es einen Stellplatz für ein Fahrrad?",
    ),
    (
        "landlord",
        "demo-answer",
        "Hallo, ja, die Wohnung ist noch frei, und im Hof gibt es abschließbare Fahrradständer. "
        "Buchen Sie gern einen der freien Besichtigungstermine.",
    ),
    (
        "tenant",
        "demo-thanks",
        "Vielen Dank, ich habe einen Termin gebucht und freue mich auf die Besichtigung.",
    ),
)


class JourneyUnavailable(RuntimeError):
    """The journey cannot be seeded as planned (production; no free time for a slot; a
    viewing that did not end up in its state)."""


@dataclass(frozen=True, slots=True)
class Actor:
    """A demo account acting through the services (a `listings.rules.Caller`)."""

    id: uuid.UUID
    role: str


@dataclass(frozen=True, slots=True)
class Cast:
    landlord: uuid.UUID
    tenant: uuid.UUID
    # Tests put the flats in a city of their own (out of everyone else's searches).
    city: str | None = None


@dataclass(frozen=True, slots=True)
class StateReport:
    viewing: ViewingRow
    flat: ListingRow
    created: bool
    payment: PaymentRecord | None


@dataclass
class JourneyReport:
    flats: dict[ViewingStatus, ListingRow] = field(default_factory=dict)
    listings_created: int = 0
    slots_created: int = 0
    free_slots: int = 0
    states: list[StateReport] = field(default_factory=list)
    contract: dict[str, Any] | None = None
    contract_created: bool = False
    conversation_id: uuid.UUID | None = None
    messages_created: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def viewings_created(self) -> int:
        return sum(s.created for s in self.states)


@dataclass(frozen=True)
class _Journey:
    settings: Settings
    db: Database
    redis: aioredis.Redis
    payments: PaymentsParts
    payer: FakePayer
    landlord: Actor
    tenant: Actor
    zone: ZoneInfo
    report: JourneyReport


# --- slots ------------------------------------------------------------------------------------


def slot_candidates(
    flat_index: int, now: datetime, zone: ZoneInfo, days: int
) -> Iterator[tuple[datetime, datetime]]:
    """Upcoming daytime slots (in UTC) for a flat, soonest first: from tomorrow (Berlin), two
    a day at times that differ between neighbouring flats, no Sundays."""
    today = now.astimezone(zone).date()
    picks = sorted({SLOT_STARTS[(2 * flat_index) % 6], SLOT_STARTS[(2 * flat_index + 3) % 6]})
    for ahead in range(1, days):
        day = today + timedelta(days=ahead)
        if day.weekday() == 6:
            continue
        for start in picks:
            begins = datetime.combine(day, start, tzinfo=zone).astimezone(UTC)
            yield begins, begins + timedelta(minutes=SLOT_MINUTES)


def _overlaps(start: datetime, end: datetime, taken: Sequence[tuple[datetime, datetime]]) -> bool:
    return any(start < other_end and other_start < end for other_start, other_end in taken)


def _index(j: _Journey, flat: ListingRow) -> int:
    return next(i for i, row in enumerate(j.report.flats.values()) if row.id == flat.id)


async def _new_slot(session: PrimarySession, j: _Journey, flat: ListingRow) -> SlotRow:
    """A slot at the flat's next free candidate time, made by its landlord."""
    now = utcnow()
    taken = await journey_sql.slot_times(session, flat.id)
    days = j.settings.viewings.max_days_ahead
    for start, end in slot_candidates(_index(j, flat), now, j.zone, days):
        if not _overlaps(start, end, taken):
            slot = await viewings_service.create_slot(
                session,
                j.landlord,
                flat.id,
                starts_at=start,
                ends_at=end,
                settings=j.settings.viewings,
                now=now,
            )
            j.report.slots_created += 1
            return slot
    raise JourneyUnavailable(f"no free time left for a slot of listing {flat.id}")


async def _top_up(j: _Journey, flat: ListingRow) -> int:
    """At least FREE_SLOTS upcoming free slots on the flat; returns how many it has."""
    async with transaction(j.db) as session:
        free = await viewings_repository.free_slots(
            session, flat.id, after=utcnow(), before=None, limit=100
        )
        for _ in range(FREE_SLOTS - len(free)):
            await _new_slot(session, j, flat)
    return max(FREE_SLOTS, len(free))


# --- paying at the fake -----------------------------------------------------------------------


async def _book(j: _Journey, flat: ListingRow) -> Booking:
    async with transaction(j.db) as session:
        slot = await _new_slot(session, j, flat)
        return await viewings_service.book(
            session,
            j.payments,
            j.tenant,
            slot.id,
            message=MESSAGE,
            idempotency_key=None,
            settings=j.settings.viewings,
            fee_cents=j.settings.payments.viewing_fee_cents,
            now=utcnow(),
        )


async def _pay(j: _Journey, payment: PaymentRecord) -> None:
    """The payer's "Bezahlen" on the fake's approval page, and the webhook that follows,
    applied through the same verified path as the API's webhook endpoint."""
    headers, body = await j.payer.approve(payment.provider_ref)
    async with transaction(j.db) as session:
        await payments_service.apply_webhook(session, j.payments, "stripe", headers, body)


async def _viewing(j: _Journey, viewing_id: uuid.UUID, expected: ViewingStatus) -> ViewingRow:
    async with transaction(j.db) as session:
        row = await viewings_repository.get_viewing(session, viewing_id)
    if row is None or row.status != expected:
        found = None if row is None else row.status.value
        raise JourneyUnavailable(f"viewing {viewing_id} is {found}, not {expected.value}")
    return row


async def _confirmed(j: _Journey, flat: ListingRow) -> Booking:
    booking = await _book(j, flat)
    await _pay(j, booking.payment)
    await _viewing(j, booking.viewing.id, V.CONFIRMED)
    return booking


# --- the states -------------------------------------------------------------------------------


async def _make_pending(j: _Journey, flat: ListingRow) -> uuid.UUID:
    return (await _book(j, flat)).viewing.id


async def _make_confirmed(j: _Journey, flat: ListingRow) -> uuid.UUID:
    return (await _confirmed(j, flat)).viewing.id


async def _make_cancelled(j: _Journey, flat: ListingRow) -> uuid.UUID:
    booking = await _confirmed(j, flat)
    async with transaction(j.db) as session:
        await viewings_service.cancel(
            session,
            j.payments,
            j.tenant,
            booking.viewing.id,
            redis=j.redis,
            settings=j.settings.viewings,
            now=utcnow(),
        )
    # The refund job's body, run now (the job, if a worker gets to it, then finds it done).
    await payments_service.run_refund(j.db, j.payments, booking.payment.id)
    return booking.viewing.id


def _past_start(
    taken: Sequence[tuple[datetime, datetime]], now: datetime, zone: ZoneInfo
) -> datetime:
    """A few days ago at COMPLETED_AT (Berlin), where the flat had no slot."""
    today = now.astimezone(zone).date()
    length = timedelta(minutes=SLOT_MINUTES)
    for back in range(3, 60):
        start = datetime.combine(today - timedelta(days=back), COMPLETED_AT, tzinfo=zone)
        if not _overlaps(start, start + length, taken):
            return start.astimezone(UTC)
    raise JourneyUnavailable("no free time in the past for the completed viewing")


async def _make_completed(j: _Journey, flat: ListingRow) -> uuid.UUID:
    booking = await _confirmed(j, flat)
    async with transaction(j.db) as session:
        viewing = await viewings_repository.get_viewing(session, booking.viewing.id, lock=True)
        assert viewing is not None
        taken = await journey_sql.slot_times(session, flat.id)
        by = viewing.starts_at - _past_start(taken, utcnow(), j.zone)
        await journey_sql.shift_viewing(session, viewing.id, by, with_slot=True)
        # The landlord marked it done two hours after it ended.
        done = viewing.ends_at - by + timedelta(hours=2)
        await viewings_service.complete(
            session, j.landlord, viewing.id, redis=j.redis, settings=j.settings.viewings, now=done
        )
    return viewing.id


async def _make_expired(j: _Journey, flat: ListingRow) -> uuid.UUID:
    booking = await _book(j, flat)
    async with transaction(j.db) as session:
        # Booked a day ago and never paid: expired by the service the expiry job calls, at
        # the time it would have run (this booking only: the stack may hold others).
        await journey_sql.shift_viewing(
            session, booking.viewing.id, EXPIRED_BOOKED_AGO, with_slot=False
        )
        due = booking.viewing.expires_at - EXPIRED_BOOKED_AGO + timedelta(minutes=1)
        await viewings_service.expire_unpaid(
            session, j.redis, settings=j.settings.viewings, now=due, only={booking.viewing.id}
        )
    await _viewing(j, booking.viewing.id, V.EXPIRED)
    return booking.viewing.id


MAKERS: dict[ViewingStatus, Callable[[_Journey, ListingRow], Awaitable[uuid.UUID]]] = {
    V.PENDING_PAYMENT: _make_pending,
    V.CONFIRMED: _make_confirmed,
    V.CANCELLED: _make_cancelled,
    V.COMPLETED: _make_completed,
    V.EXPIRED: _make_expired,
}


async def _ensure_state(j: _Journey, state: ViewingStatus, flat: ListingRow) -> None:
    async with transaction(j.db) as session:
        found = await journey_sql.latest_viewing(
            session, tenant_id=j.tenant.id, listing_id=flat.id, status=state
        )
    created = found is None
    viewing_id = found if found is not None else await MAKERS[state](j, flat)
    async with transaction(j.db) as session:
        viewing = await viewings_repository.get_viewing(session, viewing_id)
        payment = await payments_service.payment_for(session, viewing_id=viewing_id)
    assert viewing is not None
    j.report.states.append(StateReport(viewing, flat, created, payment))


# --- the contract -----------------------------------------------------------------------------


def _month_start(today: date, ahead: int) -> date:
    month = today.month - 1 + ahead
    return date(today.year + month // 12, month % 12 + 1, 1)


async def _ensure_contract(j: _Journey, viewing: ViewingRow, flat: ListingRow) -> None:
    """A contract drafted from the completed viewing and sent: both may sign it now."""
    async with transaction(j.db) as session:
        found = await journey_sql.contract_of_viewing(session, viewing.id)
        if found is None:
            today = utcnow().astimezone(j.zone).date()
            terms = ContractCreate(
                viewing_id=viewing.id,
                start_date=_month_start(today, 2),
                cold_rent_cents=flat.cold_rent_cents,
                utilities_cents=flat.utilities_cents,
                deposit_cents=flat.deposit_cents,
            )
            draft = await contracts_service.create_contract(session, j.landlord, terms, CLIENT)
            found = draft["id"]
            assert isinstance(found, uuid.UUID)
            j.report.contract = await contracts_service.send_contract(
                session, j.landlord, found, CLIENT
            )
            j.report.contract_created = True
        else:
            j.report.contract = await contracts_service.get_contract(session, j.landlord, found)


# --- the whole journey ------------------------------------------------------------------------


async def _ensure_conversation(j: _Journey, flat: ListingRow) -> None:
    """The tenant's conversation with the landlord about `flat` (CONVERSATION's messages)."""
    (_, first_id, first_body), *rest = CONVERSATION
    settings, report = j.settings.messaging, j.report
    async with transaction(j.db) as session:
        started = await messaging_service.start_conversation(
            session,
            j.redis,
            j.tenant,
            flat.id,
            body=first_body,
            client_message_id=first_id,
            settings=settings,
            now=utcnow(),
        )
    report.conversation_id = started.conversation.id
    report.messages_created += int(started.created)
    for author, client_message_id, body in rest:
        async with transaction(j.db) as session:
            sent = await messaging_service.send(
                session,
                j.redis,
                j.tenant if author == "tenant" else j.landlord,
                started.conversation.id,
                body=body,
                client_message_id=client_message_id,
                settings=settings,
                now=utcnow(),
            )
        report.messages_created += int(sent.created)


async def seed_journey(
    settings: Settings, cast: Cast, *, job_queue: str | None = None
) -> JourneyReport:
    """Seed (or complete) the booking journey of `cast`; `job_queue`: where the payments jobs
    go (default: the tasks' own, served by the stack's worker)."""
    if settings.app.environment == "production":
        raise JourneyUnavailable("the demo journey is never seeded in production")
    report = JourneyReport()
    async with (
        worker_parts(settings) as parts,
        httpx.AsyncClient(base_url=settings.payments.stripe_api_base, timeout=10) as fake,
    ):
        payer = FakePayer(fake, webhook_secret(settings))
        await payer.wait_ready()
        wired = parts.get(PAYMENTS)
        stripe = wired.provider_named("stripe")
        assert stripe is not None
        j = _Journey(
            settings=settings,
            db=parts.db,
            redis=parts.redis,
            # Always the fake Stripe, whichever provider new payments go to by setting.
            payments=dataclasses.replace(wired, provider=stripe, job_queue=job_queue),
            payer=payer,
            landlord=Actor(cast.landlord, "landlord"),
            tenant=Actor(cast.tenant, "tenant"),
            zone=ZoneInfo(settings.viewings.timezone),
            report=report,
        )
        today = utcnow().astimezone(j.zone).date()
        async with transaction(j.db) as session:
            report.flats, report.listings_created = await ensure_flats(
                session, cast.landlord, city=cast.city, today=today
            )
        for state in STATES:
            try:
                await _ensure_state(j, state, report.flats[state])
            except ProblemError as exc:  # e.g. the landlord archived the flat meanwhile
                report.notes.append(f"{state.value}: {exc.slug}: {exc.detail}")
        completed = next((s for s in report.states if s.viewing.status == V.COMPLETED), None)
        if completed is not None:
            try:
                await _ensure_contract(j, completed.viewing, completed.flat)
            except ProblemError as exc:
                report.notes.append(f"contract: {exc.slug}: {exc.detail}")
        try:
            await _ensure_conversation(j, report.flats[V.CONFIRMED])
        except ProblemError as exc:
            report.notes.append(f"conversation: {exc.slug}: {exc.detail}")
        for flat in report.flats.values():
            try:
                report.free_slots += await _top_up(j, flat)
            except ProblemError as exc:
                report.notes.append(f"slots of {flat.title!r}: {exc.slug}: {exc.detail}")
    return report
