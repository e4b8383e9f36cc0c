"""Queue housekeeping: give the jobs of dead workers back to the queue, drop old history."""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from procrastinate import App
from procrastinate import exceptions as pc_exceptions
from procrastinate.jobs import Status

from sichrplace.kit.clock import utcnow
from sichrplace.platform.jobs import repository
from sichrplace.platform.jobs.registry import retry_strategy_of

log = structlog.get_logger(__name__)

# Worker rows are only bookkeeping (recovery looks at heartbeats, not at this table);
# pruning them late is harmless, pruning a live but slow worker's row is not.
PRUNE_WORKERS_AFTER_SECONDS = 3600


class StalledJobError(Exception):
    """The worker running the job stopped heart-beating (crashed, killed, partitioned)."""


async def recover_stalled_jobs(
    app: App, *, queues: Iterable[str] | None, stalled_after_seconds: float
) -> list[int]:
    """Retry (or dead-letter, if out of attempts) the running jobs of stalled workers.

    Only jobs of `queues` (None: all) are considered, so a worker with short test timings
    never judges the workers of other queues by its own clock. Returns the recovered ids.
    """
    connector = app.connector
    stalled = await repository.stalled_jobs(
        connector,
        queues=list(queues) if queues is not None else None,
        stalled_after_seconds=stalled_after_seconds,
    )
    recovered: list[int] = []
    for job in stalled:
        assert job.id is not None
        error = StalledJobError(
            f"worker {job.worker_id} sent no heartbeat for {stalled_after_seconds:g}s"
        )
        decision = retry_strategy_of(job.task_name).get_retry_exception(error, job)
        try:
            if decision is not None:
                retry_at = decision.retry_decision.retry_at or utcnow()
                await app.job_manager.retry_job_by_id_async(job_id=job.id, retry_at=retry_at)
            else:
                await app.job_manager.finish_job_by_id_async(
                    job_id=job.id, status=Status.FAILED, delete_job=False
                )
        except pc_exceptions.ConnectorException as exc:
            # The worker was only slow and finished the job meanwhile: nothing to recover.
            log.warning("stalled_job_not_recovered", job_id=job.id, error=str(exc)[:200])
            continue
        await repository.record_error(
            connector, job_id=job.id, attempt=job.attempts + 1, error=repr(error)
        )
        log.warning(
            "stalled_job_recovered",
            job_id=job.id,
            task=job.task_name,
            worker_id=job.worker_id,
            dead_lettered=decision is None,
        )
        recovered.append(job.id)
    return recovered


async def cleanup(app: App, *, retention_hours: int, maintenance_queue: str) -> None:
    """Delete succeeded jobs older than the retention and long-dead worker rows.

    The maintenance queue's own succeeded jobs (a recovery run every few seconds) are kept
    for an hour only.
    """
    await app.job_manager.delete_old_jobs(nb_hours=retention_hours)
    await app.job_manager.delete_old_jobs(nb_hours=1, queue=maintenance_queue)
    pruned = await app.job_manager.prune_stalled_workers(PRUNE_WORKERS_AFTER_SECONDS)
    log.info("jobs_cleanup_done", retention_hours=retention_hours, pruned_workers=len(pruned))
