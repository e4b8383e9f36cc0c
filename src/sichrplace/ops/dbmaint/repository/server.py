"""Facts about the server the report reads, per-transaction limits, the extensions it uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

# A request's session (PrimarySession) or a plain connection (the report's own).
Executor = AsyncConnection | AsyncSession

# Schemas the report never looks into: the catalogue, TOAST (read through its table) and
# other sessions' temporary tables (pgstattuple refuses them).
USER_SCHEMAS_SQL = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname !~ '^pg_toast' AND n.nspname !~ '^pg_temp_'"
)


@dataclass(frozen=True, slots=True)
class ServerFacts:
    database: str
    version: str
    in_recovery: bool
    stats_reset: datetime | None
    started_at: datetime


_FACTS = text(
    "SELECT current_database(), current_setting('server_version'), pg_is_in_recovery(), "
    "(SELECT d.stats_reset FROM pg_stat_database d WHERE d.datname = current_database()), "
    "pg_postmaster_start_time()"
)
_LIMITS = text(
    "SELECT set_config('statement_timeout', :statement, true), "
    "set_config('lock_timeout', :lock, true)"
)
_EXTENSION_SCHEMA = text(
    "SELECT e.extnamespace::regnamespace::text FROM pg_extension e WHERE e.extname = :name"
)


async def server_facts(conn: Executor) -> ServerFacts:
    row = (await conn.execute(_FACTS)).one()
    return ServerFacts(
        database=row[0], version=row[1], in_recovery=row[2], stats_reset=row[3], started_at=row[4]
    )


async def limit_transaction(conn: Executor, *, statement_ms: int, lock_ms: int) -> None:
    """Statement and lock timeouts for the rest of this transaction only (SET LOCAL: safe
    through PgBouncer in transaction mode, and above the role's 5 s request default)."""
    await conn.execute(_LIMITS, {"statement": f"{statement_ms}ms", "lock": f"{lock_ms}ms"})


async def extension_schema(conn: Executor, name: str) -> str | None:
    """The schema (quoted as an identifier where needed) an extension is installed in."""
    value = (await conn.execute(_EXTENSION_SCHEMA, {"name": name})).scalar_one_or_none()
    return str(value) if value is not None else None


async def create_pgstattuple(conn: Executor) -> None:
    """pgstattuple is not a trusted extension: only a superuser (the stack's bootstrap) or a
    role allowed to create it succeeds; the caller falls back to the statistical estimate."""
    await conn.execute(text("CREATE EXTENSION IF NOT EXISTS pgstattuple"))
