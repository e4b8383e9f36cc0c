"""Search input (normalised filter set) and output shapes."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, TypeVar

from pydantic import BaseModel

from sichrplace.listings.schemas import ListingSummary
from sichrplace.search.filters import FILTERS, Filter, RentType

Sort = Literal["newest", "rent_asc", "rent_desc", "distance", "relevance"]
V = TypeVar("V")
__all__ = ["RentType", "SearchFilters", "SearchQuery"]

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
    """A validated, normalised filter set: equal filters give equal cache keys.

    The structural filters (city, district, full text, rent type, radius, box) are fields; the
    others, declared in search/filters.py, are in `values` by name (`get(FILTER)` gives one)."""

    city_key: str | None = None
    q: str | None = None
    rent_type: RentType = "warm"
    point: GeoPoint | None = None
    radius_km: float | None = None
    bbox: BBox | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    # The `district` filter (ADR 0008), structural until the registry and the index hold it:
    # Postgres answers it (the index declines).
    district_key: str | None = None

    def get(self, flt: Filter[V]) -> V | None:
        value: V | None = self.values.get(flt.name)
        return value

    def given(self) -> list[tuple[Filter[Any], Any]]:
        """The registry's filters this set uses, with their values, in registry order."""
        return [(f, self.values[f.name]) for f in FILTERS if f.name in self.values]

    @property
    def rent_column(self) -> str:
        return "warm_rent_cents" if self.rent_type == "warm" else "cold_rent_cents"

    def canonical(self) -> str:
        parts: list[str] = []
        if self.city_key is not None:
            parts.append(f"city_key={self.city_key}")
        if self.district_key is not None:
            parts.append(f"district_key={self.district_key}")
        for flt, value in self.given():
            parts.append(f"{flt.name}={flt.canonical(value)}")
        if self.q is not None:
            parts.append(f"q={self.q}")
        parts.append(f"rent_type={self.rent_type}")
        if self.point is not None:
            parts.append(f"point={self.point.lat!r},{self.point.lng!r}")
        if self.radius_km is not None:
            parts.append(f"radius_km={self.radius_km!r}")
        if self.bbox is not None:
            b = self.bbox
            parts.append(f"bbox={b.min_lng!r},{b.min_lat!r},{b.max_lng!r},{b.max_lat!r}")
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
        # "p|": pages whose coordinates are shown as the public may see them (migration 0016);
        # pages cached before, with exact coordinates, are never read again.
        return f"p|{self.filters.canonical()}|sort={self.sort}|limit={self.limit}|c={self.cursor}"


class FacetRow(NamedTuple):
    """One count of the facets: ("city", city_key, label, n), ("rooms", "2.5", None, n),
    ("rent_bucket", "3", None, n) or ("amenity", "balcony", None, n)."""

    facet: str
    value: str
    label: str | None
    n: int


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
