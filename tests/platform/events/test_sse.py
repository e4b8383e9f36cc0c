"""`GET /api/v1/events` on one instance: authentication, the delivery rule (duplicates dropped,
gaps repaired from Postgres, order kept), Last-Event-ID replay, heartbeats, caps, the hub's
one subscription per process and its reconnects, and streams ending on drain."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sichrplace.config import Settings
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.platform.events import StoredEvent, channel, emit, encode
from sichrplace.platform.events.metrics import EVENT_GAPS_REPAIRED, EVENT_HUB_RECONNECTS
from tests.fakes.server import free_port
from tests.helpers.members import Member, create_member
from tests.platform.events.conftest import Instance, serving
from tests.platform.events.sse_client import SseReader, open_stream


@pytest.fixture(scope="module")
async def instance(settings: Settings) -> AsyncIterator[Instance]:
    async with serving(settings, max_streams_per_user=2, replay_page=7) as running:
        yield running


@pytest.fixture(scope="module")
async def dead_redis() -> AsyncIterator[aioredis.Redis]:
    """A client whose publishes fail (nothing listens on its port): emit logs and goes on."""
    client = aioredis.Redis.from_url(
        f"redis://127.0.0.1:{free_port()}/0",
        socket_connect_timeout=0.2,
        retry=Retry(NoBackoff(), 0),
    )
    yield client
    await client.aclose()


async def _emit(
    db: Database, redis: aioredis.Redis, user: Member, count: int, kind: str = "test.note"
) -> list[StoredEvent]:
    """`count` events for `user`, one transaction each (as separate requests would)."""
    out = []
    for i in range(count):
        async with transaction(db) as session:
            out += await emit(session, redis, [user.id], kind, {"i": i, "text": "Grüße\nzwei"})
    return out


async def _refused(http: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    """A stream request that must be answered at once (a stream it opened would never end)."""
    async with asyncio.timeout(3):
        return await http.get("/api/v1/events", headers=headers)


def _ids(frames: list[object]) -> list[int]:
    return [getattr(f, "id") for f in frames]  # noqa: B009


async def _subscribers(redis: aioredis.Redis, user: Member) -> int:
    counts = await redis.pubsub_numsub(channel(user.id))
    return int(counts[0][1])


async def test_without_a_valid_token_the_stream_is_401_problem(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = await client.get("/api/v1/events", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 401
        assert "Bearer" in response.headers["www-authenticate"]


async def test_live_events_arrive_in_order_with_id_kind_and_data(
    instance: Instance, db: Database, redis: aioredis.Redis, settings: Settings
) -> None:
    user = await create_member(db, settings, "tenant", label="sse-live")
    other = await create_member(db, settings, "tenant", label="sse-live-other")
    async with open_stream(instance.http, user.headers) as reader:
        assert reader.response.headers["x-accel-buffering"] == "no"
        assert reader.response.headers["cache-control"] == "no-store"
        await _emit(db, redis, other, 1)  # someone else's: never on this stream
        sent = await _emit(db, redis, user, 3, kind="message.created")
        frames = await reader.events(3)
        assert _ids(frames) == [e.seq for e in sent] == [1, 2, 3]
        assert {f.event for f in frames} == {"message.created"}
        assert [orjson.loads(f.data or "") for f in frames] == [
            {"i": i, "text": "Grüße\nzwei"} for i in range(3)
        ]
        await reader.nothing_more(0.4)


async def test_duplicates_are_dropped_and_a_gap_is_repaired_from_postgres_in_order(
    instance: Instance,
    db: Database,
    redis: aioredis.Redis,
    dead_redis: aioredis.Redis,
    settings: Settings,
) -> None:
    user = await create_member(db, settings, "tenant", label="sse-gap")
    gaps = EVENT_GAPS_REPAIRED.labels("gap")
    async with open_stream(instance.http, user.headers) as reader:
        # 1 and 2 are stored but their publishes are lost.
        lost = await _emit(db, dead_redis, user, 2)
        await reader.nothing_more(0.3)
        before = gaps._value.get()
        # 2's publish arriving late (crossing writers): 1 is missing, read from Postgres.
        await redis.publish(channel(user.id), encode(lost[1]))
        assert _ids(await reader.events(2, within=2)) == [1, 2]
        assert gaps._value.get() == before + 1
        # Both again (a repeated publish): dropped, then the next one live.
        await redis.publish(channel(user.id), encode(lost[0]))
        await redis.publish(channel(user.id), encode(lost[1]))
        await _emit(db, redis, user, 1)
        assert _ids(await reader.events(1)) == [3]
        await reader.nothing_more(0.4)


async def test_last_event_id_replays_exactly_the_missed_events_in_order(
    instance: Instance, db: Database, redis: aioredis.Redis, settings: Settings
) -> None:
    user = await create_member(db, settings, "tenant", label="sse-replay")
    await _emit(db, redis, user, 30)
    # Replayed in pages of 7 (this instance's setting), then live.
    async with open_stream(instance.http, user.headers, last_event_id=10) as reader:
        assert _ids(await reader.events(20)) == list(range(11, 31))
        await _emit(db, redis, user, 1)
        assert _ids(await reader.events(1)) == [31]
        await reader.nothing_more(0.3)
    # For clients that cannot set headers.
    async with open_stream(instance.http, user.headers, params={"last_event_id": "27"}) as reader:
        assert _ids(await reader.events(4)) == [28, 29, 30, 31]
        await reader.nothing_more(0.3)
    # Without one: from now on; an id from the future is taken as "now".
    for last_event_id in (None, 999):
        async with open_stream(instance.http, user.headers, last_event_id=last_event_id) as r:
            await r.nothing_more(0.3)
            await _emit(db, redis, user, 1)
            assert _ids(await r.events(1)) == [32 if last_event_id is None else 33]
    bad = await _refused(instance.http, {**user.headers, "Last-Event-ID": "abc"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "Last-Event-ID"


async def test_an_idle_stream_gets_heartbeats(
    instance: Instance, db: Database, settings: Settings
) -> None:
    user = await create_member(db, settings, "tenant", label="sse-ping")
    loop = asyncio.get_running_loop()
    async with open_stream(instance.http, user.headers) as reader:
        started = loop.time()
        pings = []
        for _ in range(2):
            frame = await reader.next(within=1.0)  # heartbeat_seconds is 0.3 here
            assert frame is not None
            assert frame.comments == ["ping"]
            assert frame.id is None
            pings.append(loop.time() - started)
        assert 0.2 < pings[0] < 0.9
        assert pings[1] - pings[0] > 0.2


async def test_a_users_streams_beyond_the_cap_are_429_and_share_one_subscription(
    instance: Instance, db: Database, redis: aioredis.Redis, settings: Settings
) -> None:
    user = await create_member(db, settings, "tenant", label="sse-cap")
    async with open_stream(instance.http, user.headers) as first:
        async with open_stream(instance.http, user.headers) as second:
            # One pub/sub connection per process: both streams ride one subscription.
            assert await _subscribers(redis, user) == 1
            refused = await _refused(instance.http, user.headers)
            assert refused.status_code == 429
            assert refused.headers["content-type"] == "application/problem+json"
            assert int(refused.headers["retry-after"]) >= 1
            await _emit(db, redis, user, 1)
            assert _ids(await first.events(1)) == _ids(await second.events(1)) == [1]
        # One closed: there is room again.
        async with open_stream(instance.http, user.headers, last_event_id=0) as third:
            assert _ids(await third.events(1)) == [1]
    # The last stream gone, the process unsubscribes.
    async with asyncio.timeout(2):
        while await _subscribers(redis, user):  # noqa: ASYNC110 (Redis has no event to wait on)
            await asyncio.sleep(0.02)


async def test_streams_hold_no_admission_slot(
    instance: Instance, db: Database, settings: Settings
) -> None:
    """Six open streams on an instance that runs four requests at once; requests still pass."""
    assert 0 < instance.parts.settings.app.max_active_requests < 6
    users = [await create_member(db, settings, "tenant", label="sse-admit") for _ in range(3)]
    async with (
        open_stream(instance.http, users[0].headers),
        open_stream(instance.http, users[0].headers),
        open_stream(instance.http, users[1].headers),
        open_stream(instance.http, users[1].headers),
        open_stream(instance.http, users[2].headers),
        open_stream(instance.http, users[2].headers),
    ):
        async with asyncio.timeout(2):
            answers = await asyncio.gather(
                *(instance.http.get("/api/v1/version") for _ in range(8))
            )
        assert {a.status_code for a in answers} == {200}


async def test_the_hub_reconnects_and_resubscribes_after_losing_redis(
    instance: Instance, db: Database, redis: aioredis.Redis, settings: Settings
) -> None:
    user = await create_member(db, settings, "tenant", label="sse-reconnect")
    async with open_stream(instance.http, user.headers) as reader:
        reconnects, metric = instance.hub.reconnects, EVENT_HUB_RECONNECTS._value.get()
        clients = await redis.client_list()
        (hub_client,) = [c for c in clients if c.get("name") == instance.hub.name]
        await redis.client_kill_filter(_id=hub_client["id"])
        async with asyncio.timeout(5):
            while instance.hub.reconnects == reconnects:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        assert EVENT_HUB_RECONNECTS._value.get() == metric + 1
        assert await _subscribers(redis, user) == 1
        # Checks of Postgres are a minute apart here: this arrives over the new subscription.
        await _emit(db, redis, user, 1)
        assert _ids(await reader.events(1, within=1)) == [1]


async def test_an_event_whose_publish_was_lost_arrives_by_the_periodic_check(
    settings: Settings, db: Database, dead_redis: aioredis.Redis
) -> None:
    user = await create_member(db, settings, "tenant", label="sse-check")
    async with (
        serving(settings, poll_seconds=0.3) as quick,
        open_stream(quick.http, user.headers) as reader,
    ):
        checks = EVENT_GAPS_REPAIRED.labels("check")._value.get()
        await _emit(db, dead_redis, user, 3)
        assert _ids(await reader.events(3, within=2)) == [1, 2, 3]
        assert EVENT_GAPS_REPAIRED.labels("check")._value.get() > checks
        await reader.nothing_more(0.5)


async def test_the_process_cap_answers_503_and_draining_ends_every_stream(
    settings: Settings, db: Database
) -> None:
    users = [await create_member(db, settings, "tenant", label="sse-drain") for _ in range(3)]
    loop = asyncio.get_running_loop()
    async with (
        serving(settings, max_streams=2) as own,
        open_stream(own.http, users[0].headers) as a,
        open_stream(own.http, users[1].headers) as b,
    ):
        full = await _refused(own.http, users[2].headers)
        assert full.status_code == 503
        assert full.headers["content-type"] == "application/problem+json"
        assert int(full.headers["retry-after"]) >= 1
        # SIGTERM: `sichrplace serve` marks the process draining; streams end promptly.
        started = loop.time()
        own.parts.draining = True
        assert await _ended(a)
        assert await _ended(b)
        assert loop.time() - started < 1.0
        assert own.hub.open_streams == 0
        again = await _refused(own.http, users[2].headers)
        assert again.status_code == 503


async def test_closing_the_hub_at_shutdown_ends_every_stream(
    settings: Settings, db: Database
) -> None:
    user = await create_member(db, settings, "tenant", label="sse-close")
    async with serving(settings) as own, open_stream(own.http, user.headers) as reader:
        await own.hub.aclose()
        assert await _ended(reader)


async def _ended(reader: SseReader) -> bool:
    """Whether the server finished the response within a second (heartbeats skipped)."""
    try:
        async with asyncio.timeout(1.0):
            while (frame := await reader.next()) is not None:
                assert frame.id is None, frame
    except TimeoutError:
        return False
    return True
