"""The report's sections: what each reads, and the notes an operator needs to read it right."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from sqlalchemy.ext.asyncio import AsyncConnection

from sichrplace.ops.dbmaint.report import (
    LOCK_TIMEOUT_MS,
    ReportOptions,
    Section,
    SectionReader,
    Unavailable,
    describe,
)
from sichrplace.ops.dbmaint.repository import bloat, health, indexes, server, statements

Connect = Callable[[], AbstractAsyncContextManager[AsyncConnection]]


async def statement_sections(reader: SectionReader, options: ReportOptions) -> list[Section]:
    by_total = Section("statements_total", f"Top {options.top} statements by total time")
    by_mean = Section(
        "statements_mean",
        f"Top {options.top} statements by mean time (called at least {options.min_calls} times)",
    )

    async def schema_of(conn: AsyncConnection) -> str:
        schema = await server.extension_schema(conn, "pg_stat_statements")
        if schema is None:
            raise Unavailable(
                "pg_stat_statements is not installed in this database (it needs "
                "shared_preload_libraries and CREATE EXTENSION pg_stat_statements)"
            )
        return schema

    async def read_total(conn: AsyncConnection) -> None:
        schema = await schema_of(conn)
        by_total.rows = await statements.top_statements(
            conn, schema, order="total", limit=options.top
        )
        reset = await statements.statements_reset_at(conn, schema)
        if reset is not None:
            by_total.notes.append(f"pg_stat_statements since {reset:%Y-%m-%d %H:%M:%S %Z}")
        by_total.notes.append(
            "top-level statements of this database; share = part of all their execution time"
        )

    async def read_mean(conn: AsyncConnection) -> None:
        schema = await schema_of(conn)
        by_mean.rows = await statements.top_statements(
            conn, schema, order="mean", limit=options.top, min_calls=options.min_calls
        )

    await reader.read(by_total, read_total)
    await reader.read(by_mean, read_mean)
    return [by_total, by_mean]


async def unused_indexes(reader: SectionReader, replica: Connect | None) -> Section:
    section = Section(
        "unused_indexes",
        "Unused indexes (no scan since the statistics were reset; primary keys, unique and "
        "constraint indexes left out)",
    )

    async def read(conn: AsyncConnection) -> None:
        found = await indexes.unused_indexes(conn)
        if replica is None:
            section.notes.append("replica not asked: an index only replica reads use shows here")
        else:
            try:
                async with replica() as replica_conn, replica_conn.begin():
                    await server.limit_transaction(
                        replica_conn, statement_ms=reader.timeout_ms, lock_ms=LOCK_TIMEOUT_MS
                    )
                    scanned = await indexes.scanned_among(replica_conn, [oid for oid, _ in found])
                found = [(oid, row) for oid, row in found if oid not in scanned]
                section.notes.append("scans counted on the primary and the replica")
            except Exception as exc:
                section.notes.append(
                    f"replica not read ({describe(exc)}): an index only replica reads use "
                    "shows here too"
                )
        section.rows = [row for _, row in found]

    return await reader.read(section, read)


async def duplicate_indexes(reader: SectionReader) -> Section:
    section = Section(
        "duplicate_indexes",
        "Duplicate indexes (exact: same columns, classes, expressions, predicate; prefix: "
        "its columns lead another btree's)",
    )

    async def read(conn: AsyncConnection) -> None:
        section.rows = await indexes.duplicate_indexes(conn)

    return await reader.read(section, read)


async def _pgstattuple(reader: SectionReader, method: str) -> tuple[str | None, str]:
    """(schema of pgstattuple or None, how bloat is measured and why)."""
    if method == "estimate":
        return None, "statistical estimate from pg_stats (asked for)"
    found: list[str] = []

    async def probe(conn: AsyncConnection) -> None:
        schema = await server.extension_schema(conn, "pgstattuple")
        if schema is not None:
            found.append(schema)

    async def create(conn: AsyncConnection) -> None:
        await server.create_pgstattuple(conn)
        await probe(conn)

    await reader.read(Section("probe", ""), probe)
    if not found:
        attempt = await reader.read(Section("create", ""), create)
        if not found:
            reason = attempt.error or "not installed"
            if method == "pgstattuple":
                raise Unavailable(f"pgstattuple cannot be used: {reason}")
            return None, f"statistical estimate from pg_stats (pgstattuple: {reason})"
    return found[0], "measured with pgstattuple (tables: pgstattuple_approx, indexes: pgstatindex)"


async def bloat_sections(reader: SectionReader, options: ReportOptions) -> list[Section]:
    tables = Section("table_bloat", "Table bloat")
    idx = Section("index_bloat", "Index bloat (btree)")
    try:
        schema, how = await _pgstattuple(reader, options.bloat_method)
    except Unavailable as exc:
        tables.error = idx.error = str(exc)
        return [tables, idx]
    size = f"{options.bloat_min_bytes / (1 << 20):g} MiB"
    tables.notes = [how, f"tables of at least {size}; wasted = dead tuples + free space"]
    idx.notes = [how, f"btree indexes of at least {size}; other access methods not measured"]
    if schema is None:
        idx.notes.append("deduplicated indexes are smaller than estimated and show no waste")
        tables.notes.append("unreliable (?): columns without statistics (never analysed)")

    def skipped_note(section: Section, skipped: int) -> None:
        if skipped:
            section.notes.append(f"{skipped} not measured (dropped meanwhile or locked)")

    async def read_tables(conn: AsyncConnection) -> None:
        tables.rows, skipped = await bloat.table_bloat(
            conn, pgstattuple_schema=schema, min_bytes=options.bloat_min_bytes, limit=options.top
        )
        skipped_note(tables, skipped)

    async def read_indexes(conn: AsyncConnection) -> None:
        idx.rows, skipped = await bloat.index_bloat(
            conn, pgstattuple_schema=schema, min_bytes=options.bloat_min_bytes, limit=options.top
        )
        skipped_note(idx, skipped)

    await reader.read(tables, read_tables)
    await reader.read(idx, read_indexes)
    return [tables, idx]


async def replication_slots(reader: SectionReader) -> Section:
    section = Section("replication_slots", "Replication slots and the WAL they retain")

    async def read(conn: AsyncConnection) -> None:
        section.rows = await health.replication_slots(conn)
        max_keep, keep = await health.wal_limits(conn)
        bound = (
            "unbounded: an inactive slot keeps WAL until the disk is full"
            if max_keep == "-1"
            else f"a slot is invalidated past {max_keep}"
        )
        section.notes.append(f"max_slot_wal_keep_size = {max_keep} ({bound})")
        section.notes.append(f"wal_keep_size = {keep}")
        if not section.rows:
            section.notes.append("no replication slots")

    return await reader.read(section, read)


async def autovacuum(reader: SectionReader, options: ReportOptions) -> Section:
    section = Section("autovacuum", "Autovacuum health")

    async def read(conn: AsyncConnection) -> None:
        section.rows = await health.autovacuum_state(conn, list(options.hot_tables))
        section.notes.append(
            "hot tables always (own settings: migration 0026, listings 0011); other tables "
            "only when their dead tuples are past the vacuum trigger (autovacuum is behind)"
        )

    return await reader.read(section, read)
