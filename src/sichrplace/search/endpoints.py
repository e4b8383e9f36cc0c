"""GET /search/listings and GET /search/facets (public, lag-tolerant: replica + cache)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from sichrplace.accounts.dependencies import caller_replica, optional_user
from sichrplace.listings import surrogate
from sichrplace.platform import edge
from sichrplace.platform.cache import Cache
from sichrplace.platform.db import ReplicaSession
from sichrplace.platform.http import conditional
from sichrplace.platform.http.dependencies import parts_of
from sichrplace.platform.http.openapi import problems
from sichrplace.search import service
from sichrplace.search.analytics import record_search
from sichrplace.search.params import (
    FilterParams,
    SearchParams,
    openapi_parameters,
    parse_filters,
    parse_query,
)
from sichrplace.search.parts import SEARCH, SearchParts
from sichrplace.search.schemas import FacetsOut, SearchFilters, SearchPage, SearchQuery
from sichrplace.search.suggest import service as suggest_service
from sichrplace.search.suggest.schemas import SuggestOut

router = APIRouter(prefix="/search", tags=["search"])

# Response headers that say how a read was served (tests and the benchmark rely on them):
# X-Cache: hit | miss | bypass; X-DB-Target: replica | primary | none (served from cache).
CACHE_HEADER = "X-Cache"
INVALID = problems(422, s422="Invalid filter: `errors` names the field")
DB_TARGET_HEADER = "X-DB-Target"


@dataclass(frozen=True, slots=True)
class ListingsRead:
    """What a search needs: what it asks for, where to read (routed), the cache."""

    query: SearchQuery
    replica: ReplicaSession
    cache: Cache
    search: SearchParts


@dataclass(frozen=True, slots=True)
class FacetsRead:
    """What a facets request needs: its filters, where to read (routed), the cache."""

    filters: SearchFilters
    replica: ReplicaSession
    cache: Cache
    search: SearchParts


# One dependency per route instead of four (filters, caller, routed replica, cache): FastAPI's
# resolution of each costs CPU on the busiest reads (as for the listing detail). The filters
# are parsed first: a bad one is a 422 before anything is read.
async def _listings_read(request: Request) -> ListingsRead:
    query = parse_query(request)
    replica = await caller_replica(request, await optional_user(request))
    parts = parts_of(request)
    return ListingsRead(query, replica, parts.cache, parts.get(SEARCH))


async def _facets_read(request: Request) -> FacetsRead:
    filters = parse_filters(request)
    replica = await caller_replica(request, await optional_user(request))
    parts = parts_of(request)
    return FacetsRead(filters, replica, parts.cache, parts.get(SEARCH))


ListingsReadDep = Annotated[ListingsRead, Depends(_listings_read)]
FacetsReadDep = Annotated[FacetsRead, Depends(_facets_read)]


def wants_bypass(request: Request, search: SearchParts) -> bool:
    """`Cache-Control: no-cache` or `X-Cache-Bypass: 1` skips the cache (uncached benchmark),
    where the settings allow it (`SICHRPLACE_CACHE_CLIENT_BYPASS`; off in production)."""
    if not search.client_bypass:
        return False
    cache_control = request.headers.get("cache-control", "").lower()
    return "no-cache" in cache_control or request.headers.get("x-cache-bypass", "") in ("1", "true")


SUGGEST_KEYS = ("suggest",)


def _respond(
    request: Request,
    body: bytes,
    status: str,
    session: ReplicaSession,
    keys: tuple[str, ...],
    *,
    etag: bool = True,
    shared_max_age: int | None = None,
) -> Response:
    # The body is JSON text already (a hit is the cached text itself): written out as is
    # instead of being validated through the response model again. The same for every
    # caller; `Vary: Authorization` only because anonymous answers may be cached publicly.
    headers = {CACHE_HEADER: status, DB_TARGET_HEADER: session.last_target or "none"}
    max_age = parts_of(request).settings.cache.http_max_age_seconds
    cache_control = conditional.cache_control_for(request, max_age, shared_max_age=shared_max_age)
    if conditional.is_public(cache_control):  # what the edge may keep names what it shows
        headers.update(edge.surrogate_header(keys))
    return conditional.json_response(
        request, body, cache_control=cache_control, etag=etag, headers=headers
    )


@router.get(
    "/listings",
    response_model=SearchPage,
    responses=INVALID,
    openapi_extra=openapi_parameters(SearchParams),
)
async def search_listings(request: Request, read: ListingsReadDep) -> Response:
    """Active listings matching every given filter, one keyset page at a time."""
    started = time.perf_counter()
    body, status = await service.search(
        read.replica,
        read.cache,
        read.search.backend,
        read.query,
        bypass=wants_bypass(request, read.search),
    )
    record_search(read.query, body, status, time.perf_counter() - started)
    # No ETag: hashing a page (up to ~50 KB) on every request would cost the cached search
    # more than a conditional request saves; Cache-Control only (README.md, HTTP caching).
    keys = surrogate.lists(read.query.filters.city_key)
    return _respond(request, body, status, read.replica, keys, etag=False)


@router.get(
    "/facets",
    response_model=FacetsOut,
    responses=INVALID,
    openapi_extra=openapi_parameters(FilterParams),
)
async def search_facets(request: Request, read: FacetsReadDep) -> Response:
    """Counts per city, rooms, rent bucket and amenity for the same filters."""
    body, status = await service.facets(
        read.replica,
        read.cache,
        read.search.backend,
        read.filters,
        bypass=wants_bypass(request, read.search),
    )
    return _respond(request, body, status, read.replica, surrogate.lists(read.filters.city_key))


@router.get("/suggest", response_model=SuggestOut, responses=INVALID)
async def search_suggest(
    request: Request,
    q: Annotated[
        str,
        Query(
            min_length=suggest_service.MIN_Q,
            max_length=suggest_service.MAX_Q,
            description="what was typed: the start of a city, district or postal code",
        ),
    ],
    limit: Annotated[
        int, Query(ge=1, le=suggest_service.MAX_LIMIT)
    ] = suggest_service.DEFAULT_LIMIT,
) -> Response:
    """Completions for a search box: cities, districts and postal codes of active listings
    whose name starts with `q` (case, umlaut spelling and punctuation do not matter), most
    listings first, each with the /search/listings parameters that select it."""
    parts = parts_of(request)
    replica = ReplicaSession(parts.db)
    body, status = await suggest_service.suggest(
        replica,
        parts.cache,
        parts.db,
        q,
        limit,
        bypass=wants_bypass(request, parts.get(SEARCH)),
    )
    # Its counts change only when search_places is refreshed: an edge may keep it longer.
    slow = parts.settings.cache.http_shared_max_age_slow_seconds
    return _respond(request, body, status, replica, SUGGEST_KEYS, shared_max_age=slow)
