"""Address privacy: the landlord decides whether the public sees the exact address.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05

- `listings.show_exact_address` (default false): when false the public sees postal code,
  district and city, and coordinates snapped to a ~500 m cell (listings/rules.py); the owner
  and administrators always see the street, house number and exact coordinates. A constant
  default: adding the column rewrites nothing.
- The changed_at trigger (0012, 0014, 0015) also watches it: search items show exact or
  snapped coordinates by it, so a change must reach the in-process index's change feed like
  any other edit.
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# The changed_at trigger's columns as migration 0015 left them, and with this one's.
WATCHED_0015 = (
    "status", "city_key", "city", "postal_code", "rooms", "size_sqm", "furnished",
    "pets_allowed", "available_from", "amenities", "cold_rent_cents", "utilities_cents",
    "latitude", "longitude", "title", "description", "energy_class", "wbs_required",
    "district", "district_key", "search_extra",
)  # fmt: skip
WATCHED = (*WATCHED_0015, "show_exact_address")


def _trigger(watched: tuple[str, ...]) -> None:
    """The trigger of 0014 (changed_at and changed_xid), watching `watched`."""
    op.execute("DROP TRIGGER IF EXISTS listings_changed_at ON listings")
    old = ", ".join(f"OLD.{c}" for c in watched)
    new = ", ".join(f"NEW.{c}" for c in watched)
    op.execute(
        "CREATE TRIGGER listings_changed_at BEFORE UPDATE ON listings FOR EACH ROW "
        f"WHEN (({old}) IS DISTINCT FROM ({new})) EXECUTE FUNCTION listings_changed_at()"
    )


def upgrade() -> None:
    op.execute("ALTER TABLE listings ADD COLUMN show_exact_address boolean NOT NULL DEFAULT false")
    _trigger(WATCHED)


def downgrade() -> None:
    _trigger(WATCHED_0015)
    op.execute("ALTER TABLE listings DROP COLUMN show_exact_address")
