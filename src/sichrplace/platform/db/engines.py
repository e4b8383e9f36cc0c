"""Primary and replica engines (both through PgBouncer) and the replica health monitor."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from sichrplace.config import DatabaseSettings
from sichrplace.kit.tasks import stop_task
from sichrplace.platform.db import metrics
from sichrplace.platform.db.sessions import PrimarySession

log = structlog.get_logger(__name__)

# PgBouncer 1.18 in transaction mode hands each transaction to any server connection, so a
# server-side prepared statement made in one transaction is missing (or another one) in the
# next: psycopg must never prepare. `prepare_threshold=None` turns preparation off entirely.
PGBOUNCER_CONNECT_ARGS: dict[str, Any] = {"prepare_threshold": None}

# Lag in bytes is measured against the primary's position read just before (the replica alone
# cannot know what it has not received yet); without it, against what the replica received.
REPLICA_LAG_SQL = text(
    "SELECT pg_is_in_recovery() AS in_recovery, "
    "CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END AS lag, "
    "GREATEST(pg_wal_lsn_diff(COALESCE(CAST(:primary_lsn AS pg_lsn), "
    "pg_last_wal_receive_lsn()), pg_last_wal_replay_lsn()), 0) AS lag_bytes"
)
PRIMARY_LSN_SQL = text("SELECT pg_current_wal_lsn()::text AS lsn")


def make_engine(
    url: str, settings: DatabaseSettings, *, autocommit: bool = False, name: str = "primary"
) -> AsyncEngine:
    connect_args = dict(PGBOUNCER_CONNECT_ARGS, connect_timeout=settings.connect_timeout_seconds)
    options: dict[str, Any] = {}
    if autocommit:
        # Each lag-tolerant read is its own statement-level transaction: PgBouncer returns the
        # server connection to the pool as soon as the statement ends. Set on the engine: once
        # per connection, not at every checkout (docs/performance-log.md, round 6).
        options["isolation_level"] = "AUTOCOMMIT"
    return create_async_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_seconds,
        connect_args=connect_args,
        poolclass=metrics.timed_pool_class(name),
        **options,
    )


@dataclass
class ReplicaState:
    """What the monitor last saw of the replica."""

    reachable: bool = True
    lag_seconds: float = 0.0
    lag_bytes: float = 0.0
    checked_at: float = 0.0
    error: str | None = None
    down_until: float = field(default=0.0)


class Database:
    """Owns both engines, the session factory and the replica's health."""

    def __init__(self, settings: DatabaseSettings) -> None:
        self.settings = settings
        self.primary = make_engine(settings.primary_url, settings)
        self.replica = make_engine(settings.replica_url, settings, autocommit=True, name="replica")
        metrics.POOLS.track("primary", self.primary)
        metrics.POOLS.track("replica", self.replica)
        self.sessionmaker = async_sessionmaker(
            self.primary, class_=PrimarySession, expire_on_commit=False
        )
        self.replica_state = ReplicaState()
        self._monitor: asyncio.Task[None] | None = None

    def replica_usable(self) -> bool:
        s = self.replica_state
        return s.reachable and s.lag_seconds <= self.settings.replica_max_lag_seconds

    def mark_replica_down(self, error: BaseException) -> None:
        """Route replica reads to the primary until the monitor sees the replica healthy again."""
        if self.replica_state.reachable:
            log.warning("replica_marked_down", error=str(error)[:200])
        self.replica_state.reachable = False
        self.replica_state.error = type(error).__name__

    async def _primary_lsn(self) -> str | None:
        """The primary's WAL position, or None when it cannot be read quickly (the replica's
        health must not depend on the primary's)."""
        try:
            async with asyncio.timeout(self.settings.connect_timeout_seconds):
                async with self.primary.connect() as conn:
                    return str((await conn.execute(PRIMARY_LSN_SQL)).scalar_one())
        except Exception:
            return None

    async def check_replica(self) -> ReplicaState:
        state = self.replica_state
        primary_lsn = await self._primary_lsn()
        try:
            async with asyncio.timeout(self.settings.connect_timeout_seconds):
                async with self.replica.connect() as conn:
                    row = (await conn.execute(REPLICA_LAG_SQL, {"primary_lsn": primary_lsn})).one()
            was_down = not state.reachable
            state.reachable = bool(row.in_recovery)
            state.lag_seconds = float(row.lag or 0.0)
            state.lag_bytes = float(row.lag_bytes or 0.0)
            state.error = None if row.in_recovery else "not in recovery"
            if was_down and state.reachable:
                log.info("replica_back", lag_seconds=state.lag_seconds)
        except Exception as exc:  # any failure means: do not read from it
            self.mark_replica_down(exc)
        state.checked_at = time.monotonic()
        metrics.record_replica(
            usable=self.replica_usable(),
            reachable=state.reachable,
            lag_seconds=state.lag_seconds,
            lag_bytes=state.lag_bytes,
        )
        return state

    async def check_primary(self) -> None:
        async with asyncio.timeout(self.settings.connect_timeout_seconds):
            async with self.primary.connect() as conn:
                await conn.execute(text("SELECT 1"))

    async def _monitor_loop(self) -> None:
        while True:
            await self.check_replica()
            await asyncio.sleep(self.settings.replica_check_interval_seconds)

    def start_monitor(self) -> None:
        if self._monitor is None:
            self._monitor = asyncio.create_task(self._monitor_loop(), name="replica-monitor")

    async def dispose(self) -> None:
        await stop_task(self._monitor)
        self._monitor = None
        metrics.POOLS.forget("primary", self.primary)
        metrics.POOLS.forget("replica", self.replica)
        await self.primary.dispose()
        await self.replica.dispose()
