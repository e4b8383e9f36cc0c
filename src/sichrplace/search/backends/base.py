"""The interface every search backend offers the service, and what it returns."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from sichrplace.kit.jsonbody import utc_timestamp
from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.search.cursor import Cursor, SortKey
from sichrplace.search.items import Item
from sichrplace.search.schemas import FacetRow, SearchFilters, SearchQuery

Source = Literal["index", "postgres"]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a search: its items (at most the query's limit), the sort key of its last
    item when more follow (what the next cursor carries), and which backend picked them."""

    items: list[Item]
    next_key: SortKey | None
    source: Source


class SearchBackend(Protocol):
    """Counts and pages over the active listings, as fresh as the replica (or, for a caller
    inside the read-your-writes window, the primary: `session.force_primary`). A page holds
    every match after `after` in the query's order, exactly once over a walk of cursors;
    equal filters count the same whatever backend answers."""

    name: str

    async def count(self, session: ReplicaSession, filters: SearchFilters) -> list[FacetRow]:
        """The facet counts of the filtered active listings."""
        ...

    async def page(self, session: ReplicaSession, query: SearchQuery, after: Cursor | None) -> Page:
        """The page of `query` after the cursor `after` (None: the first page)."""
        ...


def keyset_position(query: SearchQuery, after: Cursor | None) -> tuple[Any, uuid.UUID] | None:
    """The cursor's position in a newest, rent or distance order (created_at as a datetime)."""
    if after is None:
        return None
    key: Any = after.key
    if query.sort == "newest":
        key = datetime.fromisoformat(str(key))
    return key, after.id


def cut(
    query: SearchQuery, items: list[Item], distances: list[float | None]
) -> tuple[list[Item], SortKey | None]:
    """The page's items (limit of the limit + 1 read) and, when more follow, the sort key of
    the last one: created_at (RFC 3339), the filters' rent (cents) or the distance (metres)."""
    if len(items) <= query.limit:
        return items, None
    items = items[: query.limit]
    last = items[-1]
    key: SortKey
    if query.sort == "newest":
        created = last.created_at  # a datetime, or its text (another zone than UTC)
        key = created if isinstance(created, str) else utc_timestamp(created)
    elif query.sort == "distance":
        distance = distances[query.limit - 1]
        assert distance is not None  # nearest-first pages only hold located listings
        key = float(distance)
    else:
        key = last.warm_rent_cents if query.filters.rent_type == "warm" else last.cold_rent_cents
    return items, key
