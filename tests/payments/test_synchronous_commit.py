"""The booking and payment writes commit with `synchronous_commit = on` (docs/operations.md,
"Synchronous commit per transaction"): the booking with its payment intent, a payment intent
asked for by itself, the provider's webhook that confirms the booking and books the charge,
completing and cancelling a booking, a refund and the refund job's outcome. Each is checked
in the statements the app's primary engine ran: the SET LOCAL once, before the use case's
first write, in the transaction that commits it. Creating a slot does not set it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from sichrplace.payments import service
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from tests.helpers.transactions import record_transactions
from tests.payments.conftest import (
    Wired,
    booked,
    declined,
    intent_body,
    paid,
    ref_of,
    run_jobs,
    wait_payment,
)
from tests.viewings.conftest import API, Stage, create_slot

pytestmark = pytest.mark.usefixtures("wired")


async def test_a_booking_its_intent_and_the_confirming_webhook(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage
) -> None:
    with record_transactions(db.primary) as recorded:
        booking = await booked(client, stage)
        await wired.stripe.approve(await ref_of(db, booking["payment"]["id"]))
        await wait_payment(db, booking["payment"]["id"], "succeeded")
        await create_slot(client, stage.landlord, stage.listing_id, hours=72)

    (booking_tx,) = recorded.writing("viewings", "INSERT")
    # Once, although the booking's use case and the payment's both ask for it.
    booking_tx.assert_synchronous_before("viewings", "INSERT")
    assert booking_tx.writes("payments", "INSERT")
    # Every delivery the provider made is stored and applied synchronously; the one that
    # confirmed the booking also booked the charge in the ledger.
    deliveries = recorded.writing("payment_events", "INSERT")
    assert deliveries
    for delivery in deliveries:
        delivery.assert_synchronous_before("payment_events", "INSERT")
    (confirming,) = recorded.writing("viewings", "UPDATE")
    assert confirming in deliveries
    assert confirming.writes("ledger_entries", "INSERT")

    (slot_tx,) = recorded.writing("viewing_slots", "INSERT")
    assert slot_tx.synchronous_sets == []
    recorded.assert_synchronous_only_where_durable()


async def test_a_payment_intent_asked_for_by_itself(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage
) -> None:
    booking = await declined(client, db, wired, stage)
    with record_transactions(db.primary) as recorded:
        r = await client.post(
            f"{API}/payments/intents", json=intent_body(booking["id"]), headers=stage.tenant.headers
        )
        assert r.status_code == 201, r.text
    (intent_tx,) = recorded.writing("payments", "INSERT")
    intent_tx.assert_synchronous_before("payments", "INSERT")
    recorded.assert_synchronous_only_where_durable()


async def test_completing_a_booking(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage
) -> None:
    booking, _ = await paid(client, db, wired, stage)
    now = datetime.now(UTC)
    async with db.primary.begin() as conn:  # the viewing began 40 minutes ago
        await conn.execute(
            text("UPDATE viewing_slots SET starts_at = :s, ends_at = :e WHERE id = :id"),
            {
                "s": now - timedelta(minutes=40),
                "e": now - timedelta(minutes=10),
                "id": stage.slot["id"],
            },
        )
    with record_transactions(db.primary) as recorded:
        r = await client.post(
            f"{API}/viewings/{booking['id']}/complete", headers=stage.landlord.headers
        )
        assert r.status_code == 200, r.text
    (complete_tx,) = recorded.writing("viewings", "UPDATE")
    complete_tx.assert_synchronous_before("viewings", "UPDATE")


async def test_cancelling_a_paid_booking_and_the_refund_job(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage
) -> None:
    booking, _ = await paid(client, db, wired, stage)
    payment_id = booking["payment"]["id"]
    with record_transactions(db.primary) as recorded:
        r = await client.post(
            f"{API}/viewings/{booking['id']}/cancel", headers=stage.landlord.headers
        )
        assert r.status_code == 200, r.text
        await run_jobs(wired)
        await wait_payment(db, payment_id, "refunded")

    # The provider's refund webhook may be applied meanwhile, in a transaction of its own
    # that stores the event (and, if it comes first, writes the refund too).
    # In commit order: the cancel (the refund pending), then the refund job's transaction
    # (the provider's answer applied).
    ours = [t for t in recorded.committed() if not t.writes("payment_events")]
    cancel_tx, outcome = [t for t in ours if t.writes("payment_refunds")]
    cancel_tx.assert_synchronous_before("viewings", "UPDATE")
    assert cancel_tx.writes("payment_refunds", "INSERT")
    outcome.assert_synchronous_before("payment_refunds", "UPDATE")
    for ledger in recorded.writing("ledger_entries", "INSERT"):
        assert len(ledger.synchronous_sets) == 1, ledger.summary()
    recorded.assert_synchronous_only_where_durable()


async def test_a_refund_asked_for_by_itself(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage
) -> None:
    """`refund_payment` called by a use case that did not ask for it (the cancel above does)."""
    booking, _ = await paid(client, db, wired, stage)
    with record_transactions(db.primary) as recorded:
        async with transaction(db) as session:
            await service.refund_payment(
                session, wired.parts, payment_id=booking["payment"]["id"], reason="test"
            )
    (refund_tx,) = recorded.writing("payment_refunds", "INSERT")
    refund_tx.assert_synchronous_before("payments", "UPDATE")
