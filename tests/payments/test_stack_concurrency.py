"""20 parallel intent requests with one Idempotency-Key against the running stack: nginx
spreads them over the API instances (separate processes), each with its own PgBouncer
connections, and the stack's fake Stripe (its default provider) creates the intent. One
request executes, nineteen get its stored answer, byte for byte; one payments row, one
intent at the provider."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.payments.conftest import intent_body, payments_of, rows, stripe_intents, wait_until
from tests.viewings.conftest import API, MakeUser, book, create_listing, create_slot

pytestmark = pytest.mark.stack

PARALLEL = 20


async def _stack_serves_payments(base_url: str) -> bool:
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as c:
        try:
            r = await c.get("/openapi.json")
        except httpx.HTTPError:
            return False
    return r.status_code == 200 and f"{API}/payments/intents" in r.json().get("paths", {})


async def test_twenty_parallel_requests_with_one_key_make_one_intent(
    settings: Settings, stack_url: str, db: Database, make_user: MakeUser
) -> None:
    if not await _stack_serves_payments(stack_url):
        pytest.skip("the stack's API instances do not run the payments code yet (restart them)")
    fake_stripe = settings.payments.stripe_api_base
    since = int(time.time()) - 2
    landlord, tenant = await make_user("landlord"), await make_user("tenant")
    limits = httpx.Limits(max_connections=PARALLEL + 5, max_keepalive_connections=PARALLEL + 5)
    async with httpx.AsyncClient(base_url=stack_url, timeout=30, limits=limits) as stack:
        listing_id = await create_listing(stack, landlord)
        slot = await create_slot(stack, landlord, listing_id)
        r = await book(stack, tenant, slot["id"])
        assert r.status_code == 201, r.text
        viewing_id = r.json()["id"]
        first_payment = r.json()["payment"]["id"]
        # The payer declines the booking's payment at the stack's fake Stripe; its webhook
        # (through nginx) fails it, so the next intent request has a payment to create.
        (declined,) = await payments_of(db, viewing_id)
        async with httpx.AsyncClient(base_url=fake_stripe, timeout=10) as fake:
            d = await fake.post(f"/_fake/decline/{declined['provider_ref']}")
            assert d.status_code == 200, d.text

        async def failed() -> bool:
            return [p["status"] for p in await payments_of(db, viewing_id)] == ["failed"]

        await wait_until(failed, 15, "the stack applied the decline webhook")

        key = f"parallel-{uuid.uuid4()}"
        headers = {**tenant.headers, "Idempotency-Key": key}
        answers = await asyncio.gather(
            *(
                stack.post(f"{API}/payments/intents", json=intent_body(viewing_id), headers=headers)
                for _ in range(PARALLEL)
            )
        )

    assert [r.status_code for r in answers] == [201] * PARALLEL, [
        r.text for r in answers if r.status_code != 201
    ]
    assert len({r.content for r in answers}) == 1  # identical, byte for byte
    replayed = [r.headers.get("idempotent-replayed") for r in answers]
    assert sorted(replayed, key=str) == [None] + ["true"] * (PARALLEL - 1)
    payment = answers[0].json()
    assert payment["id"] != first_payment
    assert (payment["status"], payment["amount_cents"], payment["currency"]) == (
        "requires_action",
        2500,
        "EUR",
    )

    stored = await payments_of(db, viewing_id)
    assert [(str(p["id"]), p["status"]) for p in stored] == [
        (first_payment, "failed"),
        (payment["id"], "requires_action"),
    ]
    keys = await rows(
        db,
        "SELECT status_code FROM idempotency_keys WHERE user_id = :u AND key = :k",
        u=tenant.id,
        k=key,
    )
    assert keys == [{"status_code": 201}]
    # The provider holds one intent per payment: the declined one and the new one.
    intents = await stripe_intents(fake_stripe, viewing_id, since)
    assert sorted(pi["id"] for pi in intents) == sorted(p["provider_ref"] for p in stored)
    new = next(pi for pi in intents if pi["id"] == stored[1]["provider_ref"])
    assert (new["amount"], new["currency"], new["status"]) == (2500, "eur", "requires_action")
    assert payment["approval_url"].endswith(f"/checkout/{new['id']}")
