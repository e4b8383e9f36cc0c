"""`sichrplace db report`: statements, index usage, bloat, replication slots, autovacuum."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import typer
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from sichrplace.config import DatabaseSettings, get_settings
from sichrplace.ops.dbmaint import render, service
from sichrplace.ops.dbmaint.report import BloatMethod, DbReport, ReportOptions
from sichrplace.ops.dbmaint.sections import Connect
from sichrplace.platform.db.engines import PGBOUNCER_CONNECT_ARGS

APPLICATION_NAME = "sichrplace-db-report"


def _engine(url: str, settings: DatabaseSettings) -> AsyncEngine:
    # One connection for the whole report, none kept: NullPool.
    connect_args = dict(
        PGBOUNCER_CONNECT_ARGS,
        connect_timeout=settings.connect_timeout_seconds,
        application_name=APPLICATION_NAME,
    )
    return create_async_engine(url, poolclass=NullPool, connect_args=connect_args)


async def collect(options: ReportOptions, *, replica: bool = True) -> DbReport:
    """The report from the primary itself (the direct port, as migrations use: statistics
    and pg_stat_statements are per server) and, for index scans, the replica through PgBouncer."""
    settings = get_settings().db
    primary_engine = _engine(settings.direct_url, settings)
    replica_engine = _engine(settings.replica_url, settings) if replica else None

    def connector(engine: AsyncEngine) -> Connect:
        @asynccontextmanager
        async def connect() -> AsyncIterator[AsyncConnection]:
            async with engine.connect() as conn:
                yield conn

        return connect

    try:
        return await service.build_report(
            connector(primary_engine),
            connector(replica_engine) if replica_engine is not None else None,
            options,
        )
    finally:
        await primary_engine.dispose()
        if replica_engine is not None:
            await replica_engine.dispose()


def report(
    as_json: bool = typer.Option(False, "--json", help="One JSON document instead of text."),
    top: int = typer.Option(15, "--top", min=1, help="Rows per section."),
    min_calls: int = typer.Option(
        5, "--min-calls", min=1, help="Statements by mean time: called at least this often."
    ),
    width: int = typer.Option(100, "--width", min=20, help="Characters of each statement."),
    bloat: str = typer.Option(
        "auto",
        "--bloat",
        help="auto (pgstattuple if it can be used, else the estimate), pgstattuple, estimate.",
    ),
    timeout: float = typer.Option(60.0, "--timeout", min=1, help="Seconds per statement."),
    no_replica: bool = typer.Option(
        False, "--no-replica", help="Count index scans on the primary only."
    ),
) -> None:
    """Report on the primary: top statements, unused and duplicate indexes, table and index
    bloat, replication slots and their retained WAL, autovacuum per hot table. A section that
    cannot be read says why; the exit code is 0."""
    if bloat not in ("auto", "pgstattuple", "estimate"):
        raise typer.BadParameter("auto, pgstattuple or estimate", param_hint="--bloat")
    options = ReportOptions(
        top=top,
        min_calls=min_calls,
        bloat_method=cast(BloatMethod, bloat),
        statement_timeout_ms=int(timeout * 1000),
    )
    result = asyncio.run(collect(options, replica=not no_replica))
    typer.echo(render.as_json(result) if as_json else render.as_text(result, width=width))
