"""Analytics: a listing_views row counts the views of its listing in its second.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07

The analytics buffer counts views per listing and second and writes one row per count
(docs/performance-log.md, round 16); `views` holds the count, and the rollup sums it instead
of counting rows. The default 1 keeps every row written before (one view each) and any writer
that does not name the column right.

Added to the partitioned parent: Postgres 15 adds the column to every partition (the default
partition included) without rewriting them (a constant default is stored in the catalogue),
and pg_partman 4.x makes new partitions `LIKE` the parent `INCLUDING DEFAULTS`, so they carry
it too. It takes the parent's ACCESS EXCLUSIVE lock for a moment: a flush waits for it, no
request does. No CHECK (views > 0): validating it would scan every partition under that lock,
and the one writer only writes counts of at least 1.
"""

from __future__ import annotations

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE listing_views ADD COLUMN views integer NOT NULL DEFAULT 1")


def downgrade() -> None:
    # The counts are lost: a row of 5 views becomes one view (say so before downgrading).
    op.execute("ALTER TABLE listing_views DROP COLUMN views")
