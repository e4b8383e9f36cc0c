"""Transactional enqueue: a job exists if and only if the caller's transaction commits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

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
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    schedule_at = (
        None if schedule_in_seconds is None else utcnow() + timedelta(seconds=schedule_in_seconds)
    )
    deferrer = task_fn.configure(
        queue=queue, schedule_at=schedule_at, connection=raw.driver_connection
    )
    trace_context = tracing.carrier().get("traceparent")
    if trace_context:
        kwargs[tracing.JOB_TRACE_KEY] = trace_context
    job_id: int = await deferrer.defer_async(**kwargs)
    return job_id
