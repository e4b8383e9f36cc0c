"""SQL over procrastinate's tables and our `job_errors`, run on the job app's pool."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from procrastinate import BaseConnector
from procrastinate.jobs import Job

MAX_ERROR_CHARS = 4000

_RECORD_ERROR = """
INSERT INTO job_errors (job_id, attempt, error) VALUES (%(job_id)s, %(attempt)s, %(error)s)
"""

_LIST_JOBS = """
SELECT j.id, j.queue_name, j.task_name, j.status::text AS status, j.attempts, j.args,
       j.scheduled_at, e.error AS last_error, e.at AS last_error_at
  FROM procrastinate_jobs j
  LEFT JOIN LATERAL (
       SELECT error, at FROM job_errors WHERE job_id = j.id ORDER BY id DESC LIMIT 1
  ) e ON true
 WHERE (%(status)s::procrastinate_job_status IS NULL OR j.status = %(status)s)
   AND (%(queue)s::varchar IS NULL OR j.queue_name = %(queue)s)
   AND (%(task)s::varchar IS NULL OR j.task_name = %(task)s)
 ORDER BY j.id DESC
 LIMIT %(limit)s
"""

# Only a dead-lettered job may be revived: the row lock keeps a concurrent retry from
# running procrastinate's retry function twice on it.
_RETRY_FAILED = """
WITH target AS (
    SELECT id FROM procrastinate_jobs
     WHERE status = 'failed'
       AND (%(job_id)s::bigint IS NULL OR id = %(job_id)s)
       AND (%(queue)s::varchar IS NULL OR queue_name = %(queue)s)
     ORDER BY id
       FOR UPDATE SKIP LOCKED
)
SELECT t.id, procrastinate_retry_job_v2(t.id, now(), NULL, NULL, NULL)::text AS retried
  FROM target t
"""

# Running jobs whose worker stopped heart-beating (or was pruned: worker_id NULL).
_STALLED_JOBS = """
SELECT j.id, j.status, j.task_name, j.priority, j.lock, j.queueing_lock, j.args,
       j.scheduled_at, j.queue_name, j.attempts, j.worker_id
  FROM procrastinate_jobs j
  LEFT JOIN procrastinate_workers w ON w.id = j.worker_id
 WHERE j.status = 'doing'
   AND (%(queues)s::varchar[] IS NULL OR j.queue_name = ANY(%(queues)s::varchar[]))
   AND (w.id IS NULL OR w.last_heartbeat < now() - make_interval(secs => %(seconds)s))
 ORDER BY j.id
"""

# One pass over the unfinished and failed jobs (succeeded ones are pruned after the retention,
# so the scan stays small): per queue, jobs due and waiting, scheduled for later, running,
# dead-lettered, and since when the oldest due job waits: its scheduled time (a retry or a
# delayed job), else when it was deferred (one index lookup in the events per queue).
_QUEUE_STATS = """
WITH q AS (
    SELECT queue_name,
           count(*) FILTER (WHERE status = 'todo'
                              AND (scheduled_at IS NULL OR scheduled_at <= now())) AS ready,
           count(*) FILTER (WHERE status = 'todo' AND scheduled_at > now()) AS scheduled,
           count(*) FILTER (WHERE status = 'doing') AS running,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           min(id) FILTER (WHERE status = 'todo' AND scheduled_at IS NULL) AS oldest_id,
           min(scheduled_at) FILTER (WHERE status = 'todo' AND scheduled_at <= now()) AS due_at
      FROM procrastinate_jobs
     WHERE status IN ('todo', 'doing', 'failed')
     GROUP BY queue_name
)
SELECT q.queue_name, q.ready, q.scheduled, q.running, q.failed,
       COALESCE(EXTRACT(EPOCH FROM now() - LEAST(q.due_at, (
           SELECT min(e.at) FROM procrastinate_events e
            WHERE e.job_id = q.oldest_id AND e.type = 'deferred'
       ))), 0)::float8 AS oldest_age
  FROM q
"""


@dataclass(frozen=True, slots=True)
class QueueStats:
    """One queue's jobs as the worker's sampler sees them (`platform/jobs/metrics.py`)."""

    queue: str
    ready: int
    scheduled: int
    running: int
    failed: int
    oldest_age_seconds: float


@dataclass(frozen=True, slots=True)
class JobRow:
    """A job with its last recorded error (what `sichrplace jobs` lists)."""

    id: int
    queue: str
    task: str
    status: str
    attempts: int
    args: dict[str, Any]
    scheduled_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None


async def record_error(connector: BaseConnector, *, job_id: int, attempt: int, error: str) -> None:
    await connector.execute_query_async(
        _RECORD_ERROR, job_id=job_id, attempt=attempt, error=error[:MAX_ERROR_CHARS]
    )


async def list_jobs(
    connector: BaseConnector,
    *,
    status: str | None = None,
    queue: str | None = None,
    task: str | None = None,
    limit: int = 50,
) -> list[JobRow]:
    rows = await connector.execute_query_all_async(
        _LIST_JOBS, status=status, queue=queue, task=task, limit=limit
    )
    return [
        JobRow(
            id=r["id"],
            queue=r["queue_name"],
            task=r["task_name"],
            status=r["status"],
            attempts=r["attempts"],
            args=r["args"],
            scheduled_at=r["scheduled_at"],
            last_error=r["last_error"],
            last_error_at=r["last_error_at"],
        )
        for r in rows
    ]


async def retry_failed(
    connector: BaseConnector, *, job_id: int | None = None, queue: str | None = None
) -> list[int]:
    """Move failed jobs (one id, or all, optionally of one queue) back to `todo`; return ids."""
    rows = await connector.execute_query_all_async(_RETRY_FAILED, job_id=job_id, queue=queue)
    return [int(r["id"]) for r in rows]


async def stalled_jobs(
    connector: BaseConnector, *, queues: list[str] | None, stalled_after_seconds: float
) -> list[Job]:
    rows = await connector.execute_query_all_async(
        _STALLED_JOBS, queues=queues, seconds=stalled_after_seconds
    )
    return [Job.from_row(r) for r in rows]


async def queue_stats(connector: BaseConnector) -> list[QueueStats]:
    rows = await connector.execute_query_all_async(_QUEUE_STATS)
    return [
        QueueStats(
            queue=r["queue_name"],
            ready=int(r["ready"]),
            scheduled=int(r["scheduled"]),
            running=int(r["running"]),
            failed=int(r["failed"]),
            oldest_age_seconds=max(0.0, float(r["oldest_age"])),
        )
        for r in rows
    ]
