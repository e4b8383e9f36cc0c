"""All SQL of the media domain (Core with column projections); rows come back as the typed
records of `media.records`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.dialects.postgresql import distinct_on

from sichrplace.listings.models import Listing
from sichrplace.media.models import ImageStatus, ListingImage
from sichrplace.media.records import ImageRecord
from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession

AnySession = PrimarySession | ReplicaSession

_t = ListingImage.__table__.c
_COLUMNS = (
    _t.id,
    _t.listing_id,
    _t.status,
    _t.original_sha256,
    _t.original_format,
    _t.width,
    _t.height,
    _t.variants,
    _t.created_at,
)


def _image(row: Row[*tuple[Any, ...]]) -> ImageRecord:
    values = row._asdict()
    return ImageRecord(**{**values, "status": ImageStatus(values["status"])})


async def listing_owner_for_upload(
    session: PrimarySession, listing_id: uuid.UUID
) -> tuple[uuid.UUID | None, str]:
    """The owner and status (owner None: no listing), with the listing row key-share locked so
    it cannot vanish before commit."""
    stmt = (
        select(Listing.owner_id, Listing.status)
        .where(Listing.id == listing_id)
        .with_for_update(read=True, key_share=True)
    )
    row = (await session.execute(stmt)).first()
    return (None, "") if row is None else (row[0], str(row[1]))


async def insert_image(
    session: PrimarySession,
    *,
    listing_id: uuid.UUID,
    uploaded_by: uuid.UUID,
    original_sha256: str,
    original_format: str,
    original_bytes: int,
    width: int,
    height: int,
    now: datetime,
) -> ImageRecord:
    """A new image, `processing` until its variants job has run."""
    stmt = (
        insert(ListingImage)
        .values(
            id=uuid.uuid4(),
            listing_id=listing_id,
            uploaded_by=uploaded_by,
            status=ImageStatus.PROCESSING.value,
            original_sha256=original_sha256,
            original_format=original_format,
            original_bytes=original_bytes,
            width=width,
            height=height,
            variants={},
            created_at=now,
            updated_at=now,
        )
        .returning(*_COLUMNS)
    )
    return _image((await session.execute(stmt)).one())


async def list_images(session: AnySession, listing_id: uuid.UUID) -> list[ImageRecord]:
    stmt = select(*_COLUMNS).where(_t.listing_id == listing_id).order_by(_t.created_at, _t.id)
    return [_image(r) for r in (await session.execute(stmt)).all()]


async def images_for_listings(
    session: AnySession, listing_ids: Sequence[uuid.UUID]
) -> list[ImageRecord]:
    if not listing_ids:
        return []
    stmt = (
        select(*_COLUMNS)
        .where(_t.listing_id.in_(list(listing_ids)))
        .order_by(_t.listing_id, _t.created_at, _t.id)
    )
    return [_image(r) for r in (await session.execute(stmt)).all()]


async def first_ready_variants(
    session: AnySession, listing_ids: Sequence[uuid.UUID], width: str
) -> dict[uuid.UUID, str]:
    """listing id -> sha256 of the `width` variant of its first ready image (one query)."""
    if not listing_ids:
        return {}
    digest = _t.variants[width]["sha256"].astext
    stmt = (
        select(_t.listing_id, digest)
        .ext(distinct_on(_t.listing_id))
        .where(_t.listing_id.in_(list(listing_ids)), _t.status == ImageStatus.READY.value)
        .order_by(_t.listing_id, _t.created_at, _t.id)
    )
    return {row[0]: row[1] for row in (await session.execute(stmt)).all() if row[1]}


async def get_image(
    session: AnySession, listing_id: uuid.UUID, image_id: uuid.UUID
) -> ImageRecord | None:
    stmt = select(*_COLUMNS).where(_t.id == image_id, _t.listing_id == listing_id)
    row = (await session.execute(stmt)).first()
    return _image(row) if row is not None else None


async def image_by_id(session: PrimarySession, image_id: uuid.UUID) -> ImageRecord | None:
    row = (await session.execute(select(*_COLUMNS).where(_t.id == image_id))).first()
    return _image(row) if row is not None else None


async def lock_image(session: PrimarySession, image_id: uuid.UUID) -> ImageRecord | None:
    """The image row, locked FOR UPDATE: concurrent runs of its job serialise here."""
    stmt = select(*_COLUMNS).where(_t.id == image_id).with_for_update()
    row = (await session.execute(stmt)).first()
    return _image(row) if row is not None else None


async def mark_ready(
    session: PrimarySession, image_id: uuid.UUID, variants: dict[str, Any]
) -> None:
    await session.execute(
        update(ListingImage)
        .where(ListingImage.id == image_id)
        .values(
            status=ImageStatus.READY.value, variants=variants, error=None, updated_at=func.now()
        )
    )


async def mark_failed(session: PrimarySession, image_id: uuid.UUID, error: str) -> None:
    await session.execute(
        update(ListingImage)
        .where(ListingImage.id == image_id)
        .values(status=ImageStatus.FAILED.value, error=error[:500], updated_at=func.now())
    )
