"""Refunds: cancelling a paid viewing refunds the fee through the provider in the refund job;
a provider timeout during the refund fails the job's run, the job runs again (its backoff
skipped by moving its schedule, not by sleeping) and the fee is refunded exactly once: one
refund at the provider, one refund in the ledger, whatever the late webhook says."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sichrplace.platform.db.engines import Database
from tests.payments.conftest import (
    Wired,
    booked,
    events_of,
    jobs_of,
    ledger_of,
    paid,
    payment_row,
    ref_of,
    rows,
    run_jobs,
    viewing_row,
    wait_payment,
)
from tests.viewings.conftest import API, Stage

pytestmark = pytest.mark.usefixtures("wired")


def refunds_at_stripe(wired: Wired, ref: str) -> list[dict[str, Any]]:
    return [r for r in list(wired.stripe.state.refunds.values()) if r["payment_intent"] == ref]


async def cancel(client: httpx.AsyncClient, stage: Stage, viewing_id: str) -> dict[str, Any]:
    r = await client.post(f"{API}/viewings/{viewing_id}/cancel", headers=stage.landlord.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_cancelling_a_paid_viewing_refunds_it_through_the_provider(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage
) -> None:
    booking, ref = await paid(client, db, wired, stage)
    payment_id = booking["payment"]["id"]
    cancelled = await cancel(client, stage, booking["id"])
    assert (cancelled["status"], cancelled["payment"]["status"]) == ("cancelled", "refund_pending")
    assert refunds_at_stripe(wired, ref) == []  # the provider is called by the job, after commit
    refund_rows = await rows(
        db, "SELECT status, amount_cents FROM payment_refunds WHERE payment_id = :p", p=payment_id
    )
    assert refund_rows == [{"status": "pending", "amount_cents": 2500}]

    await run_jobs(wired)
    payment = await payment_row(db, payment_id)
    assert payment["status"] == "refunded"
    assert payment["refunded_at"] is not None
    (refund,) = refunds_at_stripe(wired, ref)
    assert (refund["amount"], refund["status"]) == (2500, "succeeded")
    assert await ledger_of(db, payment_id) == [
        {
            "kind": "charge",
            "amount_cents": 2500,
            "currency": "EUR",
            "provider": "stripe",
            "object_ref": ref,
        },
        {
            "kind": "refund",
            "amount_cents": -2500,
            "currency": "EUR",
            "provider": "stripe",
            "object_ref": refund["id"],
        },
    ]
    assert [(j["task_name"], j["status"]) for j in await jobs_of(db, wired, payment_id)] == [
        ("payments.refund", "succeeded")
    ]
    assert (await viewing_row(db, booking["id"]))["refunded_at"] is not None
    r = await client.get(f"{API}/payments/{payment_id}", headers=stage.tenant.headers)
    assert r.json()["status"] == "refunded"
    # The provider's refund webhook (delivered meanwhile or now) adds nothing.
    (event,) = [e for e in await wired.stripe.events(ref) if e["type"] == "charge.refunded"]
    await wired.stripe.delivered(event["id"])
    assert len(await ledger_of(db, payment_id)) == 2


async def test_a_provider_timeout_during_the_refund_is_retried_and_refunds_once(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage
) -> None:
    booking, ref = await paid(client, db, wired, stage)
    payment_id = booking["payment"]["id"]
    await cancel(client, stage, booking["id"])
    # Stripe refunds but its answer never arrives (every attempt of the call times out),
    # and its webhook is late: only the job's retry can finish the refund.
    await wired.stripe.control("hold-webhooks")
    try:
        await wired.stripe.fault("refund", "timeout", times=2)
        await run_jobs(wired)
        (job,) = await jobs_of(db, wired, payment_id)
        assert (job["status"], job["attempts"]) == ("todo", 1)  # to be retried
        errors = await rows(db, "SELECT error FROM job_errors WHERE job_id = :j", j=job["id"])
        assert len(errors) == 1
        assert "DependencyTimeout" in errors[0]["error"], errors
        assert (await payment_row(db, payment_id))["status"] == "refund_pending"
        assert len(refunds_at_stripe(wired, ref)) == 1  # it did happen at the provider
        assert [e["kind"] for e in await ledger_of(db, payment_id)] == ["charge"]

        # The backoff has passed: the job runs again and asks with the same key.
        async with db.primary.begin() as conn:
            await conn.execute(
                text("UPDATE procrastinate_jobs SET scheduled_at = now() WHERE id = :j"),
                {"j": job["id"]},
            )
        await run_jobs(wired)
    finally:
        await wired.stripe.control("release-webhooks")
        await wired.stripe.control("reset")
    (job,) = await jobs_of(db, wired, payment_id)
    assert (job["status"], job["attempts"]) == ("succeeded", 2)
    assert (await payment_row(db, payment_id))["status"] == "refunded"
    (refund,) = refunds_at_stripe(wired, ref)
    charge = wired.stripe.state.charges[wired.stripe.state.intents[ref]["latest_charge"]]
    assert (charge["amount_refunded"], charge["refunded"]) == (2500, True)
    (event,) = [e for e in await wired.stripe.events(ref) if e["type"] == "charge.refunded"]
    await wired.stripe.delivered(event["id"])
    assert [
        (e["kind"], e["amount_cents"], e["object_ref"]) for e in await ledger_of(db, payment_id)
    ] == [
        ("charge", 2500, ref),
        ("refund", -2500, refund["id"]),
    ]
    refunded = [e for e in await events_of(db, "stripe", ref) if e["kind"] == "refund_succeeded"]
    assert len(refunded) == 1
    assert refunded[0]["applied_at"] is not None


async def test_a_payment_that_succeeds_after_its_booking_was_cancelled_is_refunded(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage
) -> None:
    """The tenant cancels while the payment waits for approval, then approves it anyway:
    the money moved for a viewing that is gone, so it goes back."""
    booking = await booked(client, stage)
    payment_id = booking["payment"]["id"]
    cancelled = await cancel(client, stage, booking["id"])
    assert (cancelled["status"], cancelled["payment"]["status"]) == (
        "cancelled",
        "requires_action",
    )
    ref = await ref_of(db, payment_id)
    await wired.stripe.approve(ref)
    await wait_payment(db, payment_id, "refund_pending")
    await run_jobs(wired)
    assert (await payment_row(db, payment_id))["status"] == "refunded"
    assert (await viewing_row(db, booking["id"]))["status"] == "cancelled"
    assert len(refunds_at_stripe(wired, ref)) == 1
    assert [e["amount_cents"] for e in await ledger_of(db, payment_id)] == [2500, -2500]
