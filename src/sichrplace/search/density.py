"""Where the active listings are: a coarse grid of counts that picks the radius plan.

A radius search sorted by newest or rent can run two ways: collect every listing in the
circle through the GiST index and sort them, or walk the sort's covering index and check the
distance on each index tuple until a page is full. Collecting costs per listing in the
circle, walking costs per listing *outside* it that is passed on the way: the first wins for
sparse circles, the second for dense ones (2 km around Berlin-Mitte: 15,940 listings, 87 ms
collected, 10 ms walked). Postgres cannot tell them apart: its estimate for `&&` on
geography is up to 25x low in dense areas, so it always collects (docs/performance.md).

The grid (cells of GRID_DEGREES, counted on the replica) gives the expected number of
listings in the circle. The other filters lengthen a walk by the inverse of the share of
those listings that pass them, and that share depends on the place (750 EUR warm is a third
of Leipzig and a tenth of central Munich): a page-level sample of the active listings, kept
per cell, estimates it for the circle at hand. "1 km around Munich-Maxvorstadt, newest,
<= 800 EUR" walked 104,000 index tuples (53 ms) where collecting the circle's 5,122 takes
23 ms. The same sample tells full text whether the other filters are selective
(search/words.py) and a newest-first city search whether walking the city's newest index
would pass most of the city before a page is full (collect_is_cheaper). Both are refreshed in
the background every `max_age` seconds and are only ever advice: a missing or stale grid
means the default plans, which are always correct, only slower.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import structlog

from sichrplace.kit.tasks import stop_task
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.search import repository
from sichrplace.search.schemas import SearchFilters
from sichrplace.search.words import Lexemes, WordAdvice, WordStats

log = structlog.get_logger(__name__)

GRID_DEGREES = repository.DENSITY_CELL_DEGREES
METRES_PER_DEGREE = 111_320.0
# Walk while the expected walk (index tuples passed) is at most this many times the listings
# in the circle's box (what collecting visits), measured over 120 radius searches on 1M
# listings (docs/performance.md, "Radius plans"): along the covering newest index the two cost
# the same near 4; along a rent index (not covering, and rent follows the place: a walk from
# the cheapest flats passes whole cheap towns first) walks won only below 0.1 and lost by up
# to 60x above it.
WALK_COST_RATIO = 4.0
RENT_WALK_COST_RATIO = 0.1
# Collecting a city's rent range costs its index tuples (index-only, like the walk's) plus a
# sort of the few matches: it must read fewer tuples than a walk of the newest index would.
COLLECT_COST_RATIO = 1.25
MAX_CITY_CHECKS = 1500
SAMPLE_ROWS = 20_000  # about this many active listings are sampled for the filter shares
MAX_SAMPLE_CHECKS = 400  # sample rows checked per estimate (evenly spread over the circle's cells)
TEXT_SHARE = 0.1  # a word's frequency is unknown here: counted as one listing in ten
RETRY_AFTER_FAILURE_SECONDS = 30.0

Cell = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Sampled:
    """The filter columns of one sampled active listing (amenities as a bit mask)."""

    city_key: str
    postal_code: str
    warm: int
    cold: int
    rooms: float
    size: float
    furnished: bool
    pets: bool
    available_from: date | None
    amenities: int


class _Amenities:
    """Bits for amenity names, shared by a grid's sample and the filters checked against it."""

    def __init__(self) -> None:
        self.bits: dict[str, int] = {}

    def mask(self, names: Iterable[str], *, add: bool) -> int | None:
        """The names' mask; None when one was never seen (no sampled listing has it)."""
        mask = 0
        for name in names:
            bit = self.bits.get(name)
            if bit is None:
                if not add:
                    return None
                bit = self.bits[name] = 1 << len(self.bits)
            mask |= bit
        return mask


@dataclass(frozen=True, slots=True)
class GeoGrid:
    cells: dict[Cell, int]
    total: int
    samples: dict[Cell, list[Sampled]] = field(default_factory=dict)
    amenities: _Amenities = field(default_factory=_Amenities)
    by_city: dict[str, list[Sampled]] = field(default_factory=dict)
    everywhere: list[Sampled] = field(default_factory=list)

    @classmethod
    def from_rows(
        cls, rows: Iterable[tuple[int, int, int]], sample: Iterable[Sequence[Any]] = ()
    ) -> GeoGrid:
        """Counts per cell, and sample rows in the order of repository.SAMPLE_COLUMNS."""
        cells = {(int(a), int(b)): int(n) for a, b, n in rows}
        amenities = _Amenities()
        samples: dict[Cell, list[Sampled]] = {}
        for lat, lng, city, postal, warm, cold, rooms, size, furn, pets, avail, names in sample:
            cell = (math.floor(lat / GRID_DEGREES), math.floor(lng / GRID_DEGREES))
            samples.setdefault(cell, []).append(
                Sampled(
                    sys.intern(city),
                    sys.intern(postal),
                    int(warm),
                    int(cold),
                    float(rooms),
                    float(size),
                    bool(furn),
                    bool(pets),
                    avail,
                    amenities.mask(names or (), add=True) or 0,
                )
            )
        everywhere = [r for rows_of_cell in samples.values() for r in rows_of_cell]
        by_city: dict[str, list[Sampled]] = {}
        for r in everywhere:
            by_city.setdefault(r.city_key, []).append(r)
        return cls(cells, sum(cells.values()), samples, amenities, by_city, everywhere)

    def _box_cells(self, lat: float, lng: float, radius_m: float) -> Iterator[tuple[Cell, float]]:
        """The cells the circle's bounding box touches, with the share of each it covers."""
        dlat = radius_m / METRES_PER_DEGREE
        dlng = radius_m / (METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 0.01))
        south, north, west, east = lat - dlat, lat + dlat, lng - dlng, lng + dlng
        for a in range(math.floor(south / GRID_DEGREES), math.floor(north / GRID_DEGREES) + 1):
            lat_share = _overlap(a, south, north)
            for b in range(math.floor(west / GRID_DEGREES), math.floor(east / GRID_DEGREES) + 1):
                yield (a, b), lat_share * _overlap(b, west, east)

    def expected_in_circle(self, lat: float, lng: float, radius_m: float) -> float:
        """Listings expected within `radius_m` of (lat, lng): the cells' counts weighted by how
        much of each cell the circle's bounding box covers, times the circle's share of it."""
        found = sum(
            self.cells.get(cell, 0) * share for cell, share in self._box_cells(lat, lng, radius_m)
        )
        return found * math.pi / 4  # a circle fills pi/4 of its bounding box

    def passing_share(self, f: SearchFilters, cells: Iterable[Cell], *, rent: bool = True) -> float:
        """The share of the listings in `cells` expected to pass the filters other than the
        location (`rent=False`: leaving out the rent bounds), from the sample."""
        share = TEXT_SHARE if f.q is not None else 1.0
        if not _has_column_filters(f, rent=rent):
            return share
        rows = [r for cell in cells for r in self.samples.get(cell, ())]
        return share * self._share(rows, f, rent=rent)

    def filter_share(self, f: SearchFilters) -> float:
        """The share of the city's listings (or all, without a city) expected to pass the
        filters other than the city, the location and the text, from the sample."""
        rows = self.everywhere if f.city_key is None else self.by_city.get(f.city_key, [])
        return self._share(rows, f, rent=True)

    def collect_is_cheaper(self, f: SearchFilters, page: int) -> bool:
        """Newest first within a city, with a rent range: True when collecting the range from
        the city's rent index and sorting the matches is expected to cost less than walking
        the city's newest index until `page` match (the sample says how many pass)."""
        if f.city_key is None or (f.min_rent is None and f.max_rent is None):
            return False
        if f.q is not None or f.point is not None or f.bbox is not None:
            return False  # full text and places have their own plan choices
        rows = self.by_city.get(f.city_key)
        if not rows or not self.everywhere:
            return False
        scope = len(rows) * self.total / len(self.everywhere)
        # Nothing passing is the case that matters: look at more rows than for other shares.
        walk = min(page / self._share(rows, f, rent=True, checks=MAX_CITY_CHECKS), scope)
        rent_only = SearchFilters(min_rent=f.min_rent, max_rent=f.max_rent, rent_type=f.rent_type)
        return COLLECT_COST_RATIO * scope * self._share(rows, rent_only, rent=True) < walk

    def _share(
        self, rows: Sequence[Sampled], f: SearchFilters, *, rent: bool, checks: int = 0
    ) -> float:
        want = self.amenities.mask(f.amenities, add=False)
        if want is None:  # an amenity no sampled listing has
            want = -1
        checked = rows[:: max(1, len(rows) // (checks or MAX_SAMPLE_CHECKS))]
        passed = sum(1 for r in checked if _passes(r, f, rent=rent, amenities=want))
        return (passed + 0.5) / (len(checked) + 1)

    def walk_is_cheaper(self, f: SearchFilters, page: int, *, rent_sorted: bool = False) -> bool:
        """True when walking a sort index is expected to fill `page` rows for less than
        collecting the circle costs. `rent_sorted`: the walk is along the rent index, whose
        range the rent bounds narrow as much as they narrow the matches (so they do not count)."""
        if f.point is None or f.radius_km is None or self.total <= 0:
            return False
        cells = list(self._box_cells(f.point.lat, f.point.lng, f.radius_km * 1000))
        in_box = sum(self.cells.get(cell, 0) * share for cell, share in cells)
        if in_box <= 0:
            return False
        share = self.passing_share(f, (cell for cell, _ in cells), rent=not rent_sorted)
        walk = page * self.total / (in_box * math.pi / 4 * share)
        return walk <= (RENT_WALK_COST_RATIO if rent_sorted else WALK_COST_RATIO) * in_box


def _has_column_filters(f: SearchFilters, *, rent: bool) -> bool:
    values: tuple[object, ...] = (
        f.city_key, f.postal_code, f.min_rooms, f.max_rooms, f.min_size, f.furnished,
        f.pets_allowed, f.available_from, f.amenities or None,
    )  # fmt: skip
    if rent:
        values += (f.min_rent, f.max_rent)
    return any(v is not None for v in values)


def _passes(r: Sampled, f: SearchFilters, *, rent: bool, amenities: int) -> bool:
    """A sample row against the filters, as repository.where_clause has them (a NULL
    available_from never passes). `amenities`: the wanted mask (-1: one nobody has)."""
    if rent:
        value = r.warm if f.rent_type == "warm" else r.cold
        if f.min_rent is not None and value < f.min_rent:
            return False
        if f.max_rent is not None and value > f.max_rent:
            return False
    return not (
        (f.city_key is not None and r.city_key != f.city_key)
        or (f.postal_code is not None and r.postal_code != f.postal_code)
        or (f.min_rooms is not None and r.rooms < f.min_rooms)
        or (f.max_rooms is not None and r.rooms > f.max_rooms)
        or (f.min_size is not None and r.size < f.min_size)
        or (f.furnished is not None and r.furnished is not f.furnished)
        or (f.pets_allowed is not None and r.pets is not f.pets_allowed)
        or (
            f.available_from is not None
            and (r.available_from is None or r.available_from > f.available_from)
        )
        or (amenities != 0 and (amenities < 0 or r.amenities & amenities != amenities))
    )


def _overlap(cell: int, low: float, high: float) -> float:
    """The share of a cell's extent [cell, cell + 1) * GRID_DEGREES inside [low, high]."""
    start, end = cell * GRID_DEGREES, (cell + 1) * GRID_DEGREES
    return max(0.0, min(end, high) - max(start, low)) / GRID_DEGREES


def sample_percent(total: int) -> float:
    """The TABLESAMPLE percentage that yields about SAMPLE_ROWS of `total` listings."""
    return min(100.0, max(0.01, SAMPLE_ROWS * 100.0 / max(total, 1)))


class PlanStats:
    """What one API process knows for its plan choices: the density grid with its sample
    (radius plans, full text first or last, a city's rent range collected) and the word
    statistics (search/words.py), refreshed together in the background (single flight); None
    of either until the first load."""

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
            rows = await repository.fetch_density(session)
            percent = sample_percent(sum(n for _, _, n in rows))
            sample = await repository.fetch_density_sample(session, percent)
            words = WordStats.from_row(*await repository.fetch_word_stats(session))
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
