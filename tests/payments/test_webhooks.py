"""Stripe webhooks into the app: only a delivery signed with the endpoint secret (within the
timestamp tolerance) changes anything; a malformed or unsigned one is a 4xx; one event
delivered three times (in turn or at once) changes the payment once; a success that arrives
before its payment row exists is applied when the row is stored; events out of order end in
the right state (a refund before its success, a late failure, a success after a failure).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from sichrplace.payments import service as payments_service
from sichrplace.platform.db.engines import Database
from tests.payments.conftest import (
    Wired,
    booked,
    declined,
    events_of,
    intent_body,
    intent_object,
    ledger_of,
    paid,
    payment_row,
    post_stripe,
    ref_of,
    signed,
    stripe_event,
    viewing_row,
    wait_payment,
)
from tests.viewings.conftest import API, Stage, slug

pytestmark = pytest.mark.usefixtures("wired")


async def unchanged(db: Database, booking: dict[str, Any], ref: str) -> None:
    """Nothing of the booking's payment moved: status, viewing, ledger, stored events."""
    payment = await payment_row(db, booking["payment"]["id"])
    assert payment["status"] == "requires_action"
    assert await viewing_row(db, booking["id"]) == {
        "status": "pending_payment",
        "sequence": 0,
        "refunded_at": None,
    }
    assert await ledger_of(db, payment["id"]) == []
    assert await events_of(db, "stripe", ref) == []


def rejected(r: httpx.Response, status: int = 400) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == status


async def test_a_bad_signature_is_400_and_changes_nothing(
    client: httpx.AsyncClient, db: Database, stage: Stage
) -> None:
    booking = await booked(client, stage)
    ref = await ref_of(db, booking["payment"]["id"])
    _, body = stripe_event("payment_intent.succeeded", intent_object(ref, "succeeded"))
    # Each signed just before it is sent, 10 s past the 300 s tolerance: the server's clock
    # moves on while the requests run, and a stamp 1 s ahead would drift into the window.
    attempts: dict[str, Callable[[], dict[str, str]]] = {
        "another secret": lambda: signed(body, secret="whsec_not_the_endpoint_secret_0000000000"),
        "signed another body": lambda: signed(body.replace(b'"amount":2500', b'"amount":1')),
        "too old": lambda: signed(body, at=int(time.time()) - 310),
        "too far ahead": lambda: signed(body, at=int(time.time()) + 310),
        "v0 only": lambda: {
            "Stripe-Signature": signed(body)["Stripe-Signature"].replace("v1=", "v0=")
        },
    }
    for reason, headers in attempts.items():
        r = await post_stripe(client, body, headers())
        rejected(r)
        assert slug(r) == "webhook-rejected", reason
    await unchanged(db, booking, ref)
    # The same event, correctly signed, is applied.
    r = await post_stripe(client, body, signed(body))
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True, "result": "applied"}
    assert (await payment_row(db, booking["payment"]["id"]))["status"] == "succeeded"
    assert (await viewing_row(db, booking["id"]))["status"] == "confirmed"
    assert [e["kind"] for e in await ledger_of(db, booking["payment"]["id"])] == ["charge"]


async def test_malformed_or_unsigned_deliveries_are_4xx(
    client: httpx.AsyncClient, db: Database, stage: Stage
) -> None:
    booking = await booked(client, stage)
    ref = await ref_of(db, booking["payment"]["id"])
    _, body = stripe_event("payment_intent.succeeded", intent_object(ref, "succeeded"))
    cases: list[tuple[bytes, dict[str, str]]] = [
        (body, {"Content-Type": "application/json"}),  # unsigned
        (body, {"Stripe-Signature": "garbage"}),
        (body, {"Stripe-Signature": "t=abc,v1=00"}),
        (b"", signed(b"")),
        (b"not json", signed(b"not json")),
        (b"[1, 2]", signed(b"[1, 2]")),
        (b'{"id": "evt_x", "type": "payment_intent.succeeded"}', {}),
    ]
    no_object = b'{"id": "evt_x", "type": "payment_intent.succeeded", "created": 1}'
    cases.append((no_object, signed(no_object)))
    for content, headers in cases:
        r = await post_stripe(client, content, headers)
        rejected(r)
    await unchanged(db, booking, ref)
    r = await client.post(f"{API}/payments/webhooks/klarna", content=body, headers=signed(body))
    rejected(r, 404)
    assert slug(r) == "unknown-payment-provider"
    # A verified event of a type we do not act on is acknowledged and changes nothing.
    _, other = stripe_event("customer.created", {"id": "cus_test", "object": "customer"})
    r = await post_stripe(client, other, signed(other))
    assert (r.status_code, r.json()["result"]) == (200, "ignored")
    await unchanged(db, booking, ref)


async def test_one_event_delivered_three_times_changes_the_payment_once(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage
) -> None:
    booking, ref = await paid(client, db, wired, stage)
    (event,) = await wired.stripe.events(ref)
    assert event["type"] == "payment_intent.succeeded"
    await wired.stripe.control("redeliver", {"event_id": event["id"], "times": 2})
    await wired.stripe.delivered(event["id"], times=3)

    stored = await events_of(db, "stripe", ref)
    assert [(e["event_id"], e["kind"]) for e in stored] == [(event["id"], "payment_succeeded")]
    assert str(stored[0]["payment_id"]) == booking["payment"]["id"]
    assert await ledger_of(db, booking["payment"]["id"]) == [
        {
            "kind": "charge",
            "amount_cents": 2500,
            "currency": "EUR",
            "provider": "stripe",
            "object_ref": ref,
        }
    ]
    viewing = await viewing_row(db, booking["id"])
    assert (viewing["status"], viewing["sequence"]) == ("confirmed", 1)  # confirmed once


async def test_one_event_delivered_three_times_at_once_is_applied_once(
    client: httpx.AsyncClient, db: Database, stage: Stage
) -> None:
    booking = await booked(client, stage)
    ref = await ref_of(db, booking["payment"]["id"])
    event_id, body = stripe_event("payment_intent.succeeded", intent_object(ref, "succeeded"))
    answers = await asyncio.gather(*(post_stripe(client, body, signed(body)) for _ in range(3)))
    assert [r.status_code for r in answers] == [200] * 3, [r.text for r in answers]
    assert sorted(r.json()["result"] for r in answers) == ["applied", "duplicate", "duplicate"]
    assert [e["event_id"] for e in await events_of(db, "stripe", ref)] == [event_id]
    assert [e["amount_cents"] for e in await ledger_of(db, booking["payment"]["id"])] == [2500]
    viewing = await viewing_row(db, booking["id"])
    assert (viewing["status"], viewing["sequence"]) == ("confirmed", 1)


async def test_a_success_that_arrives_before_its_payment_row_still_confirms(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage
) -> None:
    """The provider's answer to the intent request and its success webhook race: here the
    webhook wins outright. The intent the next request will get (the provider key and
    parameters start_payment sends) is made and paid first, so its success is delivered
    while no payment row names it; the request then gets the intent from the provider (the
    stored answer of that key, still requires_action) and stores its row."""
    booking = await declined(client, db, wired, stage)
    viewing_id = booking["id"]
    first_ref = await ref_of(db, booking["payment"]["id"])
    intent = await wired.parts.provider.create_intent(
        amount_cents=2500,
        currency="EUR",
        idempotency_key=payments_service.intent_key("viewing_fee", uuid.UUID(viewing_id), 1, 1),
        description=wired.stripe.state.intents[first_ref]["description"],
        metadata={"purpose": "viewing_fee", "reference_id": viewing_id, "installment": "1"},
        return_url=wired.parts.return_url,
    )
    await wired.stripe.approve(intent.provider_ref)
    (event,) = await wired.stripe.events(intent.provider_ref)
    await wired.stripe.delivered(event["id"])
    kept = await events_of(db, "stripe", intent.provider_ref)
    assert [(e["kind"], e["applied_at"], e["payment_id"]) for e in kept] == [
        ("payment_succeeded", None, None)
    ]
    assert (await viewing_row(db, viewing_id))["status"] == "pending_payment"

    r = await client.post(
        f"{API}/payments/intents",
        json=intent_body(viewing_id),
        headers={**stage.tenant.headers, "Idempotency-Key": f"race-{uuid.uuid4()}"},
    )
    assert r.status_code == 201, r.text
    payment = r.json()
    assert payment["status"] == "succeeded"
    assert await ref_of(db, payment["id"]) == intent.provider_ref
    viewing = await viewing_row(db, viewing_id)
    assert (viewing["status"], viewing["sequence"]) == ("confirmed", 1)
    assert [e["amount_cents"] for e in await ledger_of(db, payment["id"])] == [2500]
    (applied,) = await events_of(db, "stripe", intent.provider_ref)
    assert applied["applied_at"] is not None
    assert str(applied["payment_id"]) == payment["id"]


async def test_a_refund_reported_before_its_success_ends_refunded(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage
) -> None:
    """The fake holds its webhooks, the payer pays, the money is refunded at the provider,
    and the held events go out newest first: the refund before the success."""
    booking = await booked(client, stage)
    payment_id = booking["payment"]["id"]
    ref = await ref_of(db, payment_id)
    await wired.stripe.control("hold-webhooks")
    try:
        await wired.stripe.approve(ref)
        refund = await wired.parts.provider.refund(
            ref, amount_cents=2500, idempotency_key=f"test-refund-{uuid.uuid4()}"
        )
        assert await wired.stripe.control("release-webhooks") == {"released": 2}
    finally:
        await wired.stripe.control("reset")
    await wait_payment(db, payment_id, "refunded")
    sent = await wired.stripe.events(ref)
    for event in sent:
        await wired.stripe.delivered(event["id"])
    assert [e["type"] for e in sent] == ["payment_intent.succeeded", "charge.refunded"]
    received = await events_of(db, "stripe", ref)
    # Received in reverse order, both applied (the refund once the success was).
    assert [e["kind"] for e in received] == ["refund_succeeded", "payment_succeeded"]
    assert all(e["applied_at"] is not None for e in received)
    assert [
        (e["kind"], e["amount_cents"], e["object_ref"]) for e in await ledger_of(db, payment_id)
    ] == [
        ("charge", 2500, ref),
        ("refund", -2500, refund.refund_ref),
    ]
    assert (await viewing_row(db, booking["id"]))["refunded_at"] is not None


async def test_a_late_failure_does_not_undo_a_success(
    client: httpx.AsyncClient, db: Database, stage: Stage
) -> None:
    booking = await booked(client, stage)
    ref = await ref_of(db, booking["payment"]["id"])
    now = int(time.time())
    _, success = stripe_event(
        "payment_intent.succeeded", intent_object(ref, "succeeded"), created=now
    )
    failure_obj = {**intent_object(ref, "requires_payment_method"), "last_payment_error": {}}
    for created in (now - 5, now + 5):  # an older failure delivered late, and a newer one
        _, failure = stripe_event("payment_intent.payment_failed", failure_obj, created=created)
        if created < now:
            r = await post_stripe(client, success, signed(success))
            assert r.json()["result"] == "applied"
        r = await post_stripe(client, failure, signed(failure))
        assert (r.status_code, r.json()["result"]) == (200, "applied")
    assert (await payment_row(db, booking["payment"]["id"]))["status"] == "succeeded"
    assert (await viewing_row(db, booking["id"]))["status"] == "confirmed"
    assert [e["amount_cents"] for e in await ledger_of(db, booking["payment"]["id"])] == [2500]
    assert len(await events_of(db, "stripe", ref)) == 3


async def test_a_success_after_a_failure_confirms(
    client: httpx.AsyncClient, db: Database, stage: Stage
) -> None:
    """The payer's first attempt is declined and a retry on the same intent succeeds."""
    booking = await booked(client, stage)
    payment_id = booking["payment"]["id"]
    ref = await ref_of(db, payment_id)
    now = int(time.time())
    failure_obj = {**intent_object(ref, "requires_payment_method"), "last_payment_error": {}}
    _, failure = stripe_event("payment_intent.payment_failed", failure_obj, created=now - 10)
    r = await post_stripe(client, failure, signed(failure))
    assert r.json()["result"] == "applied"
    assert (await payment_row(db, payment_id))["status"] == "failed"
    _, success = stripe_event(
        "payment_intent.succeeded", intent_object(ref, "succeeded"), created=now
    )
    r = await post_stripe(client, success, signed(success))
    assert r.json()["result"] == "applied"
    assert (await payment_row(db, payment_id))["status"] == "succeeded"
    viewing = await viewing_row(db, booking["id"])
    assert (viewing["status"], viewing["sequence"]) == ("confirmed", 1)
    assert [e["amount_cents"] for e in await ledger_of(db, payment_id)] == [2500]


async def test_events_of_payments_we_never_made_are_kept_unmatched(
    client: httpx.AsyncClient, db: Database
) -> None:
    """A verified event for an intent we hold no row of is stored (it may be a booking's
    intent whose transaction is still open) and changes nothing else."""
    ref = f"pi_unknown_{uuid.uuid4().hex}"
    event_id, body = stripe_event("payment_intent.succeeded", intent_object(ref, "succeeded"))
    r = await post_stripe(client, body, signed(body))
    assert (r.status_code, r.json()["result"]) == (200, "unmatched")
    stored = await events_of(db, "stripe", ref)
    assert [(e["event_id"], e["applied_at"], e["payment_id"]) for e in stored] == [
        (event_id, None, None)
    ]
