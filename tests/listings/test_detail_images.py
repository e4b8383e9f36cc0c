"""The detail document includes the listing's images (from the media domain), also when the
cache entry is written through after an edit."""

from __future__ import annotations

import asyncio
import io

import httpx
from PIL import Image

from sichrplace.platform.db.engines import Database
from tests.listings.conftest import API, MakeUser, listing_body, replica_caught_up
from tests.media.conftest import jobs_for


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


async def _job_done(db: Database, image_id: str) -> None:
    for _ in range(200):
        if [status for _, status in await jobs_for(db, image_id)] == ["succeeded"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the image's variants job did not finish")


async def test_images_in_detail_and_after_an_edit(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database
) -> None:
    owner, visitor = await make_user("landlord"), await make_user("tenant")
    created = await client.post(f"{API}/listings", json=listing_body(), headers=owner.headers)
    assert created.status_code == 201
    assert created.json()["images"] == []
    url = f"{API}/listings/{created.json()['id']}"
    assert (await client.get(url, headers=visitor.headers)).json()["images"] == []  # now cached

    upload = await client.post(
        f"{url}/images", files={"file": ("flat.png", _png(), "image/png")}, headers=owner.headers
    )
    assert upload.status_code == 201, upload.text
    # The worker's variants job drops the cached detail when it finishes: let it finish first,
    # or it may drop the written-through entry this test looks for after the edit.
    await _job_done(db, upload.json()["id"])
    await replica_caught_up(db)
    images = (await client.get(url, headers=visitor.headers)).json()["images"]
    assert [i["id"] for i in images] == [upload.json()["id"]]

    edited = await client.patch(url, json={"title": "Mit Fotos"}, headers=owner.headers)
    assert edited.status_code == 200
    assert [i["id"] for i in edited.json()["images"]] == [upload.json()["id"]]
    seen = await client.get(url, headers=visitor.headers)  # the written-through entry
    assert seen.headers["x-read-source"] == "cache"
    assert seen.json()["title"] == "Mit Fotos"
    assert [i["id"] for i in seen.json()["images"]] == [upload.json()["id"]]
