"""Typed sessions: `PrimarySession` reads and writes; `ReplicaSession` can only read.

The type in a function's signature says where its queries go. A `ReplicaSession` has no
add/flush/commit at all, so a write through it does not type-check; at run time the replica
is in recovery and the primary fallback runs inside `SET TRANSACTION READ ONLY`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import structlog
from sqlalchemy import Executable, Result, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from sichrplace.platform.db.engines import Database

log = structlog.get_logger(__name__)

AfterCommit = Callable[[], Awaitable[None]]
_AFTER_COMMIT_KEY = "sichrplace.after_commit"


class PrimarySession(AsyncSession):
    """A unit of work on the primary. Services use it; only the boundary commits."""


def on_commit(session: PrimarySession, callback: AfterCommit) -> None:
    """Run `callback` after the boundary commits this session (never if it rolls back)."""
    session.info.setdefault(_AFTER_COMMIT_KEY, []).append(callback)


async def run_after_commit(session: PrimarySession) -> None:
    callbacks: list[AfterCommit] = session.info.pop(_AFTER_COMMIT_KEY, [])
    for callback in callbacks:
        try:
            await callback()
        except Exception:  # a side effect must not turn a committed request into an error
            log.exception("after_commit_failed", callback=getattr(callback, "__name__", "?"))


def discard_after_commit(session: PrimarySession) -> None:
    session.info.pop(_AFTER_COMMIT_KEY, None)


Params = Mapping[str, Any] | None


class ReplicaSession:
    """Lag-tolerant reads: the replica when healthy, else the primary, read-only either way."""

    def __init__(self, db: Database, *, force_primary: bool = False) -> None:
        self._db = db
        self._force_primary = force_primary
        self.last_target: Literal["replica", "primary"] | None = None

    async def execute(self, statement: Executable, params: Params = None) -> Result[Any]:
        if not self._force_primary and self._db.replica_usable():
            try:
                async with self._db.replica.connect() as conn:
                    result = await conn.execute(statement, params)
                self.last_target = "replica"
                return result
            except DBAPIError as exc:
                if not (exc.connection_invalidated or _is_connection_error(exc)):
                    raise
                self._db.mark_replica_down(exc)
        return await self._execute_on_primary(statement, params)

    async def _execute_on_primary(self, statement: Executable, params: Params) -> Result[Any]:
        async with self._db.primary.connect() as conn:
            await conn.execute(text("SET TRANSACTION READ ONLY"))
            result = await conn.execute(statement, params)
            await conn.rollback()
        self.last_target = "primary"
        return result

    async def scalar(self, statement: Executable, params: Params = None) -> Any:
        return (await self.execute(statement, params)).scalar()


def _is_connection_error(exc: DBAPIError) -> bool:
    # PgBouncer answers a client whose server is unreachable with an error rather than a
    # dropped socket; both mean "this replica cannot serve now".
    sqlstate = getattr(exc.orig, "sqlstate", None) or ""
    message = str(exc.orig).lower()
    return (
        sqlstate.startswith("08")
        or sqlstate == "57P01"
        or "cannot connect" in message
        or ("server conn crashed" in message)
    )
