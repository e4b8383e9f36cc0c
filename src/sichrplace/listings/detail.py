"""The listing detail document (what GET /listings/{id} serves and the "listing" cache holds):
the row plus fields other domains contribute (e.g. images), as JSON-friendly values."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sichrplace.listings import repository
from sichrplace.listings.schemas import ListingOut
from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession

AnySession = PrimarySession | ReplicaSession
_PUBLIC_FIELDS = tuple(ListingOut.model_fields)
# Extra fields for one listing, read with the same session (e.g. {"images": [...]}).
DetailExtras = Callable[[AnySession, uuid.UUID], Awaitable[dict[str, Any]]]


async def load_detail(
    session: AnySession, listing_id: uuid.UUID, extras: DetailExtras | None = None
) -> dict[str, Any] | None:
    row = await repository.get_listing(session, listing_id)
    if row is None:
        return None
    # Exactly the public fields, in the contract's order (the row also has internal columns).
    doc = {name: row.get(name) for name in _PUBLIC_FIELDS}
    doc["images"] = []
    if extras is not None:
        doc.update(await extras(session, listing_id))
    return doc
