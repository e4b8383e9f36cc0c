"""The variants job body: original -> WebP variants (content-hashed files) -> row `ready`.

Idempotent and safe to run twice at once: files are content-addressed (a rerun produces the
same names), and the final update happens under a row lock only while the row is still
`processing`. No transaction is held while Pillow works.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import structlog

from sichrplace.config import MediaSettings
from sichrplace.listings.invalidation import invalidate_listing
from sichrplace.media import imaging, repository
from sichrplace.media.models import ImageStatus
from sichrplace.media.storage import MediaStorage, sha256_hex, write_atomic
from sichrplace.platform.cache import Cache
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import on_commit
from sichrplace.platform.db.unit import transaction

log = structlog.get_logger(__name__)


def _render(
    storage: MediaStorage, settings: MediaSettings, original: bytes
) -> dict[str, dict[str, Any]]:
    """Make and store every variant (runs in a thread); the `variants` JSON for the row."""
    made = imaging.make_variants(
        original,
        widths=settings.variant_widths,
        quality=settings.webp_quality,
        max_pixels=settings.max_pixels,
    )
    variants: dict[str, dict[str, Any]] = {}
    for variant in made:
        digest = sha256_hex(variant.data)
        write_atomic(storage.variant_path(digest), variant.data)
        variants[variant.key] = {
            "sha256": digest,
            "width": variant.width,
            "height": variant.height,
            "bytes": len(variant.data),
        }
    return variants


async def process_image(
    db: Database, settings: MediaSettings, image_id: uuid.UUID, cache: Cache | None = None
) -> ImageStatus | None:
    """Make the variants of one image; the image's final status (None if it no longer exists)."""
    storage = MediaStorage(settings)
    async with transaction(db) as session:
        image = await repository.image_by_id(session, image_id)
    if image is None:
        log.info("media_image_gone", image_id=str(image_id))
        return None
    if image.status != ImageStatus.PROCESSING:
        return ImageStatus(image.status)
    path = storage.original_path(image.original_sha256, image.original_format)
    try:
        original = await asyncio.to_thread(path.read_bytes)
        variants = await asyncio.to_thread(_render, storage, settings, original)
    except (FileNotFoundError, imaging.InvalidImage) as exc:
        # Permanent: retrying cannot bring the original back or make it decodable.
        log.error("media_variants_failed", image_id=str(image_id), error=repr(exc))
        return await _finish(db, cache, image_id, error=f"{type(exc).__name__}: {exc}")
    return await _finish(db, cache, image_id, variants=variants)


async def _finish(
    db: Database,
    cache: Cache | None,
    image_id: uuid.UUID,
    *,
    variants: dict[str, Any] | None = None,
    error: str | None = None,
) -> ImageStatus | None:
    async with transaction(db) as session:
        current = await repository.lock_image(session, image_id)
        if current is None:
            return None
        if current.status != ImageStatus.PROCESSING:
            return ImageStatus(current.status)  # a concurrent run finished first
        if cache is not None:  # cached listing detail / search thumbnails show the images
            listing_id = current.listing_id
            on_commit(session, lambda: invalidate_listing(cache, listing_id))
        if variants is not None:
            await repository.mark_ready(session, image_id, variants)
            return ImageStatus.READY
        await repository.mark_failed(session, image_id, error or "unknown")
        return ImageStatus.FAILED
