"""What the maintenance repository returns: typed, immutable rows, one class per report section."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class StatementRow:
    """One normalised statement of pg_stat_statements (summed over users and nesting levels)."""

    queryid: int
    calls: int
    total_ms: float
    mean_ms: float
    rows: int
    share_pct: float
    query: str


@dataclass(frozen=True, slots=True)
class UnusedIndexRow:
    """An index no scan used since the statistics were reset (a partitioned index: summed over
    its partitions' indexes)."""

    schema: str
    table: str
    index: str
    size_bytes: int
    partitions: int
    definition: str


@dataclass(frozen=True, slots=True)
class DuplicateIndexRow:
    """`index` is redundant: `kind` "exact" (same columns, operator classes, expressions and
    predicate as `covered_by`) or "prefix" (its key columns lead `covered_by`'s)."""

    schema: str
    table: str
    index: str
    covered_by: str
    kind: str
    size_bytes: int
    definition: str
    covered_by_definition: str


@dataclass(frozen=True, slots=True)
class BloatRow:
    """Space a table or index holds beyond what its live rows need (at its fillfactor)."""

    schema: str
    table: str
    index: str | None
    size_bytes: int
    wasted_bytes: int
    wasted_pct: float
    dead_pct: float | None
    method: str
    unreliable: bool


@dataclass(frozen=True, slots=True)
class SlotRow:
    """A replication slot and the WAL it keeps on the primary (`retained_bytes`)."""

    slot_name: str
    slot_type: str
    database: str | None
    active: bool
    temporary: bool
    wal_status: str | None
    restart_lsn: str | None
    retained_bytes: int | None
    safe_wal_size: int | None
    client: str | None
    replay_lag_bytes: int | None


@dataclass(frozen=True, slots=True)
class AutovacuumRow:
    """Autovacuum's view of a table: tuples, the last runs, its own settings and when the next
    autovacuum / autoanalyze starts (the dead tuples, inserted rows and changed rows at which
    the daemon acts; `insert_trigger` None: inserts alone never start a vacuum)."""

    table: str
    hot: bool
    n_live_tup: int
    n_dead_tup: int
    dead_pct: float
    n_mod_since_analyze: int
    n_ins_since_vacuum: int
    vacuum_trigger: int
    analyze_trigger: int
    insert_trigger: int | None
    last_autovacuum: datetime | None
    last_vacuum: datetime | None
    last_autoanalyze: datetime | None
    last_analyze: datetime | None
    autovacuum_count: int
    autoanalyze_count: int
    reloptions: tuple[str, ...]
