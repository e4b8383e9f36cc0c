"""The listing detail document (what GET /listings/{id} serves and the "listing" cache holds):
the row plus fields other domains contribute (e.g. images), as JSON-friendly values."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sichrplace.listings import repository
from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession

AnySession = PrimarySession | ReplicaSession
# Extra fields for one listing, read with the same session (e.g. {"images": [...]}).
DetailExtras = Callable[[AnySession, uuid.UUID], Awaitable[dict[str, Any]]]


async def load_detail(
    session: AnySession, listing_id: uuid.UUID, extras: DetailExtras | None = None
) -> dict[str, Any] | None:
    row = await repository.get_listing(session, listing_id)
    if row is None:
        return None
    row["images"] = []
    if extras is not None:
        row.update(await extras(session, listing_id))
    return row
