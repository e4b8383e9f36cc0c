"""What the media repository returns: typed, immutable rows (never ORM entities)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sichrplace.media.models import ImageStatus


@dataclass(frozen=True, slots=True)
class ImageRecord:
    id: uuid.UUID
    listing_id: uuid.UUID
    status: ImageStatus
    original_sha256: str
    original_format: str
    width: int
    height: int
    # {"320": {"sha256": "...", "width": 320, "height": 213, "bytes": 12345}, ...}
    variants: dict[str, Any]
    created_at: datetime
