# ruff: noqa: S608 - statements are assembled from this module's fixed fragments; every value is bound.
"""Index usage: indexes no scan used, and indexes another one makes redundant."""

from __future__ import annotations

from sqlalchemy import text

from sichrplace.ops.dbmaint.records import DuplicateIndexRow, UnusedIndexRow
from sichrplace.ops.dbmaint.repository.server import USER_SCHEMAS_SQL, Executor

# The index of a partition counts toward its partitioned index (one row per partitioned
# index, not one per daily partition); pg_partition_root is NULL for an ordinary index.
_SCANS = """
WITH leaf AS (
    SELECT coalesce(pg_partition_root(s.indexrelid), s.indexrelid) AS index_oid,
           s.idx_scan, pg_relation_size(s.indexrelid) AS size_bytes
    FROM pg_stat_user_indexes s
)
SELECT index_oid, sum(idx_scan)::bigint AS scans, sum(size_bytes)::bigint AS size_bytes,
       count(*)::int AS parts
FROM leaf GROUP BY index_oid
"""

# Primary keys, unique indexes and indexes behind a constraint (exclusion constraints
# included) do their work without being scanned: they are never "unused".
_UNUSED = text(
    f"""
WITH agg AS ({_SCANS})
SELECT a.index_oid::bigint AS oid, n.nspname AS schema, t.relname AS table_name,
       c.relname AS index_name, a.size_bytes, a.parts, pg_get_indexdef(a.index_oid) AS definition
FROM agg a
JOIN pg_index i ON i.indexrelid = a.index_oid
JOIN pg_class c ON c.oid = a.index_oid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.scans = 0 AND NOT i.indisprimary AND NOT i.indisunique
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = a.index_oid)
ORDER BY a.size_bytes DESC, n.nspname, c.relname
"""
)

_SCANNED_AMONG = text(
    f"WITH agg AS ({_SCANS}) SELECT index_oid::bigint FROM agg "
    "WHERE index_oid = ANY(CAST(:oids AS oid[])) AND scans > 0"
)


async def unused_indexes(conn: Executor) -> list[tuple[int, UnusedIndexRow]]:
    """(oid, row) of every index with no scan on this server since its statistics reset."""
    result = await conn.execute(_UNUSED)
    return [
        (
            int(r.oid),
            UnusedIndexRow(
                schema=r.schema,
                table=r.table_name,
                index=r.index_name,
                size_bytes=int(r.size_bytes),
                partitions=int(r.parts) if r.parts > 1 else 0,
                definition=r.definition,
            ),
        )
        for r in result
    ]


async def scanned_among(conn: Executor, oids: list[int]) -> set[int]:
    """Which of `oids` this server (a physical replica: the same oids) has scanned."""
    if not oids:
        return set()
    result = await conn.execute(_SCANNED_AMONG, {"oids": oids})
    return {int(oid) for (oid,) in result}


# Arrays from the catalogue's vectors, 1-based (int2vector/oidvector are 0-based). indclass,
# indcollation and indoption cover the key columns only; indkey also the INCLUDE columns.
# Partitions' own indexes are left out (their partitioned index stands for them).
_DUPLICATES = text(
    f"""
WITH idx AS (
    SELECT i.indexrelid, i.indrelid, c.relam, n.nspname AS schema, t.relname AS table_name,
           c.relname AS index_name, i.indnkeyatts AS nkey, i.indnatts AS natts,
           (i.indisprimary::int * 4 + i.indisunique::int * 2
            + EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)::int
           ) AS keep,
           string_to_array(i.indkey::text, ' ')::int[] AS cols,
           string_to_array(i.indclass::text, ' ')::oid[] AS classes,
           string_to_array(i.indcollation::text, ' ')::oid[] AS collations,
           string_to_array(i.indoption::text, ' ')::int[] AS options,
           coalesce(pg_get_expr(i.indexprs, i.indrelid), '') AS exprs,
           coalesce(pg_get_expr(i.indpred, i.indrelid), '') AS pred,
           CASE WHEN c.relkind = 'I'
                THEN (SELECT coalesce(sum(pg_relation_size(p.relid)), 0)
                      FROM pg_partition_tree(i.indexrelid) p)
                ELSE pg_relation_size(i.indexrelid) END::bigint AS size_bytes,
           pg_get_indexdef(i.indexrelid) AS definition
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE {USER_SCHEMAS_SQL} AND NOT c.relispartition AND i.indisvalid
), pairs AS (
    SELECT a.*, b.indexrelid AS b_oid, b.index_name AS covered_by,
           b.definition AS covered_by_definition, b.keep AS b_keep, b.nkey AS b_nkey,
           b.cols AS b_cols, b.classes AS b_classes, b.collations AS b_collations,
           b.options AS b_options,
           (a.cols = b.cols AND a.exprs = b.exprs AND a.classes = b.classes
            AND a.collations = b.collations AND a.options = b.options) AS exact
    FROM idx a
    JOIN idx b ON b.indrelid = a.indrelid AND b.indexrelid <> a.indexrelid AND b.relam = a.relam
    WHERE a.pred = b.pred
)
SELECT DISTINCT ON (indexrelid) schema, table_name, index_name, covered_by,
       CASE WHEN exact THEN 'exact' ELSE 'prefix' END AS kind, size_bytes, definition,
       covered_by_definition
FROM pairs
WHERE CASE
    -- Of two identical indexes, the one that keeps less (no key, uniqueness or constraint),
    -- else the younger, is the one to drop.
    WHEN exact THEN keep < b_keep OR (keep = b_keep AND indexrelid > b_oid)
    -- A plain btree whose key columns (same operator classes, collations and order) lead
    -- another btree's: the longer one answers every query the shorter one does. A unique
    -- index enforces something the longer one does not; INCLUDE columns are not compared.
    ELSE relam = (SELECT oid FROM pg_am WHERE amname = 'btree')
        AND exprs = '' AND keep = 0 AND natts = nkey AND nkey <= b_nkey
        AND cols = b_cols[1:nkey] AND classes = b_classes[1:nkey]
        AND collations = b_collations[1:nkey] AND options = b_options[1:nkey]
    END
ORDER BY indexrelid, exact DESC, b_keep DESC, b_nkey
"""
)


async def duplicate_indexes(conn: Executor) -> list[DuplicateIndexRow]:
    """Indexes another index of the same table makes redundant, one row each (its best cover)."""
    result = await conn.execute(_DUPLICATES)
    rows = [
        DuplicateIndexRow(
            schema=r.schema,
            table=r.table_name,
            index=r.index_name,
            covered_by=r.covered_by,
            kind=r.kind,
            size_bytes=int(r.size_bytes),
            definition=r.definition,
            covered_by_definition=r.covered_by_definition,
        )
        for r in result
    ]
    return sorted(rows, key=lambda row: (-row.size_bytes, row.schema, row.table, row.index))
