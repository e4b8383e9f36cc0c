"""Search filters for the registry, and the index's change feed by transaction id.

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-04

- `listings.wbs_required`: the flat needs a Wohnberechtigungsschein (a filter of its own);
  `energy_class` becomes a filter too. Both join the INCLUDE lists of the covering keyset
  indexes (0005, 0007, 0008), so a statement filtering on them stays index-only.
- The in-process index (search/index/keeper.py) finds changed listings by the id of the
  transaction that changed them, no longer by the clock: `changed_xid` is set with
  `changed_at` (on insert by default, COPY included; on update by the trigger of 0012 when a
  column search reads changes) and tombstones carry `deleted_xid`. A look reads every row
  stamped by a transaction at or above the oldest one running at its previous look, so a
  transaction that commits long after it wrote is not missed, and neither clocks of primary
  and replica nor an overlap are involved. `changed_at` stays: it is the listing's version.
"""

from alembic import op

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None

# What a count or filter reads (generated columns follow their sources: warm rent from the
# two rents, location from the coordinates, search_tsv from its text columns).
WATCHED = (
    "status", "city_key", "city", "postal_code", "rooms", "size_sqm", "furnished",
    "pets_allowed", "available_from", "amenities", "cold_rent_cents", "utilities_cents",
    "latitude", "longitude", "title", "description", "energy_class", "wbs_required",
)  # fmt: skip
WATCHED_BEFORE = WATCHED[:-2]
COVERING = (
    "ix_listings_search_city_newest",
    "ix_listings_search_newest",
    "ix_listings_search_city_warm",
    "ix_listings_search_city_cold",
)
ADDED = ", energy_class, wbs_required"


def _trigger(watched: tuple[str, ...], *, xid: bool) -> None:
    stamp = "NEW.changed_at := clock_timestamp();"
    if xid:
        stamp += " NEW.changed_xid := pg_current_xact_id();"
    op.execute("DROP TRIGGER IF EXISTS listings_changed_at ON listings")
    op.execute(
        "CREATE OR REPLACE FUNCTION listings_changed_at() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN {stamp} RETURN NEW; END $$"
    )
    old = ", ".join(f"OLD.{c}" for c in watched)
    new = ", ".join(f"NEW.{c}" for c in watched)
    op.execute(
        "CREATE TRIGGER listings_changed_at BEFORE UPDATE ON listings FOR EACH ROW "
        f"WHEN (({old}) IS DISTINCT FROM ({new})) EXECUTE FUNCTION listings_changed_at()"
    )


def _rebuild_covering(add: bool) -> None:
    """Each covering index again, with the new filter columns INCLUDEd (or without them)."""
    bind = op.get_bind()
    for name in COVERING:
        row = bind.exec_driver_sql(
            "SELECT pg_get_indexdef(c.oid) FROM pg_class c WHERE c.relname = %(n)s", {"n": name}
        ).first()
        if row is None:
            continue
        definition = str(row[0])
        head, sep, tail = definition.partition(" INCLUDE (")
        if not sep:
            continue
        columns, _, rest = tail.partition(")")
        columns = columns.replace(ADDED, "")
        if add:
            columns += ADDED
        op.execute(f"DROP INDEX {name}")
        op.execute(f"{head} INCLUDE ({columns}){rest}")


def upgrade() -> None:
    op.execute("SET LOCAL statement_timeout = 0")
    op.execute("SET LOCAL maintenance_work_mem = '768MB'")
    op.execute("ALTER TABLE listings ADD COLUMN wbs_required boolean NOT NULL DEFAULT false")
    # No default in the ADD COLUMN: a volatile default would rewrite the whole table.
    op.execute("ALTER TABLE listings ADD COLUMN changed_xid xid8")
    op.execute("ALTER TABLE listings ALTER COLUMN changed_xid SET DEFAULT pg_current_xact_id()")
    _trigger(WATCHED, xid=True)
    op.execute("DROP INDEX IF EXISTS ix_listings_changed_at")
    op.execute(
        "CREATE INDEX ix_listings_changed_xid ON listings (changed_xid) INCLUDE (id, changed_at)"
    )
    op.execute(
        "ALTER TABLE listing_tombstones "
        "ADD COLUMN deleted_xid xid8 NOT NULL DEFAULT pg_current_xact_id()"
    )
    op.execute(
        "CREATE INDEX ix_listing_tombstones_deleted_xid ON listing_tombstones (deleted_xid) "
        "INCLUDE (listing_id)"
    )
    _rebuild_covering(add=True)
    op.execute("ANALYZE listings")


def downgrade() -> None:
    op.execute("SET LOCAL statement_timeout = 0")
    _rebuild_covering(add=False)
    op.execute("DROP INDEX IF EXISTS ix_listing_tombstones_deleted_xid")
    op.execute("ALTER TABLE listing_tombstones DROP COLUMN deleted_xid")
    op.execute("DROP INDEX IF EXISTS ix_listings_changed_xid")
    op.execute("CREATE INDEX ix_listings_changed_at ON listings (changed_at) INCLUDE (id)")
    _trigger(WATCHED_BEFORE, xid=False)
    op.execute("ALTER TABLE listings DROP COLUMN changed_xid")
    op.execute("ALTER TABLE listings DROP COLUMN wbs_required")
