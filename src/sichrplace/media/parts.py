"""What the media domain keeps for the life of a process (built by the composition root)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sichrplace.config import MediaSettings
from sichrplace.media.storage import MediaStorage
from sichrplace.platform.parts import Key

# A full decode of a large PNG needs a few hundred MB: how many an API process runs at once.
MAX_CONCURRENT_DECODES = 2


@dataclass(frozen=True, slots=True)
class MediaParts:
    settings: MediaSettings
    storage: MediaStorage
    decodes: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(MAX_CONCURRENT_DECODES)
    )


MEDIA = Key[MediaParts]("media")
