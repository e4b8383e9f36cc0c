"""Media API shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class ImageOut(BaseModel):
    id: uuid.UUID
    listing_id: uuid.UUID
    status: Literal["processing", "ready", "failed"] = Field(
        description="processing until the variants job has run; then ready (or failed)"
    )
    urls: dict[str, str | None] = Field(
        description=(
            "WebP variant URL per requested width ('320', '800', '1600'); a name is the "
            "sha256 of the file's bytes. null until status is ready. Never upscaled: a "
            "variant is at most as wide as the original."
        )
    )
    width: int = Field(description="width of the uploaded original, in pixels")
    height: int
    created_at: datetime
