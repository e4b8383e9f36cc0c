"""snapshot(): one REPEATABLE READ, read-only transaction, and a pooled connection that is an
ordinary read-write, READ COMMITTED one again for the next transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from sichrplace.config import Settings
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.unit import snapshot

ISOLATION = text("SELECT current_setting('transaction_isolation')")
READ_ONLY = text("SELECT current_setting('transaction_read_only')")


@pytest.fixture
async def one_connection(settings: Settings) -> AsyncIterator[Database]:
    """A Database whose pool holds one connection: each transaction reuses the last one's."""
    db = Database(settings.db.model_copy(update={"pool_size": 1, "max_overflow": 0}))
    yield db
    await db.dispose()


async def test_a_snapshot_is_repeatable_read_and_writes_nothing(one_connection: Database) -> None:
    async with snapshot(one_connection) as session:
        assert (await session.execute(ISOLATION)).scalar_one() == "repeatable read"
        assert (await session.execute(READ_ONLY)).scalar_one() == "on"
        with pytest.raises(DBAPIError, match="read-only transaction"):
            await session.execute(text("DELETE FROM listings WHERE false"))


async def test_the_next_transaction_on_the_connection_is_ordinary(
    one_connection: Database,
) -> None:
    db = one_connection
    async with snapshot(db) as session:
        await session.execute(ISOLATION)
    async with transaction(db) as session:
        assert (await session.execute(ISOLATION)).scalar_one() == "read committed"
        assert (await session.execute(READ_ONLY)).scalar_one() == "off"
