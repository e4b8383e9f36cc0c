"""The transaction boundary: FastAPI dependencies for requests, `transaction()` for jobs/CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request

from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import (
    PrimarySession,
    discard_after_commit,
    run_after_commit,
)


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


@asynccontextmanager
async def transaction(db: Database) -> AsyncIterator[PrimarySession]:
    """One unit of work: commit on success, roll back on error, then run after-commit hooks."""
    async with db.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            discard_after_commit(session)
            raise
    await run_after_commit(session)


async def _primary_session(request: Request) -> AsyncIterator[PrimarySession]:
    async with transaction(get_db(request)) as session:
        yield session


# `scope="function"` ends the dependency (commit) when the endpoint returns, before the
# response is sent: a client never sees 2xx for a transaction that failed to commit.
PrimaryDB = Annotated[PrimarySession, Depends(_primary_session, scope="function")]
