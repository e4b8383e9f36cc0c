"""Read routing: public listing reads come from the replica; an author who just wrote reads
their listing from the primary for the pinning window (read-your-writes).

The `X-Read-Source` debug header (outside production) says where the response came from:
cache, replica or primary (the `ReplicaSession` target of the read that computed it).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from sichrplace.app import parts_of_app
from sichrplace.listings.detail import cache_key
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.routing import mark_recent_write, wrote_recently
from tests.listings.conftest import API, MakeUser, listing_body, replica_caught_up


@pytest.fixture
async def replica_up(db: Database) -> None:
    deadline = time.monotonic() + 10
    while not db.replica_usable():
        if time.monotonic() > deadline:
            pytest.skip(f"replica not usable: {db.replica_state}")
        await asyncio.sleep(0.2)
        await db.check_replica()


async def _source(
    client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> str:
    r = await client.get(url, headers=headers or {})
    assert r.status_code == 200, r.text
    return r.headers["x-read-source"]


async def _create(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    r = await client.post(f"{API}/listings", json=listing_body(), headers=headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


@pytest.mark.usefixtures("replica_up")
async def test_author_reads_primary_others_read_replica(
    client: httpx.AsyncClient, make_user: MakeUser, app: FastAPI, db: Database
) -> None:
    author, other, tenant = (
        await make_user("landlord"),
        await make_user("landlord"),
        await make_user("tenant"),
    )
    listing = await _create(client, author.headers)
    url = f"{API}/listings/{listing['id']}"
    assert await _source(client, url, author.headers) == "primary"

    await replica_caught_up(db)
    # Force a computation.
    await parts_of_app(app).cache.invalidate("listing", cache_key(listing["id"]))
    assert await _source(client, url, other.headers) == "replica"
    assert await _source(client, url, tenant.headers) == "cache"  # filled by the read above
    await parts_of_app(app).cache.invalidate("listing", cache_key(listing["id"]))
    assert await _source(client, url) == "replica"  # anonymous

    r = await client.patch(url, json={"title": "Frisch renoviert"}, headers=author.headers)
    assert r.status_code == 200
    got = await client.get(url, headers=author.headers)
    assert got.headers["x-read-source"] == "primary"
    assert got.json()["title"] == "Frisch renoviert"


@pytest.mark.usefixtures("replica_up")
async def test_pin_expires_after_the_window(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    app: FastAPI,
    db: Database,
    redis: aioredis.Redis,
) -> None:
    author = await make_user("landlord")
    listing = await _create(client, author.headers)
    url = f"{API}/listings/{listing['id']}"
    await mark_recent_write(redis, author.id, 0.3)  # shorten the pin of this author
    assert await wrote_recently(redis, author.id)
    assert await _source(client, url, author.headers) == "primary"
    await asyncio.sleep(0.4)
    assert not await wrote_recently(redis, author.id)
    await replica_caught_up(db)
    await parts_of_app(app).cache.invalidate("listing", cache_key(listing["id"]))
    assert await _source(client, url, author.headers) == "replica"


async def test_invalid_token_on_public_read_is_anonymous(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("landlord")
    listing = await _create(client, author.headers)
    r = await client.get(
        f"{API}/listings/{listing['id']}", headers={"Authorization": "Bearer not-a-jwt"}
    )
    assert r.status_code == 200  # a stale or broken token does not break a public page
    assert r.headers["x-read-source"] == "cache"  # written through on create, not pinned
