"""A booking's changes of status reach both parties' event streams (`viewing.updated`, published
on Redis as they commit, stored for replay) and notify the party each change concerns: both on
confirmation, the other party on a cancellation, the tenant on expiry; no one on completion."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from sichrplace.config import ViewingsSettings
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.platform.events import StoredEvent, channel, decode, since
from sichrplace.viewings import service
from tests.helpers.members import Member, set_language
from tests.viewings.conftest import API, Payments, Stage, book, pay

pytestmark = pytest.mark.usefixtures("payments")


async def _events(db: Database, member: Member, viewing_id: str) -> list[StoredEvent]:
    async with transaction(db) as session:
        stored = await since(session, member.id, 0, 1000)
    return [e for e in stored if e.kind == "viewing.updated" and e.data["id"] == viewing_id]


async def _notices(client: httpx.AsyncClient, member: Member) -> list[dict[str, Any]]:
    r = await client.get(f"{API}/notifications", headers=member.headers)
    assert r.status_code == 200, r.text
    return [n for n in r.json()["items"] if n["kind"] == "viewing"]


@contextlib.asynccontextmanager
async def _published(redis: aioredis.Redis, member: Member) -> AsyncIterator[list[StoredEvent]]:
    """What Redis carries on the member's channel while the block runs (and shortly after)."""
    heard: list[StoredEvent] = []
    pubsub = redis.pubsub()
    await pubsub.subscribe(channel(member.id))

    async def listen() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                heard.append(decode(message["data"]))

    task = asyncio.create_task(listen())
    try:
        yield heard
        for _ in range(40):  # published after the commit, on the API's side of the call
            if any(e.kind == "viewing.updated" for e in heard):
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await pubsub.aclose()


async def _booked(client: httpx.AsyncClient, stage: Stage) -> dict[str, Any]:
    r = await book(client, stage.tenant, stage.slot["id"])
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_confirmation_reaches_both_streams_live_and_notifies_both(
    client: httpx.AsyncClient,
    db: Database,
    redis: aioredis.Redis,
    stage: Stage,
    payments: Payments,
) -> None:
    await set_language(db, stage.landlord.id, "en")  # titles come in each user's language
    booked = await _booked(client, stage)
    assert await _events(db, stage.landlord, booked["id"]) == []  # booking is no change yet
    async with _published(redis, stage.landlord) as heard:
        await pay(client, db, payments, stage.tenant, booked)

    live = [e for e in heard if e.kind == "viewing.updated"]
    assert [e.data["status"] for e in live] == ["confirmed"]
    for member in (stage.tenant, stage.landlord):
        stored = await _events(db, member, booked["id"])
        assert [e.data["status"] for e in stored] == ["confirmed"]
        assert stored[0].data["listing_id"] == stage.listing_id
        starts_at = datetime.fromisoformat(stored[0].data["starts_at"])
        assert starts_at == datetime.fromisoformat(stage.slot["starts_at"])
    assert live[0].seq == (await _events(db, stage.landlord, booked["id"]))[0].seq

    (tenant_notice,) = await _notices(client, stage.tenant)
    (landlord_notice,) = await _notices(client, stage.landlord)
    assert tenant_notice["title"].startswith("Besichtigung bestätigt: ")
    assert landlord_notice["title"].startswith("New viewing booked: ")
    assert tenant_notice["data"]["id"] == booked["id"]
    assert "Uhr" in tenant_notice["title"]  # the appointment, as Germans write it
    assert "Uhr" not in landlord_notice["title"]


async def test_a_cancellation_tells_the_other_party_only(
    client: httpx.AsyncClient, db: Database, stage: Stage, payments: Payments
) -> None:
    booked = await _booked(client, stage)
    await pay(client, db, payments, stage.tenant, booked)
    r = await client.post(f"{API}/viewings/{booked['id']}/cancel", headers=stage.tenant.headers)
    assert r.status_code == 200, r.text

    for member in (stage.tenant, stage.landlord):
        statuses = [e.data["status"] for e in await _events(db, member, booked["id"])]
        assert statuses == ["confirmed", "cancelled"]
    (landlord_notice,) = await _notices(client, stage.landlord)  # replaced the unread one
    assert landlord_notice["title"].startswith("Besichtigung abgesagt: ")
    assert landlord_notice["data"]["status"] == "cancelled"
    (tenant_notice,) = await _notices(client, stage.tenant)
    assert tenant_notice["data"]["status"] == "confirmed"  # the canceller is not told


async def test_an_expiry_notifies_the_tenant_and_a_completion_no_one(
    client: httpx.AsyncClient, db: Database, stage: Stage, payments: Payments
) -> None:
    booked = await _booked(client, stage)
    viewing_id = uuid.UUID(booked["id"])
    later = datetime.fromisoformat(booked["expires_at"]) + timedelta(minutes=1)
    async with transaction(db) as session:
        await service.expire_unpaid(
            session, None, settings=ViewingsSettings(), now=later, only={viewing_id}
        )
    for member in (stage.tenant, stage.landlord):
        statuses = [e.data["status"] for e in await _events(db, member, booked["id"])]
        assert statuses == ["expired"]
    (notice,) = await _notices(client, stage.tenant)
    assert notice["title"].startswith("Buchung verfallen")
    assert await _notices(client, stage.landlord) == []

    # Another booking of a new slot, confirmed, then completed by the landlord.
    again = await _booked(client, stage)
    await pay(client, db, payments, stage.tenant, again)
    async with db.primary.begin() as conn:
        await conn.execute(
            text("UPDATE viewing_slots SET starts_at = :t, ends_at = :e WHERE id = :id"),
            {
                "t": datetime.now(UTC) - timedelta(minutes=40),
                "e": datetime.now(UTC) - timedelta(minutes=10),
                "id": stage.slot["id"],
            },
        )
    before = len(await _notices(client, stage.landlord))
    r = await client.post(f"{API}/viewings/{again['id']}/complete", headers=stage.landlord.headers)
    assert r.status_code == 200, r.text
    for member in (stage.tenant, stage.landlord):
        statuses = [e.data["status"] for e in await _events(db, member, again["id"])]
        assert statuses == ["confirmed", "completed"]
    assert len(await _notices(client, stage.landlord)) == before
