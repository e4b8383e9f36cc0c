"""What listings/search use: images of many listings, thumbnails, and cache invalidation."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from sichrplace.app import parts_of_app
from sichrplace.config import Settings
from sichrplace.listings.detail import cache_key
from sichrplace.media import service
from sichrplace.media.models import ImageStatus, ListingImage
from sichrplace.media.processing import process_image
from sichrplace.media.storage import MediaStorage
from sichrplace.platform.cache import Cache
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import ReplicaSession
from tests.media.conftest import MakeListing, Member, jobs_for, photo
from tests.media.test_upload import upload, wait_ready


async def _cached_is_stale(cache: Cache, listing_id: uuid.UUID) -> bool:
    """True if the cached detail is still the planted stale value."""

    async def fresh() -> dict[str, bool]:
        return {"stale": False}

    value = await cache.get_or_compute("listing", cache_key(listing_id), fresh)
    return bool(value["stale"])


async def _stale() -> dict[str, bool]:
    return {"stale": True}


async def _plant_stale(cache: Cache, listing_id: uuid.UUID) -> None:
    """Cache a stale detail and see it read back. A test before may have stopped Redis: the
    cache fails open (its circuit stays open for a few seconds) until Redis answers again."""
    deadline = time.monotonic() + 15
    while True:
        await cache.refresh("listing", cache_key(listing_id), _stale)
        if await _cached_is_stale(cache, listing_id):
            return
        assert time.monotonic() < deadline, "the cache never held the planted value"
        await asyncio.sleep(0.5)


async def test_upload_and_job_invalidate_the_cached_listing(
    app: FastAPI,
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    landlord: Member,
    listing_id: uuid.UUID,
) -> None:
    cache: Cache = parts_of_app(app).cache
    await _plant_stale(cache, listing_id)
    r = await upload(client, listing_id, landlord, photo(640, 480, "JPEG"))
    assert r.status_code == 201
    assert not await _cached_is_stale(cache, listing_id)

    # The stack's worker runs the image's job as well: once that run is over, the image goes
    # back to processing, so that the run below is the one that finishes it (and invalidates).
    image_id = uuid.UUID(r.json()["id"])
    await _wait_job_done(db, str(image_id))
    async with transaction(db) as session:
        await session.execute(
            update(ListingImage).where(ListingImage.id == image_id).values(status="processing")
        )
    await _plant_stale(cache, listing_id)
    assert await process_image(db, settings.media, image_id, cache) is ImageStatus.READY
    assert not await _cached_is_stale(cache, listing_id)


async def _wait_job_done(db: Database, image_id: str) -> None:
    deadline = time.monotonic() + 30
    while (statuses := {s for _, s in await jobs_for(db, image_id)}) & {"todo", "doing"}:
        assert time.monotonic() < deadline, f"the image's job did not finish: {statuses}"
        await asyncio.sleep(0.2)


async def test_images_and_thumbnails_for_many_listings(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    landlord: Member,
    make_listing: MakeListing,
) -> None:
    with_images, without = await make_listing(landlord.id), await make_listing(landlord.id)
    first = await upload(client, with_images, landlord, photo(900, 600, "JPEG"))
    second = await upload(
        client, with_images, landlord, photo(800, 800, "PNG"), content_type="image/png"
    )
    await process_image(db, settings.media, uuid.UUID(first.json()["id"]))
    ready = await wait_ready(client, with_images, first.json()["id"])
    # `second` stays processing: it has no thumbnail yet, and is listed with null URLs.

    storage = MediaStorage(settings.media)
    session = ReplicaSession(db, force_primary=True)
    images = await service.images_for_listings(
        session, settings.media, storage, [with_images, without]
    )
    assert [i.id for i in images[with_images]] == [
        uuid.UUID(first.json()["id"]),
        uuid.UUID(second.json()["id"]),
    ]
    assert images[with_images][0].urls == ready["urls"]
    assert images[with_images][1].status == "processing"
    assert images[without] == []

    thumbs = await service.thumbnail_urls(session, storage, [with_images, without])
    assert thumbs == {with_images: ready["urls"]["320"]}
