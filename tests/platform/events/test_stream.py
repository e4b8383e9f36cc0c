"""The per-user event stream: numbered per user in the writer's transaction, published only
after the commit, replayed from Postgres in order without gaps."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from sichrplace.config import Settings
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.platform.events import Event, channel, decode, emit, emit_all, last_seq, since
from sichrplace.platform.events.tasks import prune
from sichrplace.platform.jobs.runtime import use_job_parts
from sichrplace.platform.parts import Parts
from tests.helpers.members import create_member


class Abort(Exception):
    pass


async def _received(
    pubsub: aioredis.client.PubSub, count: int, within_s: float = 5.0
) -> list[bytes]:
    got: list[bytes] = []
    loop = asyncio.get_running_loop()
    stop = loop.time() + within_s
    while len(got) < count and loop.time() < stop:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message is not None:
            got.append(message["data"])
    return got


async def test_events_are_numbered_per_user_and_published_only_after_commit(
    db: Database, redis: aioredis.Redis, settings: Settings
) -> None:
    a = await create_member(db, settings, "tenant", label="events-a")
    b = await create_member(db, settings, "landlord", label="events-b")
    pubsub = redis.pubsub()
    await pubsub.subscribe(channel(a.id), channel(b.id))
    try:

        async def rolled_back() -> None:
            async with transaction(db) as session:
                await emit(session, redis, [a.id, b.id], "test.lost", {"n": 0})
                raise Abort

        with pytest.raises(Abort):
            await rolled_back()
        assert await _received(pubsub, 1, within_s=0.5) == []

        async with transaction(db) as session:
            first = await emit(session, redis, [b.id, a.id, a.id], "test.kept", {"n": 1})
            assert await _received(pubsub, 1, within_s=0.3) == []  # not before the commit
        assert sorted((e.user_id, e.seq) for e in first) == sorted([(a.id, 1), (b.id, 1)])
        async with transaction(db) as session:
            await emit(session, redis, [a.id], "test.kept", {"n": 2})

        published = sorted(
            ((e.user_id, e.seq, e.data["n"]) for e in map(decode, await _received(pubsub, 3))),
            key=str,
        )
        assert published == sorted([(a.id, 1, 1), (b.id, 1, 1), (a.id, 2, 2)], key=str)
    finally:
        await pubsub.aclose()

    async with transaction(db) as session:
        replay = await since(session, a.id, 0, 100)
        assert [(e.seq, e.kind, e.data) for e in replay] == [
            (1, "test.kept", {"n": 1}),
            (2, "test.kept", {"n": 2}),
        ]
        assert [e.seq for e in await since(session, a.id, 1, 100)] == [2]
        assert await last_seq(session, a.id) == 2
        assert await last_seq(session, uuid.uuid4()) == 0


async def test_parallel_writers_for_one_user_leave_no_gap_and_no_repeat(
    db: Database, redis: aioredis.Redis, settings: Settings
) -> None:
    a = await create_member(db, settings, "tenant", label="events-par")
    others = [await create_member(db, settings, "landlord", label="events-par") for _ in range(3)]

    async def write(i: int) -> None:
        async with transaction(db) as session:
            # Overlapping sets of recipients, in different orders: no deadlock.
            users = [a.id, others[i % 3].id] if i % 2 else [others[i % 3].id, a.id]
            await emit(session, redis, users, "test.parallel", {"i": i})

    await asyncio.gather(*(write(i) for i in range(20)))
    async with transaction(db) as session:
        mine = await since(session, a.id, 0, 100)
        assert [e.seq for e in mine] == list(range(1, 21))
        assert sorted(e.data["i"] for e in mine) == list(range(20))
        per_other = [len(await since(session, o.id, 0, 100)) for o in others]
    assert sorted(per_other) == sorted([7, 7, 6])


async def test_the_daily_job_deletes_only_events_past_their_retention(
    db: Database, redis: aioredis.Redis, settings: Settings, parts: Parts
) -> None:
    a = await create_member(db, settings, "tenant", label="events-prune")
    async with transaction(db) as session:
        await emit(session, redis, [a.id], "test.old", {"n": 1})
        await emit(session, redis, [a.id], "test.new", {"n": 2})
        days = settings.events.retention_days
        await session.execute(
            text(
                "UPDATE user_events SET created_at = now() - make_interval(days => :d)"
                " WHERE user_id = :u AND seq = 1"
            ),
            {"d": days + 1, "u": a.id},
        )
    with use_job_parts(parts):
        assert await prune() >= 1
    async with transaction(db) as session:
        assert [e.kind for e in await since(session, a.id, 0, 10)] == ["test.new"]
        assert await last_seq(session, a.id) == 2  # numbers never repeat


async def test_emit_all_numbers_several_events_per_user_in_order_and_in_parallel(
    db: Database, redis: aioredis.Redis, settings: Settings
) -> None:
    """A message and the notification about it (two events for the recipient, one for the
    sender) in one statement: numbered in the order given, published in that order; writers
    of overlapping users at once leave no gap, no repeat and no deadlock."""
    a = await create_member(db, settings, "tenant", label="events-all")
    b = await create_member(db, settings, "landlord", label="events-all")
    pubsub = redis.pubsub()
    await pubsub.subscribe(channel(a.id))
    try:
        async with transaction(db) as session:
            stored = await emit_all(
                session,
                redis,
                [
                    Event(a.id, "test.message", {"n": 1}),
                    Event(b.id, "test.message", {"n": 1}),
                    Event(a.id, "test.notice", {"n": 1}),
                ],
            )
        assert [(e.user_id, e.seq, e.kind) for e in stored if e.user_id == a.id] == [
            (a.id, 1, "test.message"),
            (a.id, 2, "test.notice"),
        ]
        heard = [decode(raw) for raw in await _received(pubsub, 2)]
        assert [(e.seq, e.kind) for e in heard] == [(1, "test.message"), (2, "test.notice")]
    finally:
        await pubsub.aclose()

    async def write(i: int) -> None:
        async with transaction(db) as session:
            first, second = (a.id, b.id) if i % 2 else (b.id, a.id)
            await emit_all(
                session,
                redis,
                [
                    Event(first, "test.p", {"i": i, "k": 0}),
                    Event(second, "test.p", {"i": i, "k": 0}),
                    Event(first, "test.p", {"i": i, "k": 1}),
                ],
            )

    await asyncio.gather(*(write(i) for i in range(10)))
    async with transaction(db) as session:
        for user in (a.id, b.id):
            mine = await since(session, user, 2 if user == a.id else 1, 100)
            assert [e.seq for e in mine] == list(range(mine[0].seq, mine[0].seq + len(mine)))
            assert len(mine) == 15  # 5 writers gave it two events, 5 one
            for i in range(10):  # each writer's two events of one user keep their order
                ks = [e.data["k"] for e in mine if e.data["i"] == i]
                assert ks == sorted(ks)
