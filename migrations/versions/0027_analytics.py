"""Analytics: raw events in daily partitions managed by pg_partman, and their rollups.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06

- `listing_views`, `search_events`, `journey_events`: partitioned by range on their timestamp,
  one partition per UTC day, registered with pg_partman 4.x (`create_parent`, native, daily,
  premake 7, a default partition for rows outside every day made), retention 90 days with
  the partitions dropped (`retention_keep_table = false`) and partitions made ahead even
  while no rows arrive (`infinite_time_partitions`). The hourly job
  `analytics.maintain_partitions` writes the settings' retention and premake into
  `partman.part_config` and runs `partman.run_maintenance()`. No primary keys: append-only
  batches, read by the rollups only.
- `listing_daily` (listing, day) and `city_daily` (city, day): the rollups, upserted by the
  job `analytics.rollup`; indexes for popular listings (the last days' views, all cities or
  one) next to the primary keys, which serve the landlord's statistics.

The extension itself is created by the stack as the superuser (`stack/postgres.py`: pg_partman
is not a trusted extension), in schema `partman`, with the application role granted what it
needs; the statement here is a no-op then, and creates it where migrations run as a superuser.
"""
# ruff: noqa: S608  (the names are this file's constants)

from __future__ import annotations

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

PREMAKE_DAYS = 7
RETENTION = "90 days"
RAW = (
    ("listing_views", "viewed_at"),
    ("search_events", "searched_at"),
    ("journey_events", "occurred_at"),
)
JOURNEY_KINDS = ("enquiry", "viewing_booked", "viewing_paid", "deposit_paid", "contract_signed")


def upgrade() -> None:
    # Partition bounds are computed in the session's time zone: UTC midnights, whatever the
    # server's default (the stack's is UTC already).
    op.execute("SET LOCAL timezone = 'UTC'")
    op.execute("CREATE SCHEMA IF NOT EXISTS partman")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_partman SCHEMA partman")
    kinds = ", ".join(f"'{kind}'" for kind in JOURNEY_KINDS)
    op.execute(
        f"""
        CREATE TABLE listing_views (
            viewed_at timestamptz NOT NULL,
            listing_id uuid NOT NULL
        ) PARTITION BY RANGE (viewed_at);
        CREATE TABLE search_events (
            searched_at timestamptz NOT NULL,
            city_key text,
            filters text[] NOT NULL,
            sort text NOT NULL,
            results integer NOT NULL,
            latency_ms real NOT NULL,
            cache text NOT NULL,
            next_page boolean NOT NULL
        ) PARTITION BY RANGE (searched_at);
        CREATE TABLE journey_events (
            occurred_at timestamptz NOT NULL,
            kind text NOT NULL,
            listing_id uuid NOT NULL,
            subject_id uuid,
            CONSTRAINT ck_journey_events_kind CHECK (kind IN ({kinds}))
        ) PARTITION BY RANGE (occurred_at);
        """
    )
    for table, column in RAW:
        op.execute(
            f"SELECT partman.create_parent(p_parent_table => 'public.{table}', "
            f"p_control => '{column}', p_type => 'native', p_interval => 'daily', "
            f"p_premake => {PREMAKE_DAYS}, p_jobmon => false)"
        )
        op.execute(
            f"UPDATE partman.part_config SET retention = '{RETENTION}', "
            "retention_keep_table = false, infinite_time_partitions = true "
            f"WHERE parent_table = 'public.{table}'"
        )
    op.execute(
        """
        CREATE TABLE listing_daily (
            listing_id uuid NOT NULL,
            day date NOT NULL,
            city_key text NOT NULL,
            views integer NOT NULL DEFAULT 0,
            enquiries integer NOT NULL DEFAULT 0,
            bookings integer NOT NULL DEFAULT 0,
            payments integer NOT NULL DEFAULT 0,
            signings integer NOT NULL DEFAULT 0,
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_listing_daily PRIMARY KEY (listing_id, day),
            CONSTRAINT fk_listing_daily_listing_id_listings FOREIGN KEY (listing_id)
                REFERENCES listings (id) ON DELETE CASCADE
        );
        CREATE INDEX ix_listing_daily_day ON listing_daily (day) INCLUDE (listing_id, views);
        CREATE INDEX ix_listing_daily_city_day ON listing_daily (city_key, day)
            INCLUDE (listing_id, views);
        CREATE TABLE city_daily (
            city_key text NOT NULL,
            day date NOT NULL,
            views integer NOT NULL DEFAULT 0,
            searches integer NOT NULL DEFAULT 0,
            bookings integer NOT NULL DEFAULT 0,
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_city_daily PRIMARY KEY (city_key, day)
        );
        CREATE INDEX ix_city_daily_day ON city_daily (day);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS city_daily, listing_daily")
    for table, _ in RAW:
        op.execute(f"DELETE FROM partman.part_config WHERE parent_table = 'public.{table}'")
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")  # with every partition
        op.execute(f"DROP TABLE IF EXISTS partman.template_public_{table}")
