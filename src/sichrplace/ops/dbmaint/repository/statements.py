# ruff: noqa: S608 - the schema is the extension's own (from pg_extension); every value is bound.
"""pg_stat_statements: the statements that cost the most time, in total and per call."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import text

from sichrplace.ops.dbmaint.records import StatementRow
from sichrplace.ops.dbmaint.repository.server import Executor

Order = Literal["total", "mean"]

# Top-level statements only: with `pg_stat_statements.track = all` a statement run inside a
# function is counted again under its caller, and summing both would count its time twice.
# One row per queryid (the view has one per user as well).
_TOP = """
WITH s AS (
    SELECT queryid, sum(calls)::bigint AS calls, sum(total_exec_time) AS total_ms,
           sum(rows)::bigint AS rows, min(query) AS query
    FROM {schema}.pg_stat_statements
    WHERE toplevel AND queryid IS NOT NULL
      AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
    GROUP BY queryid
), t AS (SELECT sum(total_ms) AS all_ms FROM s)
SELECT s.queryid, s.calls, s.total_ms, s.total_ms / NULLIF(s.calls, 0) AS mean_ms, s.rows,
       coalesce(100 * s.total_ms / NULLIF(t.all_ms, 0), 0) AS share_pct, s.query
FROM s, t
WHERE s.calls >= :min_calls
ORDER BY {order} DESC, s.queryid
LIMIT :limit
"""
_ORDER = {"total": "s.total_ms", "mean": "s.total_ms / NULLIF(s.calls, 0)"}


async def top_statements(
    conn: Executor, schema: str, *, order: Order, limit: int, min_calls: int = 1
) -> list[StatementRow]:
    """The `limit` statements of this database with the most execution time (`total`) or the
    longest mean (`mean`, among those called at least `min_calls` times); `share_pct` is the
    statement's part of all top-level execution time in this database."""
    stmt = text(_TOP.format(schema=schema, order=_ORDER[order]))
    result = await conn.execute(stmt, {"limit": limit, "min_calls": min_calls})
    return [
        StatementRow(
            queryid=int(r.queryid),
            calls=int(r.calls),
            total_ms=float(r.total_ms),
            mean_ms=float(r.mean_ms or 0.0),
            rows=int(r.rows),
            share_pct=float(r.share_pct),
            query=str(r.query),
        )
        for r in result
    ]


async def statements_reset_at(conn: Executor, schema: str) -> datetime | None:
    """When pg_stat_statements was last reset (pg_stat_statements_info, 1.9 and later)."""
    stmt = text(f"SELECT stats_reset FROM {schema}.pg_stat_statements_info")
    value: datetime | None = (await conn.execute(stmt)).scalar_one_or_none()
    return value
