"""Covering "newest" keyset indexes: every search filter column INCLUDEd.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28

The keyset statements look rows up late (search/repository.py `keyset_statement`): an inner
query that reads only indexed columns picks the page's ids, then only those rows are read from
the table. With the filter columns in the index the inner query is an index-only scan and a
rejected row costs an index tuple, not a heap visit: on 1,000,000 listings "Frankfurt, 4+
rooms, <= 1,000 EUR, newest" (no match: the whole city walked) went from 140 ms warm (512 ms
cold) to 15 ms and "5 km around Köln's centre, newest" from 233 ms to 12 ms (plans in
docs/performance.md). The warm-rent keyset within a city already covered them
(ix_listings_search_city_warm, 0005); the cold-rent one follows in 0008.

- (city_key, created_at DESC, id DESC) INCLUDE (filters): city landing pages with filters.
- (created_at DESC, id DESC) INCLUDE (filters, location, latitude, longitude): no city, e.g.
  radius and map-box searches sorted by newest.
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ACTIVE = "WHERE status = 'active'"
FILTERS = (
    "rooms, size_sqm, furnished, pets_allowed, available_from, warm_rent_cents, "
    "cold_rent_cents, amenities"
)
COVERING: dict[str, str] = {
    "ix_listings_search_city_newest": f"(city_key, created_at DESC, id DESC) INCLUDE ({FILTERS})",
    "ix_listings_search_newest": (
        f"(created_at DESC, id DESC) INCLUDE ({FILTERS}, location, latitude, longitude)"
    ),
}
PLAIN: dict[str, str] = {
    "ix_listings_search_city_newest": "(city_key, created_at DESC, id DESC)",
    "ix_listings_search_newest": "(created_at DESC, id DESC)",
}


def _replace(definitions: dict[str, str]) -> None:
    op.execute("SET LOCAL statement_timeout = 0")
    op.execute("SET LOCAL maintenance_work_mem = '768MB'")
    for name, definition in definitions.items():
        op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute(f"CREATE INDEX {name} ON listings {definition} {ACTIVE}")
    op.execute("ANALYZE listings")


def upgrade() -> None:
    _replace(COVERING)


def downgrade() -> None:
    _replace(PLAIN)
