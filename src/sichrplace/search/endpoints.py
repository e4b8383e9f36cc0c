"""GET /search/listings and GET /search/facets (public, lag-tolerant: replica + cache)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from sichrplace.accounts.dependencies import optional_user
from sichrplace.platform.cache import Cache
from sichrplace.platform.cache.dependencies import get_cache_of
from sichrplace.platform.db import ReplicaSession, get_db
from sichrplace.platform.db.routing import routed_replica
from sichrplace.search import service
from sichrplace.search.density import GeoGrid, PlanStats
from sichrplace.search.params import (
    FilterParams,
    SearchParams,
    openapi_parameters,
    parse_filters,
    parse_query,
)
from sichrplace.search.schemas import FacetsOut, SearchFilters, SearchPage, SearchQuery
from sichrplace.search.suggest import service as suggest_service
from sichrplace.search.suggest.schemas import SuggestOut
from sichrplace.search.words import WordAdvice

router = APIRouter(prefix="/search", tags=["search"])

# Response headers that say how a read was served (tests and the benchmark rely on them):
# X-Cache: hit | miss | bypass; X-DB-Target: replica | primary | none (served from cache).
CACHE_HEADER = "X-Cache"
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"description": "Invalid filter: application/problem+json naming the field"}
}
DB_TARGET_HEADER = "X-DB-Target"


@dataclass(frozen=True, slots=True)
class ListingsRead:
    """What a search needs: what it asks for, where to read (routed), the cache."""

    query: SearchQuery
    replica: ReplicaSession
    cache: Cache


@dataclass(frozen=True, slots=True)
class FacetsRead:
    """What a facets request needs: its filters, where to read (routed), the cache."""

    filters: SearchFilters
    replica: ReplicaSession
    cache: Cache


# One dependency per route instead of four (filters, caller, routed replica, cache): FastAPI's
# resolution of each costs CPU on the busiest reads (as for the listing detail). The filters
# are parsed first: a bad one is a 422 before anything is read.
async def _listings_read(request: Request) -> ListingsRead:
    query = parse_query(request)
    replica = await routed_replica(request, await optional_user(request))
    return ListingsRead(query, replica, get_cache_of(request))


async def _facets_read(request: Request) -> FacetsRead:
    filters = parse_filters(request)
    replica = await routed_replica(request, await optional_user(request))
    return FacetsRead(filters, replica, get_cache_of(request))


ListingsReadDep = Annotated[ListingsRead, Depends(_listings_read)]
FacetsReadDep = Annotated[FacetsRead, Depends(_facets_read)]


def wants_bypass(request: Request) -> bool:
    """`Cache-Control: no-cache` or `X-Cache-Bypass: 1` skips the cache (uncached benchmark),
    where the settings allow it (`SICHRPLACE_CACHE_CLIENT_BYPASS`; off in production)."""
    if not request.app.state.settings.cache.client_bypass:
        return False
    cache_control = request.headers.get("cache-control", "").lower()
    return "no-cache" in cache_control or request.headers.get("x-cache-bypass", "") in ("1", "true")


def _respond(body: bytes, status: str, session: ReplicaSession) -> Response:
    # The body is JSON text already (a hit is the cached text itself): written out as is
    # instead of being validated through the response model again.
    headers = {CACHE_HEADER: status, DB_TARGET_HEADER: session.last_target or "none"}
    return Response(body, media_type="application/json", headers=headers)


def _grid(request: Request, query: SearchQuery) -> GeoGrid | None:
    """The density grid, for the searches whose plan it picks (only those: asking for it may
    start the statistics' load, which samples the listings)."""
    if not service.wants_grid(query):
        return None
    stats: PlanStats = request.app.state.plan_stats
    return stats.current()


def _words(request: Request, query: SearchQuery) -> WordAdvice | None:
    """The word statistics, for full-text searches (the same load as the grid's)."""
    if query.filters.q is None:
        return None
    stats: PlanStats = request.app.state.plan_stats
    return stats.words()


@router.get("/listings", response_model=SearchPage, openapi_extra=openapi_parameters(SearchParams))
async def search_listings(request: Request, read: ListingsReadDep) -> Response:
    """Active listings matching every given filter, one keyset page at a time."""
    query = read.query
    body, status = await service.search(
        read.replica,
        read.cache,
        query,
        bypass=wants_bypass(request),
        density=_grid(request, query),
        words=_words(request, query),
        index=request.app.state.facet_index,
    )
    return _respond(body, status, read.replica)


@router.get("/facets", response_model=FacetsOut, openapi_extra=openapi_parameters(FilterParams))
async def search_facets(request: Request, read: FacetsReadDep) -> Response:
    """Counts per city, rooms, rent bucket and amenity for the same filters."""
    body, status = await service.facets(
        read.replica,
        read.cache,
        read.filters,
        bypass=wants_bypass(request),
        bulkhead=request.app.state.facets_bulkhead,
        index=request.app.state.facet_index,
    )
    return _respond(body, status, read.replica)


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
    replica = ReplicaSession(get_db(request))
    body, status = await suggest_service.suggest(
        replica,
        get_cache_of(request),
        get_db(request),
        q,
        limit,
        bypass=wants_bypass(request),
    )
    return _respond(body, status, replica)
