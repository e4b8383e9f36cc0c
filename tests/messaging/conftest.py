"""Messaging fixtures: members, a landlord's listing and a tenant to write about it, and
helpers that start conversations and send messages through the API."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sichrplace.config import Settings
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.platform.events import StoredEvent, since
from tests.helpers.members import Member, create_member
from tests.listings.conftest import listing_body

API = "/api/v1"
MakeUser = Callable[[str], Awaitable[Member]]


@pytest.fixture
def make_user(db: Database, settings: Settings) -> MakeUser:
    async def make(role: str) -> Member:
        return await create_member(db, settings, role, label="msg")

    return make


def field_names(problem: dict[str, Any]) -> set[str]:
    return {e["field"] for e in problem.get("errors", [])}


def slug(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return str(response.json()["type"]).rsplit("/", 1)[-1]


async def create_listing(client: httpx.AsyncClient, owner: Member, **fields: Any) -> str:
    r = await client.post(f"{API}/listings", json=listing_body(**fields), headers=owner.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@dataclasses.dataclass(frozen=True)
class Stage:
    """A landlord's listing and a tenant who has not written about it yet."""

    landlord: Member
    tenant: Member
    listing_id: str


@pytest.fixture
async def stage(client: httpx.AsyncClient, make_user: MakeUser) -> Stage:
    landlord, tenant = await make_user("landlord"), await make_user("tenant")
    return Stage(landlord, tenant, await create_listing(client, landlord))


async def start(
    client: httpx.AsyncClient, tenant: Member, listing_id: str, body: str = "Hallo!", **extra: Any
) -> httpx.Response:
    return await client.post(
        f"{API}/conversations",
        json={"listing_id": listing_id, "body": body, **extra},
        headers=tenant.headers,
    )


async def started(client: httpx.AsyncClient, stage: Stage, body: str = "Hallo!") -> dict[str, Any]:
    r = await start(client, stage.tenant, stage.listing_id, body)
    assert r.status_code == 201, r.text
    conversation: dict[str, Any] = r.json()
    return conversation


async def send(
    client: httpx.AsyncClient,
    member: Member,
    conversation_id: str,
    body: str,
    client_message_id: str | None = None,
) -> httpx.Response:
    return await client.post(
        f"{API}/conversations/{conversation_id}/messages",
        json={"body": body, "client_message_id": client_message_id or uuid.uuid4().hex},
        headers=member.headers,
    )


async def sent(
    client: httpx.AsyncClient, member: Member, conversation_id: str, body: str
) -> dict[str, Any]:
    r = await send(client, member, conversation_id, body)
    assert r.status_code == 201, r.text
    message: dict[str, Any] = r.json()
    return message


async def events_of(db: Database, member: Member) -> list[StoredEvent]:
    """Everything stored for the member's event stream."""
    async with transaction(db) as session:
        return await since(session, member.id, 0, 1000)


async def message_rows(db: Database, conversation_id: str) -> list[dict[str, Any]]:
    async with db.primary.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT id, seq, author_id, body, client_message_id FROM messages "
                    "WHERE conversation_id = :c ORDER BY seq"
                ),
                {"c": conversation_id},
            )
        ).all()
    return [dict(r._asdict()) for r in rows]
