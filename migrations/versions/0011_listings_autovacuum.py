"""Vacuum listings after 2 % of it changed, not 20 %: index-only scans need a fresh
visibility map.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28

Search reads listings through index-only scans (covering keysets, walked radius, facets).
An index-only scan still visits the heap for every tuple on a page not yet marked
all-visible, and such pages are exactly the newest ones, where a newest-first walk starts.
With the default thresholds (20 % of 1,000,000 rows) autovacuum had not run after 94,000
dead and 27,000 new rows: "1 km around Munich-Maxvorstadt, newest, <= 800 EUR" walked with
16,000 heap fetches, 33 -> 64 ms. At 2 % it vacuums every ~20,000 changes (a few seconds
of work on this table) and the inserts' pages become all-visible soon after.
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SETTINGS = (
    "autovacuum_vacuum_scale_factor",
    "autovacuum_vacuum_insert_scale_factor",
    "autovacuum_analyze_scale_factor",
)


def upgrade() -> None:
    values = ", ".join(f"{name} = 0.02" for name in SETTINGS)
    op.execute(f"ALTER TABLE listings SET ({values})")


def downgrade() -> None:
    op.execute(f"ALTER TABLE listings RESET ({', '.join(SETTINGS)})")
