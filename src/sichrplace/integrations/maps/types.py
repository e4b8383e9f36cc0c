"""The maps-service interface the listings domain depends on (provider-neutral)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class GeocodeResult:
    latitude: float
    longitude: float
    formatted_address: str


class GeocodingUnavailable(Exception):
    """The geocoder cannot answer now (down, over quota, misconfigured): try again later."""


class Geocoder(Protocol):
    async def geocode(
        self, *, street: str, house_number: str, postal_code: str, city: str
    ) -> GeocodeResult | None:
        """Coordinates of a German address, or None when the provider knows no such address."""
        ...
