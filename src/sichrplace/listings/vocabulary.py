"""The fixed vocabularies of a listing (defined once; schemas, models and search use these)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from sichrplace.listings import places

AMENITIES: tuple[str, ...] = (
    "balcony",
    "garden",
    "elevator",
    "parking",
    "dishwasher",
    "washing_machine",
    "fitted_kitchen",
    "cellar",
    "wheelchair_accessible",
    "terrace",
    "guest_toilet",
    "bathtub",
    "floor_heating",
    "storage_room",
    "bicycle_storage",
)

_AMENITY_RANK = {name: rank for rank, name in enumerate(AMENITIES)}


def in_vocabulary_order(names: Iterable[str]) -> list[str]:
    """Amenity names in the vocabulary's order (the order listings store and show them);
    a name outside it goes last."""
    return sorted(names, key=lambda name: _AMENITY_RANK.get(name, len(AMENITIES)))


# Energieausweis efficiency classes (GEG 2020), best first.
ENERGY_CLASSES: tuple[str, ...] = ("A+", "A", "B", "C", "D", "E", "F", "G", "H")


class ListingStatus(StrEnum):
    ACTIVE = "active"
    RESERVED = "reserved"
    RENTED = "rented"
    ARCHIVED = "archived"


class GeocodeStatus(StrEnum):
    OK = "ok"
    PENDING = "pending"  # the geocoder was unavailable: a job retries
    FAILED = "failed"  # the geocoder knows no such address


# Which status a listing may move to from each status (same status is always a no-op).
STATUS_TRANSITIONS: dict[ListingStatus, frozenset[ListingStatus]] = {
    ListingStatus.ACTIVE: frozenset(
        {ListingStatus.RESERVED, ListingStatus.RENTED, ListingStatus.ARCHIVED}
    ),
    ListingStatus.RESERVED: frozenset(
        {ListingStatus.ACTIVE, ListingStatus.RENTED, ListingStatus.ARCHIVED}
    ),
    ListingStatus.RENTED: frozenset({ListingStatus.ACTIVE, ListingStatus.ARCHIVED}),
    ListingStatus.ARCHIVED: frozenset({ListingStatus.ACTIVE}),
}

MIN_ROOMS = 1
MAX_ROOMS = 20
MAX_CENTS = 100_000_000  # 1 000 000 EUR: far above any rent, far below int32


def city_key(city: str) -> str:
    """The normalised city used by the `city` filter and facets ("  MÜNCHEN ", "Muenchen"
    -> "munchen"; "Frankfurt am Main" -> "frankfurt"): listings/places.py has the rules."""
    return places.city_key(city)
