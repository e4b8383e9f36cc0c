"""What the listings repository returns: typed, immutable rows with JSON-friendly values
(numerics as floats, arrays as tuples), never dicts or ORM entities."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from sichrplace.listings.vocabulary import GeocodeStatus, ListingStatus

# The columns that make a listing's address (what the geocoder is asked about).
ADDRESS_FIELDS = ("street", "house_number", "postal_code", "city")


@dataclass(frozen=True, slots=True)
class ListingRow:
    """A listing as stored (every column but the internal ones: location, text, change stamp).

    A column added to the table and to the repository's projection becomes a field here."""

    id: uuid.UUID
    owner_id: uuid.UUID
    title: str
    description: str
    street: str
    house_number: str
    postal_code: str
    city: str
    city_key: str
    latitude: float | None
    longitude: float | None
    geocode_status: GeocodeStatus
    cold_rent_cents: int
    utilities_cents: int
    warm_rent_cents: int
    deposit_cents: int
    rooms: float
    size_sqm: float
    furnished: bool
    pets_allowed: bool
    available_from: date | None
    amenities: tuple[str, ...]
    energy_class: str | None
    wbs_required: bool
    show_exact_address: bool
    district: str | None
    district_key: str | None
    search_extra: str  # compound parts of the text (listings/fulltext.py), for search_tsv
    status: ListingStatus
    view_count: int
    created_at: datetime
    updated_at: datetime


class PopularRow(NamedTuple):
    """A card of GET /listings/popular (a hot multi-row read: a plain tuple per row)."""

    id: uuid.UUID
    title: str
    city: str
    postal_code: str
    cold_rent_cents: int
    warm_rent_cents: int
    rooms: float
    size_sqm: float
    furnished: bool
    pets_allowed: bool
    available_from: date | None
    amenities: tuple[str, ...]
    latitude: float | None
    longitude: float | None
    view_count: int
    created_at: datetime
    show_exact_address: bool  # decides the coordinates shown (not itself shown)


class OwnListingRow(NamedTuple):
    """A row of the owner's own listings (GET /listings/mine), archived ones included."""

    id: uuid.UUID
    title: str
    status: ListingStatus
    street: str
    house_number: str
    postal_code: str
    district: str | None
    city: str
    cold_rent_cents: int
    utilities_cents: int
    warm_rent_cents: int
    deposit_cents: int
    rooms: float
    size_sqm: float
    available_from: date | None
    view_count: int
    created_at: datetime
    updated_at: datetime
