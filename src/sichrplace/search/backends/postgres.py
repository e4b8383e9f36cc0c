"""The Postgres backend: every count and page in SQL on the replica (search/repository/),
with plans picked by the process's planner advice (search/plans/)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, cast

from sichrplace.platform.bulkhead import Bulkhead
from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.search.backends.base import Page, Source, cut, keyset_position
from sichrplace.search.cursor import Cursor, SortKey
from sichrplace.search.items import Item, RankedItem, RankedItemWithDistance
from sichrplace.search.metrics import FACET_COUNTS, SEARCH_PAGES
from sichrplace.search.plans import stats as advice
from sichrplace.search.plans.stats import PlanStats
from sichrplace.search.repository import facets, pages
from sichrplace.search.repository.pages import PageRows
from sichrplace.search.schemas import FacetRow, SearchFilters, SearchQuery

Boundary = tuple[datetime, uuid.UUID]
# The first relevance window found elsewhere (the index): its ranked rows and tier boundary,
# or None when it could not be found there.
FirstWindow = Callable[
    [ReplicaSession, SearchQuery, int], Awaitable[tuple[PageRows, Boundary | None] | None]
]


class PostgresBackend:
    name = "postgres"

    def __init__(self, plan_stats: PlanStats | None, facets_bulkhead: Bulkhead | None) -> None:
        self.plan_stats = plan_stats  # None: the default plans (correct, sometimes slower)
        self.facets_bulkhead = facets_bulkhead  # facet counts computed a few at a time

    async def count(self, session: ReplicaSession, filters: SearchFilters) -> list[FacetRow]:
        statement = facets.facets_statement(filters)
        if self.facets_bulkhead is None:
            rows = await facets.fetch_facets(session, statement)
        else:
            async with self.facets_bulkhead.slot():
                rows = await facets.fetch_facets(session, statement)
        FACET_COUNTS.labels("postgres").inc()
        return rows

    async def page(
        self,
        session: ReplicaSession,
        query: SearchQuery,
        after: Cursor | None,
        *,
        first_window: FirstWindow | None = None,
    ) -> Page:
        direct = _TextChoice(self.plan_stats, session, query, first_page=after is None)
        if query.sort == "relevance":
            return await self._relevance(session, query, after, direct, first_window)
        position = keyset_position(query, after)
        if query.sort == "distance":
            statement = pages.distance_statement(query, position)
        else:
            grid = (
                self.plan_stats.current() if self.plan_stats and advice.wants_grid(query) else None
            )
            statement = pages.keyset_statement(
                query,
                position,
                radius_via_index=not advice.walk_radius(query, grid),
                text_direct=await direct(),
                collect=advice.collect_rent_range(query, grid),
            )
        found = await pages.fetch_page(session, statement, query.filters)
        SEARCH_PAGES.labels("postgres").inc()
        items, key = cut(query, found.items, found.distances)
        return Page(items, key, "postgres")

    async def _relevance(
        self,
        session: ReplicaSession,
        query: SearchQuery,
        after: Cursor | None,
        direct: _TextChoice,
        first_window: FirstWindow | None,
    ) -> Page:
        """Best rank first among the newest RELEVANCE_WINDOW matches (tier 0), then the rest
        (tier 1). The tier boundary is fixed by the first page and travels in the cursor, so a
        walk stays exactly-once while listings are added."""
        boundary: Boundary | None
        position: tuple[float, uuid.UUID] | None = None
        want = query.limit + 1
        tiers: list[int] = []
        items: list[Item] = []
        source: Source = "postgres"
        if after is None:
            # First page: find the window's matches once, rank them, learn the boundary.
            first = None
            if first_window is not None:
                first = await first_window(session, query, want)
            if first is not None:
                source = "index"
            else:
                statement = pages.relevance_first_statement(
                    query, limit=want, text_direct=await direct()
                )
                first = await pages.fetch_first_relevance(session, statement, query.filters)
            SEARCH_PAGES.labels(source).inc()
            items, boundary = list(first[0].items), first[1]
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
            statement = pages.relevance_statement(
                query,
                tier=current,
                boundary=boundary,
                after=position if after is not None and current == tier else None,
                limit=want - len(items),
                text_direct=await direct(),
            )
            found = await pages.fetch_page(session, statement, query.filters)
            items += found.items
            tiers += [current] * len(found.items)
        if len(items) <= query.limit:
            return Page(items, None, source)
        items = items[: query.limit]
        last = items[-1]
        assert isinstance(last, RankedItem | RankedItemWithDistance)
        key: SortKey = [
            tiers[query.limit - 1],
            last.rank,
            boundary[0].isoformat() if boundary else None,
            str(boundary[1]) if boundary else None,
        ]
        return Page(items, key, source)


class _TextChoice:
    """Whether to check the full text directly (search/plans/words.py): decided once, when
    the first statement that needs it is written."""

    def __init__(
        self,
        plan_stats: PlanStats | None,
        session: ReplicaSession,
        query: SearchQuery,
        *,
        first_page: bool,
    ) -> None:
        self._plan_stats, self._session, self._query = plan_stats, session, query
        self._first_page = first_page
        self._chosen: bool | None = None

    async def __call__(self) -> bool:
        if self._chosen is None:
            query = self._query
            words = None
            if self._plan_stats is not None and query.filters.q is not None:
                words = self._plan_stats.words()
            # Nearest-first statements check the text directly anyway: no choice to make.
            need = advice.matches_needed(query.sort, self._first_page, query.limit)
            self._chosen = (
                words is not None
                and query.sort != "distance"
                and await words.direct_is_cheaper(self._session, query.filters, need)
            )
        return self._chosen
