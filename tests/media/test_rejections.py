"""Uploads that fail: 4xx naming `file` (or 401/403/404), and nothing stored behind them."""

from __future__ import annotations

import io
import uuid

import httpx
import pytest
from PIL import Image

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.media.conftest import (
    API,
    MakeListing,
    MakeUser,
    Member,
    image_rows,
    originals_for,
    photo,
    sha256,
)
from tests.media.test_upload import upload


async def assert_nothing_stored(
    db: Database, settings: Settings, listing_id: uuid.UUID, data: bytes
) -> None:
    assert await image_rows(db, listing_id) == 0
    assert not any(p.exists() for p in originals_for(settings, sha256(data)))


def _gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(out, "GIF")
    return out.getvalue()


def _bomb() -> bytes:
    """A tiny PNG that claims 400 million pixels."""
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("case", "make", "message"),
    [
        # The landlord's language is German (the default).
        ("truncated jpeg", lambda: photo(800, 600, "JPEG")[:-4000], "beschädigt"),
        ("truncated png", lambda: photo(300, 300, "PNG")[:-100], "beschädigt"),
        ("jpeg header only", lambda: photo(800, 600, "JPEG")[:300], "beschädigt"),
        ("gif", _gif, "kein JPEG-, PNG- oder WebP-Bild"),
        ("text named .jpg", lambda: b"this is not an image\n" * 50, "kein JPEG-, PNG- oder WebP"),
        ("decompression bomb", _bomb, "Pixel"),
        ("empty", lambda: b"", "leere Datei"),
    ],
)
async def test_invalid_files_are_422_and_leave_nothing(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    landlord: Member,
    listing_id: uuid.UUID,
    case: str,
    make: object,
    message: str,
) -> None:
    assert callable(make)
    data: bytes = make()
    # The declared type and name claim a JPEG: only decoding decides.
    r = await upload(client, listing_id, landlord, data, filename="photo.jpg")
    assert r.status_code == 422, (case, r.text)
    problem = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in problem["errors"]] == ["file"]
    assert message in problem["errors"][0]["message"]
    await assert_nothing_stored(db, settings, listing_id, data)


async def test_file_just_over_10_mb_is_422_naming_file(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    landlord: Member,
    listing_id: uuid.UUID,
) -> None:
    data = photo(600, 400, "PNG")
    data += b"\0" * (10 * 1024 * 1024 + 1 - len(data))  # a valid PNG plus trailing bytes
    r = await upload(client, listing_id, landlord, data, content_type="image/png")
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [{"field": "file", "message": "größer als 10 MB"}]
    await assert_nothing_stored(db, settings, listing_id, data)


async def test_far_oversized_body_is_413_before_the_app(
    client: httpx.AsyncClient, db: Database, landlord: Member, listing_id: uuid.UUID
) -> None:
    r = await upload(client, listing_id, landlord, b"\xff" * (11 * 1024 * 1024))
    assert r.status_code == 413
    assert await image_rows(db, listing_id) == 0


async def test_missing_file_field_is_422(
    client: httpx.AsyncClient, landlord: Member, listing_id: uuid.UUID
) -> None:
    r = await client.post(
        f"{API}/listings/{listing_id}/images",
        files={"photo": ("a.jpg", photo(100, 100, "JPEG"), "image/jpeg")},
        headers=landlord.headers,
    )
    assert r.status_code == 422
    assert "file" in {e["field"] for e in r.json()["errors"]}


async def test_other_landlord_is_403(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    make_user: MakeUser,
    listing_id: uuid.UUID,
) -> None:
    other = await make_user("landlord")
    data = photo(400, 300, "JPEG")
    r = await upload(client, listing_id, other, data)
    assert r.status_code == 403
    await assert_nothing_stored(db, settings, listing_id, data)


async def test_tenant_is_403(
    client: httpx.AsyncClient, make_user: MakeUser, listing_id: uuid.UUID, db: Database
) -> None:
    tenant = await make_user("tenant")
    r = await upload(client, listing_id, tenant, photo(400, 300, "JPEG"))
    assert r.status_code == 403
    assert await image_rows(db, listing_id) == 0


async def test_anonymous_is_401(client: httpx.AsyncClient, listing_id: uuid.UUID) -> None:
    r = await client.post(
        f"{API}/listings/{listing_id}/images",
        files={"file": ("a.jpg", photo(100, 100, "JPEG"), "image/jpeg")},
    )
    assert r.status_code == 401


async def test_unknown_listing_is_404(
    client: httpx.AsyncClient, landlord: Member, make_listing: MakeListing
) -> None:
    r = await upload(client, uuid.uuid4(), landlord, photo(100, 100, "JPEG"))
    assert r.status_code == 404
    r = await client.get(f"{API}/listings/{uuid.uuid4()}/images")
    assert r.status_code == 404
