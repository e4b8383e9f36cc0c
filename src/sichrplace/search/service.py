"""Search rules: cursor checks, paging, facet assembly, cache-aside around the SQL."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sichrplace.kit.jsonbody import utc_timestamp
from sichrplace.listings.vocabulary import AMENITIES
from sichrplace.platform.bulkhead import Bulkhead
from sichrplace.platform.cache import Cache
from sichrplace.platform.db import ReplicaSession
from sichrplace.search import repository
from sichrplace.search.cursor import Cursor, SortKey, decode_cursor, encode_cursor
from sichrplace.search.density import GeoGrid
from sichrplace.search.facet_index import EPOCH, FacetIndex, Hit, Unsupported, makes_items
from sichrplace.search.metrics import FACET_COUNTS, SEARCH_PAGES
from sichrplace.search.schemas import SearchFilters, SearchQuery, rent_bucket_labels
from sichrplace.search.words import WordAdvice, matches_needed

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
    query: SearchQuery,
    *,
    bypass: bool = False,
    density: GeoGrid | None = None,
    words: WordAdvice | None = None,
    index: FacetIndex | None = None,
) -> tuple[bytes, CacheStatus]:
    """One page of active listings as JSON text (cache-aside; `bypass` reads Postgres directly).
    `density` (where the listings are) picks the plan of radius searches not sorted by
    distance; without it they take the GiST index (always correct, slower in dense areas).
    `words` (word frequencies) picks where full text starts; without it the text is checked
    after the indexed filters (always correct, slower for rare words)."""
    fingerprint = query.fingerprint()
    # Checked before the cache: a tampered cursor is a 422 even if that key were cached.
    after = (
        decode_cursor(query.cursor, sort=query.sort, fingerprint=fingerprint)
        if query.cursor is not None
        else None
    )

    async def compute() -> dict[str, Any]:
        # Nearest-first statements check the text directly anyway: no choice to make there.
        need = matches_needed(query.sort, after is None, query.limit)
        chosen: list[bool] = []

        async def direct() -> bool:
            """Whether to check the text directly: decided once, when SQL is written."""
            if not chosen:
                chosen.append(
                    words is not None
                    and query.sort != "distance"
                    and await words.direct_is_cheaper(session, query.filters, need)
                )
            return chosen[0]

        if query.sort == "relevance":
            items, next_key = await _relevance_page(session, query, after, direct, index)
        else:
            items, next_key = await _keyset_page(session, query, after, density, direct, index)
        next_cursor = None
        if next_key is not None:
            next_cursor = encode_cursor(
                Cursor(query.sort, next_key, uuid.UUID(items[-1]["id"])), fingerprint
            )
        for item in items:
            item.pop("distance_m", None)
        return {"items": items, "next_cursor": next_cursor}

    return await _cached(cache, bypass, SEARCH_DOMAIN, query.cache_key(), compute)


async def _index_page(
    session: ReplicaSession,
    index: FacetIndex,
    query: SearchQuery,
    position: tuple[Any, uuid.UUID] | None,
) -> list[dict[str, Any]] | None:
    """The page's items as the facet index picks them, or None when the index cannot pick
    them (Postgres answers then). Items without a rank or distance come from the index
    itself; the others are read by id, and None if a listing changed after the index's look."""
    after = None
    if position is not None:
        key, listing_id = position
        micros = (key - EPOCH) // timedelta(microseconds=1) if query.sort == "newest" else key
        after = (int(micros), listing_id.bytes)
    try:
        if makes_items(query.filters):
            return await index.page_items(session, query, after)
        found = await index.page(session, query, after)
    except Unsupported:
        return None
    if not found:
        return []
    ids, stamps = _named(found)
    statement = repository.page_rows_statement(query.filters, ids)
    return await repository.fetch_page_rows(session, statement, ids, stamps)


def _named(found: list[Hit]) -> tuple[bytes, list[int]]:
    """The ids (16 bytes each, concatenated) and version stamps of listings the index named,
    for Postgres."""
    return b"".join(hit.id for hit in found), [hit.stamp for hit in found]


async def _keyset_page(
    session: ReplicaSession,
    query: SearchQuery,
    after: Cursor | None,
    density: GeoGrid | None,
    text_direct: Callable[[], Awaitable[bool]],
    index: FacetIndex | None = None,
) -> tuple[list[dict[str, Any]], SortKey | None]:
    """newest, rent and distance pages; returns the items and the last item's sort key.
    Newest and rent pages are picked by the process's facet `index` when it can."""
    position: tuple[Any, uuid.UUID] | None = None
    if after is not None:
        key: Any = after.key
        if query.sort == "newest":
            key = datetime.fromisoformat(str(key))
        position = (key, after.id)
    items = None
    if index is not None:
        items = await _index_page(session, index, query, position)
    if items is not None:
        SEARCH_PAGES.labels("index").inc()
    else:
        if query.sort == "distance":
            statement = repository.distance_statement(query, position)
        else:
            statement = repository.keyset_statement(
                query,
                position,
                radius_via_index=not walk_radius(query, density),
                text_direct=await text_direct(),
                collect=collect_rent_range(query, density),
            )
        items = await repository.fetch_items(session, statement)
        SEARCH_PAGES.labels("postgres").inc()
    if len(items) <= query.limit:
        return items, None
    items = items[: query.limit]
    last = items[-1]
    key_out: SortKey
    if query.sort == "newest":
        created = last["created_at"]  # a datetime, or its text (another zone than UTC)
        key_out = created if isinstance(created, str) else utc_timestamp(created)
    elif query.sort == "distance":
        key_out = float(last["distance_m"])
    else:
        key_out = int(last[query.filters.rent_column])
    return items, key_out


def wants_grid(query: SearchQuery) -> bool:
    """Whether the density grid (and its sample) picks this search's plan."""
    f = query.filters
    if f.radius_km is not None:
        return query.sort != "distance"
    return (
        query.sort == "newest"
        and f.city_key is not None
        and (f.min_rent is not None or f.max_rent is not None)
    )


def collect_rent_range(query: SearchQuery, density: GeoGrid | None) -> bool:
    """Whether a newest-first city search should collect its rent range and sort it."""
    if density is None or query.sort != "newest":
        return False
    return density.collect_is_cheaper(query.filters, query.limit + 1)


def walk_radius(query: SearchQuery, density: GeoGrid | None) -> bool:
    """Whether a radius search sorted by newest/rent should walk the sort index."""
    if density is None:
        return False
    rent_sorted = query.sort in ("rent_asc", "rent_desc")
    return density.walk_is_cheaper(query.filters, query.limit + 1, rent_sorted=rent_sorted)


async def _index_relevance_first(
    session: ReplicaSession, index: FacetIndex, query: SearchQuery, want: int
) -> tuple[list[dict[str, Any]], tuple[datetime, uuid.UUID] | None] | None:
    """The first relevance page with the window's matches found by the facet index: Postgres
    ranks only them (as relevance_first_statement does), or None (Postgres does it all)."""
    window = replace(query, sort="newest", limit=repository.RELEVANCE_WINDOW)
    try:
        found = await index.page(session, window, None)
    except Unsupported:
        return None
    boundary = None
    if len(found) > repository.RELEVANCE_WINDOW:
        last = found.pop()
        boundary = (EPOCH + timedelta(microseconds=last.created), uuid.UUID(bytes=last.id))
    if not found:
        return [], boundary
    statement = repository.rank_window_statement(query.filters, *_named(found), want)
    items = await repository.fetch_rank_window(session, statement, len(found))
    return (items, boundary) if items is not None else None


async def _relevance_page(
    session: ReplicaSession,
    query: SearchQuery,
    after: Cursor | None,
    text_direct: Callable[[], Awaitable[bool]],
    index: FacetIndex | None = None,
) -> tuple[list[dict[str, Any]], SortKey | None]:
    """Best rank first among the newest RELEVANCE_WINDOW matches (tier 0), then the rest
    (tier 1). The tier boundary is fixed by the first page and travels in the cursor, so a
    walk stays exactly-once while listings are added. The facet `index`, when it can, finds
    the first page's window."""
    boundary: tuple[datetime, uuid.UUID] | None
    position: tuple[float, uuid.UUID] | None = None
    want = query.limit + 1
    tiers: list[int] = []
    items: list[dict[str, Any]] = []
    if after is None:
        # First page: find the window's matches once, rank them, learn the boundary.
        first = None
        if index is not None:
            first = await _index_relevance_first(session, index, query, want)
        if first is not None:
            SEARCH_PAGES.labels("index").inc()
            items, boundary = first
        else:
            statement = repository.relevance_first_statement(
                query, limit=want, text_direct=await text_direct()
            )
            items, boundary = await repository.fetch_first_relevance(session, statement)
            SEARCH_PAGES.labels("postgres").inc()
        tiers = [0] * len(items)
        tier = 1 if boundary is not None else 2  # what may still be needed: tier 1, or none
    else:
        tier, rank, b_created, b_id = cast(list[Any], after.key)
        boundary = None
        if b_created is not None:
            boundary = (datetime.fromisoformat(b_created), uuid.UUID(str(b_id)))
        position = (float(rank), after.id)
    for current in (0, 1):
        if current < tier or (current == 1 and boundary is None) or len(items) >= want:
            continue
        statement = repository.relevance_statement(
            query,
            tier=current,
            boundary=boundary,
            after=position if after is not None and current == tier else None,
            limit=want - len(items),
            text_direct=await text_direct(),
        )
        rows = await repository.fetch_items(session, statement)
        items += rows
        tiers += [current] * len(rows)
    if len(items) <= query.limit:
        return items, None
    items = items[: query.limit]
    last_tier = tiers[query.limit - 1]
    b_iso = boundary[0].isoformat() if boundary else None
    b_id_out = str(boundary[1]) if boundary else None
    return items, [last_tier, float(items[-1]["rank"]), b_iso, b_id_out]


async def facets(
    session: ReplicaSession,
    cache: Cache,
    filters: SearchFilters,
    *,
    bypass: bool = False,
    bulkhead: Bulkhead | None = None,
    index: FacetIndex | None = None,
) -> tuple[bytes, CacheStatus]:
    """Counts per city, rooms, rent bucket and amenity over the filtered active listings, as
    JSON text. Computed (a cache miss or bypass) by the process's facet `index` when it can
    count the filters, else by Postgres, taking a `bulkhead` slot: a few at a time."""

    async def compute() -> dict[str, Any]:
        if index is not None:
            try:
                rows = await index.count(session, filters)
            except Unsupported:
                pass
            else:
                FACET_COUNTS.labels("index").inc()
                return assemble_facets(filters, rows)
        async with bulkhead.slot() if bulkhead is not None else contextlib.nullcontext():
            rows = await repository.fetch_facets(session, repository.facets_statement(filters))
        FACET_COUNTS.labels("postgres").inc()
        return assemble_facets(filters, rows)

    return await _cached(cache, bypass, FACETS_DOMAIN, filters.canonical(), compute)


def assemble_facets(filters: SearchFilters, rows: list[Any]) -> dict[str, Any]:
    cities: dict[str, dict[str, Any]] = {}
    rooms: list[dict[str, Any]] = []
    buckets: dict[int, int] = {}
    amenity_counts: dict[str, int] = {}
    for facet, value, label, n in rows:
        if facet == "city":
            # One key may be spelt in several ways ("München", "MÜNCHEN"): show the commonest.
            entry = cities.setdefault(value, {"value": value, "label": label, "count": 0, "_n": 0})
            entry["count"] += n
            if n > entry["_n"]:
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
