"""Media routes: listing images under /api/v1, and /media/ files for runs without nginx."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Request, Response, UploadFile
from fastapi.responses import FileResponse

from sichrplace.accounts.dependencies import CurrentUser, OptionalUser, RoutedReplicaDB
from sichrplace.kit.errors import NotFound
from sichrplace.kit.i18n import N_
from sichrplace.listings import surrogate
from sichrplace.media import service
from sichrplace.media.dependencies import MediaPartsDep, MediaSettingsDep, StorageDep
from sichrplace.media.schemas import ImageOut
from sichrplace.media.storage import IMMUTABLE_CACHE_CONTROL
from sichrplace.platform import edge
from sichrplace.platform.http import conditional
from sichrplace.platform.http.dependencies import CacheDep, PrimaryDB, parts_of
from sichrplace.platform.http.openapi import problems

router = APIRouter(tags=["media"])
files_router = APIRouter(tags=["media"])


@router.post(
    "/listings/{listing_id}/images",
    status_code=201,
    response_model=ImageOut,
    responses=problems(
        401,
        403,
        404,
        413,
        422,
        s403="Not the listing's owner (or an admin)",
        s404="No such listing",
        s413="Request body far above 10 MB",
        s422="`file` missing, over 10 MB, corrupt, or not JPEG/PNG/WebP",
    ),
)
async def upload_listing_image(
    listing_id: uuid.UUID,
    file: Annotated[UploadFile, File(description="JPEG, PNG or WebP; at most 10 MB")],
    user: CurrentUser,
    session: PrimaryDB,
    media: MediaPartsDep,
    cache: CacheDep,
    request: Request,
    response: Response,
) -> ImageOut:
    """Store an image; its WebP variants are made by a job (`status` is `processing` until then)."""
    record = await service.upload_image(
        session, media, user=user, listing_id=listing_id, upload=file, cache=cache
    )
    response.headers["Location"] = f"{request.url.path}/{record.id}"
    return service.to_out(record, media.storage, media.settings.variant_widths)


@router.get(
    "/listings/{listing_id}/images", response_model=list[ImageOut], responses=problems(404, 422)
)
async def list_listing_images(
    listing_id: uuid.UUID,
    session: RoutedReplicaDB,
    settings: MediaSettingsDep,
    storage: StorageDep,
    user: OptionalUser,
    request: Request,
    response: Response,
) -> list[ImageOut]:
    images = await service.list_images(session, settings, storage, listing_id, user)
    _cacheable(request, response, listing_id)
    return images


def _cacheable(request: Request, response: Response, listing_id: uuid.UUID) -> None:
    """The anonymous answer may be kept by the edge (purged with the listing: an upload, the
    variants job and every change of the listing purge `listing-<id>`)."""
    cache = parts_of(request).settings.cache
    cache_control = conditional.cache_control_for(
        request, cache.http_max_age_seconds, shared_max_age=cache.http_shared_max_age_seconds
    )
    response.headers["Cache-Control"] = cache_control
    response.headers["Vary"] = conditional.VARY_AUTHORIZATION
    if conditional.is_public(cache_control):
        response.headers.update(edge.surrogate_header((surrogate.listing(listing_id),)))


@router.get(
    "/listings/{listing_id}/images/{image_id}",
    response_model=ImageOut,
    responses=problems(404, 422),
)
async def get_listing_image(
    listing_id: uuid.UUID,
    image_id: uuid.UUID,
    session: RoutedReplicaDB,
    settings: MediaSettingsDep,
    storage: StorageDep,
    user: OptionalUser,
    request: Request,
    response: Response,
) -> ImageOut:
    image = await service.get_image(session, settings, storage, listing_id, image_id, user)
    _cacheable(request, response, listing_id)
    return image


@files_router.api_route(
    "/media/{shard}/{filename}", methods=["GET", "HEAD"], include_in_schema=False
)
async def media_file(shard: str, filename: str, storage: StorageDep) -> FileResponse:
    """Variant files when nginx is not in front (tests, `sichrplace serve`); same headers."""
    path = storage.resolve_public(f"{shard}/{filename}")
    if path is None:
        raise NotFound(N_("No such file."))
    return FileResponse(
        path, media_type="image/webp", headers={"Cache-Control": IMMUTABLE_CACHE_CONTROL}
    )
