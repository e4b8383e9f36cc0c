"""Read routing: lag-tolerant reads go to the replica, except read-your-writes.

After a user writes (e.g. a landlord edits a listing), `mark_recent_write` stores a short-lived
Redis marker `ryw:{user_id}` after commit. For the pinning window, that user's lag-tolerant
reads (`RoutedReplicaDB`) go to the primary, so they see their own write even if the replica
has not replayed it yet; everyone else keeps reading from the replica. The marker is shared by
all API instances (unlike a per-process flag). Redis trouble fails open: the read goes to the
replica (which is at most `replica_max_lag_seconds` behind, else the primary anyway).

    replica = await routed_replica(db, redis, caller_id)  # replica.force_primary: pinned

(`accounts.dependencies.RoutedReplicaDB` is the request dependency: it knows the caller.)
"""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis
import structlog

from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import ReplicaSession

log = structlog.get_logger(__name__)

RYW_PREFIX = "ryw:"
_REDIS_TIMEOUT_SECONDS = 0.2


def _key(user_id: uuid.UUID) -> str:
    return f"{RYW_PREFIX}{user_id}"


async def mark_recent_write(redis: aioredis.Redis, user_id: uuid.UUID, seconds: float) -> None:
    """Pin `user_id`'s lag-tolerant reads to the primary for `seconds` (call after commit)."""
    if seconds <= 0:
        return
    try:
        async with asyncio.timeout(_REDIS_TIMEOUT_SECONDS):
            await redis.set(_key(user_id), b"1", px=max(1, int(seconds * 1000)))
    except Exception as exc:  # best effort: the replica is only milliseconds behind
        log.warning("ryw_mark_failed", error=repr(exc)[:200])


async def wrote_recently(redis: aioredis.Redis, user_id: uuid.UUID) -> bool:
    try:
        async with asyncio.timeout(_REDIS_TIMEOUT_SECONDS):
            return bool(await redis.exists(_key(user_id)))
    except Exception:  # fail open towards the replica
        return False


async def routed_replica(
    db: Database, redis: aioredis.Redis, caller_id: uuid.UUID | None
) -> ReplicaSession:
    """The replica session, pinned to the primary for a caller inside the read-your-writes
    window."""
    pinned = caller_id is not None and await wrote_recently(redis, caller_id)
    return ReplicaSession(db, force_primary=pinned)
