"""Full text in the in-process index: which lexemes a query ANDs, and the postings (which
base rows have a lexeme) of the common ones, loaded from the GIN index when first asked for
and remembered across restarts (a sorted set in Redis of the words in use lately)."""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import redis.asyncio as aioredis
import structlog

from sichrplace.config import FacetIndexSettings
from sichrplace.kit.tasks import stop_task
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.search.index.errors import Unsupported
from sichrplace.search.index.snapshot import Snapshot, postings_of
from sichrplace.search.metrics import FACET_INDEX_BYTES
from sichrplace.search.repository import index_feed, stats

log = structlog.get_logger(__name__)

_PLAIN_AND = re.compile(r"'[^'\\]+'(?: & '[^'\\]+')*")
_LEXEME = re.compile(r"'([^'\\]+)'")
MAX_REMEMBERED_QUERIES = 10_000
# Words whose postings were loaded lately, by any process (sorted set, score: last load).
WORDS_KEY = "search:facet-words"
WORDS_KEPT = 256
WORDS_KEPT_SECONDS = 7 * 86400
POSTINGS_BATCH = 16  # lexemes whose postings one pass over the listings loads


def plain_lexemes(tsquery: str) -> tuple[str, ...] | None:
    """The lexemes of a tsquery that is a plain AND of them ("'balkon' & 'hell'"), else None
    (phrases, OR, NOT, prefixes, or no lexeme at all)."""
    if not _PLAIN_AND.fullmatch(tsquery):
        return None
    return tuple(dict.fromkeys(_LEXEME.findall(tsquery)))


class Words:
    """The lexemes of queries and the postings of the words in use, for one index."""

    def __init__(
        self,
        db: Database,
        settings: FacetIndexSettings,
        redis: aioredis.Redis | None,
        words_key: str,
        snapshot: Callable[[], Snapshot | None],
    ) -> None:
        self._db = db
        self._settings = settings
        self._redis = redis
        self._key = words_key
        self._snapshot = snapshot  # the snapshot currently answering
        self._queries: OrderedDict[str, tuple[str, ...] | None] = OrderedDict()
        self._wanted: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def common(self, snap: Snapshot, lexeme: str) -> bool:
        return snap.words.get(lexeme, 0.0) >= self._settings.min_word_share

    async def of(
        self, session: ReplicaSession, snap: Snapshot, q: str
    ) -> tuple[tuple[str, ...], list[np.ndarray]]:
        """The lexemes `q` ANDs and their postings, once loaded; Unsupported otherwise (then
        the postings of its common lexemes start loading for the next time)."""
        if q not in self._queries:
            self._queries[q] = plain_lexemes(await stats.fetch_tsquery(session, q))
            if len(self._queries) > MAX_REMEMBERED_QUERIES:
                self._queries.popitem(last=False)
        lexemes = self._queries[q]
        if not lexemes:
            raise Unsupported("text")
        if not all(self.common(snap, lexeme) for lexeme in lexemes):
            raise Unsupported("rare word")  # the GIN index answers it cheaply
        missing = [lexeme for lexeme in lexemes if lexeme not in snap.postings]
        if missing:
            # Wait for them rather than count in Postgres meanwhile: a common word's facets
            # there cost more than the pass that loads a dozen words' postings.
            self.want(missing)
            task = self._task
            try:
                async with asyncio.timeout(self._settings.postings_wait_seconds):
                    while task is not None and not task.done():
                        await asyncio.shield(task)
            except TimeoutError:
                pass
            if any(lexeme not in snap.postings for lexeme in lexemes):
                raise Unsupported("postings loading")
        return lexemes, [snap.postings[lexeme] for lexeme in lexemes]

    async def in_use(self, previous: Snapshot | None) -> list[str]:
        """The words a new snapshot should have postings for: this process's, else those any
        process used lately (a restarted process does not make its first counts wait)."""
        if previous is not None:
            return list(previous.postings)
        if self._redis is None:
            return []
        try:
            async with asyncio.timeout(1.0):
                words = await self._redis.zrevrange(self._key, 0, self._settings.max_lexemes - 1)
        except Exception as exc:  # a cold start is slower, not wrong
            log.warning("facet_index_words_unavailable", error=repr(exc)[:200])
            return []
        return [w.decode() if isinstance(w, bytes) else str(w) for w in words]

    async def remember(self, lexemes: Sequence[str]) -> None:
        if self._redis is None:
            return
        now = time.time()
        try:
            async with asyncio.timeout(1.0), self._redis.pipeline(transaction=False) as pipe:
                pipe.zadd(self._key, dict.fromkeys(lexemes, now))
                pipe.zremrangebyscore(self._key, 0, now - WORDS_KEPT_SECONDS)
                pipe.zremrangebyrank(self._key, 0, -WORDS_KEPT - 1)
                await pipe.execute()
        except Exception as exc:
            log.warning("facet_index_words_unavailable", error=repr(exc)[:200])

    def want(self, lexemes: Iterable[str]) -> None:
        self._wanted.update(lexemes)
        if self._wanted and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._load_wanted(), name="facet-index-postings")

    async def add(self, snap: Snapshot, lexemes: Sequence[str]) -> None:
        """Load the postings of `lexemes` into `snap`, POSTINGS_BATCH per pass over the
        listings (a pass costs about the same for one common word as for a dozen)."""
        for n in range(0, len(lexemes), POSTINGS_BATCH):
            batch = lexemes[n : n + POSTINGS_BATCH]
            blobs = await index_feed.fetch_postings(
                ReplicaSession(self._db), batch, index_feed.load_timeout_ms(len(snap.base))
            )
            arrays = await asyncio.to_thread(postings_of, snap, blobs)
            for lexeme, posting in zip(batch, arrays, strict=True):
                while len(snap.postings) >= self._settings.max_lexemes:
                    snap.postings.pop(next(iter(snap.postings)))
                snap.postings[lexeme] = posting

    async def _load_wanted(self) -> None:
        while True:
            snap = self._snapshot()
            if snap is None:
                return
            batch = sorted(w for w in self._wanted if w not in snap.postings)[:POSTINGS_BATCH]
            self._wanted.difference_update(batch)
            if not batch:
                return
            try:
                await self.add(snap, batch)
            except Exception as exc:
                log.warning("facet_index_postings_failed", lexemes=batch, error=repr(exc)[:200])
                continue  # what is wanted again is asked for again
            FACET_INDEX_BYTES.set(snap.nbytes())
            log.info("facet_index_postings_loaded", lexemes=batch)
            await self.remember(batch)

    @property
    def loading(self) -> asyncio.Task[None] | None:
        return self._task

    async def aclose(self) -> None:
        await stop_task(self._task)
