"""What a listing change does after commit: cache invalidation, the edge's purge of the
listing's answers (platform/edge), and read-your-writes pinning."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
import structlog

from sichrplace.config import CacheSettings
from sichrplace.listings import surrogate
from sichrplace.listings.detail import CACHE_DOMAIN, DetailExtras, cache_key, load_public
from sichrplace.platform import edge
from sichrplace.platform.cache import Cache
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.routing import mark_recent_write
from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession, on_commit

log = structlog.get_logger(__name__)

# Domains whose cached answers may contain any listing.
LIST_DOMAINS = ("search", "facets", "popular")


# Margin over the replica's measured lag before the second invalidation of cached lists: a
# list filled meanwhile may have been computed by a facet index from a look for changes begun
# up to its max_staleness_seconds (at most 0.25 s) before the fill.
_LAG_MARGIN_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class ReadPath:
    """The read-side infrastructure a listing write must keep consistent."""

    cache: Cache
    redis: aioredis.Redis
    settings: CacheSettings
    db: Database | None = (
        None  # to read the committed detail; its replica lag times re-invalidation
    )
    extras: DetailExtras | None = None  # fields other domains add to the detail (images)


def _again_after(replica_lag: float) -> float:
    return replica_lag + _LAG_MARGIN_SECONDS


async def _bump_lists(cache: Cache, replica_lag: float) -> None:
    again = _again_after(replica_lag)
    await asyncio.gather(*(cache.bump(domain, again_after=again) for domain in LIST_DOMAINS))


async def invalidate_listing(
    cache: Cache, listing_id: uuid.UUID, *, replica_lag: float = 0.0
) -> None:
    """Drop the listing's detail and every cached list that may contain it (concurrently);
    again once the replica has had time to replay the change (its lag plus a margin).

    For writers that do not refresh the detail from the primary (jobs, other domains)."""
    again = _again_after(replica_lag)
    await asyncio.gather(
        cache.invalidate(CACHE_DOMAIN, cache_key(listing_id), again_after=again),
        _bump_lists(cache, replica_lag),
    )
    _purge_edge(listing_id, again)


def _purge_edge(listing_id: uuid.UUID, again_after: float) -> None:
    """The edge's copies of the listing's answers, once our own cache shows the change (a
    miss at the edge now reads that), and again when a stale refill is no longer possible."""
    edge.purge_soon(surrogate.listing_change(listing_id), again_after=again_after)


async def refresh_listing(read_path: ReadPath, listing_id: uuid.UUID) -> None:
    """After a listing write commits: store the committed public detail, read back from the
    primary, in the cache (so the next reader cannot fill it from a replica that has not
    replayed the write yet), and invalidate the cached lists."""
    db = read_path.db
    if db is None:
        await invalidate_listing(read_path.cache, listing_id)
        return
    primary = ReplicaSession(db, force_primary=True)

    async def committed() -> dict[str, Any] | None:
        return await load_public(primary, listing_id, read_path.extras)

    lag = db.replica_state.lag_seconds
    await asyncio.gather(
        read_path.cache.refresh(CACHE_DOMAIN, cache_key(listing_id), committed),
        _bump_lists(read_path.cache, lag),
    )
    # Again after the lag: another instance's near copy of the old detail is dropped by a
    # message that may still be on its way.
    _purge_edge(listing_id, _again_after(lag))


def after_listing_write(
    session: PrimarySession, read_path: ReadPath, listing_id: uuid.UUID, author_id: uuid.UUID
) -> None:
    """Once the write commits: refresh the caches and pin the author's reads to the primary."""

    async def effects() -> None:
        await asyncio.gather(
            refresh_listing(read_path, listing_id),
            mark_recent_write(
                read_path.redis, author_id, read_path.settings.read_your_writes_seconds
            ),
        )

    on_commit(session, effects)
