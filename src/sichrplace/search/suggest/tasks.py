"""The periodic refresh of search_places (scheduled by sichrplace.platform.jobs.periodic)."""

from __future__ import annotations

import structlog

from sichrplace.config import get_settings
from sichrplace.platform.jobs import job_db, task
from sichrplace.search.suggest import service

log = structlog.get_logger(__name__)

MAINTENANCE_QUEUE = get_settings().jobs.maintenance_queue


@task(
    name="search.refresh_places",
    queue=MAINTENANCE_QUEUE,
    max_attempts=1,  # the next tick is the retry
    queueing_lock="search.refresh_places",
)
async def refresh_places(timestamp: int | None = None) -> int:
    """Rewrite the cities, districts and postal codes search suggests, with their counts."""
    written = await service.refresh_places(job_db())
    log.info("search_places_refreshed", places=written)
    return written or 0
