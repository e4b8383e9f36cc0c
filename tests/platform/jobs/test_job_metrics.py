"""Job metrics: a worker serves its registry on --metrics-port with runs, retries and dead
letters counted as they happen, and the queue gauges sampled from procrastinate_jobs."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from sichrplace.config import PROJECT_ROOT
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.platform.jobs import enqueue
from sichrplace.platform.jobs import metrics as job_metrics
from sichrplace.platform.jobs.app import open_job_app
from tests.platform.jobs.tasks_for_tests import flaky, noop
from tests.platform.jobs.workers import (
    FAST_ENV,
    TEST_TASKS_MODULE,
    Proc,
    free_port,
    wait_status,
    worker_ready,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def _scrape(port: int) -> Samples:
    async with httpx.AsyncClient() as client:
        r = await client.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    r.raise_for_status()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_worker_serves_runs_retries_and_dead_letters(
    db: Database, job_queue: str, procs: list[Proc], tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **FAST_ENV,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])
        ),
        "SICHRPLACE_JOBS_IMPORT_PATHS": f'["{TEST_TASKS_MODULE}"]',
        "SICHRPLACE_JOBS_MAINTENANCE_QUEUE": job_queue,
        "SICHRPLACE_JOBS_METRICS_SAMPLE_SECONDS": "0.2",
    }
    args = ["jobs", "worker", "--queues", job_queue, "--metrics-port", str(port)]
    procs.append(worker := Proc(args, tmp_path / "worker.log", env))
    await worker_ready(worker)
    async with transaction(db) as session:
        ok = await enqueue(session, noop, queue=job_queue, token="m")
        bad = await enqueue(
            session, flaky, queue=job_queue, token="m", heal_file=str(tmp_path / "never")
        )
    await wait_status(db, ok, "succeeded")
    await wait_status(db, bad, "failed", within=20)  # 3 runs with backoff, then dead

    q = job_queue
    deadline = time.monotonic() + 10
    while True:  # the dead letter and the emptied queue show once the sampler ran after both
        samples = await _scrape(port)
        if (
            _value(samples, "sichrplace_jobs_dead_letters", queue=q) == 1
            and _value(samples, "sichrplace_jobs_queue_depth", queue=q) == 0
        ):
            break
        assert time.monotonic() < deadline, "the dead letter was not sampled"
        await asyncio.sleep(0.2)
    runs = "sichrplace_jobs_runs_total"
    assert _value(samples, runs, queue=q, task="tests.jobs.noop", outcome="succeeded") == 1
    assert _value(samples, runs, queue=q, task="tests.jobs.flaky", outcome="failed") == 3
    assert _value(samples, "sichrplace_jobs_retries_total", queue=q, task="tests.jobs.flaky") == 2
    dead = "sichrplace_jobs_dead_lettered_total"
    assert _value(samples, dead, queue=q, task="tests.jobs.flaky") == 1
    assert _value(samples, "sichrplace_jobs_queue_depth", queue=q) == 0
    assert (("sichrplace_jobs_oldest_age_seconds", frozenset({("queue", q)}))) in samples


async def test_sampler_counts_due_scheduled_and_ages_the_oldest(
    db: Database, job_queue: str
) -> None:
    """No worker serves this queue: the jobs wait, and the sampler sees how long."""
    async with transaction(db) as session:
        first = await enqueue(session, noop, queue=job_queue, token="a")
        await enqueue(session, noop, queue=job_queue, token="b")
    async with db.primary.begin() as conn:  # the first job was deferred 100 s ago
        await conn.execute(
            text(
                "UPDATE procrastinate_events SET at = now() - interval '100 seconds'"
                " WHERE job_id = :id AND type = 'deferred'"
            ),
            {"id": first},
        )
        await conn.execute(
            text(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, scheduled_at)"
                " VALUES (:q, 'tests.jobs.noop', '{}', 'todo', now() + interval '1 hour'),"
                "        (:q, 'tests.jobs.noop', '{}', 'failed', NULL)"
            ),
            {"q": job_queue},
        )
    other = f"test-{uuid.uuid4().hex[:12]}"  # known to the worker, empty: reported as 0
    async with open_job_app(max_size=1) as app:
        sampler = job_metrics.QueueSampler(app.connector, [other], interval=60)
        await sampler.sample()

    def gauge(metric: object, queue: str) -> float:
        return float(metric.labels(queue)._value.get())  # type: ignore[attr-defined]

    assert gauge(job_metrics.QUEUE_DEPTH, job_queue) == 2
    assert gauge(job_metrics.QUEUE_SCHEDULED, job_queue) == 1
    assert gauge(job_metrics.DEAD_LETTERS, job_queue) == 1
    assert 100 <= gauge(job_metrics.QUEUE_OLDEST_AGE, job_queue) < 160
    assert gauge(job_metrics.QUEUE_DEPTH, other) == 0
