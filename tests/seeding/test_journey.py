"""The demo's booking journey, seeded against the stack (its database, its fake Stripe) for a
landlord and a tenant of the test's own, with the flats in a city of the test's own: one
viewing per state, upcoming daytime slots, payments and ledger as the payments domain writes
them (and as the fake has them), the contract, and nothing new on a second run."""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import text

from sichrplace.config import Settings
from sichrplace.integrations.payments import DEV_STRIPE_SECRET_KEY
from sichrplace.payments.parts import PAYMENTS
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.platform.parts import Parts
from sichrplace.seeding.journey import (
    FREE_SLOTS,
    SLOT_MINUTES,
    Actor,
    Cast,
    JourneyReport,
    seed_journey,
)
from sichrplace.seeding.journey_listings import FLATS, flat_id
from sichrplace.seeding.journey_summary import summary
from sichrplace.viewings import service as viewings_service
from sichrplace.viewings.vocabulary import ViewingStatus as V
from tests.helpers.members import Member, create_member

BERLIN = ZoneInfo("Europe/Berlin")
STATES = {"pending_payment", "confirmed", "completed", "cancelled", "expired"}


async def _rows(db: Database, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with db.primary.connect() as conn:
        result = await conn.execute(text(sql), params)
        return [dict(r._mapping) for r in result]


async def _viewings(db: Database, tenant: Member) -> dict[str, dict[str, Any]]:
    rows = await _rows(
        db,
        "SELECT v.*, s.starts_at, s.ends_at FROM viewings v JOIN viewing_slots s "
        "ON s.id = v.slot_id WHERE v.tenant_id = :t",
        t=tenant.id,
    )
    assert Counter(r["status"] for r in rows) == dict.fromkeys(STATES, 1)
    return {r["status"]: r for r in rows}


async def _counts(db: Database, landlord: Member, tenant: Member) -> dict[str, int]:
    row = (
        await _rows(
            db,
            "SELECT (SELECT count(*) FROM listings WHERE owner_id = :l) AS listings,"
            " (SELECT count(*) FROM viewing_slots s JOIN listings l ON l.id = s.listing_id"
            "  WHERE l.owner_id = :l) AS slots,"
            " (SELECT count(*) FROM viewings WHERE tenant_id = :t) AS viewings,"
            " (SELECT count(*) FROM payments WHERE payer_id = :t) AS payments,"
            " (SELECT count(*) FROM ledger_entries e JOIN payments p ON p.id = e.payment_id"
            "  WHERE p.payer_id = :t) AS ledger,"
            " (SELECT count(*) FROM contracts WHERE landlord_id = :l) AS contracts,"
            " (SELECT count(*) FROM contract_events e JOIN contracts c ON c.id = e.contract_id"
            "  WHERE c.landlord_id = :l) AS contract_events,"
            " (SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id"
            "  WHERE c.tenant_id = :t) AS messages,"
            " (SELECT count(*) FROM notifications WHERE user_id IN (:l, :t)) AS notifications",
            l=landlord.id,
            t=tenant.id,
        )
    )[0]
    return {k: int(v) for k, v in row.items()}


async def _payment(db: Database, viewing_id: uuid.UUID) -> dict[str, Any]:
    rows = await _rows(db, "SELECT * FROM payments WHERE viewing_id = :v", v=viewing_id)
    assert len(rows) == 1, rows
    return rows[0]


async def _ledger(db: Database, payment_id: uuid.UUID) -> list[tuple[str, int, str]]:
    rows = await _rows(
        db,
        "SELECT kind, amount_cents, object_ref FROM ledger_entries WHERE payment_id = :p "
        "ORDER BY id",
        p=payment_id,
    )
    return [(r["kind"], r["amount_cents"], r["object_ref"]) for r in rows]


async def _at_the_fake(settings: Settings, provider_ref: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=settings.payments.stripe_api_base) as fake:
        r = await fake.get(
            f"/v1/payment_intents/{provider_ref}",
            params={"expand[]": "latest_charge"},
            headers={"Authorization": f"Bearer {DEV_STRIPE_SECRET_KEY}"},
        )
    assert r.status_code == 200, r.text
    intent: dict[str, Any] = r.json()
    return intent


@pytest.fixture
async def cast(db: Database, settings: Settings, unique: str) -> tuple[Member, Member, Cast]:
    landlord = await create_member(db, settings, "landlord", label="seed")
    tenant = await create_member(db, settings, "tenant", label="seed")
    return landlord, tenant, Cast(landlord.id, tenant.id, city=f"Seedtest {unique}")


@pytest.fixture
async def job_queue(db: Database, unique: str) -> AsyncIterator[str]:
    """The seeded payments' jobs go here, where no worker takes them: the refund must be the
    seed's own doing."""
    queue = f"test-seeding-{unique}"
    yield queue
    async with db.primary.begin() as conn:
        await conn.execute(
            text("DELETE FROM procrastinate_jobs WHERE queue_name = :q"), {"q": queue}
        )


async def test_the_journey_has_one_viewing_per_state_and_a_rerun_adds_nothing(
    db: Database, settings: Settings, cast: tuple[Member, Member, Cast], job_queue: str
) -> None:
    landlord, tenant, roles = cast
    first = await seed_journey(settings, roles, job_queue=job_queue)
    assert first.notes == []
    assert (first.listings_created, first.viewings_created) == (len(FLATS), 5)
    assert first.contract_created

    viewings = await _viewings(db, tenant)
    await _check_flats_and_slots(db, settings, landlord, roles, viewings)
    await _check_payments(db, settings, viewings)
    await _check_contract(db, viewings["completed"]["id"], first)
    lines = summary(
        first, landlord=landlord.email, tenant=tenant.email, base_url="http://x", timezone="UTC"
    )
    pending = viewings["pending_payment"]
    assert any(str(pending["id"]) in line for line in lines)
    # The conversation about the confirmed flat, with both sides' messages.
    assert first.messages_created == 3
    messages = await _rows(
        db,
        "SELECT m.author_id FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        " WHERE c.id = :c AND c.listing_id = :f ORDER BY m.seq",
        c=first.conversation_id,
        f=first.flats[V.CONFIRMED].id,
    )
    assert [m["author_id"] for m in messages] == [tenant.id, landlord.id, tenant.id]
    assert any(str(first.conversation_id) in line for line in lines)

    before = await _counts(db, landlord, tenant)
    second = await seed_journey(settings, roles, job_queue=job_queue)
    assert (second.listings_created, second.viewings_created, second.slots_created) == (0, 0, 0)
    assert (second.conversation_id, second.messages_created) == (first.conversation_id, 0)
    assert not second.contract_created
    assert second.contract is not None
    assert first.contract is not None
    assert second.contract["id"] == first.contract["id"]
    assert {s.viewing.status.value: s.viewing.id for s in second.states} == {
        status: row["id"] for status, row in viewings.items()
    }
    assert await _counts(db, landlord, tenant) == before


async def test_a_rerun_books_a_fresh_pending_viewing_once_the_old_one_ended(
    db: Database,
    settings: Settings,
    parts: Parts,
    cast: tuple[Member, Member, Cast],
    job_queue: str,
) -> None:
    _, tenant, roles = cast
    first = await seed_journey(settings, roles, job_queue=job_queue)
    old = next(s.viewing for s in first.states if s.viewing.status == V.PENDING_PAYMENT)
    # The tenant cancels it (as the worker's expiry would end it after the payment window).
    async with transaction(db) as session:
        await viewings_service.cancel(
            session,
            parts.get(PAYMENTS),
            Actor(tenant.id, "tenant"),
            old.id,
            redis=None,
            settings=settings.viewings,
            now=datetime.now(UTC),
        )
    second = await seed_journey(settings, roles, job_queue=job_queue)
    assert second.viewings_created == 1
    fresh = next(s.viewing for s in second.states if s.viewing.status == V.PENDING_PAYMENT)
    assert fresh.id != old.id
    assert fresh.listing_id == old.listing_id
    rows = await _rows(
        db,
        "SELECT status, count(*) AS n FROM viewings WHERE tenant_id = :t GROUP BY status",
        t=tenant.id,
    )
    assert {r["status"]: r["n"] for r in rows} == {**dict.fromkeys(STATES, 1), "cancelled": 2}


async def _check_flats_and_slots(
    db: Database,
    settings: Settings,
    landlord: Member,
    roles: Cast,
    viewings: dict[str, dict[str, Any]],
) -> None:
    flats = await _rows(db, "SELECT * FROM listings WHERE owner_id = :l", l=landlord.id)
    assert {f["id"] for f in flats} == {flat_id(landlord.id, f.state) for f in FLATS}
    assert {(f["city"], f["status"]) for f in flats} == {(roles.city, "active")}
    # Each state on its own flat.
    for journey_flat in FLATS:
        state = journey_flat.state
        assert viewings[state.value]["listing_id"] == flat_id(landlord.id, state)

    now = datetime.now(UTC)
    slots = await _rows(
        db,
        "SELECT s.*, EXISTS (SELECT 1 FROM viewings v WHERE v.slot_id = s.id AND v.status IN "
        "('pending_payment', 'confirmed', 'completed')) AS booked FROM viewing_slots s "
        "JOIN listings l ON l.id = s.listing_id WHERE l.owner_id = :l AND s.deleted_at IS NULL",
        l=landlord.id,
    )
    for row in flats:
        mine = sorted(
            (s for s in slots if s["listing_id"] == row["id"]), key=lambda s: s["starts_at"]
        )
        free = [s for s in mine if not s["booked"] and s["starts_at"] > now]
        assert len(free) >= FREE_SLOTS
        for a, b in pairwise(mine):
            assert a["ends_at"] <= b["starts_at"]  # no overlaps
    for slot in slots:
        start = slot["starts_at"].astimezone(BERLIN)
        assert slot["ends_at"] - slot["starts_at"] == timedelta(minutes=SLOT_MINUTES)
        assert time(9) <= start.time() <= time(18), start  # daytime in Berlin
        assert start.weekday() != 6  # no Sundays
        if slot["id"] != viewings["completed"]["slot_id"]:
            assert slot["starts_at"] > now
            assert slot["starts_at"] < now + timedelta(days=settings.viewings.max_days_ahead)

    completed = viewings["completed"]
    assert completed["ends_at"] < now - timedelta(days=2)
    assert (
        completed["created_at"]
        < completed["confirmed_at"]
        < completed["starts_at"]
        < completed["ends_at"]
        < completed["completed_at"]
        < now
    )
    expired = viewings["expired"]
    assert expired["created_at"] < expired["expires_at"] <= expired["expired_at"] < now
    assert expired["expires_at"] < now - timedelta(hours=12)
    assert viewings["pending_payment"]["expires_at"] > now


async def _check_payments(
    db: Database, settings: Settings, viewings: dict[str, dict[str, Any]]
) -> None:
    fee = settings.payments.viewing_fee_cents
    paid = {}
    for status in ("confirmed", "completed", "cancelled"):
        payment = await _payment(db, viewings[status]["id"])
        assert payment["amount_cents"] == fee
        assert payment["succeeded_at"] is not None
        paid[status] = payment
        charge = ("charge", fee, payment["provider_ref"])
        expected = [charge]
        if status == "cancelled":
            assert payment["status"] == "refunded"
            refunds = await _rows(
                db, "SELECT * FROM payment_refunds WHERE payment_id = :p", p=payment["id"]
            )
            assert [(r["status"], r["amount_cents"]) for r in refunds] == [("succeeded", fee)]
            expected.append(("refund", -fee, refunds[0]["refund_ref"]))
        else:
            assert payment["status"] == "succeeded"
        assert await _ledger(db, payment["id"]) == expected
        intent = await _at_the_fake(settings, payment["provider_ref"])
        assert (intent["status"], intent["amount_received"]) == ("succeeded", fee)
        refunded = fee if status == "cancelled" else 0
        assert intent["latest_charge"]["amount_refunded"] == refunded
    assert viewings["cancelled"]["refunded_at"] is not None
    assert viewings["cancelled"]["confirmed_at"] is not None
    # The calendar's SEQUENCE: bumped on confirmation, and again on cancellation.
    assert [viewings[s]["sequence"] for s in ("confirmed", "completed", "cancelled")] == [1, 1, 2]
    for status in ("pending_payment", "expired"):
        payment = await _payment(db, viewings[status]["id"])
        assert payment["status"] == "requires_action"
        assert payment["approval_url"].startswith(settings.payments.stripe_api_base)
        assert await _ledger(db, payment["id"]) == []
        assert viewings[status]["sequence"] == 0


async def _check_contract(db: Database, viewing_id: uuid.UUID, report: JourneyReport) -> None:
    contracts = await _rows(db, "SELECT * FROM contracts WHERE viewing_id = :v", v=viewing_id)
    assert len(contracts) == 1
    contract = contracts[0]
    assert report.contract is not None
    assert (contract["id"], contract["status"]) == (report.contract["id"], "sent")
    documents = await _rows(
        db, "SELECT pdf FROM contract_documents WHERE contract_id = :c", c=contract["id"]
    )
    assert hashlib.sha256(documents[0]["pdf"]).hexdigest() == contract["document_sha256"]
    events = await _rows(
        db, "SELECT kind FROM contract_events WHERE contract_id = :c ORDER BY id", c=contract["id"]
    )
    assert [e["kind"] for e in events] == ["created", "sent"]
