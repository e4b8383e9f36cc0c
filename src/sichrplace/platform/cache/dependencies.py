"""FastAPI access to the app's Cache (created in the app lifespan as `app.state.cache`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sichrplace.platform.cache.cache import Cache


def get_cache_of(request: Request) -> Cache:
    cache: Cache = request.app.state.cache
    return cache


async def get_cache(request: Request) -> Cache:
    return get_cache_of(request)


CacheDep = Annotated[Cache, Depends(get_cache)]
