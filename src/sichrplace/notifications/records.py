"""What the notifications repository returns: typed, immutable rows (times timezone-aware)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class NotificationRow:
    id: int
    user_id: uuid.UUID
    kind: str
    title: str
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None
