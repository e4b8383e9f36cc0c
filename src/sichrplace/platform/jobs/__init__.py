"""Job queue (procrastinate on Postgres): transactional enqueue, tasks, periodic jobs.

    from sichrplace.platform.jobs import enqueue, task

    @task(name="notifications.send_email", queue="notifications")
    async def send_email(to: str, ...) -> None: ...

    job_id = await enqueue(session, send_email, to="a@b.de", ...)  # commits with session

Handlers run at least once: make them idempotent. Periodic jobs live in
`sichrplace.platform.jobs.periodic`; a handler's own unit of work is
`transaction(job_db())`.
"""

from sichrplace.platform.jobs.app import job_app
from sichrplace.platform.jobs.enqueue import enqueue
from sichrplace.platform.jobs.registry import (
    DEFAULT_QUEUE,
    ExponentialBackoff,
    PermanentJobError,
    task,
)
from sichrplace.platform.jobs.runtime import job_db

__all__ = [
    "DEFAULT_QUEUE",
    "ExponentialBackoff",
    "PermanentJobError",
    "enqueue",
    "job_app",
    "job_db",
    "task",
]
