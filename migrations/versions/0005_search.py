"""Search indexes, chosen from EXPLAIN (ANALYZE, BUFFERS) on 1,000,000 listings.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

Every index is partial on `status = 'active'` (search never shows other listings, and the
search SQL writes that predicate as a literal so the planner can use them). The plans each one
serves are in docs/performance.md:

- location (GiST): radius filter (`&&` on the expanded point), nearest-first KNN ordering,
  map bounding boxes.
- search_tsv (GIN): full text for selective words; common words walk the newest index.
- amenities (GIN): `amenities @> ARRAY[...]` without a narrower filter.
- (city_key, created_at DESC, id DESC), (created_at DESC, id DESC),
  (postal_code, created_at DESC, id DESC): the default "newest" keyset, with and without a
  city / postal code; the id makes the keyset a total order.
- (city_key, warm_rent_cents, id) INCLUDE (...): rent keyset within a city and, covering every
  column the facets read, index-only scans for facet counts.
- (warm_rent_cents, id), (city_key, cold_rent_cents, id), (cold_rent_cents, id): the other
  rent keysets.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ACTIVE = "WHERE status = 'active'"
FACET_COLUMNS = (
    "rooms, cold_rent_cents, amenities, city, size_sqm, furnished, pets_allowed, available_from"
)

INDEXES: dict[str, str] = {
    "ix_listings_search_location": "USING gist (location)",
    "ix_listings_search_tsv": "USING gin (search_tsv)",
    "ix_listings_search_amenities": "USING gin (amenities)",
    "ix_listings_search_city_newest": "(city_key, created_at DESC, id DESC)",
    "ix_listings_search_newest": "(created_at DESC, id DESC)",
    "ix_listings_search_postal_newest": "(postal_code, created_at DESC, id DESC)",
    "ix_listings_search_city_warm": f"(city_key, warm_rent_cents, id) INCLUDE ({FACET_COLUMNS})",
    "ix_listings_search_warm": "(warm_rent_cents, id)",
    "ix_listings_search_city_cold": "(city_key, cold_rent_cents, id)",
    "ix_listings_search_cold": "(cold_rent_cents, id)",
}


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    for name, definition in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON listings {definition} {ACTIVE}")
    op.execute("ANALYZE listings")


def downgrade() -> None:
    for name in reversed(INDEXES):
        op.execute(f"DROP INDEX IF EXISTS {name}")
