"""Thousands of queries through PgBouncer (transaction mode) with no prepared-statement error."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database, make_engine

QUERY = text("SELECT count(*) FROM pg_class WHERE relname LIKE :pattern AND relpages >= :pages")


async def _hammer(engine, tasks: int, per_task: int) -> list[str]:  # type: ignore[no-untyped-def]
    errors: list[str] = []

    async def one(task_no: int) -> None:
        for i in range(per_task):
            try:
                async with engine.connect() as conn:
                    await conn.execute(QUERY, {"pattern": f"pg_%{i % 3}", "pages": task_no % 2})
                    await conn.commit()
            except DBAPIError as exc:
                errors.append(str(exc.orig))

    await asyncio.gather(*(one(t) for t in range(tasks)))
    return errors


async def test_2000_queries_through_pgbouncer_without_prepared_statement_errors(
    settings: Settings,
) -> None:
    engine = make_engine(settings.db.primary_url, settings.db)
    try:
        errors = await _hammer(engine, tasks=40, per_task=50)
    finally:
        await engine.dispose()
    assert errors == []


async def test_control_server_side_prepares_break_through_pgbouncer(settings: Settings) -> None:
    """Shows the test above can fail: with psycopg preparing every statement, transaction
    pooling hands the prepared name to connections that never saw it."""
    engine = create_async_engine(
        settings.db.primary_url,
        pool_size=20,
        max_overflow=0,
        connect_args={"prepare_threshold": 0},
    )
    try:
        errors = await _hammer(engine, tasks=20, per_task=25)
    finally:
        await engine.dispose()
    assert any("prepared statement" in e for e in errors), errors[:3]


@pytest.mark.stack
async def test_concurrent_requests_through_nginx_all_succeed(stack_url: str) -> None:
    """2,000 requests through nginx that each query the primary via PgBouncer (readiness),
    20 at a time."""
    sem = asyncio.Semaphore(20)
    statuses: list[int] = []
    async with httpx.AsyncClient(base_url=stack_url, timeout=10) as http:

        async def one() -> None:
            async with sem:
                statuses.append((await http.get("/readyz")).status_code)

        await asyncio.gather(*(one() for _ in range(2000)))
    assert statuses.count(200) == 2000


async def test_replica_session_reads_from_replica(db: Database) -> None:
    from sichrplace.platform.db.sessions import ReplicaSession

    session = ReplicaSession(db)
    assert await session.scalar(text("SELECT pg_is_in_recovery()")) is True
    assert session.last_target == "replica"


async def test_replica_fetch_uses_driver_rows_on_the_replica(db: Database) -> None:
    from sichrplace.platform.db.sessions import ReplicaSession

    session = ReplicaSession(db)
    rows = await session.fetch(
        text("SELECT pg_is_in_recovery() AS standby, CAST(:n AS int) + 1 AS next, '50%' AS pct"),
        {"n": 41},
    )
    assert rows.columns == ("standby", "next", "pct")
    assert rows.rows == [(True, 42, "50%")]
    assert session.last_target == "replica"


async def test_a_burst_of_concurrent_reads_reuses_pooled_connections(settings: Settings) -> None:
    """An API process serves many requests at once (16 per instance in the benchmark); every
    one of them must find a kept connection, not open a new one (a SCRAM handshake with
    PgBouncer each time) that is closed again when the pool is full."""
    engine = make_engine(settings.db.replica_url, settings.db, autocommit=True)
    opened: list[int] = []
    event.listen(engine.sync_engine, "connect", lambda *_: opened.append(1))

    async def read() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_sleep(0.05)"))

    try:
        for _ in range(3):
            await asyncio.gather(*(read() for _ in range(24)))
    finally:
        await engine.dispose()
    assert len(opened) == 24  # the first burst opened them; the next two reused them all
