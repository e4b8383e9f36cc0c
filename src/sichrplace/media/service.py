"""Listing images: who may upload, validation by decoding, nothing half-stored.

Variants are made by the `media.make_variants` job, never in the request. An upload answers
201 with `status: "processing"` and null URLs (honest: the content-hashed names do not exist
yet); `GET /listings/{id}/images[/{image_id}]` shows the final URLs once the job has run
(about a second). One code path for every size keeps Pillow's CPU and memory off the API
instances and makes the job the only writer of variants.

Nothing half-stored: the whole image is decoded in memory (after a pixel-count check against
decompression bombs) before anything is written; the row and its job are inserted in the
request's transaction; the original is then written atomically (temp file + link) and is
removed again if that transaction rolls back. Only a crash between the file write and the
commit can leave an unreferenced original behind: private, content-addressed, harmless, and
removable by a sweep of originals that no row references. A full disk answers 503
(`storage-full`, Retry-After) with nothing stored.
"""

from __future__ import annotations

import asyncio
import errno
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

import structlog

from sichrplace.accounts.security import Principal
from sichrplace.config import MediaSettings
from sichrplace.kit.clock import utcnow
from sichrplace.kit.errors import NotFound, ServiceUnavailable, Unprocessable
from sichrplace.kit.i18n import N_
from sichrplace.listings.detail import DetailExtras
from sichrplace.listings.invalidation import invalidate_listing
from sichrplace.listings.service import visible_listing
from sichrplace.media import imaging, repository, rules
from sichrplace.media.models import ImageStatus
from sichrplace.media.parts import MediaParts
from sichrplace.media.records import ImageRecord
from sichrplace.media.repository import AnySession
from sichrplace.media.schemas import ImageOut
from sichrplace.media.storage import MediaStorage, delete_on_rollback, sha256_hex, write_atomic
from sichrplace.media.tasks import make_variants
from sichrplace.platform.cache import Cache
from sichrplace.platform.db.sessions import PrimarySession, on_commit
from sichrplace.platform.jobs import enqueue

log = structlog.get_logger(__name__)


class Upload(Protocol):
    """An uploaded file being received (the web framework's upload satisfies it)."""

    async def read(self, size: int = -1) -> bytes: ...


async def _read_limited(upload: Upload, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    problem = rules.upload_size_problem(len(data), limit)
    if problem is not None:
        raise Unprocessable.field("file", problem)
    return data


async def upload_image(
    session: PrimarySession,
    media: MediaParts,
    *,
    user: Principal,
    listing_id: uuid.UUID,
    upload: Upload,
    cache: Cache | None = None,
) -> ImageRecord:
    owner, status = await repository.listing_owner_for_upload(session, listing_id)
    rules.check_may_add_images(user, owner, status)
    data = await _read_limited(upload, media.settings.max_upload_bytes)
    try:
        async with media.decodes:  # bounds the memory of concurrent decodes
            probed = await asyncio.to_thread(
                imaging.probe, data, max_pixels=media.settings.max_pixels
            )
    except imaging.InvalidImage as exc:
        raise Unprocessable.field("file", exc.reason, slug="invalid-image") from exc
    digest = sha256_hex(data)
    image = await repository.insert_image(
        session,
        listing_id=listing_id,
        uploaded_by=user.id,
        original_sha256=digest,
        original_format=probed.format,
        original_bytes=len(data),
        width=probed.width,
        height=probed.height,
        now=utcnow(),
    )
    await enqueue(session, make_variants, image_id=str(image.id))
    path = media.storage.original_path(digest, probed.format)
    try:
        created = await asyncio.to_thread(write_atomic, path, data)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        # The disk is full: a 503 the client may retry later; the row and its job roll back
        # with the request, write_atomic has removed its temp file.
        log.error("media_storage_full", path=str(path.parent), bytes=len(data))
        raise ServiceUnavailable(slug="storage-full", retry_after=60) from exc
    if created:
        delete_on_rollback(session, path)
    if cache is not None:  # the listing's detail (and lists) show its images
        on_commit(session, lambda: invalidate_listing(cache, listing_id))
    return image


def to_out(record: ImageRecord, storage: MediaStorage, widths: Sequence[int]) -> ImageOut:
    urls: dict[str, str | None] = {str(w): None for w in widths}
    if record.status == ImageStatus.READY:
        for key, variant in record.variants.items():
            urls[key] = storage.variant_url(variant["sha256"])
    return ImageOut(
        id=record.id,
        listing_id=record.listing_id,
        status=record.status.value,
        urls=urls,
        width=record.width,
        height=record.height,
        created_at=record.created_at,
    )


async def list_images(
    session: AnySession,
    settings: MediaSettings,
    storage: MediaStorage,
    listing_id: uuid.UUID,
    viewer: Principal | None,
) -> list[ImageOut]:
    await visible_listing(session, listing_id, viewer)  # 404 like the listing itself
    records = await repository.list_images(session, listing_id)
    return [to_out(r, storage, settings.variant_widths) for r in records]


async def get_image(
    session: AnySession,
    settings: MediaSettings,
    storage: MediaStorage,
    listing_id: uuid.UUID,
    image_id: uuid.UUID,
    viewer: Principal | None,
) -> ImageOut:
    await visible_listing(session, listing_id, viewer)  # 404 like the listing itself
    record = await repository.get_image(session, listing_id, image_id)
    if record is None:
        raise NotFound(N_("Image not found."))
    return to_out(record, storage, settings.variant_widths)


async def images_for_listings(
    session: AnySession,
    settings: MediaSettings,
    storage: MediaStorage,
    listing_ids: Sequence[uuid.UUID],
) -> dict[uuid.UUID, list[ImageOut]]:
    """Images of many listings in one query (for listing detail / search thumbnails)."""
    out: dict[uuid.UUID, list[ImageOut]] = {lid: [] for lid in listing_ids}
    for record in await repository.images_for_listings(session, listing_ids):
        out[record.listing_id].append(to_out(record, storage, settings.variant_widths))
    return out


async def thumbnail_urls(
    session: AnySession,
    storage: MediaStorage,
    listing_ids: Sequence[uuid.UUID],
    *,
    width: str = "320",
) -> dict[uuid.UUID, str]:
    """The smallest variant of each listing's first ready image (search result thumbnails)."""
    found = await repository.first_ready_variants(session, listing_ids, width)
    return {listing_id: storage.variant_url(digest) for listing_id, digest in found.items()}


def detail_images(settings: MediaSettings, storage: MediaStorage) -> DetailExtras:
    """What media adds to a listing's detail: its images (wired by the composition root)."""

    async def images(session: AnySession, listing_id: uuid.UUID) -> dict[str, Any]:
        found = await images_for_listings(session, settings, storage, [listing_id])
        return {"images": [image.model_dump(mode="json") for image in found[listing_id]]}

    return images
