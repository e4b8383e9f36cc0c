"""The index backend: counts and pages from the process's in-process index (search/index/),
and from Postgres whatever it does not answer (the index raises Unsupported: not loaded yet,
a look for changes failed, a rare word, a distance sort, ...)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.search.backends.base import Page, cut
from sichrplace.search.backends.postgres import Boundary, PostgresBackend
from sichrplace.search.cursor import Cursor
from sichrplace.search.index import layout
from sichrplace.search.index.errors import Unsupported
from sichrplace.search.index.keeper import FacetIndex
from sichrplace.search.index.query import Hit, PageKey, makes_items
from sichrplace.search.index.snapshot import Snapshot
from sichrplace.search.items import Item, from_index
from sichrplace.search.metrics import FACET_COUNTS, FACET_INDEX_FALLBACKS, SEARCH_PAGES
from sichrplace.search.repository import pages
from sichrplace.search.repository.pages import PageRows
from sichrplace.search.schemas import FacetRow, SearchFilters, SearchQuery


class IndexBackend:
    name = "index"

    def __init__(self, index: FacetIndex, postgres: PostgresBackend) -> None:
        self.index = index
        self.postgres = postgres

    async def count(self, session: ReplicaSession, filters: SearchFilters) -> list[FacetRow]:
        try:
            rows = await self.index.count(session, filters)
        except Unsupported as exc:
            FACET_INDEX_FALLBACKS.labels(_reason(exc)).inc()
            return await self.postgres.count(session, filters)
        FACET_COUNTS.labels("index").inc()
        return rows

    async def page(self, session: ReplicaSession, query: SearchQuery, after: Cursor | None) -> Page:
        if query.sort == "relevance":
            return await self.postgres.page(session, query, after, first_window=self._window)
        if query.sort in ("newest", "rent_asc", "rent_desc"):
            try:
                found = await self._keyset(session, query, _page_key(query, after))
            except Unsupported as exc:
                FACET_INDEX_FALLBACKS.labels(_reason(exc)).inc()
            else:
                if found is not None:
                    SEARCH_PAGES.labels("index").inc()
                    items, key = cut(query, found, [])
                    return Page(items, key, "index")
        return await self.postgres.page(session, query, after)

    async def _keyset(
        self, session: ReplicaSession, query: SearchQuery, after: PageKey | None
    ) -> list[Item] | None:
        """The page's items (limit + 1 of them) as the index picks them, or None when
        Postgres must answer. Items without a rank or distance come from the index itself;
        the others are read by id, and None if a listing changed after the index's look."""
        snap, hits = await self.index.page(session, query, after)
        if makes_items(query.filters):
            return index_items(snap, hits)
        if not hits:
            return []
        ids, stamps = _named(hits)
        rows = await pages.fetch_named_rows(session, query.filters, ids, stamps)
        return None if rows is None else rows.items

    async def _window(
        self, session: ReplicaSession, query: SearchQuery, want: int
    ) -> tuple[PageRows, Boundary | None] | None:
        """The first relevance page with the window's matches found by the index: Postgres
        ranks only them (as relevance_first_statement does), or None (Postgres does it all)."""
        window = SearchQuery(query.filters, "newest", pages.RELEVANCE_WINDOW)
        try:
            _, found = await self.index.page(session, window, None)
        except Unsupported as exc:
            FACET_INDEX_FALLBACKS.labels(_reason(exc)).inc()
            return None
        boundary = None
        if len(found) > pages.RELEVANCE_WINDOW:
            last = found.pop()
            boundary = (
                layout.EPOCH + timedelta(microseconds=last.created),
                uuid.UUID(bytes=last.id),
            )
        if not found:
            return PageRows([], []), boundary
        ids, stamps = _named(found)
        rows = await pages.fetch_rank_window(session, query.filters, ids, stamps, want)
        return None if rows is None else (rows, boundary)


def index_items(snap: Snapshot, hits: list[Hit]) -> list[Item]:
    """The items of a page's hits from the snapshot alone, as of its last look."""
    out = []
    for hit in hits:
        cols = snap.changed if hit.changed else snap.base
        city = snap.pairs[int(cols.pair[hit.row])][1]
        out.append(from_index(cols, hit.row, hit.id, snap.title(hit.changed, hit.row), city))
    return out


def _named(found: list[Hit]) -> tuple[bytes, list[int]]:
    """The ids (16 bytes each, concatenated) and version stamps of listings the index named,
    for Postgres."""
    return b"".join(hit.id for hit in found), [hit.stamp for hit in found]


def _page_key(query: SearchQuery, after: Cursor | None) -> PageKey | None:
    """The cursor's position as the index orders: (created_at in microseconds or rent, id)."""
    if after is None:
        return None
    if query.sort == "newest":
        moment = datetime.fromisoformat(str(after.key))
        micros = (moment - layout.EPOCH) // timedelta(microseconds=1)
        return int(micros), after.id.bytes
    return int(after.key), after.id.bytes  # type: ignore[arg-type]


def _reason(exc: Unsupported) -> str:
    """A bounded label for the fallbacks metric."""
    reason = str(exc)
    return reason if reason in _REASONS else "other"


_REASONS = frozenset(
    {"not loaded", "reloading", "look failed", "rare word", "text", "postings loading",
     "pinned to the primary", "radius boundary", "sort", "disabled"}
)  # fmt: skip
