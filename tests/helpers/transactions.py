"""The statements of each transaction an engine runs, for tests that ask what ran together
(e.g. that a use case's writes commit with `synchronous_commit` on).

    with record_transactions(db.primary) as recorded:
        ...                                   # drive the API, run a job
    (booking,) = recorded.writing("viewings", verb="INSERT")
    booking.assert_synchronous_before("viewings")

Listeners on the engine's sync side group the statements per connection between its BEGIN
and its COMMIT or ROLLBACK, so concurrent transactions (a webhook applied while a request
runs, the app's background flushes) stay apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from sichrplace.platform.db.durability import SYNCHRONOUS_COMMIT_ON

SET_SYNCHRONOUS = str(SYNCHRONOUS_COMMIT_ON)

# The tables whose writes must reach the synchronous standby (docs/operations.md,
# "Synchronous commit per transaction"): only transactions writing one of them set it.
DURABLE_TABLES = (
    "viewings",
    "payments",
    "payment_events",
    "payment_refunds",
    "ledger_entries",
    "contracts",
    "contract_documents",
    "contract_signatures",
    "conversations",
    "messages",
)


def _write_pattern(table: str, verb: str | None) -> re.Pattern[str]:
    verbs = verb or "INSERT INTO|UPDATE|DELETE FROM"
    if verb == "INSERT":
        verbs = "INSERT INTO"
    elif verb == "DELETE":
        verbs = "DELETE FROM"
    return re.compile(rf"\b(?:{verbs})\s+{re.escape(table)}\b", re.IGNORECASE)


@dataclass
class Recorded:
    """One transaction: its statements in order and how it ended."""

    statements: list[str] = field(default_factory=list)
    outcome: str | None = None  # "commit" | "rollback"

    def first_write(self, table: str, verb: str | None = None) -> int | None:
        pattern = _write_pattern(table, verb)
        for index, statement in enumerate(self.statements):
            if pattern.search(statement):
                return index
        return None

    def writes(self, table: str, verb: str | None = None) -> bool:
        return self.first_write(table, verb) is not None

    @property
    def synchronous_sets(self) -> list[int]:
        return [i for i, s in enumerate(self.statements) if s.strip() == SET_SYNCHRONOUS]

    def assert_synchronous_before(self, table: str, verb: str | None = None) -> None:
        """`SET LOCAL synchronous_commit TO on` ran once, before the first write to `table`."""
        write = self.first_write(table, verb)
        assert write is not None, f"no write to {table}: {self.summary()}"
        assert len(self.synchronous_sets) == 1, f"SET LOCAL not once: {self.summary()}"
        assert self.synchronous_sets[0] < write, f"SET LOCAL after {table}: {self.summary()}"

    def summary(self) -> list[str]:
        return [" ".join(s.split())[:90] for s in self.statements]


@dataclass
class Recording:
    open: dict[Connection, Recorded] = field(default_factory=dict)
    ended: list[Recorded] = field(default_factory=list)

    def committed(self) -> list[Recorded]:
        return [t for t in self.ended if t.outcome == "commit"]

    def writing(self, table: str, verb: str | None = None) -> list[Recorded]:
        """The committed transactions that wrote to `table` (with `verb`, if given)."""
        return [t for t in self.committed() if t.writes(table, verb)]

    def assert_synchronous_only_where_durable(self) -> None:
        """Every committed transaction that set synchronous_commit wrote a table that needs it."""
        for t in self.committed():
            if t.synchronous_sets:
                assert any(t.writes(table) for table in DURABLE_TABLES), t.summary()


@contextmanager
def record_transactions(engine: AsyncEngine) -> Iterator[Recording]:
    recording = Recording()
    sync_engine = engine.sync_engine

    def begin(conn: Connection) -> None:
        recording.open[conn] = Recorded()

    def before_cursor_execute(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        recording.open.setdefault(conn, Recorded()).statements.append(statement)

    def ended(outcome: str) -> Any:
        def listener(conn: Connection) -> None:
            recorded = recording.open.pop(conn, None)
            if recorded is not None:
                recorded.outcome = outcome
                recording.ended.append(recorded)

        return listener

    listeners: list[tuple[str, Any]] = [
        ("begin", begin),
        ("before_cursor_execute", before_cursor_execute),
        ("commit", ended("commit")),
        ("rollback", ended("rollback")),
    ]
    for name, fn in listeners:
        event.listen(sync_engine, name, fn)
    try:
        yield recording
    finally:
        for name, fn in listeners:
            event.remove(sync_engine, name, fn)
