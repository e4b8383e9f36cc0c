"""Expiry of unpaid bookings with a controllable clock: the service is called with a later
`now` (what the periodic job passes from kit/clock), no sleeping. The freed slot can be
booked again; a payment that succeeds after expiry is refunded."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import httpx
import pytest

from sichrplace.config import ViewingsSettings
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.platform.jobs import job_app
from sichrplace.viewings import service, tasks
from tests.viewings.conftest import (
    API,
    MakeUser,
    Payments,
    Stage,
    approve,
    book,
    provider_ref_of,
    wait_for_status,
)

pytestmark = pytest.mark.usefixtures("payments")


async def _expire(db: Database, now: datetime, viewing_id: uuid.UUID) -> set[uuid.UUID]:
    """The expiry job's service at a later `now`, for this test's booking only (the stack's
    other pending bookings are other tests')."""
    async with transaction(db) as session:
        expired = await service.expire_unpaid(
            session, None, settings=ViewingsSettings(), now=now, only={viewing_id}
        )
        return {v.id for v in expired}


async def test_an_unpaid_booking_expires_after_the_window_and_frees_the_slot(
    client: httpx.AsyncClient, db: Database, stage: Stage, make_user: MakeUser
) -> None:
    r = await book(client, stage.tenant, stage.slot["id"])
    assert r.status_code == 201
    booked = r.json()
    viewing_id = uuid.UUID(booked["id"])
    expires_at = datetime.fromisoformat(booked["expires_at"])

    assert viewing_id not in await _expire(db, expires_at - timedelta(seconds=1), viewing_id)
    r = await client.get(f"{API}/viewings/{booked['id']}", headers=stage.tenant.headers)
    assert r.json()["status"] == "pending_payment"

    assert viewing_id in await _expire(db, expires_at + timedelta(minutes=1), viewing_id)
    r = await client.get(f"{API}/viewings/{booked['id']}", headers=stage.tenant.headers)
    assert r.json()["status"] == "expired"
    assert r.json()["expired_at"] is not None
    assert viewing_id not in await _expire(
        db, expires_at + timedelta(minutes=2), viewing_id
    )  # once

    # The slot is free again: another tenant books it.
    other = await make_user("tenant")
    again = await book(client, other, stage.slot["id"])
    assert again.status_code == 201, again.text
    assert again.json()["status"] == "pending_payment"
    # An expired booking cannot be cancelled or confirmed any more.
    r = await client.post(f"{API}/viewings/{booked['id']}/cancel", headers=stage.tenant.headers)
    assert r.status_code == 409


async def test_a_payment_after_expiry_is_refunded_not_confirmed(
    client: httpx.AsyncClient, db: Database, stage: Stage, payments: Payments
) -> None:
    booked = (await book(client, stage.tenant, stage.slot["id"])).json()
    expires_at = datetime.fromisoformat(booked["expires_at"])
    viewing_id = uuid.UUID(booked["id"])
    assert viewing_id in await _expire(db, expires_at + timedelta(seconds=1), viewing_id)
    await approve(payments, await provider_ref_of(db, booked["payment"]["id"]))
    for _ in range(300):
        r = await client.get(f"{API}/viewings/{booked['id']}", headers=stage.tenant.headers)
        if r.json()["payment"]["status"] != "requires_action":
            break
        await asyncio.sleep(0.05)
    body = r.json()
    assert body["status"] == "expired"  # on_paid said no: the slot was given up
    assert body["payment"]["status"] == "refund_pending"


async def test_a_paid_booking_does_not_expire(
    client: httpx.AsyncClient, db: Database, stage: Stage, payments: Payments
) -> None:
    booked = (await book(client, stage.tenant, stage.slot["id"])).json()
    await approve(payments, await provider_ref_of(db, booked["payment"]["id"]))
    await wait_for_status(client, stage.tenant, booked["id"], "confirmed")
    later = datetime.fromisoformat(booked["expires_at"]) + timedelta(hours=1)
    viewing_id = uuid.UUID(booked["id"])
    assert viewing_id not in await _expire(db, later, viewing_id)


def test_the_job_runs_every_minute() -> None:
    assert tasks.expire_unpaid.name == "viewings.expire_unpaid"
    assert tasks.expire_unpaid.name in job_app.tasks
    crons = [
        p.cron
        for p in job_app.periodic_registry.periodic_tasks.values()
        if p.task.name == tasks.expire_unpaid.name
    ]
    assert crons == ["* * * * * 30"]
