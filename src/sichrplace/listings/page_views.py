"""Popular listings: page views are counted in process, added to Redis once a second (no
database write, and no Redis call, per view) and a periodic job adds them to
`listings.view_count` in batches, exactly once.

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
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis.asyncio as aioredis
import structlog

from sichrplace.kit.clock import utcnow
from sichrplace.kit.tasks import stop_task
from sichrplace.listings import repository
from sichrplace.platform.cache import Cache
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.unit import transaction

log = structlog.get_logger(__name__)

BUCKET_PREFIX = "views:"
BUCKETS_SET = "views:buckets"
BATCH_PREFIX = "views:batch:"
BATCHES_SET = "views:batches"
BUCKET_TTL_SECONDS = 2 * 86400  # unflushed counts older than this are given up
FLUSH_GRACE_SECONDS = 10  # a request that started in minute M may still count into M
PRUNE_AFTER_DAYS = 3  # > BUCKET_TTL: a pruned claim's batch is gone from Redis too
_RECORD_TIMEOUT_SECONDS = 0.2
_RECORD_CHUNK = 2000  # listings per script call


def bucket_of(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M")


# KEYS: minute hash, buckets set. ARGV: minute, hash TTL seconds, then listing id, views pairs.
_RECORD = """
for i = 3, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
"""


async def record_views(redis: aioredis.Redis, counts: Mapping[tuple[str, str], int]) -> None:
    """Add counts keyed by (minute bucket, listing id) to Redis: one script call per minute.

    One call carrying every count rather than a pipeline of one command per listing, whose
    replies held the event loop (ADR 0003, docs/performance-log.md round 4).
    """
    by_bucket: dict[str, list[str | int]] = {}
    for (bucket, listing_id), n in counts.items():
        by_bucket.setdefault(bucket, []).extend((listing_id, n))
    record = redis.register_script(_RECORD)
    for bucket, pairs in sorted(by_bucket.items()):
        # At most _RECORD_CHUNK listings per call: one script blocks Redis while it runs.
        for start in range(0, len(pairs), 2 * _RECORD_CHUNK):
            chunk = pairs[start : start + 2 * _RECORD_CHUNK]
            await record(
                keys=[BUCKET_PREFIX + bucket, BUCKETS_SET],
                args=[bucket, BUCKET_TTL_SECONDS, *chunk],
            )


class PageViewBuffer:
    """Page views counted in process and added to Redis once per `interval` seconds.

    A detail page view costs a dict increment on the hot path; one pipelined round trip per
    interval carries every view of that interval (per listing and minute, so a busy listing
    is one HINCRBY, not one per view). A view reaches Redis within `interval` seconds, well
    inside FLUSH_GRACE_SECONDS, so the minute it counts into is never sealed before it lands.
    Redis trouble loses that interval's views (never the page); shutdown adds the rest.
    """

    def __init__(
        self, redis: aioredis.Redis, *, interval: float = 1.0, max_pending: int = 50_000
    ) -> None:
        self._redis = redis
        self._interval = interval
        self._max_pending = max_pending
        self._pending: Counter[tuple[str, str]] = Counter()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._minute: tuple[int, int, int, int, int] | None = None
        self._bucket = ""

    def add(self, listing_id: uuid.UUID) -> None:
        now = utcnow()
        minute = (now.year, now.month, now.day, now.hour, now.minute)
        if minute != self._minute:  # formatted once a minute, not per view
            self._minute, self._bucket = minute, bucket_of(now)
        self._pending[(self._bucket, str(listing_id))] += 1
        if len(self._pending) >= self._max_pending:
            self._wake.set()  # bound the memory: flush now rather than at the next tick

    @property
    def pending(self) -> int:
        return sum(self._pending.values())

    async def flush(self) -> int:
        """Move what is pending to Redis; the number of views that were sent (or lost)."""
        counts, self._pending = self._pending, Counter()
        if not counts:
            return 0
        try:
            async with asyncio.timeout(max(_RECORD_TIMEOUT_SECONDS, self._interval)):
                await record_views(self._redis, counts)
        except Exception as exc:
            log.warning("views_not_recorded", views=sum(counts.values()), error=repr(exc)[:200])
        return sum(counts.values())

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="view-buffer")

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def aclose(self) -> None:
        await stop_task(self._task)
        self._task = None
        await self.flush()


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
    pause_ratio: float = 0.0,
) -> FlushReport:
    """Add the counts of every closed minute to view_count, exactly once.

    A batch is applied in chunks of `batch_size` listings, each chunk claimed and updated in
    a transaction of its own and followed by a pause of `pause_ratio` x its own time: every
    index of `listings` follows a view_count update (it is in the popular indexes, so no
    update is HOT), and a minute's views at once took a core for a second or two and stalled
    the requests of that moment (docs/performance.md, "The mixed load"). The chunks are cut
    from the listings in id order, so a run that takes over a batch after a crash cuts the
    same chunks and skips the ones already claimed (chunk 0 is claimed under the batch's own
    name, the others as `<batch>#<n>`)."""
    cutoff = bucket_of((now or utcnow()) - timedelta(seconds=60 + FLUSH_GRACE_SECONDS))
    await seal_closed_buckets(redis, cutoff)
    report = FlushReport()
    for batch in sorted(_text(b) for b in await redis.smembers(BATCHES_SET)):
        ids, counts = _parse(await redis.hgetall(BATCH_PREFIX + batch))
        ordered = sorted(zip(ids, counts, strict=True))
        applied: list[tuple[uuid.UUID, int]] = []
        claimed_any = False
        for n, start in enumerate(range(0, max(len(ordered), 1), batch_size)):
            chunk = ordered[start : start + batch_size]
            began = time.monotonic()
            async with transaction(db) as session:
                claimed = await repository.claim_view_batch(
                    session,
                    batch if n == 0 else f"{batch}#{n}",
                    listings_count=len(chunk),
                    views=sum(c for _, c in chunk),
                )
                if claimed:
                    await repository.add_views(
                        session, [i for i, _ in chunk], [c for _, c in chunk]
                    )
                    applied.extend(chunk)
                    claimed_any = True
            if pause_ratio and start + batch_size < len(ordered):
                await asyncio.sleep((time.monotonic() - began) * pause_ratio)
        # Committed now (or applied by an earlier run): the Redis copy has served its purpose.
        pipe = redis.pipeline(transaction=True)
        pipe.delete(BATCH_PREFIX + batch)
        pipe.srem(BATCHES_SET, batch)
        await pipe.execute()
        if claimed_any:
            report.batches.append(batch)
            report.listings += len(applied)
            report.views += sum(c for _, c in applied)
        else:
            report.skipped.append(batch)
    if report.batches:
        async with transaction(db) as session:
            await repository.prune_view_batches(session, older_than_days=PRUNE_AFTER_DAYS)
        if cache is not None:
            await cache.bump("popular")
    return report
