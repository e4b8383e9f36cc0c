"""The unit of work: `transaction()` for requests, jobs and the CLI (the boundary commits)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
