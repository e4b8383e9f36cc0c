"""The listing detail document (what GET /listings/{id} serves and the "listing" cache holds):
the row plus fields other domains contribute (e.g. images), as JSON-friendly values, shaped
for who reads it.

Two views: the full one (street, house number, exact coordinates, owner id) for those who
manage the listing, and the public one the cache holds, for everyone else: the exact address
only if the landlord chose to show it (else street and house number null, coordinates
snapped to a ~500 m cell), never the owner id. `listings.rules.may_see_exact_address` decides.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sichrplace.listings import repository, rules
from sichrplace.listings.records import ListingRow
from sichrplace.listings.rules import Caller
from sichrplace.listings.schemas import ListingOut
from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession

AnySession = PrimarySession | ReplicaSession
_FIELDS = tuple(ListingOut.model_fields)
# Extra fields for one listing, read with the same session (e.g. {"images": [...]}).
DetailExtras = Callable[[AnySession, uuid.UUID], Awaitable[dict[str, Any]]]
# Whether a tenant has a confirmed viewing of a listing (session, listing id, tenant id):
# the booking journey's answer, wired by the composition root (viewings imports listings).
ConfirmedViewing = Callable[[AnySession, uuid.UUID, uuid.UUID], Awaitable[bool]]
# The cache key of a listing's public detail ("public:": entries from before the public view
# existed, which held the full one, are never read again).
CACHE_DOMAIN = "listing"


def cache_key(listing_id: uuid.UUID | str) -> str:
    return f"public:{listing_id}"


def document(row: ListingRow, extras: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The full view: exactly the contract's fields, in its order (the row also has internal
    columns); `images` empty unless `extras` brings them."""
    doc = {name: [] if name == "images" else getattr(row, name) for name in _FIELDS}
    if extras:
        doc.update(extras)
    return doc


def shaped(
    doc: dict[str, Any], viewer: Caller | None, *, has_confirmed_viewing: bool = False
) -> dict[str, Any]:
    """The full document as `viewer` may see it (None: the public view): the owner id only
    for those who manage the listing, the exact address only where the rule allows."""
    owner_id = doc["owner_id"]
    out = dict(doc)
    if not rules.may_manage(viewer, owner_id):
        del out["owner_id"]
    exact = rules.may_see_exact_address(
        show_exact_address=doc["show_exact_address"],
        owner_id=owner_id,
        viewer=viewer,
        has_confirmed_viewing=has_confirmed_viewing,
    )
    if not exact:
        out["street"] = out["house_number"] = None
        out["latitude"], out["longitude"] = rules.shown_point(
            doc["latitude"], doc["longitude"], exact=False
        )
    return out


async def load_full(
    session: AnySession, listing_id: uuid.UUID, extras: DetailExtras | None = None
) -> dict[str, Any] | None:
    row = await repository.get_listing(session, listing_id)
    if row is None:
        return None
    return document(row, None if extras is None else await extras(session, listing_id))


async def load_public(
    session: AnySession, listing_id: uuid.UUID, extras: DetailExtras | None = None
) -> dict[str, Any] | None:
    """The public view (what the cache holds), None if there is no such listing."""
    doc = await load_full(session, listing_id, extras)
    return None if doc is None else shaped(doc, None)
