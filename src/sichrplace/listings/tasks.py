"""Listing jobs: geocoding retries and the periodic view-count flush.

`flush_view_counts` is scheduled every minute by `sichrplace.platform.jobs.periodic`.
"""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis
import structlog

from sichrplace.config import get_settings
from sichrplace.integrations.maps.types import Geocoder, GeocodingUnavailable
from sichrplace.listings import geocoding, views
from sichrplace.listings.invalidation import invalidate_listing
from sichrplace.platform.cache import Cache
from sichrplace.platform.db.dependencies import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import on_commit
from sichrplace.platform.jobs import job_db, task
from sichrplace.platform.redis import make_redis

log = structlog.get_logger(__name__)

MAINTENANCE_QUEUE = get_settings().jobs.maintenance_queue


class _Runtime:
    """Per worker process: the Redis client, cache and geocoder the jobs use (made on first use)."""

    redis: aioredis.Redis | None = None
    cache: Cache | None = None
    geocoder: Geocoder | None = None


def _redis() -> aioredis.Redis:
    if _Runtime.redis is None:
        _Runtime.redis = make_redis(get_settings().redis)
    return _Runtime.redis


def _cache() -> Cache:
    if _Runtime.cache is None:
        _Runtime.cache = Cache(_redis(), get_settings().cache)
    return _Runtime.cache


def _geocoder() -> Geocoder:
    if _Runtime.geocoder is None:
        from sichrplace.integrations.maps.google import GoogleGeocoder

        _Runtime.geocoder = GoogleGeocoder(get_settings().maps, redis=_redis())
    return _Runtime.geocoder


async def run_geocode(
    db: Database, geocoder: Geocoder | None, cache: Cache, listing_id: uuid.UUID
) -> str | None:
    """One attempt for a pending listing (the job's body; tests call it directly)."""
    async with transaction(db) as session:
        row = await geocoding.retry_pending(session, geocoder, listing_id)
        if row is not None:
            lag = db.replica_state.lag_seconds
            on_commit(session, lambda: invalidate_listing(cache, listing_id, replica_lag=lag))
    return None if row is None else str(row["geocode_status"])


@task(name="listings.geocode_listing", queue="listings", max_attempts=8)
async def geocode_listing(listing_id: str) -> None:
    """Retry geocoding a listing stored without coordinates (backoff while the geocoder is out)."""
    try:
        status = await run_geocode(job_db(), _geocoder(), _cache(), uuid.UUID(listing_id))
    except (GeocodingUnavailable, TimeoutError) as exc:
        log.info("geocode_retry_later", listing_id=listing_id, reason=type(exc).__name__)
        raise
    log.info("geocode_done", listing_id=listing_id, status=status)


@task(
    name="listings.flush_view_counts",
    queue=MAINTENANCE_QUEUE,
    max_attempts=1,  # the next tick is the retry; counts wait safely in Redis
    queueing_lock="listings.flush_view_counts",
)
async def flush_view_counts(timestamp: int | None = None) -> int:
    """Add the page views counted in Redis to listings.view_count (batched, exactly once)."""
    report = await views.flush_views(
        job_db(), _redis(), _cache(), batch_size=get_settings().cache.view_flush_batch
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
