"""The periodic refresh of search_places (every ten minutes)."""

from __future__ import annotations

import structlog

from sichrplace.platform.jobs import MAINTENANCE_QUEUE, job_parts, periodic, task
from sichrplace.search.suggest import service

log = structlog.get_logger(__name__)


@periodic(cron="*/10 * * * *")
@task(
    name="search.refresh_places",
    queue=MAINTENANCE_QUEUE,
    max_attempts=1,  # the next tick is the retry
    queueing_lock="search.refresh_places",
)
async def refresh_places(timestamp: int | None = None) -> int:
    """Rewrite the cities, districts and postal codes search suggests, with their counts."""
    written = await service.refresh_places(job_parts().db)
    log.info("search_places_refreshed", places=written)
    return written or 0
