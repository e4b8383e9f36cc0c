"""The unit of work: `transaction()` for requests, jobs and the CLI (the boundary commits);
`snapshot()` for an answer read in several statements that must agree."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Protocol

from sichrplace.kit.errors import ProblemError
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import (
    PrimarySession,
    discard_after_commit,
    run_after_commit,
)


@asynccontextmanager
async def transaction(db: Database) -> AsyncIterator[PrimarySession]:
    """Commit on success, roll back on error, then run the after-commit hooks.

    A `ProblemError` whose class `commits` (a refusal whose record must persist, e.g. a token
    family revoked on replay) commits first and is then raised to be answered."""
    async with db.sessionmaker() as session:
        try:
            yield session
        except BaseException as exc:
            if not (isinstance(exc, ProblemError) and exc.commits):
                await session.rollback()
                discard_after_commit(session)
                raise
            await session.commit()
            await run_after_commit(session)
            raise
        await session.commit()
    await run_after_commit(session)


@asynccontextmanager
async def snapshot(db: Database) -> AsyncIterator[PrimarySession]:
    """A read-only transaction on the primary whose statements all see one snapshot
    (REPEATABLE READ): a commit landing between two of its reads cannot show half of itself,
    e.g. a viewing still pending beside its payment already succeeded. Read-only, so it never
    fails on a concurrent write; it ends with a rollback (there is nothing to commit)."""
    async with db.sessionmaker() as session:
        # Set before the session's first statement: psycopg begins the transaction with them.
        await session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
        try:
            yield session
        finally:
            await session.rollback()


class BatchDelete(Protocol):
    """A repository's "delete one batch older than `moment`", answering how many it deleted."""

    def __call__(
        self, session: PrimarySession, moment: datetime, *, limit: int
    ) -> Awaitable[int]: ...


async def delete_in_batches(
    db: Database,
    delete: BatchDelete,
    before: datetime,
    *,
    batch: int,
) -> int:
    """Call `delete(session, before, limit=batch)` in a transaction of its own until it deletes
    fewer than `batch` rows (a retention job's short transactions); how many in all."""
    deleted = 0
    while True:
        async with transaction(db) as session:
            done = await delete(session, before, limit=batch)
        deleted += done
        if done < batch:
            return deleted
