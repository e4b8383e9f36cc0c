"""What the event stream hands out: typed rows, no SQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event of one user's stream; `seq` is its id there (the SSE `id:` line), strictly
    increasing per user and without gaps once committed."""

    user_id: uuid.UUID
    seq: int
    kind: str
    data: dict[str, Any]
    created_at: datetime
