"""Listing jobs: geocoding retries and the periodic view-count flush (every minute)."""

from __future__ import annotations

import uuid

import structlog

from sichrplace.integrations.maps.types import Geocoder, GeocodingUnavailable
from sichrplace.listings import geocoding, page_views
from sichrplace.listings.invalidation import invalidate_listing
from sichrplace.listings.parts import LISTINGS
from sichrplace.platform.cache import Cache
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import on_commit
from sichrplace.platform.db.unit import transaction
from sichrplace.platform.jobs import MAINTENANCE_QUEUE, job_parts, periodic, task

log = structlog.get_logger(__name__)


async def run_geocode(
    db: Database, geocoder: Geocoder | None, cache: Cache, listing_id: uuid.UUID
) -> str | None:
    """One attempt for a pending listing (the job's body; tests call it directly)."""
    async with transaction(db) as session:
        row = await geocoding.retry_pending(session, geocoder, listing_id)
        if row is not None:
            lag = db.replica_state.lag_seconds
            on_commit(session, lambda: invalidate_listing(cache, listing_id, replica_lag=lag))
    return None if row is None else str(row.geocode_status)


@task(name="listings.geocode_listing", queue="listings", max_attempts=8)
async def geocode_listing(listing_id: str) -> None:
    """Retry geocoding a listing stored without coordinates (backoff while the geocoder is out)."""
    try:
        parts = job_parts()
        geocoder = parts.get(LISTINGS).geocoder
        status = await run_geocode(parts.db, geocoder, parts.cache, uuid.UUID(listing_id))
    except (GeocodingUnavailable, TimeoutError) as exc:
        log.info("geocode_retry_later", listing_id=listing_id, reason=type(exc).__name__)
        raise
    log.info("geocode_done", listing_id=listing_id, status=status)


@periodic(cron="* * * * * 15")  # every minute at second 15
@task(
    name="listings.flush_view_counts",
    queue=MAINTENANCE_QUEUE,
    max_attempts=1,  # the next tick is the retry; counts wait safely in Redis
    queueing_lock="listings.flush_view_counts",
)
async def flush_view_counts(timestamp: int | None = None) -> int:
    """Add the page views counted in Redis to listings.view_count (batched, exactly once)."""
    parts = job_parts()
    report = await page_views.flush_views(
        parts.db,
        parts.redis,
        parts.cache,
        batch_size=parts.settings.cache.view_flush_batch,
        pause_ratio=parts.settings.cache.view_flush_pause_ratio,
    )
    if report.batches or report.skipped:
        log.info(
            "views_flushed",
            batches=len(report.batches),
            skipped=len(report.skipped),
            listings=report.listings,
            views=report.views,
        )
    return report.views
