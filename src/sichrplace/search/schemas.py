"""Search input (normalised filter set) and output shapes."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from sichrplace.listings.schemas import ListingSummary

Sort = Literal["newest", "rent_asc", "rent_desc", "distance", "relevance"]
RentType = Literal["cold", "warm"]

# Upper bounds (exclusive) of the rent buckets in cents; the last bucket is open-ended.
RENT_BUCKET_BOUNDS: tuple[int, ...] = (50_000, 75_000, 100_000, 150_000, 200_000)


def rent_bucket_labels() -> list[tuple[str, int, int | None]]:
    """(label, min_cents, max_cents_exclusive) for every bucket, in order."""
    edges: list[int | None] = [0, *RENT_BUCKET_BOUNDS, None]
    out: list[tuple[str, int, int | None]] = []
    for low, high in itertools.pairwise(edges):
        assert low is not None
        label = f"{low // 100}-{high // 100}" if high is not None else f"{low // 100}+"
        out.append((label, low, high))
    return out


@dataclass(frozen=True, slots=True)
class GeoPoint:
    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class BBox:
    min_lng: float
    min_lat: float
    max_lng: float
    max_lat: float


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """A validated, normalised filter set: equal filters give equal cache keys."""

    city_key: str | None = None
    postal_code: str | None = None
    q: str | None = None
    min_rent: int | None = None
    max_rent: int | None = None
    rent_type: RentType = "warm"
    min_rooms: Decimal | None = None
    max_rooms: Decimal | None = None
    min_size: Decimal | None = None
    furnished: bool | None = None
    pets_allowed: bool | None = None
    amenities: tuple[str, ...] = ()
    available_from: date | None = None
    point: GeoPoint | None = None
    radius_km: float | None = None
    bbox: BBox | None = None
    district_key: str | None = None  # last: the cache keys of the other filters stay as they were

    @property
    def rent_column(self) -> str:
        return "warm_rent_cents" if self.rent_type == "warm" else "cold_rent_cents"

    def canonical(self) -> str:
        parts: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or value == ():
                continue
            if isinstance(value, GeoPoint):
                value = f"{value.lat!r},{value.lng!r}"
            elif isinstance(value, BBox):
                value = f"{value.min_lng!r},{value.min_lat!r},{value.max_lng!r},{value.max_lat!r}"
            elif isinstance(value, tuple):
                value = ",".join(value)
            parts.append(f"{f.name}={value}")
        return "&".join(parts)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    filters: SearchFilters = field(default_factory=SearchFilters)
    sort: Sort = "newest"
    limit: int = 20
    cursor: str | None = None

    def fingerprint(self) -> str:
        """Ties a cursor to its filter set and sort (the limit may change between pages)."""
        text = f"{self.sort}|{self.filters.canonical()}"
        return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()

    def cache_key(self) -> str:
        return f"{self.filters.canonical()}|sort={self.sort}|limit={self.limit}|c={self.cursor}"


class SearchItem(ListingSummary):
    thumbnail_url: str | None = None
    distance_km: float | None = None
    rank: float | None = None


class SearchPage(BaseModel):
    items: list[SearchItem]
    next_cursor: str | None


class FacetCount(BaseModel):
    value: str
    count: int
    label: str | None = None
    min_cents: int | None = None
    max_cents: int | None = None


class FacetsOut(BaseModel):
    total: int
    rent_type: RentType
    city: list[FacetCount]
    rooms: list[FacetCount]
    rent_bucket: list[FacetCount]
    amenity: list[FacetCount]
