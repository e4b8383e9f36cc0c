"""FastAPI access to media settings and storage."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sichrplace.config import MediaSettings, get_settings
from sichrplace.media.storage import MediaStorage


async def get_media_settings(request: Request) -> MediaSettings:
    settings = getattr(request.app.state, "settings", None) or get_settings()
    media: MediaSettings = settings.media
    return media


async def get_storage(
    settings: Annotated[MediaSettings, Depends(get_media_settings)],
) -> MediaStorage:
    return MediaStorage(settings)


MediaSettingsDep = Annotated[MediaSettings, Depends(get_media_settings)]
StorageDep = Annotated[MediaStorage, Depends(get_storage)]
