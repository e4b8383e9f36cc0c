"""Listings tables. Generated columns (warm rent, location, full text) are computed by Postgres."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, CHAR, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import UserDefinedType

from sichrplace.listings.vocabulary import AMENITIES, ENERGY_CLASSES, GeocodeStatus, ListingStatus
from sichrplace.platform.db.base import Base


class Geography(UserDefinedType[Any]):
    """PostGIS geography(Point, 4326); queried with ST_* functions, never loaded as an object."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "geography(Point,4326)"


def _sql_list(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


# Expressions shared by the model and migration 0004 (one definition of each rule).
WARM_RENT_SQL = "cold_rent_cents + utilities_cents"
LOCATION_SQL = (
    "CASE WHEN latitude IS NOT NULL AND longitude IS NOT NULL THEN "
    "ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)::geography END"
)
# Title A, description B, district C, the parts of compound words D (listings/fulltext.py;
# migration 0015): a word the listing writes ranks above a part of one of its compounds.
SEARCH_TSV_SQL = (
    "setweight(to_tsvector('german'::regconfig, coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('german'::regconfig, coalesce(description, '')), 'B') || "
    "setweight(to_tsvector('german'::regconfig, coalesce(district, '')), 'C') || "
    "setweight(to_tsvector('german'::regconfig, coalesce(search_extra, '')), 'D')"
)
CHECKS: dict[str, str] = {
    "postal_code": "postal_code ~ '^[0-9]{5}$'",
    "deposit_cap": "deposit_cents <= 3 * cold_rent_cents",
    "cents_non_negative": "cold_rent_cents >= 0 AND utilities_cents >= 0 AND deposit_cents >= 0",
    "rooms": "rooms BETWEEN 1 AND 20 AND rooms * 2 = trunc(rooms * 2)",
    "size_sqm": "size_sqm > 0",
    "status": f"status IN ({_sql_list([s.value for s in ListingStatus])})",
    "geocode_status": f"geocode_status IN ({_sql_list([s.value for s in GeocodeStatus])})",
    "energy_class": f"energy_class IS NULL OR energy_class IN ({_sql_list(ENERGY_CLASSES)})",
    "amenities": f"amenities <@ ARRAY[{_sql_list(AMENITIES)}]::text[]",
    "coordinates": "(latitude IS NULL) = (longitude IS NULL)",
}


class Listing(Base):
    __tablename__ = "listings"
    __table_args__ = (
        *(CheckConstraint(sql, name=name) for name, sql in CHECKS.items()),
        Index("ix_listings_owner_id_created_at", "owner_id", "created_at"),
        Index("ix_listings_status_created_at", "status", "created_at"),
        # GET /listings/popular: the most viewed active listings, overall and per city.
        Index(
            "ix_listings_popular",
            text("view_count DESC"),
            "id",
            postgresql_where=text("status = 'active'"),
        ),
        Index(
            "ix_listings_popular_city",
            "city_key",
            text("view_count DESC"),
            "id",
            postgresql_where=text("status = 'active'"),
        ),
        # The `district` filter, newest first (migration 0015).
        Index(
            "ix_listings_search_district_newest",
            "district_key",
            text("created_at DESC"),
            text("id DESC"),
            postgresql_where=text("status = 'active' AND district_key IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id"), nullable=False
    )
    title: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    street: Mapped[str] = mapped_column(Text, nullable=False)
    house_number: Mapped[str] = mapped_column(Text, nullable=False)
    postal_code: Mapped[str] = mapped_column(CHAR(5), nullable=False)
    city: Mapped[str] = mapped_column(Text, nullable=False)
    city_key: Mapped[str] = mapped_column(Text, nullable=False)
    # The Stadtteil (optional) and its key; search_extra: the parts of the compound words of
    # title, description and district (listings/fulltext.py), indexed in search_tsv.
    district: Mapped[str | None] = mapped_column(Text, nullable=True)
    district_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    search_extra: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    latitude: Mapped[float | None] = mapped_column(Double, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Double, nullable=True)
    location: Mapped[Any] = mapped_column(
        Geography(), Computed(LOCATION_SQL, persisted=True), nullable=True, deferred=True
    )
    geocode_status: Mapped[str] = mapped_column(Text, nullable=False)
    cold_rent_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    utilities_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    warm_rent_cents: Mapped[int] = mapped_column(
        Integer, Computed(WARM_RENT_SQL, persisted=True), nullable=False
    )
    deposit_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    rooms: Mapped[Decimal] = mapped_column(Numeric(3, 1), nullable=False)
    size_sqm: Mapped[Decimal] = mapped_column(Numeric(7, 2), nullable=False)
    furnished: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    pets_allowed: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    available_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    amenities: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")
    )
    energy_class: Mapped[str | None] = mapped_column(Text, nullable=True)
    wbs_required: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    # The landlord's choice: the public sees street, house number and exact coordinates
    # (else postal code, district, city and a ~500 m cell; listings/rules.py).
    show_exact_address: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default="false"
    )
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="active")
    search_tsv: Mapped[Any] = mapped_column(
        TSVECTOR, Computed(SEARCH_TSV_SQL, persisted=True), nullable=False, deferred=True
    )
    view_count: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    # Set by Postgres (default and trigger, migrations 0012 and 0014): the listing's version
    # for the in-process search index, which finds changes by `changed_xid` (an xid8 column
    # only raw SQL reads, search/repository/index_feed.py).
    changed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True, server_default=func.clock_timestamp()
    )


class ListingTombstone(Base):
    """A listing deleted outright (never by the API, which archives): written by a statement
    trigger (migration 0012), read by the facet index, kept for a day."""

    __tablename__ = "listing_tombstones"
    __table_args__ = (
        Index("ix_listing_tombstones_deleted_at", "deleted_at", postgresql_include=["listing_id"]),
    )

    listing_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    deleted_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), primary_key=True, server_default=func.clock_timestamp()
    )


class ListingViewFlush(Base):
    """A sealed batch of page views already added to listings.view_count (exactly-once flush)."""

    __tablename__ = "listing_view_flushes"

    batch: Mapped[str] = mapped_column(Text, primary_key=True)
    flushed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    listings: Mapped[int] = mapped_column(Integer, nullable=False)
    views: Mapped[int] = mapped_column(BigInteger, nullable=False)
