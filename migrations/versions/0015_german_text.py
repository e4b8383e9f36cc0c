"""German search: districts, compound parts in the full text, folded place keys, suggestions.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04

- listings.district (the Stadtteil, optional) and district_key (its folded key, the `district`
  filter, with an index for newest-first pages); listings.search_extra: the parts of the
  compound words of title, description and district, computed by the application
  (listings/fulltext.py), so that "Balkon" finds "Südbalkon".
- search_tsv (generated) adds the district (weight C) and search_extra (weight D). Postgres 15
  cannot change a generated expression: the column is dropped and added again, which rewrites
  the table; the indexes on it (0009's GIN) go with it and are made again.
- city_key is recomputed with the new key (listings/places.py: "Muenchen" = "München",
  "Frankfurt am Main" = "Frankfurt") and search_extra backfilled, in batches of BATCH rows,
  with the listings' secondary indexes dropped meanwhile and built again after the rewrite
  (the rewrite would rebuild them anyway; updating them row by row first would cost more).
- The changed_at trigger (0012, 0014) also watches district, district_key and search_extra:
  the backfill stamps the rows whose parts it set, so running API processes reload their
  index.
- search_places: the cities, districts and postal codes search suggests (search/suggest/).

The table is locked for the whole upgrade (measured times in docs/adr/0008-german-text-search.md).
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any

import psycopg
from alembic import op

from sichrplace.listings.fulltext import search_extra
from sichrplace.listings.places import city_key

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BATCH = 20_000
# The changed_at trigger's columns as migration 0014 left them, and with this one's.
WATCHED_0014 = (
    "status", "city_key", "city", "postal_code", "rooms", "size_sqm", "furnished",
    "pets_allowed", "available_from", "amenities", "cold_rent_cents", "utilities_cents",
    "latitude", "longitude", "title", "description", "energy_class", "wbs_required",
)  # fmt: skip
WATCHED = (*WATCHED_0014, "district", "district_key", "search_extra")
TSV_0004 = (
    "setweight(to_tsvector('german'::regconfig, coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('german'::regconfig, coalesce(description, '')), 'B')"
)
TSV = (
    f"{TSV_0004} || "
    "setweight(to_tsvector('german'::regconfig, coalesce(district, '')), 'C') || "
    "setweight(to_tsvector('german'::regconfig, coalesce(search_extra, '')), 'D')"
)
DISTRICT_INDEX = (
    "CREATE INDEX ix_listings_search_district_newest ON listings "
    "(district_key, created_at DESC, id DESC) WHERE status = 'active' AND district_key IS NOT NULL"
)


def _conn() -> psycopg.Connection[Any]:
    driver = op.get_bind().connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    return driver


def _say(message: str) -> None:
    print(f"0015: {message}", flush=True)  # progress of a long migration


def _secondary_indexes(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """name -> CREATE INDEX of every index on listings not backing a constraint."""
    rows = conn.execute(
        "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
        "WHERE t.oid = 'listings'::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
    ).fetchall()
    return {str(name): str(definition) for name, definition in rows}


def _trigger(watched: Iterable[str]) -> None:
    old = ", ".join(f"OLD.{c}" for c in watched)
    new = ", ".join(f"NEW.{c}" for c in watched)
    op.execute("DROP TRIGGER IF EXISTS listings_changed_at ON listings")
    op.execute(
        "CREATE TRIGGER listings_changed_at BEFORE UPDATE ON listings FOR EACH ROW "
        f"WHEN (({old}) IS DISTINCT FROM ({new})) EXECUTE FUNCTION listings_changed_at()"
    )


Compute = Callable[[tuple[Any, ...]], tuple[Any, ...]]


def _backfill(
    conn: psycopg.Connection[Any], columns: str, sets: str, differs: str, compute: Compute
) -> int:
    """Rewrite the listings whose derived values change, BATCH at a time in id order: read
    `columns`, COPY (id, a, b) = (id, *compute(row)) into a temporary table, UPDATE the rows
    where `differs` from it."""
    conn.execute(
        "CREATE TEMPORARY TABLE backfill_0015 (id uuid PRIMARY KEY, a text, b text) ON COMMIT DROP"
    )
    changed, last, started = 0, None, time.perf_counter()
    while True:
        rows = conn.execute(
            f"SELECT id, {columns} FROM listings "  # noqa: S608 - fixed column names
            + ("WHERE id > %s " if last is not None else "")
            + "ORDER BY id LIMIT %s",
            (last, BATCH) if last is not None else (BATCH,),
        ).fetchall()
        if not rows:
            break
        last = rows[-1][0]
        with conn.cursor() as cur, cur.copy("COPY backfill_0015 (id, a, b) FROM STDIN") as copy:
            for row in rows:
                copy.write_row((row[0], *compute(row)))
        cur = conn.execute(
            f"UPDATE listings l SET {sets} FROM backfill_0015 b "  # noqa: S608 - fixed text
            f"WHERE l.id = b.id AND {differs}"
        )
        changed += cur.rowcount
        conn.execute("TRUNCATE backfill_0015")
    conn.execute("DROP TABLE backfill_0015")
    _say(f"backfilled {changed} listings in {time.perf_counter() - started:.1f} s")
    return changed


def upgrade() -> None:
    conn = _conn()
    op.execute("SET LOCAL statement_timeout = 0")
    op.execute("SET LOCAL maintenance_work_mem = '768MB'")
    indexes = _secondary_indexes(conn)
    for name in indexes:
        op.execute(f"DROP INDEX {name}")
    op.execute("ALTER TABLE listings DROP COLUMN search_tsv")
    op.execute(
        "ALTER TABLE listings ADD COLUMN district text, ADD COLUMN district_key text, "
        "ADD COLUMN search_extra text NOT NULL DEFAULT ''"
    )
    _trigger(WATCHED)

    def derive(row: tuple[Any, ...]) -> tuple[Any, ...]:
        _, title, description, city, _district = row
        return city_key(city), search_extra(title, description, _district)

    _backfill(
        conn,
        "title, description, city, district",
        "city_key = b.a, search_extra = b.b",
        "(l.city_key, l.search_extra) IS DISTINCT FROM (b.a, b.b)",
        derive,
    )
    started = time.perf_counter()
    _add_search_tsv(TSV)
    _say(f"search_tsv added (the table rewritten) in {time.perf_counter() - started:.1f} s")
    _build(indexes, DISTRICT_INDEX)
    _places()


def _add_search_tsv(expression: str) -> None:
    op.execute(
        "ALTER TABLE listings ADD COLUMN search_tsv tsvector "
        f"GENERATED ALWAYS AS ({expression}) STORED NOT NULL"
    )


def _build(indexes: dict[str, str], *extra: str) -> None:
    started = time.perf_counter()
    for statement in (*indexes.values(), *extra):
        op.execute(statement)
    op.execute("ANALYZE listings")
    _say(f"{len(indexes) + len(extra)} indexes built in {time.perf_counter() - started:.1f} s")


def _places() -> None:
    op.execute(
        "CREATE TABLE search_places (kind text NOT NULL, city_key text NOT NULL, "
        "key text NOT NULL, label text NOT NULL, city text NOT NULL, listings integer NOT NULL, "
        "refreshed_at timestamptz NOT NULL DEFAULT now(), "
        "CONSTRAINT pk_search_places PRIMARY KEY (kind, city_key, key), "
        "CONSTRAINT ck_search_places_kind CHECK (kind IN ('city', 'district', 'postal_code')))"
    )
    op.execute("CREATE INDEX ix_search_places_key ON search_places (key text_pattern_ops)")


def _old_city_key(city: str) -> str:
    """city_key as it was before this migration (NFKC, spaces collapsed, lower case)."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", city)).strip().lower()


def downgrade() -> None:
    conn = _conn()
    op.execute("SET LOCAL statement_timeout = 0")
    op.execute("SET LOCAL maintenance_work_mem = '768MB'")
    op.execute("DROP TABLE IF EXISTS search_places")
    op.execute("DROP INDEX IF EXISTS ix_listings_search_district_newest")
    indexes = _secondary_indexes(conn)
    for name in indexes:
        op.execute(f"DROP INDEX {name}")
    op.execute("ALTER TABLE listings DROP COLUMN search_tsv")
    _trigger(WATCHED_0014)  # first: the trigger names the columns
    op.execute(
        "ALTER TABLE listings DROP COLUMN district, DROP COLUMN district_key, "
        "DROP COLUMN search_extra"
    )
    _backfill(
        conn,
        "city",
        "city_key = b.a",
        "l.city_key IS DISTINCT FROM b.a",
        lambda row: (_old_city_key(row[1]), None),
    )
    _add_search_tsv(TSV_0004)
    _build(indexes)
