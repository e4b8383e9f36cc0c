"""FastAPI access to the media domain's parts."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from sichrplace.config import MediaSettings
from sichrplace.media.parts import MEDIA, MediaParts
from sichrplace.media.storage import MediaStorage
from sichrplace.platform.http.dependencies import part

MediaPartsDep = Annotated[MediaParts, Depends(part(MEDIA))]


async def get_media_settings(media: MediaPartsDep) -> MediaSettings:
    return media.settings


async def get_storage(media: MediaPartsDep) -> MediaStorage:
    return media.storage


MediaSettingsDep = Annotated[MediaSettings, Depends(get_media_settings)]
StorageDep = Annotated[MediaStorage, Depends(get_storage)]
