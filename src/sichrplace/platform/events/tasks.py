"""Event stream jobs: deleting events past their retention (daily)."""

from __future__ import annotations

from datetime import timedelta

import structlog

from sichrplace.kit.clock import utcnow
from sichrplace.platform.db.unit import delete_in_batches
from sichrplace.platform.events import repository
from sichrplace.platform.jobs import MAINTENANCE_QUEUE, job_parts, periodic, task

log = structlog.get_logger(__name__)

PRUNE_BATCH = 10_000


@periodic(cron="17 3 * * *")  # daily, at a quiet hour
@task(
    name="events.prune",
    queue=MAINTENANCE_QUEUE,
    max_attempts=1,  # tomorrow's run is the retry
    queueing_lock="events.prune",
)
async def prune(timestamp: int | None = None) -> int:
    """Delete events older than the retention, a batch per transaction; how many."""
    parts = job_parts()
    before = utcnow() - timedelta(days=parts.settings.events.retention_days)
    deleted = await delete_in_batches(parts.db, repository.delete_before, before, batch=PRUNE_BATCH)
    if deleted:
        log.info("events_pruned", count=deleted)
    return deleted
