"""`require_synchronous_commit`: on for its own transaction only, issued once per transaction,
set again in the next one (whoever committed the last), and again after a savepoint that
undid it. On the primary directly, with `synchronous_commit = local` as the connection's
default (what Patroni's configuration makes the server's), so "back to the default" shows."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from sichrplace.config import Settings
from sichrplace.platform.db import PrimarySession, require_synchronous_commit, transaction
from sichrplace.platform.db.engines import PGBOUNCER_CONNECT_ARGS, Database
from tests.helpers.transactions import record_transactions

SHOW = text("SHOW synchronous_commit")


@pytest.fixture
async def local_default(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The primary itself (a session-level default must not reach PgBouncer's other
    clients), each connection starting with `synchronous_commit = local`."""
    engine = create_async_engine(
        settings.db.direct_url,
        poolclass=NullPool,
        connect_args={**PGBOUNCER_CONNECT_ARGS, "options": "-c synchronous_commit=local"},
    )
    try:
        yield engine
    finally:
        await engine.dispose()


async def _show(session: PrimarySession) -> str:
    return str((await session.execute(SHOW)).scalar_one())


async def test_on_inside_the_transaction_and_the_default_after_it(
    local_default: AsyncEngine,
) -> None:
    sessions = async_sessionmaker(local_default, class_=PrimarySession)
    async with sessions() as session:
        assert await _show(session) == "local"
        await require_synchronous_commit(session)
        assert await _show(session) == "on"
        await session.commit()
        # The same session's next transaction: the default again, and the helper sets it
        # anew (its mark of the committed transaction counts no more).
        assert await _show(session) == "local"
        await require_synchronous_commit(session)
        assert await _show(session) == "on"
        await session.rollback()
        assert await _show(session) == "local"
        await require_synchronous_commit(session)
        assert await _show(session) == "on"


async def test_issued_once_per_transaction(local_default: AsyncEngine) -> None:
    sessions = async_sessionmaker(local_default, class_=PrimarySession)
    with record_transactions(local_default) as recorded:
        async with sessions() as session:
            await require_synchronous_commit(session)
            await require_synchronous_commit(session)  # a use case calling another
            assert await _show(session) == "on"
            await session.commit()
            await require_synchronous_commit(session)
            await session.commit()
    first, second = recorded.committed()
    assert len(first.synchronous_sets) == 1
    assert len(second.synchronous_sets) == 1


async def test_a_rolled_back_savepoint_undoes_it_and_the_helper_knows(
    local_default: AsyncEngine,
) -> None:
    sessions = async_sessionmaker(local_default, class_=PrimarySession)
    async with sessions() as session:
        await session.execute(text("SELECT 1"))
        savepoint = await session.begin_nested()
        await require_synchronous_commit(session)
        assert await _show(session) == "on"
        await savepoint.rollback()
        assert await _show(session) == "local"  # Postgres undid the SET with the savepoint
        await require_synchronous_commit(session)
        assert await _show(session) == "on"
        # Set in the outer transaction: a savepoint inside it needs nothing more.
        async with session.begin_nested():
            with record_transactions(local_default) as recorded:
                await require_synchronous_commit(session)
            assert recorded.open == {}
            assert recorded.ended == []
        await session.commit()


async def test_through_pgbouncer_it_ends_with_the_transaction(db: Database) -> None:
    """Transaction pooling hands the server connection to others after each transaction:
    the setting must not go with it."""
    async with transaction(db) as session:
        default = await _show(session)
    for _ in range(5):  # PgBouncer may hand out another server connection each time
        async with transaction(db) as session:
            await require_synchronous_commit(session)
            assert await _show(session) == "on"
        async with transaction(db) as session:
            assert await _show(session) == default
