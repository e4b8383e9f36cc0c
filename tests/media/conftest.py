"""Media fixtures: a landlord with a listing (rows inserted directly), real image bytes."""

from __future__ import annotations

import hashlib
import io
import random
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, insert, select, text

from sichrplace.config import Settings
from sichrplace.listings.models import Listing
from sichrplace.media.models import ListingImage
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from tests.helpers.members import Member, create_member

API = "/api/v1"


MakeUser = Callable[[str], Awaitable[Member]]
MakeListing = Callable[[uuid.UUID], Awaitable[uuid.UUID]]


@pytest.fixture
def make_user(db: Database, settings: Settings) -> MakeUser:
    async def make(role: str) -> Member:
        return await create_member(db, settings, role, label="media")

    return make


@pytest.fixture
def make_listing(db: Database) -> MakeListing:
    async def make(owner_id: uuid.UUID) -> uuid.UUID:
        listing_id = uuid.uuid4()
        async with transaction(db) as session:
            await session.execute(
                insert(Listing).values(
                    id=listing_id,
                    owner_id=owner_id,
                    title="Altbauwohnung mit Stuck",
                    street="Oderberger Straße",
                    house_number="7",
                    postal_code="10435",
                    city="Berlin",
                    city_key="berlin",
                    latitude=52.5391,
                    longitude=13.4078,
                    geocode_status="ok",
                    cold_rent_cents=120_000,
                    utilities_cents=25_000,
                    deposit_cents=240_000,
                    rooms=2,
                    size_sqm=64,
                )
            )
        return listing_id

    return make


@pytest.fixture
async def landlord(make_user: MakeUser) -> Member:
    return await make_user("landlord")


@pytest.fixture
async def listing_id(make_listing: MakeListing, landlord: Member) -> uuid.UUID:
    return await make_listing(landlord.id)


def photo(
    width: int, height: int, fmt: str, *, mode: str = "RGB", exif: bytes | None = None
) -> bytes:
    """A photo-like image (gradient + noise, unique per call so content hashes never collide)."""
    rng = random.Random()
    img = Image.linear_gradient("L").resize((width, height)).convert(mode)
    noise = Image.effect_noise((width, height), 40).convert(mode)
    img = Image.blend(img, noise, 0.3)
    img.putpixel((0, 0), tuple(rng.randrange(256) for _ in mode))
    out = io.BytesIO()
    kwargs: dict[str, object] = {"exif": exif} if exif else {}
    img.save(out, fmt, **kwargs)
    return out.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def originals_for(settings: Settings, digest: str) -> list[Path]:
    """Every original a given content could have been stored as (any format)."""
    base = settings.media.originals_dir / digest[:2]
    return [base / f"{digest}.{ext}" for ext in ("jpeg", "png", "webp")]


async def image_rows(db: Database, listing_id: uuid.UUID) -> int:
    async with transaction(db) as session:
        stmt = select(func.count()).where(ListingImage.listing_id == listing_id)
        return int((await session.execute(stmt)).scalar_one())


async def jobs_for(db: Database, image_id: str) -> list[tuple[str, str]]:
    async with transaction(db) as session:
        rows = await session.execute(
            text(
                "SELECT queue_name, status::text FROM procrastinate_jobs "
                "WHERE task_name = 'media.make_variants' AND args->>'image_id' = :id"
            ),
            {"id": image_id},
        )
        return [(r[0], r[1]) for r in rows]
