"""SQL of the restore drill: marker rows on the primary, what the archiver has done, and what
a restored copy holds. Plain psycopg connections: the drill talks to two servers (the
primary and the copy it restored) outside the application's engines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row


@dataclass(frozen=True)
class Marker:
    id: int
    written_at: datetime  # the server's clock at the insert, before its commit
    acked_at: datetime  # the server's clock once the commit had returned
    wal_file: str  # the WAL segment being written after the commit


@dataclass(frozen=True)
class ArchiverState:
    last_archived_wal: str | None
    last_archived_at: datetime | None
    last_failed_wal: str | None
    last_failed_at: datetime | None


_INSERT = """
INSERT INTO backup_markers (note) VALUES (%(note)s) RETURNING id, written_at
"""
# Asked after the insert's commit returned: an upper bound of the commit's time, and the
# segment that holds (or follows) its commit record.
_ACKED = """
SELECT clock_timestamp() AS acked_at, pg_walfile_name(pg_current_wal_insert_lsn()) AS wal_file
"""
_ARCHIVER = """
SELECT last_archived_wal, last_archived_time, last_failed_wal, last_failed_time
  FROM pg_stat_archiver
"""
_PRESENT = "SELECT id FROM backup_markers WHERE id = ANY(%(ids)s) ORDER BY id"
_PRUNE = "DELETE FROM backup_markers WHERE written_at < %(before)s"
# The pause state exists only during recovery (the function raises afterwards).
_RECOVERY = """
SELECT pg_is_in_recovery() AS in_recovery,
       CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() ELSE 'promoted' END
         AS pause
"""


async def write_marker(conn: psycopg.AsyncConnection[Any], note: str) -> Marker:
    """One marker in its own transaction (the connection is in autocommit)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_INSERT, {"note": note})
        row = await cur.fetchone()
        await cur.execute(_ACKED)
        acked = await cur.fetchone()
    assert row is not None
    assert acked is not None
    return Marker(row["id"], row["written_at"], acked["acked_at"], acked["wal_file"])


async def archiver_state(conn: psycopg.AsyncConnection[Any]) -> ArchiverState:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_ARCHIVER)
        row = await cur.fetchone()
    assert row is not None
    return ArchiverState(
        row["last_archived_wal"],
        row["last_archived_time"],
        row["last_failed_wal"],
        row["last_failed_time"],
    )


async def present_markers(conn: psycopg.AsyncConnection[Any], ids: list[int]) -> set[int]:
    async with conn.cursor() as cur:
        await cur.execute(_PRESENT, {"ids": ids})
        return {int(row[0]) for row in await cur.fetchall()}


async def prune_markers(conn: psycopg.AsyncConnection[Any], before: datetime) -> int:
    async with conn.cursor() as cur:
        await cur.execute(_PRUNE, {"before": before})
        return cur.rowcount


async def recovery_state(conn: psycopg.AsyncConnection[Any]) -> tuple[bool, str]:
    """(in recovery, replay pause state: not paused | pause requested | paused | promoted)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_RECOVERY)
        row = await cur.fetchone()
    assert row is not None
    return bool(row["in_recovery"]), str(row["pause"])
