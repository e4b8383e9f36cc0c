"""What the media domain keeps for the life of a process (built by the composition root)."""

from __future__ import annotations

from dataclasses import dataclass

from sichrplace.config import MediaSettings
from sichrplace.media.storage import MediaStorage
from sichrplace.platform.parts import Key


@dataclass(frozen=True, slots=True)
class MediaParts:
    settings: MediaSettings
    storage: MediaStorage


MEDIA = Key[MediaParts]("media")
