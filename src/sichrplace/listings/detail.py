"""The listing detail document (what GET /listings/{id} serves and the "listing" cache holds):
the row plus fields other domains contribute (e.g. images), as JSON-friendly values."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sichrplace.listings import repository
from sichrplace.listings.records import ListingRow
from sichrplace.listings.schemas import ListingOut
from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession

AnySession = PrimarySession | ReplicaSession
_PUBLIC_FIELDS = tuple(ListingOut.model_fields)
# Extra fields for one listing, read with the same session (e.g. {"images": [...]}).
DetailExtras = Callable[[AnySession, uuid.UUID], Awaitable[dict[str, Any]]]


def document(row: ListingRow, extras: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Exactly the public fields, in the contract's order (the row also has internal
    columns); `images` empty unless `extras` brings them."""
    doc = {name: [] if name == "images" else getattr(row, name) for name in _PUBLIC_FIELDS}
    if extras:
        doc.update(extras)
    return doc


async def load_detail(
    session: AnySession, listing_id: uuid.UUID, extras: DetailExtras | None = None
) -> dict[str, Any] | None:
    row = await repository.get_listing(session, listing_id)
    if row is None:
        return None
    return document(row, None if extras is None else await extras(session, listing_id))
