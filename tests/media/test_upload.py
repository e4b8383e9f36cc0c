"""Uploads that succeed: 201 honest about processing, the job makes content-hashed variants."""

from __future__ import annotations

import io
import uuid
from typing import Any

import httpx
import pytest
from PIL import Image

from sichrplace.config import Settings
from sichrplace.media.models import ImageStatus
from sichrplace.media.processing import process_image
from sichrplace.platform.db.engines import Database
from tests.media.conftest import (
    API,
    MakeUser,
    Member,
    image_rows,
    jobs_for,
    originals_for,
    photo,
    sha256,
)

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


async def upload(
    client: httpx.AsyncClient,
    listing_id: uuid.UUID,
    member: Member,
    data: bytes,
    *,
    filename: str = "photo.jpg",
    content_type: str = "image/jpeg",
) -> httpx.Response:
    return await client.post(
        f"{API}/listings/{listing_id}/images",
        files={"file": (filename, data, content_type)},
        headers=member.headers,
    )


async def listed(client: httpx.AsyncClient, listing_id: uuid.UUID, image_id: str) -> dict[str, Any]:
    """The image as GET /listings/{id}/images shows it (read from the replica)."""
    r = await client.get(f"{API}/listings/{listing_id}/images")
    assert r.status_code == 200, r.text
    (found,) = [i for i in r.json() if i["id"] == image_id]
    return dict(found)


async def wait_ready(
    client: httpx.AsyncClient, listing_id: uuid.UUID, image_id: str
) -> dict[str, Any]:
    import asyncio

    for _ in range(50):  # the replica may lag a few milliseconds behind the job's commit
        image = await listed(client, listing_id, image_id)
        if image["status"] != "processing":
            return image
        await asyncio.sleep(0.05)
    raise AssertionError("image still processing")


@pytest.mark.parametrize(
    ("fmt", "size"), [("JPEG", (2400, 1600)), ("PNG", (1000, 700)), ("WEBP", (1700, 900))]
)
async def test_upload_then_job_makes_content_hashed_variants(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    landlord: Member,
    listing_id: uuid.UUID,
    fmt: str,
    size: tuple[int, int],
) -> None:
    data = photo(*size, fmt)
    r = await upload(client, listing_id, landlord, data, content_type=CONTENT_TYPES[fmt])
    assert r.status_code == 201, r.text
    body = r.json()
    # Honest 201: the variants do not exist yet.
    assert body["status"] == "processing"
    assert body["urls"] == {"320": None, "800": None, "1600": None}
    assert (body["width"], body["height"]) == size
    assert r.headers["location"] == f"{API}/listings/{listing_id}/images/{body['id']}"

    # The original is stored under its own content hash, and its job committed with the row.
    original = settings.media.originals_dir / sha256(data)[:2] / f"{sha256(data)}.{fmt.lower()}"
    assert original.read_bytes() == data
    (job,) = await jobs_for(db, body["id"])  # exactly one job (a worker may have taken it)
    assert job[0] == "media"

    assert await process_image(db, settings.media, uuid.UUID(body["id"])) is ImageStatus.READY
    image = await wait_ready(client, listing_id, body["id"])
    assert image["status"] == "ready"
    assert set(image["urls"]) == {"320", "800", "1600"}
    for key, url in image["urls"].items():
        assert url.startswith("/media/")
        name = url.removeprefix("/media/")
        shard, filename = name.split("/")
        stored = (settings.media.media_dir / name).read_bytes()
        # The name is the sha256 of the variant's bytes.
        assert filename == f"{sha256(stored)}.webp"
        assert shard == sha256(stored)[:2]
        with Image.open(io.BytesIO(stored)) as variant:
            assert variant.format == "WEBP"
            assert variant.width == min(int(key), size[0])  # never upscaled
            assert abs(variant.height - variant.width * size[1] / size[0]) <= 1
        served = await client.get(url)
        assert served.status_code == 200
        assert served.content == stored
        assert served.headers["content-type"] == "image/webp"
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"

    single = await client.get(f"{API}/listings/{listing_id}/images/{body['id']}")
    assert single.status_code == 200
    assert single.json()["urls"] == image["urls"]


async def test_small_image_is_not_upscaled(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    landlord: Member,
    listing_id: uuid.UUID,
) -> None:
    r = await upload(client, listing_id, landlord, photo(500, 250, "PNG"), content_type="image/png")
    assert r.status_code == 201, r.text
    await process_image(db, settings.media, uuid.UUID(r.json()["id"]))
    urls = (await wait_ready(client, listing_id, r.json()["id"]))["urls"]
    assert urls["800"] == urls["1600"]  # identical bytes, one content-addressed file
    assert urls["320"] != urls["800"]
    with Image.open(settings.media.media_dir / urls["1600"].removeprefix("/media/")) as img:
        assert img.size == (500, 250)


async def test_exif_orientation_applied_and_metadata_dropped(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    landlord: Member,
    listing_id: uuid.UUID,
) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    exif[0x010F] = "ACME Camera"
    data = photo(1200, 600, "JPEG", exif=exif.tobytes())
    r = await upload(client, listing_id, landlord, data)
    assert r.status_code == 201, r.text
    await process_image(db, settings.media, uuid.UUID(r.json()["id"]))
    urls = (await wait_ready(client, listing_id, r.json()["id"]))["urls"]
    with Image.open(settings.media.media_dir / urls["1600"].removeprefix("/media/")) as img:
        assert img.size == (600, 1200)  # portrait after rotation, not upscaled
        assert not img.getexif()  # camera metadata is not published


async def test_job_is_idempotent(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    landlord: Member,
    listing_id: uuid.UUID,
) -> None:
    r = await upload(client, listing_id, landlord, photo(900, 600, "JPEG"))
    image_id = uuid.UUID(r.json()["id"])
    assert await process_image(db, settings.media, image_id) is ImageStatus.READY
    first = await wait_ready(client, listing_id, str(image_id))
    assert await process_image(db, settings.media, image_id) is ImageStatus.READY
    assert (await listed(client, listing_id, str(image_id)))["urls"] == first["urls"]
    assert await process_image(db, settings.media, uuid.uuid4()) is None  # gone: nothing to do


async def test_admin_may_upload_to_any_listing(
    client: httpx.AsyncClient, make_user: MakeUser, listing_id: uuid.UUID, db: Database
) -> None:
    admin = await make_user("admin")
    r = await upload(client, listing_id, admin, photo(400, 300, "JPEG"))
    assert r.status_code == 201, r.text
    assert await image_rows(db, listing_id) == 1


async def test_original_missing_marks_image_failed(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    landlord: Member,
    listing_id: uuid.UUID,
) -> None:
    data = photo(640, 480, "PNG")
    r = await upload(client, listing_id, landlord, data, content_type="image/png")
    for path in originals_for(settings, sha256(data)):
        path.unlink(missing_ok=True)
    assert await process_image(db, settings.media, uuid.UUID(r.json()["id"])) is ImageStatus.FAILED
    image = await wait_ready(client, listing_id, r.json()["id"])
    assert image["status"] == "failed"
    assert image["urls"] == {"320": None, "800": None, "1600": None}
