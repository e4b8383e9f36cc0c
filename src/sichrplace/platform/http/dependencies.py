"""Request dependencies: the one way request code reaches the process's parts.

The composition root (`sichrplace/app.py`) puts the process's `Parts` on the application;
everything a request needs (databases, Redis, the cache, settings, a domain's parts) comes
from here, typed. Hot read paths call `parts_of(request)` inside one combined dependency:
each dependency FastAPI resolves costs CPU on every request.

    @router.get("/things")
    async def things(session: PrimaryDB, cache: CacheDep) -> ...

    def search_parts(request: Request) -> SearchParts:   # a domain's own dependency
        return parts_of(request).get(SEARCH)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

import redis.asyncio as aioredis
from fastapi import Depends, Request

from sichrplace.config import Settings
from sichrplace.platform.cache import Cache
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import PrimarySession
from sichrplace.platform.db.unit import snapshot, transaction
from sichrplace.platform.parts import Key, Parts

T = TypeVar("T")


def parts_of(request: Request) -> Parts:
    """The parts of the application serving `request` (set by the composition root)."""
    parts: Parts | None = getattr(request.app, "parts", None)
    if parts is None:
        raise RuntimeError("the application's parts are not open (lifespan not started?)")
    return parts


def part(key: Key[T]) -> Callable[[Request], Any]:
    """A dependency giving the domain part named by `key`."""

    async def dependency(request: Request) -> T:
        return parts_of(request).get(key)

    dependency.__name__ = f"part_{key.name.replace('.', '_')}"
    return dependency


# The dependencies are coroutines, even those that only look something up: FastAPI runs a
# plain function in its thread pool, a hand-off that costs more than the lookup.


async def get_settings_of(request: Request) -> Settings:
    return parts_of(request).settings


def get_db(request: Request) -> Database:
    return parts_of(request).db


async def database(request: Request) -> Database:
    """`get_db` as a dependency."""
    return parts_of(request).db


async def get_cache(request: Request) -> Cache:
    return parts_of(request).cache


async def get_redis(request: Request) -> aioredis.Redis:
    return parts_of(request).redis


async def _primary_session(request: Request) -> AsyncIterator[PrimarySession]:
    async with transaction(get_db(request)) as session:
        yield session


async def _snapshot_session(request: Request) -> AsyncIterator[PrimarySession]:
    async with snapshot(get_db(request)) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_of)]
DatabaseDep = Annotated[Database, Depends(database)]
CacheDep = Annotated[Cache, Depends(get_cache)]
RedisDep = Annotated[aioredis.Redis, Depends(get_redis)]
# `scope="function"` ends the dependency (commit) when the endpoint returns, before the
# response is sent: a client never sees 2xx for a transaction that failed to commit.
PrimaryDB = Annotated[PrimarySession, Depends(_primary_session, scope="function")]
# Reads on the primary that must agree with each other (one REPEATABLE READ snapshot).
SnapshotDB = Annotated[PrimarySession, Depends(_snapshot_session, scope="function")]
