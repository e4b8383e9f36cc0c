"""The report's shape (sections of typed rows, notes, an error each) and its section reader."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from sichrplace.ops.dbmaint.repository import server
from sichrplace.ops.dbmaint.tables import HOT_TABLES

BloatMethod = Literal["auto", "pgstattuple", "estimate"]

# Sizes and pgstattuple take a relation's ACCESS SHARE lock: a section gives up (and says
# so) rather than wait long behind DDL that holds a table exclusively.
LOCK_TIMEOUT_MS = 10_000


@dataclass(frozen=True, slots=True)
class ReportOptions:
    top: int = 15
    min_calls: int = 5
    bloat_method: BloatMethod = "auto"
    bloat_min_bytes: int = 1 << 20
    statement_timeout_ms: int = 60_000
    hot_tables: Sequence[str] = HOT_TABLES


@dataclass(slots=True)
class Section:
    """One heading of the report: its rows, what to know to read them, or why it is missing."""

    key: str
    title: str
    rows: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass(slots=True)
class DbReport:
    generated_at: datetime
    database: str | None = None
    server_version: str | None = None
    stats_reset: datetime | None = None
    server_started_at: datetime | None = None
    sections: list[Section] = field(default_factory=list)


class Unavailable(Exception):
    """A section cannot be read, for a reason its message gives in full."""


def describe(exc: BaseException) -> str:
    """An error in one line: the driver's first line, not the statement or the traceback."""
    if isinstance(exc, Unavailable):
        return str(exc)
    cause = getattr(exc, "orig", None) or exc
    first = (str(cause).strip().splitlines() or [""])[0]
    return f"{type(cause).__name__}: {first}"[:300]


Read = Callable[[AsyncConnection], Awaitable[None]]


class SectionReader:
    """Runs each section's reads in a transaction of its own on the report's connection
    (None: the primary could not be reached, and every section says so)."""

    def __init__(
        self, conn: AsyncConnection | None, *, timeout_ms: int, unreachable: str = ""
    ) -> None:
        self.conn, self.timeout_ms, self.unreachable = conn, timeout_ms, unreachable

    async def read(self, section: Section, read: Read) -> Section:
        if self.conn is None:
            section.error = f"primary not reachable: {self.unreachable}"
            return section
        try:
            async with self.conn.begin():
                await server.limit_transaction(
                    self.conn, statement_ms=self.timeout_ms, lock_ms=LOCK_TIMEOUT_MS
                )
                await read(self.conn)
        except Exception as exc:  # a section that cannot be read says why; the rest go on
            section.rows = []
            section.error = describe(exc)
        return section
