"""Cleanup of a written original when the transaction rolls back, the /media/ route (atomic
writes themselves: tests/unit/media/test_storage.py)."""

from __future__ import annotations

import io
import uuid

import httpx
import pytest
from fastapi import UploadFile

from sichrplace.accounts.dependencies import Principal
from sichrplace.accounts.models import Role
from sichrplace.config import Settings
from sichrplace.media import service
from sichrplace.media.parts import MediaParts
from sichrplace.media.storage import MediaStorage, write_atomic
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from tests.media.conftest import Member, image_rows, jobs_for, originals_for, photo, sha256


async def test_rolled_back_upload_leaves_no_row_no_job_no_file(
    db: Database, settings: Settings, landlord: Member, listing_id: uuid.UUID
) -> None:
    """The file is written before the commit; if the commit never happens it is removed."""
    data = photo(700, 500, "JPEG")
    user = Principal(landlord.id, landlord.email, Role.LANDLORD, uuid.uuid4())
    storage = MediaStorage(settings.media)
    seen: list[uuid.UUID] = []

    async def unit_of_work_that_fails() -> None:
        async with transaction(db) as session:
            record = await service.upload_image(
                session,
                MediaParts(settings.media, storage),
                user=user,
                listing_id=listing_id,
                upload=UploadFile(io.BytesIO(data), filename="x.jpg"),
            )
            seen.append(record.id)
            assert storage.original_path(sha256(data), "jpeg").exists()
            raise RuntimeError("boom")  # e.g. the commit fails

    with pytest.raises(RuntimeError, match="boom"):
        await unit_of_work_that_fails()
    (image_id,) = seen
    assert not any(p.exists() for p in originals_for(settings, sha256(data)))
    assert await image_rows(db, listing_id) == 0
    assert await jobs_for(db, str(image_id)) == []


async def test_committed_upload_keeps_its_file(
    db: Database, settings: Settings, landlord: Member, listing_id: uuid.UUID
) -> None:
    data = photo(300, 200, "PNG")
    user = Principal(landlord.id, landlord.email, Role.LANDLORD, uuid.uuid4())
    storage = MediaStorage(settings.media)
    async with transaction(db) as session:
        record = await service.upload_image(
            session,
            MediaParts(settings.media, storage),
            user=user,
            listing_id=listing_id,
            upload=UploadFile(io.BytesIO(data), filename="x.png"),
        )
    assert storage.original_path(sha256(data), "png").read_bytes() == data
    assert await jobs_for(db, str(record.id))


@pytest.mark.parametrize(
    "path",
    [
        "/media/../../etc/passwd",
        "/media/ab/" + "a" * 64 + ".webp",  # shard does not match the hash
        "/media/zz/" + "z" * 64 + ".webp",
        "/media/aa/" + "a" * 64 + ".jpeg",
        "/media/aa/" + "a" * 64 + ".webp",  # well-formed but absent
    ],
)
async def test_media_route_serves_only_existing_variants(
    client: httpx.AsyncClient, path: str
) -> None:
    r = await client.get(path)
    assert r.status_code == 404


async def test_media_route_never_serves_originals(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    data = photo(50, 50, "JPEG")
    digest = sha256(data)
    write_atomic(MediaStorage(settings.media).original_path(digest, "jpeg"), data)
    r = await client.get(f"/media/{digest[:2]}/{digest}.jpeg")
    assert r.status_code == 404
