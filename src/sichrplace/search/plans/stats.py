"""The planner advice one API process keeps (the grid with its sample, the word statistics),
refreshed together in the background, and the choices it makes for a search."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import structlog

from sichrplace.kit.tasks import stop_task
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.search.filters import MAX_RENT, MIN_RENT
from sichrplace.search.plans.grid import GeoGrid, sample_percent
from sichrplace.search.plans.words import Lexemes, WordStats
from sichrplace.search.repository import pages, stats
from sichrplace.search.repository.where import text_via_lookup
from sichrplace.search.schemas import SearchFilters, SearchQuery

log = structlog.get_logger(__name__)

RETRY_AFTER_FAILURE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class WordAdvice:
    stats: WordStats
    lexemes: Lexemes
    grid: GeoGrid | None = None  # its sample gives the other filters' share

    async def direct_is_cheaper(self, session: ReplicaSession, f: SearchFilters, need: int) -> bool:
        if f.q is None or not text_via_lookup(f):
            return False  # the text is already checked directly: no choice to make
        words = await self.lexemes.of(session, f.q)
        return text_direct(self.stats, words, f, need, self.grid)


def text_direct(
    stats_: WordStats, lexemes: tuple[str, ...], f: SearchFilters, need: int, grid: GeoGrid | None
) -> bool:
    """The choice for filters `f` whose text has `lexemes` (the other filters' share from the
    grid's sample when there is one)."""
    others = 1.0 if grid is None else grid.filter_share(f)
    return stats_.direct_is_cheaper(lexemes, f.city_key, need, others)


def matches_needed(sort: str, first_page: bool, limit: int) -> int:
    """How many matches a page's statement walks for: the relevance window on a first
    relevance page, one more than the page otherwise."""
    return pages.RELEVANCE_WINDOW + 1 if sort == "relevance" and first_page else limit + 1


def wants_grid(query: SearchQuery) -> bool:
    """Whether the density grid (and its sample) picks this search's plan."""
    f = query.filters
    if f.radius_km is not None:
        return query.sort != "distance"
    bounded = f.get(MIN_RENT) is not None or f.get(MAX_RENT) is not None
    return query.sort == "newest" and f.city_key is not None and bounded


def collect_rent_range(query: SearchQuery, grid: GeoGrid | None) -> bool:
    """Whether a newest-first city search should collect its rent range and sort it."""
    if grid is None or query.sort != "newest":
        return False
    return grid.collect_is_cheaper(query.filters, query.limit + 1)


def walk_radius(query: SearchQuery, grid: GeoGrid | None) -> bool:
    """Whether a radius search sorted by newest/rent should walk the sort index."""
    if grid is None:
        return False
    rent_sorted = query.sort in ("rent_asc", "rent_desc")
    return grid.walk_is_cheaper(query.filters, query.limit + 1, rent_sorted=rent_sorted)


class PlanStats:
    """The grid with its sample and the word statistics of one API process, refreshed
    together in the background (single flight); None of either until the first load."""

    def __init__(self, db: Database, *, max_age_seconds: float) -> None:
        self._db = db
        self._max_age = max_age_seconds
        self._grid: GeoGrid | None = None
        self._words: WordStats | None = None
        self._lexemes = Lexemes()
        self._due = 0.0  # monotonic time of the next refresh
        self._task: asyncio.Task[None] | None = None

    def _refresh_if_due(self) -> None:
        if time.monotonic() >= self._due and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self.refresh(), name="plan-stats")

    def current(self) -> GeoGrid | None:
        """The grid; starts a refresh when one is due."""
        self._refresh_if_due()
        return self._grid

    def words(self) -> WordAdvice | None:
        """The word statistics with this process's lexeme memory; starts a refresh when due."""
        self._refresh_if_due()
        if self._words is None:
            return None
        return WordAdvice(self._words, self._lexemes, self._grid)

    async def warm(self, timeout_seconds: float) -> None:
        """The first load, awaited (at start-up); gives up after `timeout_seconds` and leaves
        the next search to start it again."""
        try:
            async with asyncio.timeout(timeout_seconds):
                await self.refresh()
        except TimeoutError:
            log.warning("plan_stats_warm_timeout", seconds=timeout_seconds)
            self._due = 0.0

    async def refresh(self) -> None:
        self._due = time.monotonic() + self._max_age
        try:
            session = ReplicaSession(self._db)
            rows = await stats.fetch_density(session)
            percent = sample_percent(sum(n for _, _, n in rows))
            sample = await stats.fetch_density_sample(session, percent)
            words = WordStats.from_row(*await stats.fetch_word_stats(session))
        except Exception as exc:  # advice only: keep the old stats, try again soon
            log.warning("plan_stats_refresh_failed", error=repr(exc)[:200])
            self._due = time.monotonic() + RETRY_AFTER_FAILURE_SECONDS
            return
        self._grid = GeoGrid.from_rows(rows, sample)
        self._words = words
        log.info(
            "plan_stats_refreshed",
            cells=len(self._grid.cells),
            total=self._grid.total,
            sampled=len(sample),
            words=len(words.words),
        )

    async def aclose(self) -> None:
        await stop_task(self._task)
