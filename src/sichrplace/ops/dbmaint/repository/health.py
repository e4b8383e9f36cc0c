# ruff: noqa: S608 - statements are assembled from this module's fixed fragments and quoted
# identifiers from the catalogue; every value is bound.
"""Replication slots and the WAL they keep, autovacuum's state per table, ANALYZE."""

from __future__ import annotations

from sqlalchemy import text

from sichrplace.ops.dbmaint.records import AutovacuumRow, SlotRow
from sichrplace.ops.dbmaint.repository.server import USER_SCHEMAS_SQL, Executor

# Retained WAL is measured from the server's current position (on a standby, from what it
# replayed: pg_current_wal_lsn() fails there); a slot whose restart_lsn is NULL keeps none.
_SLOTS = text(
    """
WITH pos AS (
    SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                ELSE pg_current_wal_lsn() END AS lsn
)
SELECT s.slot_name, s.slot_type, s.database, s.active, s.temporary, s.wal_status,
       s.restart_lsn::text AS restart_lsn,
       pg_wal_lsn_diff(pos.lsn, s.restart_lsn)::bigint AS retained_bytes,
       s.safe_wal_size,
       nullif(concat_ws(' ', nullif(r.application_name, ''), host(r.client_addr)), '') AS client,
       pg_wal_lsn_diff(pos.lsn, r.replay_lsn)::bigint AS replay_lag_bytes
FROM pg_replication_slots s
CROSS JOIN pos
LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
ORDER BY retained_bytes DESC NULLS LAST, s.slot_name
"""
)

_WAL_LIMITS = text(
    "SELECT current_setting('max_slot_wal_keep_size'), current_setting('wal_keep_size')"
)


async def replication_slots(conn: Executor) -> list[SlotRow]:
    result = await conn.execute(_SLOTS)
    return [
        SlotRow(
            slot_name=r.slot_name,
            slot_type=r.slot_type,
            database=r.database,
            active=bool(r.active),
            temporary=bool(r.temporary),
            wal_status=r.wal_status,
            restart_lsn=r.restart_lsn,
            retained_bytes=int(r.retained_bytes) if r.retained_bytes is not None else None,
            safe_wal_size=int(r.safe_wal_size) if r.safe_wal_size is not None else None,
            client=r.client,
            replay_lag_bytes=int(r.replay_lag_bytes) if r.replay_lag_bytes is not None else None,
        )
        for r in result
    ]


async def wal_limits(conn: Executor) -> tuple[str, str]:
    """(max_slot_wal_keep_size, wal_keep_size) as the server reports them."""
    row = (await conn.execute(_WAL_LIMITS)).one()
    return str(row[0]), str(row[1])


def _setting(name: str) -> str:
    """A table's own autovacuum setting, else the server's."""
    return (
        f"coalesce((SELECT o.option_value::float8 FROM pg_options_to_table(c.reloptions) o "
        f"WHERE o.option_name = '{name}'), current_setting('{name}')::float8)"
    )


# When autovacuum acts (the daemon's own formula): VACUUM once dead tuples exceed
# threshold + scale_factor * reltuples, or rows inserted since the last vacuum exceed the
# insert threshold + insert scale factor * reltuples (-1: never for inserts); ANALYZE once
# rows changed since the last analyze exceed its threshold + scale_factor * reltuples. Tables
# the caller names are "hot"; any other table is listed only when it is past its vacuum
# trigger (autovacuum is behind on it).
_AUTOVACUUM = text(
    f"""
WITH t AS (
    SELECT s.*, c.reloptions, greatest(c.reltuples, 0)::bigint AS reltuples,
           ({_setting("autovacuum_vacuum_threshold")}
            + {_setting("autovacuum_vacuum_scale_factor")} * greatest(c.reltuples, 0))::bigint
               AS vacuum_trigger,
           ({_setting("autovacuum_analyze_threshold")}
            + {_setting("autovacuum_analyze_scale_factor")} * greatest(c.reltuples, 0))::bigint
               AS analyze_trigger,
           CASE WHEN {_setting("autovacuum_vacuum_insert_threshold")} < 0 THEN NULL
                ELSE ({_setting("autovacuum_vacuum_insert_threshold")}
                      + {_setting("autovacuum_vacuum_insert_scale_factor")}
                      * greatest(c.reltuples, 0))::bigint END AS insert_trigger,
           s.relname = ANY(CAST(:hot AS text[])) AS hot
    FROM pg_stat_user_tables s
    JOIN pg_class c ON c.oid = s.relid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'm') AND {USER_SCHEMAS_SQL}
)
SELECT * FROM t
WHERE (hot AND schemaname = ANY(current_schemas(false))) OR n_dead_tup > vacuum_trigger
ORDER BY hot DESC, relname
"""
)


async def autovacuum_state(conn: Executor, hot: list[str]) -> list[AutovacuumRow]:
    result = await conn.execute(_AUTOVACUUM, {"hot": hot})
    rows = []
    for r in result:
        live, dead = int(r.n_live_tup), int(r.n_dead_tup)
        # n_live_tup restarts from 0 when a crash or an immediate shutdown loses the
        # statistics; reltuples (the last VACUUM/ANALYZE) does not.
        rows_now = max(live, int(r.reltuples))
        rows.append(
            AutovacuumRow(
                table=r.relname if r.schemaname == "public" else f"{r.schemaname}.{r.relname}",
                hot=bool(r.hot),
                n_live_tup=live,
                n_dead_tup=dead,
                dead_pct=round(100.0 * dead / (rows_now + dead), 1) if rows_now + dead else 0.0,
                n_mod_since_analyze=int(r.n_mod_since_analyze),
                n_ins_since_vacuum=int(r.n_ins_since_vacuum),
                vacuum_trigger=int(r.vacuum_trigger),
                analyze_trigger=int(r.analyze_trigger),
                insert_trigger=int(r.insert_trigger) if r.insert_trigger is not None else None,
                last_autovacuum=r.last_autovacuum,
                last_vacuum=r.last_vacuum,
                last_autoanalyze=r.last_autoanalyze,
                last_analyze=r.last_analyze,
                autovacuum_count=int(r.autovacuum_count),
                autoanalyze_count=int(r.autoanalyze_count),
                reloptions=tuple(r.reloptions or ()),
            )
        )
    return rows


# Partitioned tables (their parents): autovacuum never analyses them, only their partitions,
# so the planner's statistics for a query over the whole tree come from manual ANALYZE only.
_PARTITIONED = text(
    f"""
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'p' AND NOT c.relispartition AND {USER_SCHEMAS_SQL}
ORDER BY n.nspname, c.relname
"""
)
_EXISTING = text(
    "SELECT name FROM unnest(CAST(:names AS text[])) AS name "
    "WHERE to_regclass(quote_ident(name)) IS NOT NULL"
)


async def analyze_targets(conn: Executor, tables: list[str]) -> list[tuple[str | None, str]]:
    """(schema, table) to ANALYZE: those of `tables` that exist (in the search path), then
    every partitioned table."""
    targets: list[tuple[str | None, str]] = [
        (None, str(name)) for (name,) in await conn.execute(_EXISTING, {"names": tables})
    ]
    targets += [(str(s), str(t)) for s, t in await conn.execute(_PARTITIONED)]
    return targets


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def analyze(conn: Executor, schema: str | None, table: str) -> None:
    """ANALYZE one table (it may run inside a transaction, unlike VACUUM)."""
    name = _ident(table) if schema is None else f"{_ident(schema)}.{_ident(table)}"
    await conn.execute(text(f"ANALYZE {name}"))
