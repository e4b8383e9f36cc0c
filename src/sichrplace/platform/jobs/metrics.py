"""Job metrics: runs, retries and dead letters counted by the worker as they happen; queue
depth, oldest waiting job and dead letters sampled from `procrastinate_jobs` every few seconds
(one cheap query per worker, not per job); and the worker's own /metrics server.

The worker is one process: procrastinate runs its jobs as asyncio tasks (sync handlers in
threads), it never forks, so the default registry is complete (no multiprocess mode).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

import structlog
from procrastinate import BaseConnector
from prometheus_client import Counter, Gauge, Histogram, start_http_server

from sichrplace.kit.tasks import stop_task
from sichrplace.platform.jobs import repository

log = structlog.get_logger(__name__)

JOB_RUNS = Counter(
    "sichrplace_jobs_runs_total",
    "Job runs (attempts) finished by this worker, by queue, task and outcome: succeeded, "
    "failed (an exception; retried or dead-lettered) or cancelled (shutdown, abort).",
    ["queue", "task", "outcome"],
)
JOB_DURATION = Histogram(
    "sichrplace_jobs_run_duration_seconds",
    "How long job runs took, by queue.",
    ["queue"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
JOB_RETRIES = Counter(
    "sichrplace_jobs_retries_total",
    "Failed runs that were scheduled to run again (with backoff), by queue and task.",
    ["queue", "task"],
)
JOB_DEAD_LETTERED = Counter(
    "sichrplace_jobs_dead_lettered_total",
    "Failed runs that were the job's last: the job is now a dead letter, by queue and task.",
    ["queue", "task"],
)
QUEUE_DEPTH = Gauge(
    "sichrplace_jobs_queue_depth",
    "Jobs due and waiting for a worker, by queue (sampled).",
    ["queue"],
)
QUEUE_SCHEDULED = Gauge(
    "sichrplace_jobs_scheduled",
    "Jobs waiting for a later time (delayed jobs, retries in backoff), by queue (sampled).",
    ["queue"],
)
QUEUE_RUNNING = Gauge(
    "sichrplace_jobs_running",
    "Jobs being run by some worker, by queue (sampled).",
    ["queue"],
)
QUEUE_OLDEST_AGE = Gauge(
    "sichrplace_jobs_oldest_age_seconds",
    "How long the oldest due job of the queue has waited, 0 when none waits (sampled).",
    ["queue"],
)
DEAD_LETTERS = Gauge(
    "sichrplace_jobs_dead_letters",
    "Jobs failed for good and not yet retried or deleted, by queue (sampled).",
    ["queue"],
)
SAMPLE_FAILURES = Counter(
    "sichrplace_jobs_sample_failures_total",
    "Samples of the queue table that failed (the gauges keep their last values meanwhile).",
)

OTHER_TASK = "other"


def task_label(task_name: str, known: Callable[[str], bool]) -> str:
    """The task's name if the code declares it (a bounded set), else `other`: a job row with a
    name nobody registered must not add series."""
    return task_name if known(task_name) else OTHER_TASK


class QueueSampler:
    """Sets the queue gauges from `repository.queue_stats` every `interval` seconds. Queues
    that have nothing are reported as 0 (the code's queues, and any seen before)."""

    def __init__(self, connector: BaseConnector, queues: list[str], interval: float) -> None:
        self.connector = connector
        self.queues = set(queues)
        self.interval = interval

    async def sample(self) -> None:
        stats = {s.queue: s for s in await repository.queue_stats(self.connector)}
        self.queues |= stats.keys()
        for queue in sorted(self.queues):
            s = stats.get(queue)
            QUEUE_DEPTH.labels(queue).set(s.ready if s else 0)
            QUEUE_SCHEDULED.labels(queue).set(s.scheduled if s else 0)
            QUEUE_RUNNING.labels(queue).set(s.running if s else 0)
            QUEUE_OLDEST_AGE.labels(queue).set(s.oldest_age_seconds if s else 0.0)
            DEAD_LETTERS.labels(queue).set(s.failed if s else 0)

    async def run(self) -> None:
        while True:
            try:
                await self.sample()
            except Exception as exc:  # the next sample retries; the worker goes on
                SAMPLE_FAILURES.inc()
                log.warning("job_queue_sample_failed", error=repr(exc)[:200])
            await asyncio.sleep(self.interval)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self.run(), name="job-queue-sampler")
        try:
            yield
        finally:
            await stop_task(task)


@contextmanager
def metrics_server(port: int | None, host: str = "127.0.0.1") -> Iterator[None]:
    """Serve the default registry on http://host:port/metrics (a thread) for the block's
    duration; nothing when `port` is None."""
    if port is None:
        yield
        return
    server, thread = start_http_server(port, addr=host)
    log.info("job_worker_metrics", port=port)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def observe_run(queue: str, task: str, outcome: str, started: float) -> None:
    JOB_RUNS.labels(queue, task, outcome).inc()
    JOB_DURATION.labels(queue).observe(time.perf_counter() - started)


def count_decision(queue: str, task: str, *, retried: bool) -> None:
    (JOB_RETRIES if retried else JOB_DEAD_LETTERED).labels(queue, task).inc()
