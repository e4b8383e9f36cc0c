"""The city's rent indexes carry created_at: a rent range can answer "newest" on its own.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28

"Berlin, <= 600 EUR, 2.5+ rooms, available by December, newest": nothing matches, so walking
Berlin's newest index passes all 178,035 of its listings (73 ms). Collecting the rent range
from (city_key, warm_rent_cents) instead reads 19,128 index tuples and sorts the few matches
(8 ms), but only index-only if the index has created_at (search/service.py picks the form).
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ACTIVE = "WHERE status = 'active'"
WARM = "rooms, cold_rent_cents, amenities, city, size_sqm, furnished, pets_allowed, available_from"
COLD = "rooms, size_sqm, furnished, pets_allowed, available_from, warm_rent_cents, amenities"


def _rebuild(extra: str) -> None:
    op.execute("SET LOCAL statement_timeout = 0")
    op.execute("SET LOCAL maintenance_work_mem = '768MB'")
    for name, key, include in (
        ("ix_listings_search_city_warm", "warm_rent_cents", WARM),
        ("ix_listings_search_city_cold", "cold_rent_cents", COLD),
    ):
        op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute(
            f"CREATE INDEX {name} ON listings (city_key, {key}, id) "
            f"INCLUDE ({include}{extra}) {ACTIVE}"
        )
    op.execute("ANALYZE listings")


def upgrade() -> None:
    _rebuild(", created_at")


def downgrade() -> None:
    _rebuild("")
