"""Viewings fixtures: members, an active listing with slots, the payments part wired to a fake
Stripe of the tests' own, and the in-process app also listening on a real port so the fake's
signed webhooks reach it (the same app, the same event loop, the real Postgres and Redis).

The fake runs in a thread (tests/fakes/server.py); the app's port is served by uvicorn inside
the tests' event loop, so a webhook is applied while a test awaits, as in production.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text

from sichrplace.app import parts_of_app
from sichrplace.composition import worker_parts
from sichrplace.config import Settings
from sichrplace.integrations.payments.stripe import StripeProvider
from sichrplace.notifications.tasks import send_email
from sichrplace.payments.parts import PAYMENTS, PaymentsParts
from sichrplace.payments.sources import ChargeSource, Purpose
from sichrplace.platform.db.engines import Database
from sichrplace.platform.jobs.runtime import use_job_parts
from sichrplace.stack.fake_payments.common import FakeConfig
from sichrplace.stack.fake_payments.stripe import build_app
from sichrplace.viewings.charges import ViewingFeeSource
from tests.fakes.server import ThreadedServer, free_port
from tests.helpers.members import Member, create_member
from tests.listings.conftest import listing_body

API = "/api/v1"
MakeUser = Callable[[str], Awaitable[Member]]


@pytest.fixture
def make_user(db: Database, settings: Settings) -> MakeUser:
    async def make(role: str) -> Member:
        return await create_member(db, settings, role, label="vw")

    return make


def soon(hours: float = 24, minutes: int = 30) -> tuple[str, str]:
    """A slot's times as RFC 3339 with the Berlin winter offset (what clients send)."""
    start = (datetime.now(UTC) + timedelta(hours=hours)).replace(microsecond=0)
    return start.isoformat(), (start + timedelta(minutes=minutes)).isoformat()


def field_names(problem: dict[str, Any]) -> set[str]:
    return {e["field"] for e in problem.get("errors", [])}


def slug(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return str(response.json()["type"]).rsplit("/", 1)[-1]


async def create_listing(client: httpx.AsyncClient, owner: Member, **fields: Any) -> str:
    r = await client.post(f"{API}/listings", json=listing_body(**fields), headers=owner.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def create_slot(
    client: httpx.AsyncClient, owner: Member, listing_id: str, *, hours: float = 24
) -> dict[str, Any]:
    starts_at, ends_at = soon(hours)
    r = await client.post(
        f"{API}/listings/{listing_id}/slots",
        json={"starts_at": starts_at, "ends_at": ends_at},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


@dataclasses.dataclass(frozen=True)
class Stage:
    """A landlord's active listing with one free slot, and a tenant to book it."""

    landlord: Member
    tenant: Member
    listing_id: str
    slot: dict[str, Any]


@pytest.fixture
async def stage(client: httpx.AsyncClient, make_user: MakeUser) -> Stage:
    landlord, tenant = await make_user("landlord"), await make_user("tenant")
    listing_id = await create_listing(client, landlord)
    return Stage(landlord, tenant, listing_id, await create_slot(client, landlord, listing_id))


async def book(
    client: httpx.AsyncClient, tenant: Member, slot_id: str, **extra: Any
) -> httpx.Response:
    headers = {**tenant.headers, "Idempotency-Key": f"test-{uuid.uuid4()}"}
    return await client.post(f"{API}/viewings", json={"slot_id": slot_id, **extra}, headers=headers)


# --- the app on a real port, and a fake Stripe delivering to it --------------------------------


@pytest.fixture(scope="session")
async def app_url(app: FastAPI) -> AsyncIterator[str]:
    """The session's in-process app, also served on 127.0.0.1 (for the fake's webhooks)."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "the app did not start listening"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.wait_for(task, 10)


@pytest.fixture(scope="session")
def stripe_fake(app_url: str) -> Iterator[ThreadedServer]:
    config = FakeConfig(webhook_url=f"{app_url}{API}/payments/webhooks/stripe")
    with ThreadedServer(build_app(config)) as server:
        yield server


@dataclasses.dataclass(frozen=True)
class Payments:
    parts: PaymentsParts
    fake_url: str
    job_queue: str


@pytest.fixture(scope="session")
async def payments(
    app: FastAPI, settings: Settings, stripe_fake: ThreadedServer, db: Database
) -> AsyncIterator[Payments]:
    """The app's payments part for these tests: Stripe at the tests' fake, payments jobs on a
    queue no worker serves (tests run the job bodies themselves), the viewing fee source."""
    parts = parts_of_app(app)
    provider = StripeProvider(
        settings.payments.model_copy(update={"stripe_api_base": stripe_fake.url}),
        redis=parts.redis,
    )
    queue = f"test-viewings-{uuid.uuid4().hex[:8]}"
    try:
        original: PaymentsParts | None = parts.get(PAYMENTS)
    except LookupError:
        original = None
    sources: dict[Purpose, ChargeSource] = dict(original.sources) if original else {}
    sources["viewing_fee"] = ViewingFeeSource(settings.payments, settings.viewings, parts.redis)
    wired = PaymentsParts(
        provider=provider,
        providers={
            "stripe": provider,
            **(
                {}
                if original is None
                else {name: p for name, p in original.providers.items() if name != "stripe"}
            ),
        },
        sources=sources,
        return_url=f"{settings.app.public_base_url}/viewings",
        job_queue=queue,
    )
    if original is None:
        parts.provide(PAYMENTS, wired)
    else:
        parts.swap(PAYMENTS, wired)
    yield Payments(wired, stripe_fake.url, queue)
    if original is not None:
        parts.swap(PAYMENTS, original)
    await provider.aclose()
    async with db.primary.begin() as conn:
        await conn.execute(
            text("DELETE FROM procrastinate_jobs WHERE queue_name = :q"), {"q": queue}
        )


async def approve(payments: Payments, provider_ref: str) -> None:
    """What the fake's approval page's "Bezahlen" button does (the webhook follows)."""
    async with httpx.AsyncClient(base_url=payments.fake_url) as fake:
        r = await fake.post(f"/_fake/approve/{provider_ref}")
        assert r.status_code == 200, r.text


async def provider_ref_of(db: Database, payment_id: str) -> str:
    async with db.primary.connect() as conn:
        ref = (
            await conn.execute(
                text("SELECT provider_ref FROM payments WHERE id = :id"), {"id": payment_id}
            )
        ).scalar_one()
    return str(ref)


async def wait_for_status(
    client: httpx.AsyncClient, member: Member, viewing_id: str, status: str, within: float = 15
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        r = await client.get(f"{API}/viewings/{viewing_id}", headers=member.headers)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        if body["status"] == status:
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"viewing {viewing_id} is {body['status']}, not {status}")
        await asyncio.sleep(0.05)


async def pay(
    client: httpx.AsyncClient,
    db: Database,
    payments: Payments,
    tenant: Member,
    booked: dict[str, Any],
) -> dict[str, Any]:
    """Approve the booking's payment at the fake and wait for the webhook to confirm it."""
    await approve(payments, await provider_ref_of(db, booked["payment"]["id"]))
    return await wait_for_status(client, tenant, booked["id"], "confirmed")


@pytest.fixture
async def in_process_jobs(settings: Settings) -> AsyncIterator[None]:
    """For calling job handlers directly: a worker's parts, installed for them."""
    async with worker_parts(settings) as parts:
        with use_job_parts(parts):
            yield


async def run_mail_jobs(db: Database, dedupe_keys: list[str]) -> None:
    """Run the queued send_email jobs of these keys here, as a worker would (the stack's
    worker may or may not run this tree's code; the dedupe key makes either way send once)."""
    async with db.primary.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT args FROM procrastinate_jobs WHERE task_name = :t "
                    "AND args->>'dedupe_key' = ANY(:keys)"
                ),
                {"t": "notifications.send_email", "keys": dedupe_keys},
            )
        ).all()
    for (args,) in rows:  # every argument but the worker's own (`_traceparent`)
        await send_email(**{k: v for k, v in args.items() if not k.startswith("_")})
