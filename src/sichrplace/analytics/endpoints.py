"""GET /listings/{id}/stats: a listing's views, enquiries and bookings per day, for the one
who manages it (read from the rollups on the replica: one Redis round trip for the session,
one statement; no read-your-writes pin, see `service.listing_stats`)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from sichrplace.accounts.dependencies import CurrentUser
from sichrplace.analytics import service
from sichrplace.analytics.schemas import ListingStats
from sichrplace.kit import jsonbody
from sichrplace.kit.clock import utcnow
from sichrplace.listings.errors import ListingNotFound
from sichrplace.platform.db import ReplicaSession
from sichrplace.platform.http import conditional
from sichrplace.platform.http.dependencies import parts_of
from sichrplace.platform.http.openapi import problems

router = APIRouter(prefix="/listings", tags=["analytics"])


@router.get(
    "/{listing_id}/stats",
    response_model=ListingStats,
    responses=problems(401, 404, 422, s404="No such listing, or the caller does not manage it"),
)
async def listing_stats(
    listing_id: str,
    request: Request,
    user: CurrentUser,
    first: Annotated[
        date | None,
        Query(alias="from", description="first UTC day (default: 29 days before `to`)"),
    ] = None,
    last: Annotated[
        date | None, Query(alias="to", description="last UTC day, included (default: today)")
    ] = None,
) -> Response:
    """Views, enquiries and bookings of the listing per UTC day, every day of the range
    listed (zeros where nothing happened), with totals. Only its owner (and administrators)
    may read them; anyone else gets 404, as for a listing they may not see. The figures come
    from the rollups, which trail the events by up to about five minutes; at most
    `SICHRPLACE_ANALYTICS_STATS_MAX_DAYS` (366) days at once."""
    try:
        parsed = uuid.UUID(listing_id)
    except ValueError:
        raise ListingNotFound() from None
    parts = parts_of(request)
    first, last = service.stats_range(first, last, parts.settings.analytics, today=utcnow().date())
    stats = await service.listing_stats(
        ReplicaSession(parts.db),
        user,
        parsed,
        first=first,
        last=last,
        primary=ReplicaSession(parts.db, force_primary=True),
    )
    # ListingStats-shaped already (dates, ints): written out as JSON without validating it
    # through the response model again; private to the caller, revalidated with the ETag.
    return conditional.json_response(
        request, jsonbody.dumps(stats), cache_control=conditional.PRIVATE_NO_CACHE
    )
