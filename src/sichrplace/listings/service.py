"""Listing rules: validation against merged values, owner checks, geocoding, cached reads.

Services never commit: the request boundary does, then runs the after-commit effects
registered here (cache invalidation, read-your-writes pinning).
"""

from __future__ import annotations

import uuid
from typing import Any, Literal, Protocol

import orjson

from sichrplace.integrations.maps.types import Geocoder, GeocodeResult, GeocodingUnavailable
from sichrplace.kit.errors import Unprocessable
from sichrplace.listings import geocoding, repository
from sichrplace.listings.detail import DetailExtras, load_detail
from sichrplace.listings.errors import (
    IllegalStatusTransition,
    ListingNotFound,
    NotListingOwner,
    deposit_too_high,
)
from sichrplace.listings.fulltext import derived_columns
from sichrplace.listings.invalidation import ReadPath, after_listing_write
from sichrplace.listings.schemas import ListingCreate, ListingUpdate
from sichrplace.listings.tasks import geocode_listing
from sichrplace.listings.vocabulary import (
    STATUS_TRANSITIONS,
    GeocodeStatus,
    ListingStatus,
    city_key,
)
from sichrplace.platform.cache import Cache
from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession
from sichrplace.platform.jobs import enqueue

__all__ = ["GeocodeResult", "Geocoder", "GeocodingUnavailable"]  # the maps interface, re-exported

ReadSource = Literal["cache", "replica", "primary"]


class Caller(Protocol):
    """The authenticated caller (accounts' Principal satisfies this)."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def role(self) -> str: ...


def may_manage(caller: Caller | None, owner_id: uuid.UUID | str) -> bool:
    return caller is not None and (caller.role == "admin" or str(caller.id) == str(owner_id))


def _check_deposit(values: dict[str, Any]) -> None:
    if values["deposit_cents"] > 3 * values["cold_rent_cents"]:
        raise deposit_too_high(values["deposit_cents"], values["cold_rent_cents"])


def _check_coordinates(latitude: float | None, longitude: float | None) -> None:
    if (latitude is None) != (longitude is None):
        missing = "longitude" if longitude is None else "latitude"
        raise Unprocessable.field(missing, "latitude and longitude go together")


async def _locate(geocoder: Geocoder | None, values: dict[str, Any]) -> dict[str, Any]:
    """Coordinate fields for `values`' address (null and `pending` when the geocoder is down)."""
    found = await geocoding.geocode(geocoder, geocoding.address_of(values))
    return {
        "latitude": found.latitude,
        "longitude": found.longitude,
        "geocode_status": found.status,
    }


async def create_listing(
    session: PrimarySession,
    caller: Caller,
    data: ListingCreate,
    *,
    geocoder: Geocoder | None,
    read_path: ReadPath,
) -> dict[str, Any]:
    values = data.model_dump()
    _check_deposit(values)
    _check_coordinates(data.latitude, data.longitude)
    values.update(derived_columns(values))
    values.update(
        id=uuid.uuid4(),
        owner_id=caller.id,
        status=ListingStatus.ACTIVE,
        geocode_status=GeocodeStatus.OK,
    )
    if data.latitude is None:
        # Before the first statement: no database connection is held while the geocoder works.
        values.update(await _locate(geocoder, values))
    row = await repository.insert_listing(session, values)
    if values["geocode_status"] == GeocodeStatus.PENDING:
        await enqueue(session, geocode_listing, listing_id=str(row["id"]))
    after_listing_write(session, read_path, row["id"], caller.id)
    return await _with_extras(session, read_path, row)


async def _with_extras(
    session: PrimarySession, read_path: ReadPath, row: dict[str, Any]
) -> dict[str, Any]:
    """A written row as the full detail document (e.g. with its images)."""
    row["images"] = []
    if read_path.extras is not None:
        row.update(await read_path.extras(session, row["id"]))
    return row


def _check_status(current: str, wanted: str) -> None:
    if (
        wanted != current
        and ListingStatus(wanted) not in STATUS_TRANSITIONS[ListingStatus(current)]
    ):
        raise IllegalStatusTransition(current, wanted)


def _authorize(caller: Caller, listing: dict[str, Any]) -> None:
    if may_manage(caller, listing["owner_id"]):
        return
    if listing["status"] == ListingStatus.ARCHIVED:
        raise ListingNotFound()  # archived listings are invisible to others
    raise NotListingOwner()


async def _load_for_change(
    session: PrimarySession, caller: Caller, listing_id: uuid.UUID
) -> dict[str, Any]:
    current = await repository.lock_listing(session, listing_id)
    if current is None:
        raise ListingNotFound()
    _authorize(caller, current)
    return current


def _merged(current: dict[str, Any], patch: ListingUpdate) -> dict[str, Any]:
    """The listing as it will be after `patch`, validated as a whole."""
    sent = patch.changes()
    for name, value in sent.items():
        if value is None and name not in ListingUpdate.NULLABLE:
            raise Unprocessable.field(name, "must not be null")
    merged = {**current, **sent}
    _check_deposit(merged)
    _check_coordinates(merged["latitude"], merged["longitude"])
    if "status" in sent:
        _check_status(current["status"], merged["status"])
    merged.update(derived_columns(merged))
    return merged


async def update_listing(
    session: PrimarySession,
    caller: Caller,
    listing_id: uuid.UUID,
    patch: ListingUpdate,
    *,
    geocoder: Geocoder | None,
    read_path: ReadPath,
) -> dict[str, Any]:
    current = await _load_for_change(session, caller, listing_id)
    merged = _merged(current, patch)
    coordinates_sent = bool({"latitude", "longitude"} & patch.model_fields_set)
    moved = any(merged[name] != current[name] for name in repository.ADDRESS_FIELDS)
    located = False
    if coordinates_sent and merged["latitude"] is not None:
        merged["geocode_status"] = GeocodeStatus.OK
    elif coordinates_sent or moved:
        # Cleared coordinates, or a new address that makes the old ones wrong.
        merged.update(await _locate(geocoder, merged))
        located = True
    changes = {k: v for k, v in merged.items() if k in current and v != current[k]}
    if not changes:
        return await _with_extras(session, read_path, current)
    row = await repository.update_listing(session, listing_id, changes)
    if located and merged["geocode_status"] == GeocodeStatus.PENDING:
        await enqueue(session, geocode_listing, listing_id=str(listing_id))
    after_listing_write(session, read_path, listing_id, caller.id)
    return await _with_extras(session, read_path, row)


async def archive_listing(
    session: PrimarySession, caller: Caller, listing_id: uuid.UUID, *, read_path: ReadPath
) -> None:
    """DELETE is a soft delete: the listing is archived (viewings, contracts and messages keep
    pointing at it) and hidden from everyone but its owner and admins."""
    current = await _load_for_change(session, caller, listing_id)
    if current["status"] == ListingStatus.ARCHIVED:
        return
    await repository.update_listing(session, listing_id, {"status": ListingStatus.ARCHIVED})
    after_listing_write(session, read_path, listing_id, caller.id)


async def get_listing(
    replica: ReplicaSession,
    cache: Cache,
    listing_id: uuid.UUID,
    caller: Caller | None,
    *,
    pinned: bool,
    extras: DetailExtras | None = None,
) -> tuple[dict[str, Any], bytes, ReadSource]:
    """The public listing (JSON-native dict), the same as JSON text (what the cache holds, to
    be written out unchanged) and where it was read from.

    Cached per listing for everyone alike; visibility is decided after the cache. A caller
    pinned by read-your-writes bypasses the cache and reads the primary.
    """
    source: ReadSource = "cache"

    async def load() -> dict[str, Any] | None:
        nonlocal source
        row = await load_detail(replica, listing_id, extras)
        source = replica.last_target or "replica"
        return row

    body = await cache.get_or_compute_json("listing", str(listing_id), load, bypass=pinned)
    row = orjson.loads(body)
    if row is None:
        raise ListingNotFound()
    if row["status"] == ListingStatus.ARCHIVED and not may_manage(caller, row["owner_id"]):
        raise ListingNotFound()
    return row, body, source


async def popular_listings(
    replica: ReplicaSession, cache: Cache, city: str | None, limit: int
) -> list[dict[str, Any]]:
    key = city_key(city) if city else ""

    async def load() -> list[dict[str, Any]]:
        return await repository.popular(replica, key or None, limit)

    return await cache.get_or_compute("popular", f"{key}|{limit}", load)
