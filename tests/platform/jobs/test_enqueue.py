"""Transactional enqueue: the job exists iff the transaction that asked for it committed."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.platform.jobs import enqueue, enqueue_many
from tests.platform.jobs.fixtures import SharedWorker
from tests.platform.jobs.tasks_for_tests import noop
from tests.platform.jobs.workers import events, fetch, job, wait_status


class Abort(Exception):
    pass


async def test_rolled_back_job_never_exists_committed_job_runs(
    db: Database, shared_worker: SharedWorker
) -> None:
    job_queue = shared_worker.queue
    lost, kept = f"lost-{uuid.uuid4().hex}", f"kept-{uuid.uuid4().hex}"

    lost_ids: list[int] = []

    async def enqueue_then_fail() -> None:
        async with transaction(db) as session:
            lost_ids.append(await enqueue(session, noop, queue=job_queue, token=lost))
            assert (await job(db, lost_ids[0])) is None  # other connections cannot see it yet
            raise Abort

    with pytest.raises(Abort):
        await enqueue_then_fail()
    assert (await job(db, lost_ids[0])) is None

    async with transaction(db) as session:
        kept_id = await enqueue(session, noop, queue=job_queue, token=kept)
        assert (await job(db, kept_id)) is None  # same transaction as the session: not yet
    row = await job(db, kept_id)
    assert row is not None
    assert row["queue_name"] == job_queue
    assert row["args"] == {"token": kept}

    await wait_status(db, kept_id, "succeeded")
    await asyncio.sleep(0.5)  # a worker polls every 0.2 s: time enough to find a ghost job
    ran = await fetch(
        db,
        "SELECT args->>'token' AS token FROM procrastinate_jobs"
        " WHERE queue_name = :q AND args->>'token' IN (:lost, :kept)",
        q=job_queue,
        lost=lost,
        kept=kept,
    )
    assert ran == [{"token": kept}]


async def test_jobs_queued_together_exist_together_or_not_at_all(
    db: Database, shared_worker: SharedWorker
) -> None:
    job_queue = shared_worker.queue
    tag = uuid.uuid4().hex
    lost = [{"token": f"lost-{tag}-{i}"} for i in range(2)]
    kept = [{"token": f"kept-{tag}-{i}"} for i in range(3)]

    lost_ids: list[int] = []

    async def enqueue_then_fail() -> None:
        async with transaction(db) as session:
            lost_ids.extend(await enqueue_many(session, noop, lost, queue=job_queue))
            raise Abort

    with pytest.raises(Abort):
        await enqueue_then_fail()
    assert len(lost_ids) == 2
    assert [await job(db, i) for i in lost_ids] == [None, None]

    async with transaction(db) as session:
        assert await enqueue_many(session, noop, [], queue=job_queue) == []
        kept_ids = await enqueue_many(session, noop, kept, queue=job_queue)
    assert len(set(kept_ids)) == 3
    rows = [await job(db, i) for i in kept_ids]
    assert [r["args"] for r in rows if r is not None] == kept
    assert {r["queue_name"] for r in rows if r is not None} == {job_queue}
    for job_id in kept_ids:
        await wait_status(db, job_id, "succeeded")


async def test_scheduled_job_waits_for_its_time(db: Database, shared_worker: SharedWorker) -> None:
    async with transaction(db) as session:
        job_id = await enqueue(
            session, noop, queue=shared_worker.queue, schedule_in_seconds=1.5, token="later"
        )
    row = await job(db, job_id)
    assert row is not None
    assert row["scheduled_at"] is not None
    await asyncio.sleep(0.8)
    assert (await job(db, job_id) or {})["status"] == "todo"  # a worker is idle, but too early

    await wait_status(db, job_id, "succeeded", within=10)
    started = [e["at"] for e in await events(db, job_id) if e["type"] == "started"]
    assert len(started) == 1
    assert started[0] >= row["scheduled_at"]
