"""nginx serves the variant files itself, with the immutable Cache-Control, never originals."""

from __future__ import annotations

import uuid

import httpx
import pytest

from sichrplace.config import Settings
from sichrplace.media.processing import process_image
from sichrplace.platform.db.engines import Database
from tests.media.conftest import Member, photo, sha256
from tests.media.test_upload import upload, wait_ready

pytestmark = pytest.mark.stack


async def test_nginx_serves_variants_immutably(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    stack_url: str,
    landlord: Member,
    listing_id: uuid.UUID,
) -> None:
    data = photo(1000, 750, "JPEG")
    r = await upload(client, listing_id, landlord, data)
    assert r.status_code == 201, r.text
    await process_image(db, settings.media, uuid.UUID(r.json()["id"]))
    urls = (await wait_ready(client, listing_id, r.json()["id"]))["urls"]
    async with httpx.AsyncClient(base_url=stack_url, timeout=5) as nginx:
        for url in urls.values():
            served = await nginx.get(url)
            assert served.status_code == 200, url
            assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert served.headers["content-type"] == "image/webp"
            assert sha256(served.content) in url
        digest = sha256(data)
        original = await nginx.get(f"/media/{digest[:2]}/{digest}.jpeg")
        assert original.status_code == 404  # originals live outside the served folder


async def test_worker_makes_the_variants(
    client: httpx.AsyncClient, landlord: Member, listing_id: uuid.UUID
) -> None:
    """End to end: the committed job is picked up by the stack's worker (no direct call)."""
    import asyncio

    r = await upload(
        client, listing_id, landlord, photo(1200, 800, "WEBP"), content_type="image/webp"
    )
    assert r.status_code == 201, r.text
    for _ in range(150):
        image = (await client.get(f"/api/v1/listings/{listing_id}/images/{r.json()['id']}")).json()
        if image["status"] != "processing":
            break
        await asyncio.sleep(0.1)
    assert image["status"] == "ready", "no worker served the media queue within 15 s"
    assert all(image["urls"].values())
