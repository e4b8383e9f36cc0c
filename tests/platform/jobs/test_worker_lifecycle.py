"""Workers die and stop: a killed worker loses no job, a stopped one finishes its jobs first."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from sqlalchemy import text

from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.platform.jobs import enqueue
from tests.platform.jobs.tasks_for_tests import sleep
from tests.platform.jobs.workers import (
    Proc,
    job,
    job_errors,
    start_worker,
    wait_status,
    worker_ready,
)


async def test_job_of_killed_worker_is_recovered_by_another(
    db: Database, job_queue: str, procs: list[Proc], tmp_path: Path
) -> None:
    workers = [start_worker(job_queue, tmp_path / f"worker-{i}.log") for i in range(2)]
    procs.extend(workers)
    async with transaction(db) as session:
        job_id = await enqueue(session, sleep, queue=job_queue, token="survivor", seconds=1.0)
    running = await wait_status(db, job_id, "doing", within=30)
    await asyncio.sleep(0.1)  # its "Starting job" line may trail the status by a moment
    taken = [w for w in workers if f"tests.jobs.sleep[{job_id}]" in w.output()]
    assert len(taken) == 1
    victim, survivor = taken[0], next(w for w in workers if w is not taken[0])

    victim.signal(signal.SIGKILL)
    assert await victim.wait_exit(within=5) == -signal.SIGKILL
    killed_at = time.monotonic()
    assert (await job(db, job_id) or {})["status"] == "doing"  # nobody finishes it for them

    await worker_ready(survivor)
    done = await wait_status(db, job_id, "succeeded", within=20)
    assert time.monotonic() - killed_at >= 1.5  # not before the stalled timeout
    assert done["worker_id"] != running["worker_id"]
    assert done["attempts"] == 2  # the lost run counts, the second one succeeded
    assert f"tests.jobs.sleep[{job_id}]" in survivor.output()
    notes = await job_errors(db, job_id)
    assert len(notes) == 1
    assert "StalledJobError" in notes[0]["error"]
    async with db.primary.begin() as conn:  # a killed worker cannot unregister itself
        await conn.execute(
            text("DELETE FROM procrastinate_workers WHERE id = :id"), {"id": running["worker_id"]}
        )


async def test_sigterm_finishes_running_jobs_and_requeues_what_outlives_the_timeout(
    db: Database, job_queue: str, procs: list[Proc], tmp_path: Path
) -> None:
    worker = start_worker(
        job_queue, tmp_path / "worker.log", SICHRPLACE_JOBS_SHUTDOWN_TIMEOUT_SECONDS="3"
    )
    procs.append(worker)
    async with transaction(db) as session:
        short_id = await enqueue(session, sleep, queue=job_queue, token="finish", seconds=1.5)
        long_id = await enqueue(session, sleep, queue=job_queue, token="too-long", seconds=60)
    await wait_status(db, short_id, "doing", within=20)
    await wait_status(db, long_id, "doing", within=5)

    worker.signal(signal.SIGTERM)
    stopped_at = time.monotonic()
    await asyncio.sleep(0.3)
    async with transaction(db) as session:  # arrives while draining: must not be taken
        late_id = await enqueue(session, sleep, queue=job_queue, token="late", seconds=0)

    assert await worker.wait_exit(within=15) == 0
    assert 2.5 <= time.monotonic() - stopped_at < 10  # waited up to the timeout, not longer
    finished = await job(db, short_id)
    assert finished is not None
    assert (finished["status"], finished["attempts"]) == ("succeeded", 1)
    assert await job_errors(db, short_id) == []
    requeued = await job(db, long_id)  # cancelled at the timeout: back in the queue
    assert requeued is not None
    assert (requeued["status"], requeued["attempts"]) == ("todo", 1)
    assert "CancelledError" in (await job_errors(db, long_id))[0]["error"]
    assert (await job(db, late_id) or {})["status"] == "todo"
    assert "Stopped worker" in worker.output()
