"""Every periodic job of the platform, declared in this one place.

Each runs on the maintenance queue (`JobSettings.maintenance_queue`); the queue name is also
the periodic id, so workers with different maintenance queues (e.g. a test worker on its own
queue) schedule independently, while workers sharing one queue defer each tick only once.
"""

from __future__ import annotations

from procrastinate import JobContext

from sichrplace.config import get_settings
from sichrplace.listings import tasks as listings_tasks
from sichrplace.platform.jobs import maintenance
from sichrplace.platform.jobs.app import job_app
from sichrplace.platform.jobs.registry import task
from sichrplace.search.suggest import tasks as suggest_tasks

_settings = get_settings().jobs
MAINTENANCE_QUEUE = _settings.maintenance_queue
RECOVERY_CRON = f"* * * * * */{_settings.recovery_interval_seconds}"  # 6th field: seconds
CLEANUP_CRON = "17 * * * *"


@job_app.periodic(cron=RECOVERY_CRON, periodic_id=MAINTENANCE_QUEUE)
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


@job_app.periodic(cron=CLEANUP_CRON, periodic_id=MAINTENANCE_QUEUE)
@task(name="jobs.cleanup", queue=MAINTENANCE_QUEUE, max_attempts=1, pass_context=True)
async def cleanup(context: JobContext, timestamp: int) -> None:
    """Drop succeeded jobs past their retention (failed ones stay: they are the dead letters)."""
    await maintenance.cleanup(
        context.app,
        retention_hours=get_settings().jobs.succeeded_retention_hours,
        maintenance_queue=MAINTENANCE_QUEUE,
    )


# Every minute at second 15: adds the page views counted in Redis to listings.view_count.
job_app.periodic(cron="* * * * * 15", periodic_id=MAINTENANCE_QUEUE)(
    listings_tasks.flush_view_counts
)

# Every ten minutes: the cities, districts and postal codes the search box suggests.
job_app.periodic(cron="*/10 * * * *", periodic_id=MAINTENANCE_QUEUE)(suggest_tasks.refresh_places)
