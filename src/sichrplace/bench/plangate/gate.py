"""The gate end to end: the data set ready, the hot statements EXPLAINed there, judged against
the baseline (or recorded as the new one). Used by `sichrplace db plans` and the tests."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from sichrplace.bench.plangate import dataset as plan_data
from sichrplace.bench.plangate.fingerprint import (
    Baseline,
    Outcome,
    baseline_of,
    explain,
    table_rows,
)
from sichrplace.bench.plangate.statements import HOT_STATEMENTS, HotStatement, find_anchors
from sichrplace.bench.plangate.verdict import FACTOR, Verdict, changes, judge
from sichrplace.config import PROJECT_ROOT, Settings

BASELINE = PROJECT_ROOT / "tests" / "plans" / "baseline.json"


@dataclass(frozen=True)
class Observed:
    outcomes: dict[str, Outcome]
    rows: dict[str, float]  # each table's rows (what "big" is judged by)
    server: str
    seconds: float


def connect(settings: Settings) -> psycopg.Connection[Any]:
    """A connection to the plan database that binds values as the application's does: never a
    prepared statement (PgBouncer, transaction mode), so every plan is a custom plan."""
    return psycopg.connect(plan_data.plan_dsn(settings), autocommit=True, prepare_threshold=None)


def observe(
    conn: psycopg.Connection[Any], statements: Sequence[HotStatement] = HOT_STATEMENTS
) -> Observed:
    """Today's plans of `statements` on this connection (inside its transaction, if any)."""
    started = time.perf_counter()
    anchors = find_anchors(conn)
    outcomes = explain(conn, statements, anchors)
    row = conn.execute("SELECT current_setting('server_version')").fetchone()
    server = f"PostgreSQL {row[0]}" if row else ""
    seconds = round(time.perf_counter() - started, 2)
    return Observed(outcomes, table_rows(conn), server, seconds)


def check(
    conn: psycopg.Connection[Any],
    baseline: Baseline,
    statements: Sequence[HotStatement] = HOT_STATEMENTS,
    factor: float = FACTOR,
) -> tuple[Verdict, Observed]:
    seen = observe(conn, statements)
    dataset = plan_data.Dataset().describe()
    return judge(baseline, seen.outcomes, seen.rows, dataset, factor), seen


def record(conn: psycopg.Connection[Any], path: Path) -> tuple[list[str], Observed]:
    """Write today's plans as the baseline; what changed against the old one."""
    seen = observe(conn)
    new = baseline_of(seen.outcomes, plan_data.Dataset().describe(), seen.server)
    old = Baseline.read(path) if path.exists() else None
    lines = changes(old, new)
    new.write(path)
    return lines, seen
