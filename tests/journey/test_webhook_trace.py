"""A booking's payment webhook, received through nginx, continues its sender's trace, and the
jobs it enqueues (the confirmation mails, sent by the stack's worker) continue the webhook
request's trace: one trace from the provider's delivery to the mail (stored by the stack's
OTLP receiver)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from sichrplace.config import Settings
from sichrplace.integrations.payments import DEV_STRIPE_WEBHOOK_SECRET
from sichrplace.integrations.payments.stripe import API_VERSION, signature_header
from sichrplace.stack.layout import layout_for
from sichrplace.stack.traces import SpanStore
from tests.journey.conftest import API, MakeMember
from tests.listings.conftest import listing_body

pytestmark = pytest.mark.stack


def _succeeded_event(intent_id: str, amount_cents: int) -> bytes:
    """Stripe's `payment_intent.succeeded` for the intent, as Stripe sends it."""
    now = int(time.time())
    return orjson.dumps(
        {
            "id": f"evt_trace_{uuid.uuid4().hex[:20]}",
            "object": "event",
            "api_version": API_VERSION,
            "created": now,
            "data": {
                "object": {
                    "id": intent_id,
                    "object": "payment_intent",
                    "amount": amount_cents,
                    "amount_received": amount_cents,
                    "currency": "eur",
                    "status": "succeeded",
                }
            },
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": "payment_intent.succeeded",
        }
    )


async def test_the_webhooks_mail_jobs_continue_its_trace(
    settings: Settings, stack: httpx.AsyncClient, make_member: MakeMember
) -> None:
    landlord, tenant = await make_member("landlord"), await make_member("tenant")
    r = await stack.post(f"{API}/listings", json=listing_body(), headers=landlord.headers)
    assert r.status_code == 201, r.text
    starts = (datetime.now(UTC) + timedelta(days=4, hours=1)).replace(microsecond=0)
    r = await stack.post(
        f"{API}/listings/{r.json()['id']}/slots",
        json={
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=30)).isoformat(),
        },
        headers=landlord.headers,
    )
    assert r.status_code == 201, r.text
    r = await stack.post(
        f"{API}/viewings",
        json={"slot_id": r.json()["id"]},
        headers={**tenant.headers, "Idempotency-Key": f"trace-{uuid.uuid4()}"},
    )
    assert r.status_code == 201, r.text
    viewing: dict[str, Any] = r.json()
    payment = viewing["payment"]
    intent_id = payment["approval_url"].rstrip("/").rsplit("/", 1)[-1]
    assert intent_id.startswith("pi_"), payment["approval_url"]

    trace_id = uuid.uuid4().hex[:16] + "0000000000000001"  # kept by any ratio above 0
    body = _succeeded_event(intent_id, payment["amount_cents"])
    r = await stack.post(
        f"{API}/payments/webhooks/stripe",
        content=body,
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": signature_header(DEV_STRIPE_WEBHOOK_SECRET, body, int(time.time())),
            "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01",
        },
    )
    assert r.status_code == 200, r.text
    r = await stack.get(f"{API}/viewings/{viewing['id']}", headers=tenant.headers)
    assert r.json()["status"] == "confirmed", r.text
    # The provider learns of the payment too (its own event then changes nothing here), so
    # the stack's reconciliation finds both sides agreeing.
    fake = f"http://127.0.0.1:{settings.stack.stripe_fake_port}"
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.post(f"{fake}/_fake/approve/{intent_id}")).status_code == 200

    store = SpanStore(layout_for(settings).root / "traces" / "spans.sqlite")
    deadline = time.monotonic() + 20
    while True:  # the API and the worker export in their own batches, every few seconds
        spans = store.spans_of(trace_id)
        mails = [s for s in spans if s.name == "job notifications.send_email"]
        server = [s for s in spans if s.name == "POST /api/v1/payments/webhooks/{provider}"]
        if (len(mails) >= 2 and server) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.3)
    names = sorted({s.name for s in spans})
    assert len(server) == 1, names
    assert server[0].service == "sichrplace-api"
    assert server[0].parent_id == "00f067aa0ba902b7"  # the sender's span
    assert "payment.webhook" in names, names
    assert len(mails) == 2, names  # tenant and landlord
    request_span_ids = {s.span_id for s in spans if s.service == "sichrplace-api"}
    for job in mails:
        assert job.service == "sichrplace-worker"
        assert job.parent_id in request_span_ids  # enqueued inside the webhook request
