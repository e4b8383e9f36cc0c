"""PayPal as the provider of new payments: the approval webhook (verified by PayPal's
verify-webhook-signature call) starts the capture job, the capture confirms the booking, a
cancellation refunds through the refund job; a delivery PayPal did not sign, or whose body
differs from what it signed, is 400 and changes nothing; one event delivered three times is
applied once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from sichrplace.platform.db.engines import Database
from tests.payments.conftest import (
    Wired,
    booked,
    events_of,
    jobs_of,
    ledger_of,
    payment_row,
    ref_of,
    run_jobs,
    viewing_row,
    wait_payment,
)
from tests.viewings.conftest import API, Stage, slug

WEBHOOK = f"{API}/payments/webhooks/paypal"


@pytest.fixture
def paypal_first(wired: Wired) -> Iterator[Wired]:
    """New payments go to PayPal for this test."""
    wired.swap(provider=wired.parts.providers["paypal"])
    try:
        yield wired
    finally:
        wired.swap()


def headers_of(wired: Wired, event_id: str) -> list[dict[str, str]]:
    """The transmission headers the fake signed deliveries of this event with."""
    sent = wired.paypal.state.transmissions
    return [
        {
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-TIME": t.time,
            "PAYPAL-TRANSMISSION-SIG": t.signature,
            "PAYPAL-CERT-URL": f"{wired.paypal.url}/v1/notifications/certs/CERT-fake-sichrplace",
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
            "Content-Type": "application/json",
        }
        for transmission_id, t in list(sent.items())
        if t.event_id == event_id
    ]


async def only_event(wired: Wired, ref: str, event_type: str) -> dict[str, Any]:
    (event,) = [e for e in await wired.paypal.events(ref) if e["type"] == event_type]
    return event


async def test_approval_capture_and_refund_through_paypal(
    client: httpx.AsyncClient, db: Database, paypal_first: Wired, stage: Stage
) -> None:
    wired = paypal_first
    booking = await booked(client, stage)
    payment_id = booking["payment"]["id"]
    assert (booking["payment"]["provider"], booking["payment"]["status"]) == (
        "paypal",
        "requires_action",
    )
    order = await ref_of(db, payment_id)
    assert booking["payment"]["approval_url"] == f"{wired.paypal.url}/checkout/{order}"

    await wired.paypal.approve(order)
    await wait_payment(db, payment_id, "processing")  # approved: the capture job's turn
    assert [(j["task_name"], j["status"]) for j in await jobs_of(db, wired, payment_id)] == [
        ("payments.capture", "todo")
    ]
    await run_jobs(wired)
    assert (await payment_row(db, payment_id))["status"] == "succeeded"
    completed = await only_event(wired, order, "PAYMENT.CAPTURE.COMPLETED")
    await wired.paypal.delivered(completed["id"])
    viewing = await viewing_row(db, booking["id"])
    assert (viewing["status"], viewing["sequence"]) == ("confirmed", 1)
    # The capture's answer and its webhook are one charge.
    assert [(e["kind"], e["amount_cents"]) for e in await ledger_of(db, payment_id)] == [
        ("charge", 2500)
    ]
    assert {e["kind"] for e in await events_of(db, "paypal", order)} == {
        "payment_approved",
        "payment_succeeded",
    }

    r = await client.post(f"{API}/viewings/{booking['id']}/cancel", headers=stage.tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["payment"]["status"] == "refund_pending"
    await run_jobs(wired)
    assert (await payment_row(db, payment_id))["status"] == "refunded"
    assert [(e["kind"], e["amount_cents"]) for e in await ledger_of(db, payment_id)] == [
        ("charge", 2500),
        ("refund", -2500),
    ]
    refunds = [r for r in wired.paypal.state.refunds.values() if r["status"] == "COMPLETED"]
    assert [r["_capture_id"] for r in refunds].count(
        await _capture_of(wired, order)
    ) == 1  # refunded once at PayPal
    assert [j["status"] for j in await jobs_of(db, wired, payment_id)] == [
        "succeeded",
        "succeeded",
    ]


async def _capture_of(wired: Wired, order: str) -> str:
    captures = wired.paypal.state.orders[order]["purchase_units"][0]["payments"]["captures"]
    (capture,) = captures
    return str(capture["id"])


async def test_unsigned_or_altered_paypal_deliveries_are_400_and_change_nothing(
    client: httpx.AsyncClient, db: Database, paypal_first: Wired, stage: Stage
) -> None:
    wired = paypal_first
    booking = await booked(client, stage)
    payment_id = booking["payment"]["id"]
    order = await ref_of(db, payment_id)
    await wired.paypal.control("hold-webhooks")
    try:
        await wired.paypal.approve(order)
        approved = await only_event(wired, order, "CHECKOUT.ORDER.APPROVED")
        body = orjson.dumps(approved["event"])
        forged = {
            "PAYPAL-TRANSMISSION-ID": str(uuid.uuid4()),
            "PAYPAL-TRANSMISSION-TIME": approved["event"]["create_time"],
            "PAYPAL-TRANSMISSION-SIG": "bm90IGEgc2lnbmF0dXJl",
            "PAYPAL-CERT-URL": f"{wired.paypal.url}/v1/notifications/certs/CERT-fake-sichrplace",
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
            "Content-Type": "application/json",
        }
        missing_sig = {k: v for k, v in forged.items() if k != "PAYPAL-TRANSMISSION-SIG"}
        for content, headers in (
            (body, forged),
            (body, missing_sig),
            (body, {"Content-Type": "application/json"}),
            (b"not json", forged),
            (b'{"id": "WH-1", "event_type": "CHECKOUT.ORDER.APPROVED"}', forged),
        ):
            r = await client.post(WEBHOOK, content=content, headers=headers)
            assert r.status_code == 400, r.text
            assert slug(r) == "webhook-rejected"
        assert (await payment_row(db, payment_id))["status"] == "requires_action"
        assert await events_of(db, "paypal", order) == []
    finally:
        await wired.paypal.control("release-webhooks")
        await wired.paypal.control("reset")

    # Delivered for real (signed by the fake), then twice more: applied once.
    await wired.paypal.delivered(approved["id"])
    await wired.paypal.control("redeliver", {"event_id": approved["id"], "times": 2})
    await wired.paypal.delivered(approved["id"], times=3)
    assert [e["event_id"] for e in await events_of(db, "paypal", order)] == [approved["id"]]
    assert (await payment_row(db, payment_id))["status"] == "processing"
    assert [j["task_name"] for j in await jobs_of(db, wired, payment_id)] == ["payments.capture"]

    # A genuine transmission's headers with another body: PayPal does not vouch for it.
    genuine = headers_of(wired, approved["id"])
    assert len(genuine) == 3
    altered = {**approved["event"], "id": f"WH-ALTERED-{uuid.uuid4().hex[:8]}"}
    r = await client.post(WEBHOOK, content=orjson.dumps(altered), headers=genuine[0])
    assert r.status_code == 400, r.text
    assert [e["event_id"] for e in await events_of(db, "paypal", order)] == [approved["id"]]
    assert await ledger_of(db, payment_id) == []
    assert (await viewing_row(db, booking["id"]))["status"] == "pending_payment"
