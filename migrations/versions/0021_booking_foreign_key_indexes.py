"""Indexes under the booking tables' foreign keys that had none usable.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06

Deleting a listing cascades to its slots and viewings, and deleting a viewing checks the
payments that name it: without an index on the referencing column each deleted row scans the
whole referencing table. The slots' listing indexes are partial (live slots only), which a
cascade's lookup cannot use. Deleting the 1,000,000 seeded listings (`bench search --reseed`)
took more than 9 minutes against a few thousand viewings and slots, and not 1 before.
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_viewings_listing_id": "viewings (listing_id)",
    "ix_viewing_slots_listing_id": "viewing_slots (listing_id)",
    "ix_payments_viewing_id": "payments (viewing_id) WHERE viewing_id IS NOT NULL",
    "ix_payments_contract_id": "payments (contract_id) WHERE contract_id IS NOT NULL",
}


def upgrade() -> None:
    for name, target in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")


def downgrade() -> None:
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
