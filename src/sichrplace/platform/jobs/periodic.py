"""The platform's own periodic jobs (stalled-job recovery, cleanup of old jobs).

Domains register theirs in their own tasks modules with `platform.jobs.periodic`; all of
them run on the maintenance queue (`JobSettings.maintenance_queue`).
"""

from __future__ import annotations

from procrastinate import JobContext

from sichrplace.config import get_settings
from sichrplace.platform.jobs import maintenance
from sichrplace.platform.jobs.registry import MAINTENANCE_QUEUE, periodic, task

_settings = get_settings().jobs
RECOVERY_CRON = f"* * * * * */{_settings.recovery_interval_seconds}"  # 6th field: seconds
CLEANUP_CRON = "17 * * * *"


@periodic(cron=RECOVERY_CRON)
@task(
    name="jobs.recover_stalled",
    queue=MAINTENANCE_QUEUE,
    max_attempts=1,  # the next tick is the retry
    pass_context=True,
    queueing_lock=f"jobs.recover_stalled:{MAINTENANCE_QUEUE}",
)
async def recover_stalled(context: JobContext, timestamp: int) -> int:
    """Jobs of workers silent for longer than the stalled timeout go back to the queue."""
    recovered = await maintenance.recover_stalled_jobs(
        context.app,
        queues=context.worker_queues,
        stalled_after_seconds=get_settings().jobs.stalled_timeout_seconds,
    )
    return len(recovered)


@periodic(cron=CLEANUP_CRON)
@task(name="jobs.cleanup", queue=MAINTENANCE_QUEUE, max_attempts=1, pass_context=True)
async def cleanup(context: JobContext, timestamp: int) -> None:
    """Drop succeeded jobs past their retention (failed ones stay: they are the dead letters)."""
    await maintenance.cleanup(
        context.app,
        retention_hours=get_settings().jobs.succeeded_retention_hours,
        maintenance_queue=MAINTENANCE_QUEUE,
    )
