"""The process's long-lived parts in one typed container, built once by the composition root.

`sichrplace/composition.py` builds a `Parts` for an API process (at start-up) or a job worker:
the platform's own parts as typed attributes, and each domain's under a typed `Key` the domain
defines next to the part's type. Request handlers reach them through
`platform/http/dependencies.py`, jobs through `platform/jobs/runtime.py`; nothing else holds
process-wide state.

    SEARCH = Key[SearchParts]("search")          # in the domain
    parts.provide(SEARCH, SearchParts(...))      # in the composition root
    parts.get(SEARCH).backend                    # in the domain's dependency or job
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar, cast

import redis.asyncio as aioredis
import structlog

from sichrplace.config import Settings
from sichrplace.platform.cache import Cache
from sichrplace.platform.db.engines import Database

log = structlog.get_logger(__name__)

T = TypeVar("T")
Close = Callable[[], Awaitable[None]]


class Key(Generic[T]):
    """Names a domain's part and its type (define one per part, next to the type); keys
    compare by identity."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Key({self.name!r})"


class MissingPart(LookupError):
    """The composition root did not provide this part (e.g. a worker asking for an API part)."""


class Parts:
    """Settings, databases, Redis and the cache, plus every domain's parts by `Key`."""

    def __init__(self, settings: Settings, db: Database, redis: aioredis.Redis, cache: Cache):
        self.settings = settings
        self.db = db
        self.redis = redis
        self.cache = cache
        # Set when the process starts draining for shutdown (readiness answers 503).
        self.draining = False
        self._domain: dict[Key[object], object] = {}
        self._closers: list[tuple[str, Close]] = []

    def provide(self, key: Key[T], part: T, *, close: Close | None = None) -> T:
        """Add a domain part; `close` runs at shutdown, in reverse order of provision."""
        if key in self._domain:
            raise ValueError(f"part {key.name!r} provided twice")
        self._domain[cast(Key[object], key)] = part
        if close is not None:
            self.on_close(key.name, close)
        return part

    def get(self, key: Key[T]) -> T:
        try:
            return cast(T, self._domain[cast(Key[object], key)])
        except KeyError:
            raise MissingPart(key.name) from None

    def swap(self, key: Key[T], part: T) -> T:
        """Put `part` in place of the one provided under `key`; the previous one (tests that
        put a fake in place, then restore it)."""
        previous = self.get(key)
        self._domain[cast(Key[object], key)] = part
        return previous

    def on_close(self, name: str, close: Close) -> None:
        self._closers.append((name, close))

    async def aclose(self) -> None:
        """Close every part, last provided first; one failing close does not stop the rest."""
        while self._closers:
            name, close = self._closers.pop()
            try:
                await close()
            except Exception:
                log.exception("part_close_failed", part=name)
