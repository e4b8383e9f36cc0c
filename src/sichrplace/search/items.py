"""Search items: the typed record of one listing on a results page, shaped here alone —
from a row of Postgres (`from_row`) or from the in-process index's columns (`from_index`).

The JSON of an item is the record's fields in order (orjson writes dataclasses directly);
`distance_km` is there only when the search has a point, `rank` only with full text.

Items are public: their coordinates are the exact ones only where the landlord chose to show
the exact address, else the centre of the listing's ~500 m cell (`listings.rules`), rounded
when the item is made (once per cached page, nothing per request). `distance_km` is then
rounded to half kilometres (in step with the distance order, which it must not contradict);
the radius filter and the nearest-first order still use the exact position (README.md
says what that leaks).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sichrplace.kit.jsonbody import utc_timestamp
from sichrplace.listings.rules import may_see_exact_address, shown_point
from sichrplace.listings.vocabulary import AMENITIES, in_vocabulary_order
from sichrplace.search.index import layout
from sichrplace.search.index.layout import Columns

# The columns of a search item in Postgres, in the order `from_row` reads them. Rooms and
# size as float8: the value JSON carries, without a Decimal per value on the client.
ITEM_COLUMNS = (
    "l.id, l.title, l.city, l.postal_code, l.cold_rent_cents, l.warm_rent_cents, "
    "l.rooms::float8 AS rooms, l.size_sqm::float8 AS size_sqm, l.furnished, l.pets_allowed, "
    "l.available_from, l.amenities, l.latitude, l.longitude, l.created_at, "
    "l.show_exact_address"
)
# Where a row of ITEM_COLUMNS ends (the distance and rank follow).
ITEM_WIDTH = 16
_HALF_KM = 500.0


@dataclass(frozen=True, slots=True)
class Item:
    id: str
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
    amenities: list[str]
    latitude: float | None
    longitude: float | None
    thumbnail_url: str | None
    # A UTC datetime (the JSON writer spells it with Z), or its text from another zone.
    created_at: datetime | str


@dataclass(frozen=True, slots=True)
class ItemWithDistance(Item):
    distance_km: float | None


@dataclass(frozen=True, slots=True)
class RankedItem(Item):
    rank: float


@dataclass(frozen=True, slots=True)
class RankedItemWithDistance(ItemWithDistance):
    rank: float


def _created(moment: datetime) -> datetime | str:
    # Sessions are in UTC (deploy/stack/postgresql.conf.tmpl); any other zone converts.
    return moment if moment.tzinfo is UTC else utc_timestamp(moment)


def _public_exact(show_exact_address: bool) -> bool:
    """Whether the public sees the exact position (a search page is alike for every caller)."""
    return may_see_exact_address(show_exact_address=show_exact_address, owner_id=None, viewer=None)


def _km(metres: float, exact: bool) -> float:
    """The distance shown: to the metre for an exact position, else to the half kilometre
    (rounding keeps the order of a nearest-first page)."""
    if exact:
        return round(metres / 1000.0, 3)
    return round(metres / _HALF_KM) * 0.5


def from_row(
    row: Sequence[Any],
    *,
    distance: bool = False,
    rank: bool = False,
) -> Item:
    """An item from a row of ITEM_COLUMNS, then the distance in metres (`distance`), then the
    rank (`rank`), read by position (Row key lookups cost more here)."""
    (
        listing_id, title, city, postal_code, cold, warm, rooms, size, furnished, pets,
        available, amenities, exact_lat, exact_lng, created_at, show_exact, *rest,
    ) = row  # fmt: skip
    exact = _public_exact(show_exact)
    latitude, longitude = shown_point(exact_lat, exact_lng, exact=exact)
    base = (
        str(listing_id),
        title,
        city,
        postal_code,
        cold,
        warm,
        rooms,
        size,
        furnished,
        pets,
        available,
        # In the vocabulary's order, as the API stores them and the index lists them (a row
        # written by other means, e.g. SQL, may hold another order).
        in_vocabulary_order(amenities) if amenities else [],
        latitude,
        longitude,
        None,
        _created(created_at),
    )
    if distance:
        metres = rest[0]
        km = None if metres is None else _km(metres, exact)
        if rank:
            return RankedItemWithDistance(*base, km, float(rest[1]))
        return ItemWithDistance(*base, km)
    if rank:
        return RankedItem(*base, float(rest[0]))
    return Item(*base)


def from_index(cols: Columns, row: int, listing_id: bytes, title: str, city: str) -> Item:
    """An item from row `row` of the index's columns (what ITEM_COLUMNS reads, as of the
    snapshot's last look for changes)."""
    flags, bits = int(cols[layout.FLAGS][row]), int(cols[layout.AMENITY_BITS][row])
    available = int(cols[layout.AVAILABLE][row])
    lat, lng = float(cols[layout.LAT][row]), float(cols[layout.LNG][row])
    latitude, longitude = (
        (None, None)
        if math.isnan(lat) or math.isnan(lng)
        else shown_point(lat, lng, exact=_public_exact(flags & layout.EXACT_ADDRESS != 0))
    )
    return Item(
        str(uuid.UUID(bytes=listing_id)),
        title,
        city,
        f"{int(cols[layout.POSTAL][row]):05d}",
        int(cols[layout.COLD][row]),
        int(cols[layout.WARM][row]),
        int(cols[layout.ROOMS2][row]) / 2,
        int(cols[layout.SIZE100][row]) / 100,
        flags & layout.FURNISHED != 0,
        flags & layout.PETS != 0,
        None
        if available == layout.NEVER_AVAILABLE
        else layout.DATE_ZERO + timedelta(days=available),
        [name for i, name in enumerate(AMENITIES) if bits >> i & 1],
        latitude,
        longitude,
        None,
        layout.EPOCH + timedelta(microseconds=int(cols[layout.CREATED][row])),
    )
