"""Listing routes: create, read (cached, replica, read-your-writes), update, archive, popular,
the caller's own listings, and the sitemap's reads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from sichrplace.accounts.dependencies import (
    CurrentUser,
    Principal,
    RoutedReplicaDB,
    caller_replica,
    optional_user,
    require_role,
)
from sichrplace.accounts.models import Role
from sichrplace.integrations.maps.types import Geocoder
from sichrplace.listings import service, surrogate
from sichrplace.listings.errors import ListingNotFound
from sichrplace.listings.invalidation import ReadPath
from sichrplace.listings.parts import LISTINGS, ListingsParts
from sichrplace.listings.schemas import (
    SITEMAP_MAX_URLS,
    ListingCreate,
    ListingOut,
    ListingUpdate,
    OwnListingPage,
    PopularPage,
    SitemapPage,
    SitemapPages,
)
from sichrplace.listings.vocabulary import ListingStatus, city_key
from sichrplace.platform import analytics, edge, synthetic
from sichrplace.platform.cache import Cache
from sichrplace.platform.db import ReplicaSession
from sichrplace.platform.http import conditional
from sichrplace.platform.http.dependencies import CacheDep, PrimaryDB, part, parts_of
from sichrplace.platform.http.openapi import problems

router = APIRouter(prefix="/listings", tags=["listings"])

Publisher = Annotated[Principal, Depends(require_role(Role.LANDLORD, Role.ADMIN))]
READ_SOURCE_HEADER = "X-Read-Source"  # debug aid outside production: cache | replica | primary
ListingsPartsDep = Annotated[ListingsParts, Depends(part(LISTINGS))]


@dataclass(frozen=True, slots=True)
class DetailRead:
    """What reading a listing's detail needs: the caller, where to read, the cache, the
    domain's parts, and whether to say where the detail came from."""

    user: Principal | None
    replica: ReplicaSession
    cache: Cache
    listings: ListingsParts
    show_source: bool
    max_age: int  # of the anonymous public view (Cache-Control)
    shared_max_age: int  # the same at the edge, which is purged when the listing changes


async def _detail_read(request: Request) -> DetailRead:
    # One dependency instead of four (caller, routed replica, cache, parts): FastAPI's
    # resolution of each costs CPU on the hottest read (docs/performance.md).
    parts = parts_of(request)
    user = await optional_user(request)
    return DetailRead(
        user=user,
        replica=await caller_replica(request, user),
        cache=parts.cache,
        listings=parts.get(LISTINGS),
        show_source=parts.settings.app.environment != "production",
        max_age=parts.settings.cache.http_max_age_seconds,
        shared_max_age=parts.settings.cache.http_shared_max_age_seconds,
    )


DetailReadDep = Annotated[DetailRead, Depends(_detail_read)]


async def _read_path(listings: ListingsPartsDep) -> ReadPath:
    return listings.read_path


async def _geocoder(listings: ListingsPartsDep) -> Geocoder | None:
    """The process's geocoder; none configured means "unavailable" (stored pending)."""
    return listings.geocoder


ReadPathDep = Annotated[ReadPath, Depends(_read_path)]
GeocoderDep = Annotated[Geocoder | None, Depends(_geocoder)]


async def _listing_id(listing_id: str) -> uuid.UUID:
    """Ids are opaque: anything that is not one of ours is simply not found."""
    try:
        return uuid.UUID(listing_id)
    except ValueError:
        raise ListingNotFound() from None


ListingId = Annotated[uuid.UUID, Depends(_listing_id)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ListingOut,
    responses=problems(401, 403, 422, s403="Only landlords and admins publish listings"),
)
async def create_listing(
    body: ListingCreate,
    user: Publisher,
    session: PrimaryDB,
    read_path: ReadPathDep,
    geocoder: GeocoderDep,
    request: Request,
    response: Response,
) -> dict[str, Any]:
    row = await service.create_listing(session, user, body, geocoder=geocoder, read_path=read_path)
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{row['id']}"
    return row


# Declared before /{listing_id} so "mine" and "popular" are never taken for an id.
@router.get(
    "/mine",
    response_model=OwnListingPage,
    responses=problems(401, 403, 422, s403="Only landlords and admins have listings"),
)
async def my_listings(
    user: Publisher,
    replica: RoutedReplicaDB,
    only: Annotated[
        ListingStatus | None, Query(alias="status", description="only listings in this status")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """The caller's own listings, archived ones included, newest first (`next_cursor` pages
    on). Read from the replica, or the primary right after the caller's own write."""
    rows, next_cursor = await service.own_listings(
        replica, user, status=only, cursor=cursor, limit=limit
    )
    return {"items": [row._asdict() for row in rows], "next_cursor": next_cursor}


@router.get("/popular", response_model=PopularPage, responses=problems(422))
async def popular_listings(
    request: Request,
    replica: RoutedReplicaDB,
    cache: CacheDep,
    city: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> Response:
    """The most viewed active listings, optionally in one city: ranked by their detail views
    of the last days (`SICHRPLACE_ANALYTICS_POPULAR_DAYS`, 7; from the analytics rollups,
    which trail the views by up to ~5 minutes), then by `view_count` (all their views, which
    lags by ~1 minute). Public cards: coordinates rounded to ~500 m unless the landlord shows
    the exact address."""
    settings = parts_of(request).settings
    body = await service.popular_listings(
        replica, cache, city, limit, days=settings.analytics.popular_days
    )
    ages = settings.cache
    cache_control = conditional.cache_control_for(
        request, ages.http_max_age_seconds, shared_max_age=ages.http_shared_max_age_slow_seconds
    )
    keys = surrogate.lists(city_key(city) if city else None)
    # PopularPage-shaped JSON text already (as the cache holds it): written out as is.
    return conditional.json_response(
        request, body, cache_control=cache_control, headers=_keys(cache_control, keys)
    )


def _keys(cache_control: str, keys: tuple[str, ...]) -> dict[str, str] | None:
    """`Surrogate-Key` on the answers an edge may keep (a private one names nothing)."""
    return edge.surrogate_header(keys) if conditional.is_public(cache_control) else None


_SITEMAP_KEYS = edge.surrogate_header(surrogate.lists())
SitemapId = Annotated[uuid.UUID | None, Query(description="a listing id (exclusive bound)")]


@router.get("/sitemap/pages", response_model=SitemapPages, responses=problems(422))
async def sitemap_pages(
    request: Request,
    size: Annotated[
        int,
        # Whole thousands: each size is a cached set of ranges, so a few dozen at most.
        Query(ge=1000, le=SITEMAP_MAX_URLS, multiple_of=1000),
    ] = SITEMAP_MAX_URLS,
) -> Response:
    """The id ranges of a sitemap's pages, each holding at most `size` listings (of any
    status) when cut; they change at most hourly. Read each with GET /listings/sitemap."""
    parts = parts_of(request)
    body = await service.sitemap_pages(ReplicaSession(parts.db), parts.cache, size)
    return conditional.json_response(
        request, body, cache_control=conditional.public(300), headers=_SITEMAP_KEYS
    )


@router.get("/sitemap", response_model=SitemapPage, responses=problems(422))
async def sitemap_listings(
    request: Request,
    after: SitemapId = None,
    until: Annotated[uuid.UUID | None, Query(description="a listing id (inclusive bound)")] = None,
    limit: Annotated[int, Query(ge=1, le=SITEMAP_MAX_URLS)] = SITEMAP_MAX_URLS,
) -> Response:
    """Active listings (id, title, city, updated_at) by id, after `after` and up to `until`:
    what a sitemap needs for their canonical URLs. Keyset paging: pass `next_after` as
    `after` while it is not null."""
    parts = parts_of(request)
    body = await service.sitemap_items(
        ReplicaSession(parts.db), after=after, until=until, limit=limit
    )
    # No ETag: hashing megabytes for a rare conditional request does not pay.
    return conditional.json_response(
        request, body, cache_control=conditional.public(300), etag=False, headers=_SITEMAP_KEYS
    )


@router.get("/{listing_id}", response_model=ListingOut, responses=problems(404))
async def get_listing(listing_id: str, request: Request, read: DetailReadDep) -> Response:
    """The listing as the caller may see it: its owner and administrators see everything,
    others no owner id and the exact address only if the landlord shows it. `ETag` with
    304 on `If-None-Match`; the anonymous view may be cached publicly for a few seconds."""
    # The id is parsed here rather than by a dependency (one less to resolve on the hot path).
    listing = await _listing_id(listing_id)
    user, replica = read.user, read.replica
    detail = await service.get_listing(
        replica,
        read.cache,
        listing,
        user,
        pinned=replica.force_primary,
        extras=read.listings.read_path.extras,
        confirmed_viewing=read.listings.confirmed_viewing,
    )
    views = read.listings.views
    # An owner (or admin) looking at the listing is not a view, nor is a synthetic monitor.
    if not detail.managed and not synthetic.active():
        if views is not None:
            views.add(listing)
        analytics.record_view(listing)  # appended in memory; written a second later
    # The detail is ListingOut-shaped JSON text already (as the cache holds it): written out
    # as is rather than validated through the response model again (the hottest read).
    cache_control = conditional.cache_control_for(
        request,
        read.max_age,
        private_body=detail.managed or detail.private,
        shared_max_age=read.shared_max_age,
    )
    headers = _keys(cache_control, (surrogate.listing(listing),))
    if read.show_source:
        headers = {**(headers or {}), READ_SOURCE_HEADER: detail.source}
    return conditional.json_response(
        request, detail.body, cache_control=cache_control, headers=headers
    )


@router.patch(
    "/{listing_id}",
    response_model=ListingOut,
    responses=problems(401, 403, 404, 409, 422, s409="The status change is not allowed"),
)
async def update_listing(
    listing_id: ListingId,
    body: ListingUpdate,
    user: CurrentUser,
    session: PrimaryDB,
    read_path: ReadPathDep,
    geocoder: GeocoderDep,
) -> dict[str, Any]:
    return await service.update_listing(
        session, user, listing_id, body, geocoder=geocoder, read_path=read_path
    )


@router.delete(
    "/{listing_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 409),
)
async def delete_listing(
    listing_id: ListingId, user: CurrentUser, session: PrimaryDB, read_path: ReadPathDep
) -> Response:
    """Archives the listing (soft delete); it then 404s for everyone but its owner and admins."""
    await service.archive_listing(session, user, listing_id, read_path=read_path)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
