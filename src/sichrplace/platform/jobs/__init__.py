"""Job queue (procrastinate on Postgres): transactional enqueue, tasks, periodic jobs.

    from sichrplace.platform.jobs import enqueue, task

    @task(name="notifications.send_email", queue="notifications")
    async def send_email(to: str, ...) -> None: ...

    job_id = await enqueue(session, send_email, to="a@b.de", ...)  # commits with session
    ids = await enqueue_many(session, send_email, [{...}, {...}])   # one INSERT for several

    @periodic(cron="* * * * * 15")   # registered by the domain's tasks module
    @task(name="listings.flush_view_counts", queue=MAINTENANCE_QUEUE)
    async def flush_view_counts(timestamp: int) -> int: ...

Handlers run at least once: make them idempotent. A handler's own unit of work is
`transaction(job_parts().db)`; the process's other parts come from `job_parts()` too.
"""

from sichrplace.platform.jobs.app import job_app
from sichrplace.platform.jobs.enqueue import enqueue, enqueue_many
from sichrplace.platform.jobs.registry import (
    DEFAULT_QUEUE,
    MAINTENANCE_QUEUE,
    ExponentialBackoff,
    PermanentJobError,
    periodic,
    task,
)
from sichrplace.platform.jobs.runtime import job_parts

__all__ = [
    "DEFAULT_QUEUE",
    "MAINTENANCE_QUEUE",
    "ExponentialBackoff",
    "PermanentJobError",
    "enqueue",
    "enqueue_many",
    "job_app",
    "job_parts",
    "periodic",
    "task",
]
