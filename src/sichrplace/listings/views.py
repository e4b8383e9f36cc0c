"""Popular listings: page views are counted in Redis (no database write per view) and a
periodic job adds them to `listings.view_count` in batches, exactly once.

Redis layout: `views:{YYYYmmddHHMM}` is a hash listing_id -> views in that UTC minute, and the
set `views:buckets` names the minutes with counts. The flush first seals each closed minute by
renaming its hash to a batch with a unique name (`views:batch:{minute}:{uuid}`, listed in
`views:batches`); a view that arrives late simply starts a new hash for that minute, flushed
next time. Each batch is then claimed in Postgres (`listing_view_flushes`, in the same
transaction as its UPDATEs), so a crash between commit and the Redis cleanup, or two flushers
at once, never counts a view twice, and a crash before the commit loses nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis.asyncio as aioredis
import structlog

from sichrplace.kit.clock import utcnow
from sichrplace.listings import repository
from sichrplace.platform.cache import Cache
from sichrplace.platform.db.dependencies import transaction
from sichrplace.platform.db.engines import Database

log = structlog.get_logger(__name__)

BUCKET_PREFIX = "views:"
BUCKETS_SET = "views:buckets"
BATCH_PREFIX = "views:batch:"
BATCHES_SET = "views:batches"
BUCKET_TTL_SECONDS = 2 * 86400  # unflushed counts older than this are given up
FLUSH_GRACE_SECONDS = 10  # a request that started in minute M may still count into M
PRUNE_AFTER_DAYS = 3  # > BUCKET_TTL: a pruned claim's batch is gone from Redis too
_RECORD_TIMEOUT_SECONDS = 0.2


def bucket_of(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M")


async def record_view(redis: aioredis.Redis, listing_id: uuid.UUID) -> None:
    """Count one view: one pipelined round trip; Redis trouble loses the view, not the page."""
    bucket = bucket_of(utcnow())
    key = BUCKET_PREFIX + bucket
    try:
        async with asyncio.timeout(_RECORD_TIMEOUT_SECONDS):
            pipe = redis.pipeline(transaction=False)
            pipe.hincrby(key, str(listing_id), 1)
            pipe.expire(key, BUCKET_TTL_SECONDS)
            pipe.sadd(BUCKETS_SET, bucket)
            await pipe.execute()
    except Exception as exc:
        log.debug("view_not_recorded", error=repr(exc)[:200])


@dataclass
class FlushReport:
    batches: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already applied by another flush
    listings: int = 0
    views: int = 0


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _parse(raw: dict[bytes | str, bytes | str]) -> tuple[list[uuid.UUID], list[int]]:
    ids: list[uuid.UUID] = []
    counts: list[int] = []
    for key, value in raw.items():
        try:
            ids.append(uuid.UUID(_text(key)))
            counts.append(int(value))
        except ValueError:
            continue  # a foreign field: ignore rather than fail the whole bucket
    return ids, counts


# KEYS: minute hash, batch hash, batches set, buckets set. ARGV: batch name, minute.
_SEAL = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('SADD', KEYS[3], ARGV[1])
end
return redis.call('SREM', KEYS[4], ARGV[2])
"""


async def seal_closed_buckets(redis: aioredis.Redis, cutoff: str) -> None:
    """Turn every minute bucket up to `cutoff` into a uniquely named batch (atomically)."""
    seal = redis.register_script(_SEAL)
    for bucket in sorted(_text(b) for b in await redis.smembers(BUCKETS_SET)):
        if bucket > cutoff:
            continue
        batch = f"{bucket}:{uuid.uuid4().hex}"
        await seal(
            keys=[BUCKET_PREFIX + bucket, BATCH_PREFIX + batch, BATCHES_SET, BUCKETS_SET],
            args=[batch, bucket],
        )


async def flush_views(
    db: Database,
    redis: aioredis.Redis,
    cache: Cache | None = None,
    *,
    now: datetime | None = None,
    batch_size: int = 5000,
) -> FlushReport:
    """Add the counts of every closed minute to view_count (one transaction per batch)."""
    cutoff = bucket_of((now or utcnow()) - timedelta(seconds=60 + FLUSH_GRACE_SECONDS))
    await seal_closed_buckets(redis, cutoff)
    report = FlushReport()
    for batch in sorted(_text(b) for b in await redis.smembers(BATCHES_SET)):
        ids, counts = _parse(await redis.hgetall(BATCH_PREFIX + batch))
        async with transaction(db) as session:
            claimed = await repository.claim_view_batch(
                session, batch, listings_count=len(ids), views=sum(counts)
            )
            if claimed:
                for start in range(0, len(ids), batch_size):
                    end = start + batch_size
                    await repository.add_views(session, ids[start:end], counts[start:end])
        # Committed now (or applied by an earlier run): the Redis copy has served its purpose.
        pipe = redis.pipeline(transaction=True)
        pipe.delete(BATCH_PREFIX + batch)
        pipe.srem(BATCHES_SET, batch)
        await pipe.execute()
        if claimed:
            report.batches.append(batch)
            report.listings += len(ids)
            report.views += sum(counts)
        else:
            report.skipped.append(batch)
    if report.batches:
        async with transaction(db) as session:
            await repository.prune_view_batches(session, older_than_days=PRUNE_AFTER_DAYS)
        if cache is not None:
            await cache.bump("popular")
    return report
