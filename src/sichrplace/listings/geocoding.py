"""Coordinates for a listing's address through the maps interface; a failure never loses the
listing (it is stored `pending` and a job retries)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Protocol

import structlog

from sichrplace.integrations.maps.types import Geocoder, GeocodingUnavailable
from sichrplace.listings import repository
from sichrplace.listings.records import ADDRESS_FIELDS, ListingRow
from sichrplace.listings.vocabulary import GeocodeStatus
from sichrplace.platform.db.sessions import PrimarySession

log = structlog.get_logger(__name__)

# An outer bound on top of the client's own timeouts and retries: a create never waits longer.
GEOCODE_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Geocoded:
    latitude: float | None
    longitude: float | None
    status: GeocodeStatus


class Addressed(Protocol):
    """Anything with an address: a stored listing, or one being created."""

    @property
    def street(self) -> str: ...

    @property
    def house_number(self) -> str: ...

    @property
    def postal_code(self) -> str: ...

    @property
    def city(self) -> str: ...


def address_of(listing: Addressed) -> dict[str, str]:
    """The geocoder's arguments for `listing`'s address."""
    return {name: str(getattr(listing, name)) for name in ADDRESS_FIELDS}


async def geocode(geocoder: Geocoder | None, address: dict[str, str]) -> Geocoded:
    """`ok` with coordinates; `failed` when no such address exists; `pending` when the
    geocoder could not answer now (none configured, down, timed out, or broken)."""
    if geocoder is None:
        return Geocoded(None, None, GeocodeStatus.PENDING)
    try:
        async with asyncio.timeout(GEOCODE_TIMEOUT_SECONDS):
            result = await geocoder.geocode(**address)
    except (GeocodingUnavailable, TimeoutError) as exc:
        log.info("geocoding_deferred", reason=type(exc).__name__)
        return Geocoded(None, None, GeocodeStatus.PENDING)
    except Exception:  # a bug in a client must not lose the listing either
        log.exception("geocoder_failed")
        return Geocoded(None, None, GeocodeStatus.PENDING)
    if result is None:
        return Geocoded(None, None, GeocodeStatus.FAILED)
    return Geocoded(result.latitude, result.longitude, GeocodeStatus.OK)


async def retry_pending(
    session: PrimarySession, geocoder: Geocoder | None, listing_id: uuid.UUID
) -> ListingRow | None:
    """The job's work: geocode a pending listing's current address and store the answer.

    Returns the updated listing, None when there was nothing to do (not pending any more, gone,
    or edited meanwhile). Raises GeocodingUnavailable when the geocoder still cannot answer,
    so the job is retried with backoff.
    """
    current = await repository.get_listing(session, listing_id)
    if current is None or current.geocode_status != GeocodeStatus.PENDING:
        return None
    address = address_of(current)
    if geocoder is None:
        raise GeocodingUnavailable("no geocoder configured")
    async with asyncio.timeout(GEOCODE_TIMEOUT_SECONDS):
        result = await geocoder.geocode(**address)
    found = Geocoded(None, None, GeocodeStatus.FAILED)
    if result is not None:
        found = Geocoded(result.latitude, result.longitude, GeocodeStatus.OK)
    return await repository.store_geocode(
        session,
        listing_id,
        address,
        latitude=found.latitude,
        longitude=found.longitude,
        status=found.status,
    )
