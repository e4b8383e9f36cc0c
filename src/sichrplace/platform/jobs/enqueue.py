"""Transactional enqueue: a job exists if and only if the caller's transaction commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from procrastinate.jobs import JobDeferrer
from procrastinate.tasks import Task

from sichrplace.kit.clock import utcnow
from sichrplace.platform.db.sessions import PrimarySession
from sichrplace.platform.observability import tracing


async def enqueue(
    session: PrimarySession,
    task_fn: Task[Any, Any, Any],
    /,
    *,
    queue: str | None = None,
    schedule_in_seconds: float | None = None,
    **kwargs: Any,
) -> int:
    """Insert a job for `task_fn(**kwargs)` inside `session`'s transaction; return its id.

    The INSERT runs on the very psycopg connection SQLAlchemy holds for this session (through
    PgBouncer, in the open transaction): roll back and the job never existed; commit and the
    INSERT's NOTIFY wakes a worker. Keyword arguments must be JSON-serialisable.

    The caller's W3C trace context rides along in the arguments (`tracing.JOB_TRACE_KEY`); the
    worker takes it out before the handler runs and continues the trace (worker.trace_job).
    """
    deferrer = await _deferrer(session, task_fn, queue, schedule_in_seconds)
    job_id: int = await deferrer.defer_async(**_traced(kwargs))
    return job_id


async def enqueue_many(
    session: PrimarySession,
    task_fn: Task[Any, Any, Any],
    jobs: Sequence[dict[str, Any]],
    /,
    *,
    queue: str | None = None,
) -> list[int]:
    """`enqueue` for several jobs of one task in one INSERT (one round trip, however many):
    all exist if and only if the caller's transaction commits."""
    if not jobs:
        return []
    deferrer = await _deferrer(session, task_fn, queue, None)
    return await deferrer.batch_defer_async(*(_traced(dict(kwargs)) for kwargs in jobs))


async def _deferrer(
    session: PrimarySession,
    task_fn: Task[Any, Any, Any],
    queue: str | None,
    schedule_in_seconds: float | None,
) -> JobDeferrer:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    schedule_at = (
        None if schedule_in_seconds is None else utcnow() + timedelta(seconds=schedule_in_seconds)
    )
    return task_fn.configure(queue=queue, schedule_at=schedule_at, connection=raw.driver_connection)


def _traced(kwargs: dict[str, Any]) -> dict[str, Any]:
    trace_context = tracing.carrier().get("traceparent")
    if trace_context:
        kwargs[tracing.JOB_TRACE_KEY] = trace_context
    return kwargs
