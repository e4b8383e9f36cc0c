"""Search rules: cursors, cache-aside, facet assembly; the backend (search/backends/) picks
the listings and counts them."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from sichrplace.listings.vocabulary import AMENITIES
from sichrplace.platform.cache import Cache
from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.platform.observability import tracing
from sichrplace.search.backends.base import SearchBackend
from sichrplace.search.cursor import Cursor, decode_cursor, encode_cursor
from sichrplace.search.schemas import FacetRow, SearchFilters, SearchQuery, rent_bucket_labels

CacheStatus = Literal["hit", "miss", "bypass"]
SEARCH_DOMAIN = "search"
FACETS_DOMAIN = "facets"


async def _cached(
    cache: Cache, bypass: bool, domain: str, key: str, compute: Callable[[], Awaitable[Any]]
) -> tuple[bytes, CacheStatus]:
    """The response body as JSON text (a hit is the cached text itself) and how it was served."""
    computed = False

    async def tracked() -> Any:
        nonlocal computed
        computed = True
        return await compute()

    body = await cache.get_or_compute_json(domain, key, tracked, bypass=bypass)
    return body, "bypass" if bypass else ("miss" if computed else "hit")


async def search(
    session: ReplicaSession,
    cache: Cache,
    backend: SearchBackend,
    query: SearchQuery,
    *,
    bypass: bool = False,
) -> tuple[bytes, CacheStatus]:
    """One page of active listings as JSON text (cache-aside; `bypass` asks the backend)."""
    fingerprint = query.fingerprint()
    # Checked before the cache: a tampered cursor is a 422 even if that key were cached.
    after = (
        decode_cursor(query.cursor, sort=query.sort, fingerprint=fingerprint)
        if query.cursor is not None
        else None
    )

    async def compute() -> dict[str, Any]:
        with tracing.span("search.query", {"search.sort": str(query.sort)}) as span:
            page = await backend.page(session, query, after)
            if span.is_recording():
                span.set_attribute("search.items", len(page.items))
        next_cursor = None
        if page.next_key is not None:
            last = uuid.UUID(page.items[-1].id)
            next_cursor = encode_cursor(Cursor(query.sort, page.next_key, last), fingerprint)
        return {"items": page.items, "next_cursor": next_cursor}

    return await _cached(cache, bypass, SEARCH_DOMAIN, query.cache_key(), compute)


async def facets(
    session: ReplicaSession,
    cache: Cache,
    backend: SearchBackend,
    filters: SearchFilters,
    *,
    bypass: bool = False,
) -> tuple[bytes, CacheStatus]:
    """Counts per city, rooms, rent bucket and amenity over the filtered active listings, as
    JSON text (cache-aside; a miss or bypass asks the backend)."""

    async def compute() -> dict[str, Any]:
        with tracing.span("search.facets"):
            return assemble_facets(filters, await backend.count(session, filters))

    return await _cached(cache, bypass, FACETS_DOMAIN, filters.canonical(), compute)


def assemble_facets(filters: SearchFilters, rows: list[FacetRow]) -> dict[str, Any]:
    cities: dict[str, dict[str, Any]] = {}
    rooms: list[dict[str, Any]] = []
    buckets: dict[int, int] = {}
    amenity_counts: dict[str, int] = {}
    for facet, value, label, n in rows:
        if facet == "city":
            # One key may be spelt in several ways ("München", "MÜNCHEN"): show the commonest
            # (of equally common ones the first in code point order, whatever the row order).
            entry = cities.setdefault(value, {"value": value, "label": label, "count": 0, "_n": 0})
            entry["count"] += n
            if n > entry["_n"] or (n == entry["_n"] and str(label) < str(entry["label"])):
                entry["label"], entry["_n"] = label, n
        elif facet == "rooms":
            rooms.append({"value": _rooms_label(value), "count": n})
        elif facet == "rent_bucket":
            buckets[int(value)] = n
        else:
            amenity_counts[value] = n
    city = sorted(cities.values(), key=lambda c: (-c["count"], c["value"]))
    for entry in city:
        del entry["_n"]
    rooms.sort(key=lambda r: float(r["value"]))
    rent_bucket = [
        {"value": label, "min_cents": low, "max_cents": high, "count": buckets.get(i, 0)}
        for i, (label, low, high) in enumerate(rent_bucket_labels())
    ]
    amenity_order = sorted(AMENITIES, key=lambda a: -amenity_counts.get(a, 0))
    amenity = [{"value": a, "count": amenity_counts.get(a, 0)} for a in amenity_order]
    return {
        "total": sum(c["count"] for c in city),
        "rent_type": filters.rent_type,
        "city": city,
        "rooms": rooms,
        "rent_bucket": rent_bucket,
        "amenity": amenity,
    }


def _rooms_label(rooms: str) -> str:
    """numeric(3,1) as text is "2.0" / "2.5": show whole rooms as "2"."""
    number = float(rooms)
    return str(int(number)) if number.is_integer() else str(number)
