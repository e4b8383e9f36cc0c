"""Listing input and output shapes (Pydantic). Cross-field rules (deposit cap, coordinates,
null only where a stored listing may hold null) live in `rules` so PATCH checks them against
the merged values."""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict

from sichrplace.kit.errors import InvalidValue
from sichrplace.kit.i18n import N_
from sichrplace.listings.vocabulary import (
    AMENITIES,
    ENERGY_CLASSES,
    MAX_CENTS,
    MAX_ROOMS,
    MIN_ROOMS,
    ListingStatus,
    in_vocabulary_order,
)

_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
Amenity = Literal[AMENITIES]  # type: ignore[valid-type]
EnergyClass = Literal[ENERGY_CLASSES]  # type: ignore[valid-type]


def _half_steps(value: float) -> float:
    if not (value * 2).is_integer():
        raise InvalidValue(N_("rooms must be a whole or half number (e.g. 2 or 2.5)"))
    return value


def iso_day(value: Any) -> Any:
    """A day as the schema states it (YYYY-MM-DD): not a number read as a Unix time."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DAY.fullmatch(value):
        raise InvalidValue(N_("must be a date as YYYY-MM-DD"))
    return value


def _unique_sorted(values: list[str]) -> list[str]:
    return in_vocabulary_order(set(values))


def _nfc(value: str) -> str:
    """One Unicode form for text search indexes ("Küche" typed as u + combining diaeresis)."""
    return unicodedata.normalize("NFC", value)


def _not_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidValue(N_("must not be blank"))
    return value


Title = Annotated[
    str, Field(min_length=3, max_length=200), AfterValidator(_not_blank), AfterValidator(_nfc)
]
Description = Annotated[str, Field(max_length=10_000), AfterValidator(_nfc)]
Street = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_not_blank)]
HouseNumber = Annotated[str, Field(min_length=1, max_length=20), AfterValidator(_not_blank)]
PostalCode = Annotated[str, Field(pattern=r"^[0-9]{5}$", description="5-digit German PLZ")]
City = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_not_blank)]
District = Annotated[
    str,
    Field(min_length=1, max_length=100, description="Stadtteil, e.g. Kreuzberg"),
    AfterValidator(_not_blank),
    AfterValidator(_nfc),
]
Latitude = Annotated[float, Field(ge=-90, le=90), Strict()]
Longitude = Annotated[float, Field(ge=-180, le=180), Strict()]
# Strict numbers: false or "12" is not a number, as the schema says.
Cents = Annotated[int, Field(ge=0, le=MAX_CENTS), Strict()]
# Half steps are checked by _half_steps (its own message); multipleOf states it for clients.
Rooms = Annotated[
    float,
    Field(ge=MIN_ROOMS, le=MAX_ROOMS, json_schema_extra={"multipleOf": 0.5}),
    Strict(),
    AfterValidator(_half_steps),
]
SizeSqm = Annotated[float, Field(ge=1, le=10_000), Strict(), AfterValidator(lambda v: round(v, 2))]
Day = Annotated[date, BeforeValidator(iso_day)]
# A boolean is true or false: 0, 1 or "yes" are refused as the schema says.
Flag = Annotated[bool, Strict()]
Amenities = Annotated[
    list[Amenity], Field(max_length=len(AMENITIES)), AfterValidator(_unique_sorted)
]


class ListingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Description = ""
    street: Street
    house_number: HouseNumber
    postal_code: PostalCode
    city: City
    district: District | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    cold_rent_cents: Cents
    utilities_cents: Cents
    deposit_cents: Cents
    rooms: Rooms
    size_sqm: SizeSqm
    furnished: Flag = False
    pets_allowed: Flag = False
    available_from: Day | None = None
    amenities: Amenities = Field(default_factory=list)
    energy_class: EnergyClass | None = None
    wbs_required: Flag = Field(
        default=False, description="only for tenants with a Wohnberechtigungsschein (WBS)"
    )
    show_exact_address: Flag = Field(
        default=False,
        description=(
            "show street, house number and exact coordinates to everyone; by default the "
            "public sees postal code, district, city and coordinates rounded to ~500 m"
        ),
    )


class ListingUpdate(BaseModel):
    """Partial update: only the fields sent change; `null` only where the field is optional
    (`rules.merge`)."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Description | None = None
    street: Street | None = None
    house_number: HouseNumber | None = None
    postal_code: PostalCode | None = None
    city: City | None = None
    district: District | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    cold_rent_cents: Cents | None = None
    utilities_cents: Cents | None = None
    deposit_cents: Cents | None = None
    rooms: Rooms | None = None
    size_sqm: SizeSqm | None = None
    furnished: Flag | None = None
    pets_allowed: Flag | None = None
    available_from: Day | None = None
    amenities: Amenities | None = None
    energy_class: EnergyClass | None = None
    wbs_required: Flag | None = None
    show_exact_address: Flag | None = None
    status: ListingStatus | None = None

    def changes(self) -> dict[str, Any]:
        """The fields the client sent (explicit nulls included)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class ListingOut(BaseModel):
    """A listing as its reader may see it: its owner and administrators see everything; others
    see no `owner_id`, and street, house number and exact coordinates only if
    `show_exact_address` (else `street` and `house_number` are null and the coordinates are
    the centre of the ~500 m grid cell that holds the listing)."""

    id: uuid.UUID
    owner_id: uuid.UUID | None = Field(
        default=None, description="only in the owner's and administrators' view"
    )
    title: str
    description: str
    street: str | None = Field(description="null unless the reader may see the exact address")
    house_number: str | None = Field(description="null unless the reader may see the exact address")
    postal_code: str
    city: str
    district: str | None
    latitude: float | None = Field(
        description="exact, or rounded to ~500 m unless the reader may see the exact address"
    )
    longitude: float | None = Field(
        description="exact, or rounded to ~500 m unless the reader may see the exact address"
    )
    show_exact_address: bool
    geocode_status: str
    cold_rent_cents: int
    utilities_cents: int
    warm_rent_cents: int
    deposit_cents: int
    rooms: float
    size_sqm: float
    furnished: bool
    pets_allowed: bool
    available_from: date | None
    amenities: list[str]
    energy_class: str | None
    wbs_required: bool
    status: ListingStatus
    view_count: int
    images: list[dict[str, Any]] = Field(
        default_factory=list, description="the listing's images (see GET /listings/{id}/images)"
    )
    created_at: datetime
    updated_at: datetime


class ListingSummary(BaseModel):
    """The card of a listing in lists (search results, popular)."""

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
    amenities: list[str]
    latitude: float | None = Field(
        description="exact if the landlord shows the exact address, else rounded to ~500 m"
    )
    longitude: float | None = Field(
        description="exact if the landlord shows the exact address, else rounded to ~500 m"
    )
    created_at: datetime


class PopularItem(ListingSummary):
    view_count: int


class PopularPage(BaseModel):
    items: list[PopularItem]


class OwnListingItem(BaseModel):
    """One of the caller's own listings (GET /listings/mine): every status, the full address."""

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


class OwnListingPage(BaseModel):
    items: list[OwnListingItem] = Field(description="newest first")
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null at the end"
    )


# The sitemap protocol's limit of URLs per sitemap file (sitemaps.org).
SITEMAP_MAX_URLS = 50_000


class SitemapItem(BaseModel):
    """What a sitemap entry needs: the canonical URL is made of id, title and city."""

    id: uuid.UUID
    title: str
    city: str
    updated_at: datetime


class SitemapPage(BaseModel):
    items: list[SitemapItem]
    next_after: uuid.UUID | None = Field(
        description="`after` of the next call while the range may hold more; null at its end"
    )


class SitemapRange(BaseModel):
    after: uuid.UUID | None = Field(description="the range starts after this id (null: first)")
    until: uuid.UUID | None = Field(description="and ends with this id (null: the last)")


class SitemapPages(BaseModel):
    """The id ranges of the sitemap's pages: each holds at most `size` listings of any
    status, so at most `size` active ones when the ranges were cut."""

    size: int
    pages: list[SitemapRange]
