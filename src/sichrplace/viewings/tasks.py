"""Viewing jobs: expiring unpaid bookings (every minute), which frees their slots."""

from __future__ import annotations

import structlog

from sichrplace.kit.clock import utcnow
from sichrplace.platform.db.unit import transaction
from sichrplace.platform.jobs import MAINTENANCE_QUEUE, job_parts, periodic, task
from sichrplace.viewings import service

log = structlog.get_logger(__name__)


@periodic(cron="* * * * * 30")  # every minute at second 30
@task(
    name="viewings.expire_unpaid",
    queue=MAINTENANCE_QUEUE,
    max_attempts=1,  # the next tick is the retry
    queueing_lock="viewings.expire_unpaid",
)
async def expire_unpaid(timestamp: int | None = None) -> int:
    """Expire bookings left unpaid past the payment window (status "expired")."""
    parts = job_parts()
    async with transaction(parts.db) as session:
        expired = await service.expire_unpaid(
            session, parts.redis, settings=parts.settings.viewings, now=utcnow()
        )
    if expired:
        log.info("viewings_expired", count=len(expired), ids=[str(v.id) for v in expired[:20]])
    return len(expired)
