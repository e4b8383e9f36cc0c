"""Analytics jobs: pg_partman's maintenance (hourly) and the rollups of yesterday and today
(every five minutes). Both are idempotent; a missed tick is made up by the next one."""

from __future__ import annotations

from datetime import date

import structlog

from sichrplace.analytics import service
from sichrplace.analytics.records import RollupReport
from sichrplace.platform.cache import Cache
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.unit import transaction
from sichrplace.platform.jobs import MAINTENANCE_QUEUE, job_parts, periodic, task

log = structlog.get_logger(__name__)

POPULAR_CACHE_DOMAIN = "popular"  # GET /listings/popular ranks by listing_daily


async def roll_up(db: Database, cache: Cache | None, first: date, last: date) -> RollupReport:
    """The rollup job's body (tests call it directly): the days recomputed in one transaction,
    then the popular listings' cached pages dropped when a listing's row changed."""
    async with transaction(db) as session:
        report = await service.rollup(session, first, last)
    if report.listing_rows and cache is not None:
        # Popular listings rank by these rows: their cached pages are stale now.
        await cache.bump(POPULAR_CACHE_DOMAIN)
    return report


@periodic(cron="7 * * * *")  # hourly, at minute 7
@task(
    name="analytics.maintain_partitions",
    queue=MAINTENANCE_QUEUE,
    max_attempts=1,  # the next hour is the retry; premake keeps a week ahead meanwhile
    queueing_lock="analytics.maintain_partitions",
)
async def maintain_partitions(timestamp: int | None = None) -> None:
    """Retention and premake from the settings into partman.part_config, then
    partman.run_maintenance(): partitions made ahead, those past retention dropped."""
    parts = job_parts()
    async with transaction(parts.db) as session:
        await service.maintain(session, parts.settings.analytics)
    log.info("analytics_partitions_maintained")


@periodic(cron="*/5 * * * * 30")  # every five minutes, at second 30
@task(
    name="analytics.rollup",
    queue=MAINTENANCE_QUEUE,
    max_attempts=1,
    queueing_lock="analytics.rollup",
)
async def rollup(timestamp: int | None = None) -> int:
    """Recompute listing_daily and city_daily for yesterday and today from the raw events."""
    parts = job_parts()
    first, last = service.recent_days()
    report = await roll_up(parts.db, parts.cache, first, last)
    log.info(
        "analytics_rolled_up",
        first_day=str(first),
        last_day=str(last),
        listing_rows=report.listing_rows,
        city_rows=report.city_rows,
    )
    return report.listing_rows
