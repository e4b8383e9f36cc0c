"""Listing routes: create, read (cached, replica, read-your-writes), update, archive, popular."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from sichrplace.accounts.dependencies import (
    CurrentUser,
    Principal,
    optional_user,
    require_role,
)
from sichrplace.accounts.models import Role
from sichrplace.config import MediaSettings
from sichrplace.integrations.maps.types import Geocoder
from sichrplace.listings import service
from sichrplace.listings.detail import AnySession, DetailExtras
from sichrplace.listings.errors import ListingNotFound
from sichrplace.listings.invalidation import ReadPath
from sichrplace.listings.schemas import ListingCreate, ListingOut, ListingUpdate, PopularPage
from sichrplace.media import service as media_service
from sichrplace.media.storage import MediaStorage
from sichrplace.platform.cache import Cache, CacheDep
from sichrplace.platform.cache.dependencies import get_cache_of
from sichrplace.platform.db import PrimaryDB, ReplicaSession
from sichrplace.platform.db.routing import RoutedReplicaDB, routed_replica

router = APIRouter(prefix="/listings", tags=["listings"])

Publisher = Annotated[Principal, Depends(require_role(Role.LANDLORD, Role.ADMIN))]
READ_SOURCE_HEADER = "X-Read-Source"  # debug aid outside production: cache | replica | primary


def _images_extra(media: MediaSettings) -> DetailExtras:
    """What other domains add to a listing's detail: its images."""
    storage = MediaStorage(media)

    async def images(session: AnySession, listing_id: uuid.UUID) -> dict[str, Any]:
        found = await media_service.images_for_listings(session, media, storage, [listing_id])
        return {"images": [image.model_dump(mode="json") for image in found[listing_id]]}

    return images


async def _detail_extras(request: Request) -> DetailExtras:
    # Built once per app: the detail is the hottest read and every dependency FastAPI
    # resolves costs CPU on each request (measured with py-spy on the detail benchmark).
    state = request.app.state
    extras: DetailExtras | None = getattr(state, "detail_extras", None)
    if extras is None:
        extras = state.detail_extras = _images_extra(state.settings.media)
    return extras


DetailExtrasDep = Annotated[DetailExtras, Depends(_detail_extras)]


@dataclass(frozen=True, slots=True)
class DetailRead:
    """What reading a listing's detail needs: the caller, where to read, the cache, extras."""

    user: Principal | None
    replica: ReplicaSession
    cache: Cache
    extras: DetailExtras


async def _detail_read(request: Request) -> DetailRead:
    # One dependency instead of four (caller, routed replica, cache, extras): FastAPI's
    # resolution of each costs CPU on the hottest read (py-spy on the detail benchmark:
    # ~10 % of the process's time went to resolving them).
    user = await optional_user(request)
    return DetailRead(
        user=user,
        replica=await routed_replica(request, user),
        cache=get_cache_of(request),
        extras=await _detail_extras(request),
    )


DetailReadDep = Annotated[DetailRead, Depends(_detail_read)]


async def _read_path(request: Request, cache: CacheDep, extras: DetailExtrasDep) -> ReadPath:
    state = request.app.state
    return ReadPath(
        cache=cache, redis=state.redis, settings=state.settings.cache, db=state.db, extras=extras
    )


async def _geocoder(request: Request) -> Geocoder | None:
    """The app's geocoder; none configured means "unavailable" (listings are stored pending)."""
    geocoder: Geocoder | None = getattr(request.app.state, "geocoder", None)
    return geocoder


ReadPathDep = Annotated[ReadPath, Depends(_read_path)]
GeocoderDep = Annotated[Geocoder | None, Depends(_geocoder)]


async def _listing_id(listing_id: str) -> uuid.UUID:
    """Ids are opaque: anything that is not one of ours is simply not found."""
    try:
        return uuid.UUID(listing_id)
    except ValueError:
        raise ListingNotFound() from None


ListingId = Annotated[uuid.UUID, Depends(_listing_id)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ListingOut)
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


# Declared before /{listing_id} so "popular" is never taken for an id.
@router.get("/popular", response_model=PopularPage)
async def popular_listings(
    replica: RoutedReplicaDB,
    cache: CacheDep,
    city: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> dict[str, Any]:
    """The most viewed active listings, optionally in one city (counts lag by ~1 minute)."""
    return {"items": await service.popular_listings(replica, cache, city, limit)}


@router.get("/{listing_id}", response_model=ListingOut)
async def get_listing(listing_id: str, read: DetailReadDep, request: Request) -> Response:
    # The id is parsed here rather than by a dependency (one less to resolve on the hot path).
    listing = await _listing_id(listing_id)
    user, replica = read.user, read.replica
    row, body, source = await service.get_listing(
        replica, read.cache, listing, user, pinned=replica.force_primary, extras=read.extras
    )
    if not service.may_manage(user, row["owner_id"]):
        # An owner looking at their own listing is not a view.
        request.app.state.views.add(listing)
    headers = None
    if request.app.state.settings.app.environment != "production":
        headers = {READ_SOURCE_HEADER: source}
    # The detail is ListingOut-shaped JSON text already (as the cache holds it): written out
    # as is rather than validated through the response model again (the hottest read).
    return Response(body, media_type="application/json", headers=headers)


@router.patch("/{listing_id}", response_model=ListingOut)
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


@router.delete("/{listing_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_listing(
    listing_id: ListingId, user: CurrentUser, session: PrimaryDB, read_path: ReadPathDep
) -> Response:
    """Archives the listing (soft delete); it then 404s for everyone but its owner and admins."""
    await service.archive_listing(session, user, listing_id, read_path=read_path)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
