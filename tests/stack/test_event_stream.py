"""The event stream on the running stack: fan-out across the API instances through Redis,
Last-Event-ID replay from Postgres (also of events whose publish was lost), and nginx passing
the stream through unbuffered.

The stack must run this code: `sichrplace stack restart nginx api-1 api-2` after changing it
(and re-render nginx.conf after changing deploy/stack/nginx.conf.tmpl).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sichrplace.config import Settings
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.platform.events import emit
from tests.fakes.server import free_port
from tests.helpers.members import Member, create_member
from tests.listings.conftest import listing_body
from tests.platform.events.sse_client import Frame, SseReader, open_stream

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
async def instances(settings: Settings) -> list[str]:
    """Each API instance's own address (bypassing nginx), once all of them are ready."""
    stack = settings.stack
    urls = [f"http://127.0.0.1:{stack.api_base_port + i}" for i in range(stack.api_instances)]
    assert len(urls) >= 2
    async with httpx.AsyncClient(timeout=2) as http, asyncio.timeout(60):
        for url in urls:
            while True:
                try:
                    if (await http.get(f"{url}/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
    return urls


@pytest.fixture(scope="module")
async def dead_redis() -> AsyncIterator[aioredis.Redis]:
    """Redis "down at publish time": nothing listens here, so emit's publish fails (it logs
    and goes on; the events are in Postgres)."""
    client = aioredis.Redis.from_url(
        f"redis://127.0.0.1:{free_port()}/0",
        socket_connect_timeout=0.2,
        retry=Retry(NoBackoff(), 0),
    )
    yield client
    await client.aclose()


def _http(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(10))


async def _emit(db: Database, redis: aioredis.Redis, user: Member, count: int) -> None:
    for i in range(count):
        async with transaction(db) as session:
            await emit(session, redis, [user.id], "test.stack", {"i": i})


async def _timed_event(reader: SseReader, started: float) -> tuple[Frame, float]:
    frame = await reader.event(within=5)
    return frame, asyncio.get_running_loop().time() - started


async def test_streams_of_one_user_on_both_instances_each_get_an_event_within_a_second(
    instances: list[str], db: Database, redis: aioredis.Redis, settings: Settings
) -> None:
    """Each stream is pinned to one instance (its own port). The event is emitted from this
    process (stored in Postgres, published on the stack's Redis after the commit), so neither
    instance wrote it: each must hear it through its hub's subscription. (A message sent
    through one instance's HTTP path: the next test.)"""
    user = await create_member(db, settings, "tenant", label="stack-fanout")
    loop = asyncio.get_running_loop()
    async with (
        _http(instances[0]) as on_a,
        _http(instances[1]) as on_b,
        open_stream(on_a, user.headers) as stream_a,
        open_stream(on_b, user.headers) as stream_b,
    ):
        for expected in (1, 2, 3):
            started = loop.time()
            await _emit(db, redis, user, 1)
            (a, a_took), (b, b_took) = await asyncio.gather(
                _timed_event(stream_a, started), _timed_event(stream_b, started)
            )
            assert a.id == b.id == expected
            assert a.event == b.event == "test.stack"
            assert a_took < 1.0, a_took
            assert b_took < 1.0, b_took
        await stream_a.nothing_more(0.3)
        await stream_b.nothing_more(0.1)


async def test_a_message_sent_through_instance_b_reaches_a_stream_on_instance_a_within_1s(
    instances: list[str], db: Database, settings: Settings
) -> None:
    """The landlord listens on api-1; the tenant writes through api-2 (each pinned by its own
    port): the message's event crosses instances through Redis."""
    landlord = await create_member(db, settings, "landlord", label="stack-msg")
    tenant = await create_member(db, settings, "tenant", label="stack-msg")
    loop = asyncio.get_running_loop()
    async with _http(instances[0]) as on_a, _http(instances[1]) as on_b:
        r = await on_b.post("/api/v1/listings", json=listing_body(), headers=landlord.headers)
        assert r.status_code == 201, r.text
        r = await on_b.post(
            "/api/v1/conversations",
            json={"listing_id": r.json()["id"], "body": "Ist die Wohnung noch frei?"},
            headers=tenant.headers,
        )
        assert r.status_code == 201, r.text
        conversation_id = r.json()["id"]
        async with open_stream(on_a, landlord.headers) as stream:
            for i in range(3):
                body = f"Nachricht {i}"
                started = loop.time()
                sent = await on_b.post(
                    f"/api/v1/conversations/{conversation_id}/messages",
                    json={"body": body, "client_message_id": f"stack-{i}"},
                    headers=tenant.headers,
                )
                assert sent.status_code == 201, sent.text
                # The recipient also hears of it as a notification: skip to the message.
                frame, took = await _timed_event(stream, started)
                while frame.event == "notification.created":
                    frame, took = await _timed_event(stream, started)
                assert frame.event == "message.created"
                assert frame.data is not None
                data = json.loads(frame.data)
                assert data["conversation_id"] == conversation_id
                assert (data["message"]["id"], data["message"]["body"]) == (
                    sent.json()["id"],
                    body,
                )
                assert took < 1.0, took


@pytest.mark.parametrize("publishes", ["delivered", "lost"])
async def test_reconnecting_with_last_event_id_after_20_missed_delivers_exactly_those(
    publishes: str,
    stack_url: str,
    db: Database,
    redis: aioredis.Redis,
    dead_redis: aioredis.Redis,
    settings: Settings,
) -> None:
    """Through nginx (either instance): a client sees event 1, goes away, misses 20 (their
    publishes reaching Redis, or lost because Redis was down), reconnects with Last-Event-ID."""
    user = await create_member(db, settings, "tenant", label=f"stack-replay-{publishes}")
    async with _http(stack_url) as http:
        async with open_stream(http, user.headers) as first:
            await _emit(db, redis, user, 1)
            assert (await first.event()).id == 1
        await _emit(db, redis if publishes == "delivered" else dead_redis, user, 20)
        async with open_stream(http, user.headers, last_event_id=1) as again:
            assert [(await again.event()).id for _ in range(20)] == list(range(2, 22))
            await again.nothing_more(0.5)
            await _emit(db, redis, user, 1)
            assert (await again.event(within=1)).id == 22
            await again.nothing_more(0.3)


async def test_a_connected_stream_repairs_lost_publishes_from_postgres_in_order(
    stack_url: str,
    db: Database,
    redis: aioredis.Redis,
    dead_redis: aioredis.Redis,
    settings: Settings,
) -> None:
    """20 events whose publishes were lost, then one that is published: the stream sees the
    gap and sends all 21 in order, once each, without waiting for its periodic check."""
    user = await create_member(db, settings, "tenant", label="stack-gap")
    async with _http(stack_url) as http, open_stream(http, user.headers) as stream:
        await _emit(db, dead_redis, user, 20)
        await _emit(db, redis, user, 1)
        ids = [(await stream.event(within=1)).id for _ in range(21)]
        assert ids == list(range(1, 22))
        await stream.nothing_more(0.5)


async def test_nginx_passes_each_event_through_at_once(
    stack_url: str, db: Database, redis: aioredis.Redis, settings: Settings
) -> None:
    """A small event behind a buffering proxy would wait for the buffer to fill (or the
    stream to end): each one must arrive within a second, uncompressed."""
    user = await create_member(db, settings, "tenant", label="stack-nginx")
    loop = asyncio.get_running_loop()
    async with (
        _http(stack_url) as http,
        open_stream(http, {**user.headers, "Accept-Encoding": "gzip, br"}) as stream,
    ):
        assert "content-encoding" not in stream.response.headers
        for expected in (1, 2):
            started = loop.time()
            await _emit(db, redis, user, 1)
            frame, took = await _timed_event(stream, started)
            assert frame.id == expected
            assert took < 1.0, took
