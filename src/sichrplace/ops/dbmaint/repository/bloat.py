# ruff: noqa: S608 - the schema is the extension's own (from pg_extension); every value is bound.
"""Table and index bloat: measured with pgstattuple where it is installed, else estimated from
the planner's statistics (the widely used estimate published by ioguix, pgsql-bloat-estimation).

"Wasted" is what a table or index holds beyond what its live rows need at its fillfactor:
dead tuples, free space and empty pages; the space a fillfactor below 100 keeps free on
purpose is not counted.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from sichrplace.ops.dbmaint.records import BloatRow
from sichrplace.ops.dbmaint.repository.server import USER_SCHEMAS_SQL, Executor

_FILLFACTOR = (
    "coalesce((SELECT o.option_value::int FROM pg_options_to_table({rel}.reloptions) o "
    "WHERE o.option_name = 'fillfactor'), {default})"
)

# Candidates by the catalogue's page count (no lock taken to choose them), largest first.
_CANDIDATES = f"""
SELECT c.oid::bigint AS oid, n.nspname AS schema, t.relname AS table_name,
       CASE WHEN c.oid = t.oid THEN NULL ELSE c.relname END AS index_name,
       {_FILLFACTOR.format(rel="c", default="{default_fillfactor}")} AS fillfactor
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_index i ON i.indexrelid = c.oid
JOIN pg_class t ON t.oid = coalesce(i.indrelid, c.oid)
WHERE {{kinds}} AND {USER_SCHEMAS_SQL}
  AND c.relpages::numeric * current_setting('block_size')::int >= :min_bytes
ORDER BY c.relpages DESC
"""
_TABLE_KINDS = "c.relkind IN ('r', 'm')"
_BTREE_KINDS = (
    "c.relkind = 'i' AND i.indisvalid AND c.relam = (SELECT oid FROM pg_am WHERE amname = 'btree')"
)

# pgstattuple_approx reads only the pages the visibility map does not mark all-visible (and
# estimates those from the free space map), so a well-vacuumed table costs little. Space kept
# free by a fillfactor below 100 is not waste.
_TABLE_MEASURE = """
SELECT a.table_len::bigint AS size_bytes,
       greatest(a.dead_tuple_len + a.approx_free_space
                - a.table_len * (100 - :fillfactor) / 100.0, 0)::bigint AS wasted_bytes,
       a.dead_tuple_percent AS dead_pct
FROM {schema}.pgstattuple_approx(CAST(:oid AS oid)::regclass) a
"""

# pgstatindex reads the whole index. Leaf pages hold live tuples at `avg_leaf_density` percent
# where the fillfactor wants `fillfactor` percent (NaN: no leaf tuple at all); empty and
# deleted pages are wasted whole.
_INDEX_MEASURE = """
SELECT s.index_size::bigint AS size_bytes,
       greatest((s.leaf_pages * (1 - coalesce(nullif(s.avg_leaf_density, 'NaN'), :fillfactor)
                                      / :fillfactor)
                 + s.empty_pages + s.deleted_pages) * current_setting('block_size')::int,
                0)::bigint AS wasted_bytes,
       NULL::float8 AS dead_pct
FROM {schema}.pgstatindex(CAST(:oid AS oid)::regclass) s
"""


# The statistical estimate (64-bit server: MAXALIGN 8): a heap tuple is a line pointer (4),
# its header (23 bytes plus a null bitmap when some column has nulls) and its data (the sum
# of the columns' average widths net of nulls), each aligned; a table needs reltuples of
# them at its fillfactor, plus a page per four TOAST tuples. Columns without statistics make
# the estimate unreliable (never analysed, or of type `name`).
_TABLES_ESTIMATE = f"""
WITH cols AS (
    SELECT t.oid, n.nspname AS schema, t.relname AS table_name, t.reltuples,
           t.relpages + coalesce(toast.relpages, 0) AS pages,
           coalesce(toast.reltuples, 0) AS toast_tuples,
           {_FILLFACTOR.format(rel="t", default=100)} AS fillfactor,
           23 + CASE WHEN max(coalesce(s.null_frac, 0)) > 0 THEN (7 + count(*)) / 8 ELSE 0 END
               AS header_bytes,
           sum((1 - coalesce(s.null_frac, 0)) * coalesce(s.avg_width, 1024)) AS data_bytes,
           bool_or(a.atttypid = 'pg_catalog.name'::regtype) OR count(s.attname) < count(*)
               AS unreliable
    FROM pg_class t
    JOIN pg_namespace n ON n.oid = t.relnamespace
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = t.relname
        AND s.attname = a.attname AND NOT s.inherited
    LEFT JOIN pg_class toast ON toast.oid = t.reltoastrelid
    WHERE t.relkind IN ('r', 'm') AND {USER_SCHEMAS_SQL} AND t.reltuples >= 0
      AND t.relpages::numeric * current_setting('block_size')::int >= :min_bytes
    GROUP BY t.oid, n.nspname, t.relname, t.reltuples, t.relpages, t.reloptions,
             toast.relpages, toast.reltuples
), sized AS (
    SELECT *, current_setting('block_size')::numeric AS bs,
           4 + ceil(header_bytes / 8.0) * 8 + ceil(data_bytes / 8.0) * 8 AS tuple_bytes
    FROM cols
), estimated AS (
    SELECT *, ceil(reltuples / ((bs - 24) * fillfactor / (tuple_bytes * 100)))
              + ceil(toast_tuples / 4) AS needed_pages
    FROM sized
)
SELECT e.schema, e.table_name, (e.pages * e.bs)::bigint AS size_bytes,
       (greatest(e.pages - e.needed_pages, 0) * e.bs)::bigint AS wasted_bytes,
       100.0 * st.n_dead_tup
           / NULLIF(greatest(st.n_live_tup, e.reltuples) + st.n_dead_tup, 0) AS dead_pct,
       e.unreliable
FROM estimated e
LEFT JOIN pg_stat_user_tables st ON st.relid = e.oid
ORDER BY wasted_bytes DESC, size_bytes DESC
LIMIT :limit
"""

# The same for btree index tuples: a line pointer, IndexTupleData (8 bytes; 16 once aligned
# with the null bitmap a nullable column needs) and the key columns' data, aligned; 24 bytes
# of page header and 16 of btree special space per page, plus the metapage. An expression's
# statistics are kept under the index's own name. Deduplication (Postgres 13+) stores many
# equal keys once: such an index is smaller than the estimate, which then reports no waste.
_INDEXES_ESTIMATE = f"""
WITH cols AS (
    SELECT c.oid, n.nspname AS schema, t.relname AS table_name, c.relname AS index_name,
           c.reltuples, c.relpages, {_FILLFACTOR.format(rel="c", default=90)} AS fillfactor,
           CASE WHEN max(coalesce(s.null_frac, 0)) > 0 THEN 16 ELSE 8 END AS header_bytes,
           sum((1 - coalesce(s.null_frac, 0)) * coalesce(s.avg_width, 1024)) AS data_bytes,
           bool_or(a.atttypid = 'pg_catalog.name'::regtype) OR count(s.attname) < count(*)
               AS unreliable
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
    LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND (
        (s.tablename = t.relname AND s.attname = pg_get_indexdef(c.oid, a.attnum, true))
        OR (s.tablename = c.relname AND s.attname = a.attname))
    WHERE c.relkind = 'i' AND c.relam = (SELECT oid FROM pg_am WHERE amname = 'btree')
      AND i.indisvalid AND c.relpages > 0 AND c.reltuples >= 0 AND {USER_SCHEMAS_SQL}
      AND c.relpages::numeric * current_setting('block_size')::int >= :min_bytes
    GROUP BY c.oid, n.nspname, t.relname, c.relname, c.reltuples, c.relpages, c.reloptions
), estimated AS (
    SELECT *, current_setting('block_size')::numeric AS bs,
           1 + ceil(reltuples / greatest(floor(
               (current_setting('block_size')::numeric - 24 - 16) * fillfactor
               / (100 * (4 + header_bytes + ceil(data_bytes / 8.0) * 8))), 1)) AS needed_pages
    FROM cols
)
SELECT schema, table_name, index_name, (relpages * bs)::bigint AS size_bytes,
       (greatest(relpages - needed_pages, 0) * bs)::bigint AS wasted_bytes, unreliable
FROM estimated
ORDER BY wasted_bytes DESC, size_bytes DESC
LIMIT :limit
"""


def _pct(wasted: int, size: int) -> float:
    return round(100.0 * wasted / size, 1) if size else 0.0


async def _measured(
    conn: Executor, schema: str, *, index: bool, min_bytes: int, limit: int
) -> tuple[list[BloatRow], int]:
    """Measure each candidate in a savepoint of its own: a relation dropped meanwhile, or one
    whose lock is not granted in time, is skipped (counted) instead of failing the section."""
    kinds, default_ff = (_BTREE_KINDS, 90) if index else (_TABLE_KINDS, 100)
    candidates = (
        await conn.execute(
            text(_CANDIDATES.format(kinds=kinds, default_fillfactor=default_ff)),
            {"min_bytes": min_bytes},
        )
    ).all()
    measure = text((_INDEX_MEASURE if index else _TABLE_MEASURE).format(schema=schema))
    method = "pgstatindex" if index else "pgstattuple_approx"
    rows, skipped = [], 0
    for c in candidates:
        try:
            async with conn.begin_nested():
                m = (await conn.execute(measure, {"oid": c.oid, "fillfactor": c.fillfactor})).one()
        except DBAPIError:
            skipped += 1
            continue
        size, wasted = int(m.size_bytes), int(m.wasted_bytes)
        rows.append(
            BloatRow(
                schema=c.schema,
                table=c.table_name,
                index=c.index_name,
                size_bytes=size,
                wasted_bytes=wasted,
                wasted_pct=_pct(wasted, size),
                dead_pct=round(float(m.dead_pct), 1) if m.dead_pct is not None else None,
                method=method,
                unreliable=False,
            )
        )
    rows.sort(key=lambda r: (-r.wasted_bytes, -r.size_bytes))
    return rows[:limit], skipped


async def _estimated(conn: Executor, *, index: bool, min_bytes: int, limit: int) -> list[BloatRow]:
    sql = _INDEXES_ESTIMATE if index else _TABLES_ESTIMATE
    result = await conn.execute(text(sql), {"min_bytes": min_bytes, "limit": limit})
    rows = []
    for r in result:
        size, wasted = int(r.size_bytes), int(r.wasted_bytes)
        dead = None if index or r.dead_pct is None else round(float(r.dead_pct), 1)
        rows.append(
            BloatRow(
                schema=r.schema,
                table=r.table_name,
                index=r.index_name if index else None,
                size_bytes=size,
                wasted_bytes=wasted,
                wasted_pct=_pct(wasted, size),
                dead_pct=dead,
                method="estimate",
                unreliable=bool(r.unreliable),
            )
        )
    return rows


async def table_bloat(
    conn: Executor, *, pgstattuple_schema: str | None, min_bytes: int, limit: int
) -> tuple[list[BloatRow], int]:
    """The `limit` tables (of at least `min_bytes`) wasting the most space, measured with
    pgstattuple_approx when `pgstattuple_schema` is given, else estimated; and how many
    tables could not be measured."""
    if pgstattuple_schema is None:
        return await _estimated(conn, index=False, min_bytes=min_bytes, limit=limit), 0
    return await _measured(conn, pgstattuple_schema, index=False, min_bytes=min_bytes, limit=limit)


async def index_bloat(
    conn: Executor, *, pgstattuple_schema: str | None, min_bytes: int, limit: int
) -> tuple[list[BloatRow], int]:
    """The same for btree indexes (pgstatindex, which reads each index whole)."""
    if pgstattuple_schema is None:
        return await _estimated(conn, index=True, min_bytes=min_bytes, limit=limit), 0
    return await _measured(conn, pgstattuple_schema, index=True, min_bytes=min_bytes, limit=limit)
