"""Analytics tables (migrations 0027, 0029).

The raw tables are partitioned by day on their timestamp and managed by pg_partman (premade
partitions ahead, a default partition for anything outside them, retention by dropping whole
days); they have no primary key: events are appended in batches, read only by the rollups,
and a key would cost every insert an index entry. Core tables, not ORM classes, for that
reason. The rollups have primary keys and are upserted idempotently by the rollup job.
"""

from __future__ import annotations

from sqlalchemy import (
    REAL,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from sichrplace.platform.analytics.events import JOURNEY_KINDS
from sichrplace.platform.db.base import Base

metadata = Base.metadata

# (table, its time column): the tables pg_partman keeps in daily partitions.
RAW_TABLES: tuple[tuple[str, str], ...] = (
    ("listing_views", "viewed_at"),
    ("search_events", "searched_at"),
    ("journey_events", "occurred_at"),
)

listing_views = Table(
    "listing_views",
    metadata,
    Column("viewed_at", DateTime(timezone=True), nullable=False),
    Column("listing_id", UUID(as_uuid=True), nullable=False),
    # The listing's views within the row's second (the buffer counts them; 0029).
    Column("views", Integer, nullable=False, server_default="1"),
    postgresql_partition_by="RANGE (viewed_at)",
)

search_events = Table(
    "search_events",
    metadata,
    Column("searched_at", DateTime(timezone=True), nullable=False),
    Column("city_key", Text, nullable=True),
    Column("filters", ARRAY(Text), nullable=False),
    Column("sort", Text, nullable=False),
    Column("results", Integer, nullable=False),
    Column("latency_ms", REAL, nullable=False),
    Column("cache", Text, nullable=False),
    Column("next_page", Boolean, nullable=False),
    postgresql_partition_by="RANGE (searched_at)",
)

_KINDS_SQL = ", ".join(f"'{kind}'" for kind in JOURNEY_KINDS)

journey_events = Table(
    "journey_events",
    metadata,
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("listing_id", UUID(as_uuid=True), nullable=False),
    Column("subject_id", UUID(as_uuid=True), nullable=True),
    CheckConstraint(f"kind IN ({_KINDS_SQL})", name="kind"),
    postgresql_partition_by="RANGE (occurred_at)",
)

listing_daily = Table(
    "listing_daily",
    metadata,
    Column(
        "listing_id",
        UUID(as_uuid=True),
        ForeignKey("listings.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("day", Date, primary_key=True),  # a UTC day
    # The listing's city when the day was rolled up (popular per city reads it).
    Column("city_key", Text, nullable=False),
    Column("views", Integer, nullable=False, server_default="0"),
    Column("enquiries", Integer, nullable=False, server_default="0"),
    Column("bookings", Integer, nullable=False, server_default="0"),
    Column("payments", Integer, nullable=False, server_default="0"),
    Column("signings", Integer, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Popular listings: the views of the last days, over all cities or in one (index-only).
    Index("ix_listing_daily_day", "day", postgresql_include=["listing_id", "views"]),
    Index(
        "ix_listing_daily_city_day",
        "city_key",
        "day",
        postgresql_include=["listing_id", "views"],
    ),
)

city_daily = Table(
    "city_daily",
    metadata,
    # '' holds the searches without a city filter (a key cannot be null).
    Column("city_key", Text, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("views", Integer, nullable=False, server_default="0"),
    Column("searches", Integer, nullable=False, server_default="0"),
    Column("bookings", Integer, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_city_daily_day", "day"),
)

__all__ = [
    "RAW_TABLES",
    "city_daily",
    "journey_events",
    "listing_daily",
    "listing_views",
    "search_events",
]
