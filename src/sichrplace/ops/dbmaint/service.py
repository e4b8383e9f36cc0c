"""`sichrplace db report` and the nightly ANALYZE of bulk-loaded tables.

The report reads each section in a transaction of its own on one connection to the primary,
so a section that cannot be read (an extension missing, a permission, a timeout) says why and
the others still print. Index usage also asks the replica: reads that tolerate lag (search)
run there, and its scans are its own (statistics are per server).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AsyncExitStack

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from sichrplace.kit.clock import utcnow
from sichrplace.ops.dbmaint import sections
from sichrplace.ops.dbmaint.report import (
    DbReport,
    ReportOptions,
    Section,
    SectionReader,
    describe,
)
from sichrplace.ops.dbmaint.repository import health, server
from sichrplace.ops.dbmaint.sections import Connect
from sichrplace.ops.dbmaint.tables import BULK_LOADED_TABLES
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database

log = structlog.get_logger(__name__)

# ANALYZE samples 300 x default_statistics_target rows of a table, whatever its size (about a
# second for the 1M listings); a lock not granted within 30 s means a bulk load or DDL holds
# the table: it is skipped until the next run rather than queueing everyone behind it.
ANALYZE_STATEMENT_TIMEOUT_MS = 600_000
ANALYZE_LOCK_TIMEOUT_MS = 30_000


async def build_report(
    primary: Connect, replica: Connect | None, options: ReportOptions
) -> DbReport:
    """Every section of the report; a section that cannot be read carries its error."""
    report = DbReport(generated_at=utcnow())
    async with AsyncExitStack() as stack:
        try:
            conn: AsyncConnection | None = await stack.enter_async_context(primary())
            unreachable = ""
        except Exception as exc:  # no primary: every section says so
            log.warning("db_report_primary_unreachable", error=describe(exc))
            conn, unreachable = None, describe(exc)
        reader = SectionReader(
            conn, timeout_ms=options.statement_timeout_ms, unreachable=unreachable
        )
        if conn is not None:
            await _read_facts(reader, report)
        await _read_sections(reader, report, replica, options)
    return report


async def _read_facts(reader: SectionReader, report: DbReport) -> None:
    async def read(conn: AsyncConnection) -> None:
        facts = await server.server_facts(conn)
        report.database, report.server_version = facts.database, facts.version
        report.stats_reset, report.server_started_at = facts.stats_reset, facts.started_at

    await reader.read(Section("server", "Server"), read)


async def _read_sections(
    reader: SectionReader, report: DbReport, replica: Connect | None, options: ReportOptions
) -> None:
    report.sections.extend(await sections.statement_sections(reader, options))
    report.sections.append(await sections.unused_indexes(reader, replica))
    report.sections.append(await sections.duplicate_indexes(reader))
    report.sections.extend(await sections.bloat_sections(reader, options))
    report.sections.append(await sections.replication_slots(reader))
    report.sections.append(await sections.autovacuum(reader, options))


async def analyze_bulk_loaded(db: Database, tables: Sequence[str] = BULK_LOADED_TABLES) -> int:
    """ANALYZE each of `tables` that exists and every partitioned table, each in a transaction
    of its own; how many were analysed (a table that fails is logged and skipped)."""
    async with transaction(db) as session:
        targets = await health.analyze_targets(session, list(tables))
    done = 0
    for schema, table in targets:
        try:
            async with transaction(db) as session:
                await server.limit_transaction(
                    session,
                    statement_ms=ANALYZE_STATEMENT_TIMEOUT_MS,
                    lock_ms=ANALYZE_LOCK_TIMEOUT_MS,
                )
                await health.analyze(session, schema, table)
        except Exception as exc:
            log.warning("analyze_skipped", schema=schema, table=table, error=describe(exc))
            continue
        done += 1
    log.info("bulk_loaded_tables_analyzed", tables=done, of=len(targets))
    return done
