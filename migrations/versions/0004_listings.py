"""Listings: the rental model with generated warm rent, location and full-text columns.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

Search indexes (GiST on location, GIN on search_tsv and amenities, filter combos) are in 0005.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

AMENITIES = (
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
ENERGY_CLASSES = ("A+", "A", "B", "C", "D", "E", "F", "G", "H")


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


CHECKS = {
    "postal_code": "postal_code ~ '^[0-9]{5}$'",
    "deposit_cap": "deposit_cents <= 3 * cold_rent_cents",
    "cents_non_negative": "cold_rent_cents >= 0 AND utilities_cents >= 0 AND deposit_cents >= 0",
    "rooms": "rooms BETWEEN 1 AND 20 AND rooms * 2 = trunc(rooms * 2)",
    "size_sqm": "size_sqm > 0",
    "status": "status IN ('active', 'reserved', 'rented', 'archived')",
    "geocode_status": "geocode_status IN ('ok', 'pending', 'failed')",
    "energy_class": f"energy_class IS NULL OR energy_class IN ({_sql_list(ENERGY_CLASSES)})",
    "amenities": f"amenities <@ ARRAY[{_sql_list(AMENITIES)}]::text[]",
    "coordinates": "(latitude IS NULL) = (longitude IS NULL)",
}


def _ts(name: str) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
    )


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "listings",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("owner_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("street", sa.Text(), nullable=False),
        sa.Column("house_number", sa.Text(), nullable=False),
        sa.Column("postal_code", postgresql.CHAR(5), nullable=False),
        sa.Column("city", sa.Text(), nullable=False),
        sa.Column("city_key", sa.Text(), nullable=False),
        sa.Column("latitude", sa.Double(), nullable=True),
        sa.Column("longitude", sa.Double(), nullable=True),
        sa.Column("geocode_status", sa.Text(), nullable=False),
        sa.Column("cold_rent_cents", sa.Integer(), nullable=False),
        sa.Column("utilities_cents", sa.Integer(), nullable=False),
        sa.Column("deposit_cents", sa.Integer(), nullable=False),
        sa.Column("rooms", sa.Numeric(3, 1), nullable=False),
        sa.Column("size_sqm", sa.Numeric(7, 2), nullable=False),
        sa.Column("furnished", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("pets_allowed", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("available_from", sa.Date(), nullable=True),
        sa.Column(
            "amenities",
            postgresql.ARRAY(sa.Text()),
            nullable=False,
            server_default=sa.text("'{}'::text[]"),
        ),
        sa.Column("energy_class", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False, server_default="active"),
        sa.Column("view_count", sa.BigInteger(), nullable=False, server_default="0"),
        _ts("created_at"),
        _ts("updated_at"),
        *(
            sa.CheckConstraint(sql, name=op.f(f"ck_listings_{name}"))
            for name, sql in CHECKS.items()
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_listings_owner_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listings")),
    )
    # Generated columns written in SQL: the expressions are the contract, keep them verbatim.
    op.execute(
        "ALTER TABLE listings "
        "ADD COLUMN warm_rent_cents integer GENERATED ALWAYS AS "
        "(cold_rent_cents + utilities_cents) STORED NOT NULL, "
        "ADD COLUMN location geography(Point,4326) GENERATED ALWAYS AS "
        "(CASE WHEN latitude IS NOT NULL AND longitude IS NOT NULL THEN "
        "ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)::geography END) STORED, "
        "ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS "
        "(setweight(to_tsvector('german'::regconfig, coalesce(title, '')), 'A') || "
        "setweight(to_tsvector('german'::regconfig, coalesce(description, '')), 'B')) STORED NOT NULL"
    )
    op.create_index("ix_listings_owner_id_created_at", "listings", ["owner_id", "created_at"])
    op.create_index("ix_listings_status_created_at", "listings", ["status", "created_at"])
    op.create_index(
        "ix_listings_popular",
        "listings",
        [sa.text("view_count DESC"), "id"],
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index(
        "ix_listings_popular_city",
        "listings",
        ["city_key", sa.text("view_count DESC"), "id"],
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "listing_view_flushes",
        sa.Column("batch", sa.Text(), nullable=False),
        _ts("flushed_at"),
        sa.Column("listings", sa.Integer(), nullable=False),
        sa.Column("views", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("batch", name=op.f("pk_listing_view_flushes")),
    )


def downgrade() -> None:
    op.drop_table("listing_view_flushes")
    op.drop_table("listings")
