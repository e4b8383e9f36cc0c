"""Where the active listings are: a coarse grid of counts that picks the radius plan.

A radius search sorted by newest or rent can run two ways: collect every listing in the
circle through the GiST index and sort them, or walk the sort's covering index and check the
distance on each index tuple until a page is full. Collecting costs per listing in the
circle, walking costs per listing *outside* it that is passed on the way: the first wins for
sparse circles, the second for dense ones (2 km around Berlin-Mitte: 15,940 listings, 87 ms
collected, 10 ms walked). Postgres cannot tell them apart: its estimate for `&&` on
geography is up to 25x low in dense areas, so it always collects (docs/performance.md).

The grid (cells of GRID_DEGREES, counted on the replica) gives the expected number of
listings in the circle, hence how far a walk goes; it is refreshed in the background every
`max_age` seconds and is only ever advice: a missing or stale grid means "collect", which
is always correct, only slower.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

import structlog

from sichrplace.kit.tasks import stop_task
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.search import repository

log = structlog.get_logger(__name__)

GRID_DEGREES = repository.DENSITY_CELL_DEGREES
METRES_PER_DEGREE = 111_320.0
# Walk while the expected walk is at most this many index tuples (~1 µs each, index-only);
# collecting costs ~10 µs per listing in the circle, so the two meet near sqrt(limit * N / 10).
MAX_WALK_TUPLES = 20_000
RETRY_AFTER_FAILURE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class GeoGrid:
    cells: dict[tuple[int, int], int]
    total: int

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, int, int]]) -> GeoGrid:
        cells = {(int(a), int(b)): int(n) for a, b, n in rows}
        return cls(cells, sum(cells.values()))

    def expected_in_circle(self, lat: float, lng: float, radius_m: float) -> float:
        """Listings expected within `radius_m` of (lat, lng): the cells' counts weighted by how
        much of each cell the circle's bounding box covers, times the circle's share of it."""
        dlat = radius_m / METRES_PER_DEGREE
        dlng = radius_m / (METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 0.01))
        south, north, west, east = lat - dlat, lat + dlat, lng - dlng, lng + dlng
        found = 0.0
        for a in range(math.floor(south / GRID_DEGREES), math.floor(north / GRID_DEGREES) + 1):
            lat_share = _overlap(a, south, north)
            for b in range(math.floor(west / GRID_DEGREES), math.floor(east / GRID_DEGREES) + 1):
                n = self.cells.get((a, b))
                if n:
                    found += n * lat_share * _overlap(b, west, east)
        return found * math.pi / 4  # a circle fills pi/4 of its bounding box

    def walk_is_cheaper(self, lat: float, lng: float, radius_m: float, page: int) -> bool:
        """True when walking a sort index is expected to fill `page` rows within
        MAX_WALK_TUPLES index tuples (other filters only lengthen the walk: kept simple)."""
        expected = self.expected_in_circle(lat, lng, radius_m)
        if expected <= 0 or self.total <= 0:
            return False
        return page * self.total / expected <= MAX_WALK_TUPLES


def _overlap(cell: int, low: float, high: float) -> float:
    """The share of a cell's extent [cell, cell + 1) * GRID_DEGREES inside [low, high]."""
    start, end = cell * GRID_DEGREES, (cell + 1) * GRID_DEGREES
    return max(0.0, min(end, high) - max(start, low)) / GRID_DEGREES


class GeoDensity:
    """The current grid of one API process, refreshed in the background (single flight)."""

    def __init__(self, db: Database, *, max_age_seconds: float) -> None:
        self._db = db
        self._max_age = max_age_seconds
        self._grid: GeoGrid | None = None
        self._due = 0.0  # monotonic time of the next refresh
        self._task: asyncio.Task[None] | None = None

    def current(self) -> GeoGrid | None:
        """The grid (None until the first load); starts a refresh when one is due."""
        if time.monotonic() >= self._due and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self.refresh(), name="geo-density")
        return self._grid

    async def refresh(self) -> None:
        self._due = time.monotonic() + self._max_age
        try:
            rows = await repository.fetch_density(ReplicaSession(self._db))
        except Exception as exc:  # advice only: keep the old grid, try again soon
            log.warning("geo_density_refresh_failed", error=repr(exc)[:200])
            self._due = time.monotonic() + RETRY_AFTER_FAILURE_SECONDS
            return
        self._grid = GeoGrid.from_rows(rows)
        log.info("geo_density_refreshed", cells=len(self._grid.cells), total=self._grid.total)

    async def aclose(self) -> None:
        await stop_task(self._task)
