"""listings.changed_at: when a row last changed in what search counts, by the database clock.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28

The facet index of each API process (search/facet_index.py) keeps a columnar copy of the
active listings and reads what changed since its last look: `changed_at > since`. The column
is set by Postgres, not by the writer: the default on insert (COPY of the seeder included,
whose `updated_at` is back-dated on purpose), a trigger on update when a column that search
filters or counts on changes (a view count does not). Rows that exist before this migration
keep NULL until they change; the index reads them in its full load.

The API never deletes a listing (DELETE archives it), but a bulk delete (the benchmark's
reseed, an operator) would leave no row to stamp: a statement trigger writes the ids of
deleted listings to `listing_tombstones`, kept for a day.
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# What a facet count or filter reads (generated columns follow their sources: warm rent from
# the two rents, location from the coordinates, search_tsv from title and description).
WATCHED = (
    "status", "city_key", "city", "postal_code", "rooms", "size_sqm", "furnished",
    "pets_allowed", "available_from", "amenities", "cold_rent_cents", "utilities_cents",
    "latitude", "longitude", "title", "description",
)  # fmt: skip


def upgrade() -> None:
    op.execute("SET LOCAL statement_timeout = 0")
    # No default in the ADD COLUMN: a volatile default would rewrite the whole table.
    op.execute("ALTER TABLE listings ADD COLUMN changed_at timestamptz")
    op.execute("ALTER TABLE listings ALTER COLUMN changed_at SET DEFAULT clock_timestamp()")
    op.execute(
        "CREATE FUNCTION listings_changed_at() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN NEW.changed_at := clock_timestamp(); RETURN NEW; END $$"
    )
    old = ", ".join(f"OLD.{c}" for c in WATCHED)
    new = ", ".join(f"NEW.{c}" for c in WATCHED)
    op.execute(
        "CREATE TRIGGER listings_changed_at BEFORE UPDATE ON listings FOR EACH ROW "
        f"WHEN (({old}) IS DISTINCT FROM ({new})) EXECUTE FUNCTION listings_changed_at()"
    )
    # With the id: what changed since is read from the index alone.
    op.execute("CREATE INDEX ix_listings_changed_at ON listings (changed_at) INCLUDE (id)")
    op.execute(
        "CREATE TABLE listing_tombstones (listing_id uuid NOT NULL, "
        "deleted_at timestamptz NOT NULL DEFAULT clock_timestamp(), "
        "CONSTRAINT pk_listing_tombstones PRIMARY KEY (listing_id, deleted_at))"
    )
    op.execute(
        "CREATE INDEX ix_listing_tombstones_deleted_at ON listing_tombstones (deleted_at) "
        "INCLUDE (listing_id)"
    )
    op.execute(
        "CREATE FUNCTION listings_tombstones() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "DELETE FROM listing_tombstones WHERE deleted_at < clock_timestamp() - interval '1 day'; "
        "INSERT INTO listing_tombstones (listing_id) SELECT id FROM gone; "
        "RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER listings_tombstones AFTER DELETE ON listings REFERENCING OLD TABLE AS "
        "gone FOR EACH STATEMENT EXECUTE FUNCTION listings_tombstones()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS listings_tombstones ON listings")
    op.execute("DROP FUNCTION IF EXISTS listings_tombstones()")
    op.execute("DROP TABLE IF EXISTS listing_tombstones")
    op.execute("DROP INDEX IF EXISTS ix_listings_changed_at")
    op.execute("DROP TRIGGER IF EXISTS listings_changed_at ON listings")
    op.execute("DROP FUNCTION IF EXISTS listings_changed_at()")
    op.execute("ALTER TABLE listings DROP COLUMN changed_at")
