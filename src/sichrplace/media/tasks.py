"""Media jobs (discovered by the worker: `sichrplace.**.tasks`)."""

from __future__ import annotations

import uuid

import structlog

from sichrplace.media.parts import MEDIA
from sichrplace.media.processing import process_image
from sichrplace.platform.jobs import job_parts, task
from sichrplace.platform.observability import tracing

log = structlog.get_logger(__name__)

MEDIA_QUEUE = "media"


@task(name="media.make_variants", queue=MEDIA_QUEUE)
async def make_variants(image_id: str) -> None:
    """WebP variants of one uploaded image (idempotent; transient errors are retried)."""
    parts = job_parts()
    media = parts.get(MEDIA)
    with tracing.span("media.process_image", {"media.image_id": image_id}):
        status = await process_image(parts.db, media.settings, uuid.UUID(image_id), parts.cache)
    log.info("media_variants_job_done", image_id=image_id, status=status)
