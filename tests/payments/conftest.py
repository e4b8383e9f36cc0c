"""Payments against the database and the HTTP API: the in-process app wired to a fake Stripe
and a fake PayPal of these tests' own (real HTTP servers in threads, delivering signed
webhooks to the app on a real port), payments jobs on a queue no worker serves (the tests
run them in-process with a procrastinate worker that stops when the queue is empty).

The wiring is swapped in per module and restored after it, so whatever the app held before
(the composition's providers, or tests/viewings' fake) is back for the next module.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from sichrplace.app import parts_of_app
from sichrplace.config import PaymentsSettings, Settings
from sichrplace.integrations.payments import DEV_STRIPE_SECRET_KEY, DEV_STRIPE_WEBHOOK_SECRET
from sichrplace.integrations.payments.paypal import PaypalProvider
from sichrplace.integrations.payments.stripe import API_VERSION, StripeProvider, signature_header
from sichrplace.payments.parts import PAYMENTS, PaymentsParts
from sichrplace.platform.db.engines import Database
from sichrplace.platform.jobs.app import open_job_app
from sichrplace.platform.jobs.runtime import use_job_parts
from sichrplace.platform.jobs.worker import record_errors, trace_job
from sichrplace.platform.parts import Parts
from sichrplace.stack.fake_payments import paypal as fake_paypal
from sichrplace.stack.fake_payments import stripe as fake_stripe
from sichrplace.stack.fake_payments.common import FakeConfig
from tests.fakes.server import ThreadedServer
from tests.viewings.conftest import API, Stage, app_url, book, make_user, stage

__all__ = ["app_url", "make_user", "stage"]

# The providers give up on an attempt after this long; a fake's "timeout" fault holds longer.
CLIENT_TIMEOUT = 0.5
HOLD = 1.2


class Fake:
    """A running fake provider: its URL, its control API and its in-memory objects."""

    def __init__(self, name: str, server: ThreadedServer, state: Any) -> None:
        self.name = name
        self.url = server.url
        # FakeStripe / FakePaypal: read (and, for reconciliation, tampered with) directly.
        self.state = state

    async def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            r = await http.post(f"/_fake/{path}", json=body)
            assert r.status_code == 200, r.text
            return r.json()

    async def approve(self, ref: str) -> Any:
        return await self.control(f"approve/{ref}")

    async def decline(self, ref: str) -> Any:
        return await self.control(f"decline/{ref}")

    async def fault(self, op: str, fault: str, times: int = 1) -> None:
        await self.control("faults", {"op": op, "fault": fault, "times": times, "seconds": HOLD})

    async def events(self, ref: str | None = None) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            r = await http.get("/_fake/events")
            assert r.status_code == 200, r.text
            found: list[dict[str, Any]] = r.json()
        return [e for e in found if ref is None or e["ref"] == ref]

    async def delivered(self, event_id: str, times: int = 1, within: float = 10) -> None:
        """Wait until the event was accepted (2xx) by the app `times` times."""

        async def accepted() -> bool:
            for event in await self.events():
                if event["id"] == event_id:
                    ok = [d for d in event["deliveries"] if d["status"] == 200]
                    return len(ok) >= times
            return False

        await wait_until(accepted, within, f"{self.name} event {event_id} delivered x{times}")


def _fake_config(app_url: str, provider: str) -> FakeConfig:
    return FakeConfig(
        webhook_url=f"{app_url}{API}/payments/webhooks/{provider}",
        webhook_retry_delays=(0.05, 0.1, 0.2, 0.5),
        timeout_hold_seconds=HOLD,
    )


def start_fake(app_url: str, provider: str) -> tuple[Fake, ThreadedServer]:
    build = fake_stripe.build_app if provider == "stripe" else fake_paypal.build_app
    app = build(_fake_config(app_url, provider))
    server = ThreadedServer(app).start()
    return Fake(provider, server, app.state.fake), server


@dataclasses.dataclass(frozen=True)
class Fakes:
    stripe: Fake
    paypal: Fake


@pytest.fixture(scope="session")
def payment_fakes(app_url: str) -> Iterator[Fakes]:
    stripe, stripe_server = start_fake(app_url, "stripe")
    paypal, paypal_server = start_fake(app_url, "paypal")
    try:
        yield Fakes(stripe, paypal)
    finally:
        stripe_server.stop()
        paypal_server.stop()


def provider_settings(settings: Settings, **urls: str) -> PaymentsSettings:
    """Short timeouts (the fakes answer at once unless told to hold), a breaker that never
    opens on the faults these tests inject."""
    return settings.payments.model_copy(
        update={
            **urls,
            "timeout_seconds": CLIENT_TIMEOUT,
            "connect_timeout_seconds": CLIENT_TIMEOUT,
            "max_attempts": 2,
            "breaker_failure_threshold": 1000,
        }
    )


def make_stripe(settings: Settings, fake: Fake) -> StripeProvider:
    return StripeProvider(
        provider_settings(settings, stripe_api_base=fake.url),
        redis=None,
        dependency=f"stripe_test_{uuid.uuid4().hex[:8]}",
    )


@dataclasses.dataclass(frozen=True)
class Wired:
    """The app's payments part for these tests and what it talks to."""

    parts: PaymentsParts
    app_parts: Parts
    stripe: Fake
    paypal: Fake
    queue: str

    def swap(self, **changes: Any) -> PaymentsParts:
        """Put a variant of the wired part in place (restored by `wired`'s teardown or by
        swapping `self.parts` back)."""
        variant = dataclasses.replace(self.parts, **changes)
        self.app_parts.swap(PAYMENTS, variant)
        return variant


@pytest.fixture(scope="module")
async def wired(
    app: FastAPI, settings: Settings, payment_fakes: Fakes, db: Database
) -> AsyncIterator[Wired]:
    app_parts = parts_of_app(app)
    original = app_parts.get(PAYMENTS)
    stripe = make_stripe(settings, payment_fakes.stripe)
    paypal = PaypalProvider(
        provider_settings(settings, paypal_api_base=payment_fakes.paypal.url),
        redis=None,
        dependency=f"paypal_test_{uuid.uuid4().hex[:8]}",
    )
    queue = f"test-payments-{uuid.uuid4().hex[:8]}"
    parts = PaymentsParts(
        provider=stripe,
        providers={"stripe": stripe, "paypal": paypal},
        sources=original.sources,
        return_url=original.return_url,
        currency=original.currency,
        job_queue=queue,
    )
    app_parts.swap(PAYMENTS, parts)
    try:
        yield Wired(parts, app_parts, payment_fakes.stripe, payment_fakes.paypal, queue)
    finally:
        app_parts.swap(PAYMENTS, original)
        await stripe.aclose()
        await paypal.aclose()
        async with db.primary.begin() as conn:
            await conn.execute(
                text("DELETE FROM procrastinate_jobs WHERE queue_name = :q"), {"q": queue}
            )


# --- waiting, reading rows ---------------------------------------------------------------------


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], within: float = 10, what: str = "condition"
) -> None:
    """Poll for something another party does asynchronously (a fake's webhook delivery)."""
    deadline = time.monotonic() + within
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(0.03)


async def rows(db: Database, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with db.primary.connect() as conn:
        result = await conn.execute(text(sql), params)
        return [dict(r) for r in result.mappings()]


async def payment_row(db: Database, payment_id: str | uuid.UUID) -> dict[str, Any]:
    found = await rows(db, "SELECT * FROM payments WHERE id = :id", id=str(payment_id))
    assert len(found) == 1, payment_id
    return found[0]


async def payments_of(db: Database, viewing_id: str) -> list[dict[str, Any]]:
    return await rows(
        db, "SELECT * FROM payments WHERE viewing_id = :v ORDER BY created_at", v=viewing_id
    )


async def ledger_of(db: Database, payment_id: str | uuid.UUID) -> list[dict[str, Any]]:
    return await rows(
        db,
        "SELECT kind, amount_cents, currency, provider, object_ref FROM ledger_entries"
        " WHERE payment_id = :p ORDER BY id",
        p=str(payment_id),
    )


async def events_of(db: Database, provider: str, ref: str) -> list[dict[str, Any]]:
    return await rows(
        db,
        "SELECT event_id, kind, applied_at, payment_id FROM payment_events"
        " WHERE provider = :p AND provider_ref = :r ORDER BY received_at",
        p=provider,
        r=ref,
    )


async def viewing_row(db: Database, viewing_id: str) -> dict[str, Any]:
    found = await rows(
        db, "SELECT status, sequence, refunded_at FROM viewings WHERE id = :id", id=viewing_id
    )
    assert len(found) == 1
    return found[0]


async def wait_payment(db: Database, payment_id: str, status: str, within: float = 10) -> None:
    async def reached() -> bool:
        return bool((await payment_row(db, payment_id))["status"] == status)

    await wait_until(reached, within, f"payment {payment_id} {status}")


# --- bookings and payments --------------------------------------------------------------------


async def booked(client: httpx.AsyncClient, stage: Stage) -> dict[str, Any]:
    """The stage's tenant books its slot: a viewing pending payment with its fee's intent."""
    r = await book(client, stage.tenant, stage.slot["id"])
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def ref_of(db: Database, payment_id: str) -> str:
    return str((await payment_row(db, payment_id))["provider_ref"])


async def paid(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage, fake: Fake | None = None
) -> tuple[dict[str, Any], str]:
    """A booking paid at the fake Stripe (the wired one unless another is in place) and
    confirmed by its webhook: (booking, intent)."""
    booking = await booked(client, stage)
    ref = await ref_of(db, booking["payment"]["id"])
    await (fake or wired.stripe).approve(ref)
    await wait_payment(db, booking["payment"]["id"], "succeeded")
    return booking, ref


async def declined(
    client: httpx.AsyncClient, db: Database, wired: Wired, stage: Stage
) -> dict[str, Any]:
    """A booking whose first payment the payer declined: still pending, nothing live, so the
    next intent request creates a new payment."""
    booking = await booked(client, stage)
    await wired.stripe.decline(await ref_of(db, booking["payment"]["id"]))
    await wait_payment(db, booking["payment"]["id"], "failed")
    return booking


def intent_body(viewing_id: str, **extra: Any) -> dict[str, Any]:
    return {"purpose": "viewing_fee", "viewing_id": viewing_id, **extra}


async def run_jobs(wired: Wired) -> None:
    """Run the payments jobs that are due on the wired queue, here, as a worker would (with
    its middleware: the trace context taken out, failures recorded), until none is due."""
    with use_job_parts(wired.app_parts):
        async with open_job_app(max_size=3) as job_app:
            await job_app.run_worker_async(
                queues=[wired.queue],
                name=f"test-{wired.queue}",
                concurrency=1,
                wait=False,
                listen_notify=False,
                install_signal_handlers=False,
                delete_jobs="never",
                worker_middleware=[trace_job, record_errors],
            )


async def jobs_of(db: Database, wired: Wired, payment_id: str) -> list[dict[str, Any]]:
    return await rows(
        db,
        "SELECT id, task_name, status::text AS status, attempts FROM procrastinate_jobs"
        " WHERE queue_name = :q AND args->>'payment_id' = :p ORDER BY id",
        q=wired.queue,
        p=payment_id,
    )


# --- Stripe events made by the test (signed as Stripe signs them) -----------------------------


def stripe_event(
    event_type: str, obj: dict[str, Any], *, created: int | None = None
) -> tuple[str, bytes]:
    event_id = f"evt_test_{uuid.uuid4().hex}"
    payload = {
        "id": event_id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created if created is not None else int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "type": event_type,
    }
    return event_id, orjson.dumps(payload)


def intent_object(ref: str, status: str, amount: int = 2500) -> dict[str, Any]:
    return {
        "id": ref,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount if status == "succeeded" else 0,
        "currency": "eur",
        "status": status,
    }


def signed(
    body: bytes, *, secret: str = DEV_STRIPE_WEBHOOK_SECRET, at: int | None = None
) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    return {
        "Content-Type": "application/json",
        "Stripe-Signature": signature_header(secret, body, stamp),
    }


async def post_stripe(
    client: httpx.AsyncClient, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(f"{API}/payments/webhooks/stripe", content=body, headers=headers)


async def stripe_intents(base_url: str, reference_id: str, since: int) -> list[dict[str, Any]]:
    """The intents a fake Stripe holds for one reference (its list API, every page)."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"created[gt]": since, "limit": 100}
    headers = {"Authorization": f"Bearer {DEV_STRIPE_SECRET_KEY}"}
    async with httpx.AsyncClient(base_url=base_url, timeout=10, headers=headers) as http:
        while True:
            r = await http.get("/v1/payment_intents", params=params)
            assert r.status_code == 200, r.text
            page = r.json()
            found += [
                pi for pi in page["data"] if pi["metadata"].get("reference_id") == reference_id
            ]
            if not page["has_more"] or not page["data"]:
                return found
            params["starting_after"] = page["data"][-1]["id"]
