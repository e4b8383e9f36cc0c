"""Media jobs (discovered by the worker: `sichrplace.**.tasks`)."""

from __future__ import annotations

import uuid

import structlog

from sichrplace.config import get_settings
from sichrplace.media.processing import process_image
from sichrplace.platform.cache import Cache
from sichrplace.platform.jobs import job_db, task
from sichrplace.platform.redis import make_redis

log = structlog.get_logger(__name__)

MEDIA_QUEUE = "media"


class _Runtime:
    cache: Cache | None = None


def _cache() -> Cache:
    """One cache client per worker process (made on first use)."""
    if _Runtime.cache is None:
        settings = get_settings()
        _Runtime.cache = Cache(make_redis(settings.redis), settings.cache)
    return _Runtime.cache


@task(name="media.make_variants", queue=MEDIA_QUEUE)
async def make_variants(image_id: str) -> None:
    """WebP variants of one uploaded image (idempotent; transient errors are retried)."""
    settings = get_settings()
    status = await process_image(job_db(), settings.media, uuid.UUID(image_id), _cache())
    log.info("media_variants_job_done", image_id=image_id, status=status)
