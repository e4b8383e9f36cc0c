"""Where the active listings are: a coarse grid of counts, and a sample of the listings.

A radius search sorted by newest or rent can run two ways: collect every listing in the
circle through the GiST index and sort them, or walk the sort's covering index and check the
distance on each index tuple until a page is full. Collecting costs per listing in the
circle, walking per listing *outside* it that is passed on the way. Postgres cannot tell them
apart (its estimate for `&&` on geography is up to 25x low in dense areas), so the grid
(cells of GRID_DEGREES, counted on the replica) gives the expected number of listings in the
circle, and the sample the share of them that pass the other filters (which depends on the
place: 750 EUR warm is a third of Leipzig and a tenth of central Munich). The sample is kept
as index records (search/index/layout.py), so each filter's estimate is its own test from
the registry (search/filters.py) applied to the sampled rows. The same sample tells full text
whether the other filters are selective (words.py) and a newest-first city search whether
walking the city's newest index would pass most of the city before a page is full.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from sichrplace.search.filters import MAX_RENT, MIN_RENT
from sichrplace.search.index import layout
from sichrplace.search.index.layout import RECORD, Columns
from sichrplace.search.repository.stats import DENSITY_CELL_DEGREES
from sichrplace.search.schemas import SearchFilters

GRID_DEGREES = DENSITY_CELL_DEGREES
METRES_PER_DEGREE = 111_320.0
# Walk while the expected walk (index tuples passed) is at most this many times the listings
# in the circle's box (what collecting visits): along the covering newest index the two cost
# the same near 4; along a rent index (not covering, and rent follows the place) walks won
# only below 0.1 (docs/performance.md "Plan choices").
WALK_COST_RATIO = 4.0
RENT_WALK_COST_RATIO = 0.1
# Collecting a city's rent range costs its index tuples (index-only, like the walk's) plus a
# sort of the few matches: it must read fewer tuples than a walk of the newest index would.
COLLECT_COST_RATIO = 1.25
MAX_CITY_CHECKS = 1500
SAMPLE_ROWS = 20_000  # about this many active listings are sampled for the filter shares
MAX_SAMPLE_CHECKS = 400  # sample rows checked per estimate (evenly spread over the cells)
TEXT_SHARE = 0.1  # a word's frequency is unknown here: counted as one listing in ten

Cell = tuple[int, int]
_NONE = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class Sample:
    """Sampled active listings as index columns, by cell and by city."""

    cols: Columns
    cities: np.ndarray  # each row's city_key code
    city_codes: dict[str, int]
    by_cell: dict[Cell, np.ndarray] = field(default_factory=dict)  # rows of each cell
    by_city: dict[str, np.ndarray] = field(default_factory=dict)  # rows of each city

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, bytes]]) -> Sample:
        keys, records = [], []
        for key, record in rows:
            keys.append(key)
            records.append(record)
        parsed = np.frombuffer(b"".join(records), dtype=RECORD)
        cols = Columns.from_records(parsed, np.zeros(len(parsed), dtype=np.int32))
        codes: dict[str, int] = {}
        cities = np.asarray([codes.setdefault(k, len(codes)) for k in keys], dtype=np.int32)
        lat, lng = cols[layout.LAT], cols[layout.LNG]
        a = np.floor(lat / GRID_DEGREES).astype(np.int64)
        b = np.floor(lng / GRID_DEGREES).astype(np.int64)
        by_cell: dict[Cell, list[int]] = {}
        for i, cell in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
            by_cell.setdefault(cell, []).append(i)
        by_city = {k: np.flatnonzero(cities == c) for k, c in codes.items()}
        return cls(
            cols,
            cities,
            codes,
            {cell: np.asarray(at, dtype=np.int64) for cell, at in by_cell.items()},
            by_city,
        )

    def __len__(self) -> int:
        return len(self.cols)

    def share(self, rows: np.ndarray, f: SearchFilters, *, rent: bool, checks: int = 0) -> float:
        """The share of `rows` (at most `checks` of them, evenly spread) that pass the
        registry's filters of `f` (the rent bounds only if `rent`) and its city."""
        checked = rows[:: max(1, len(rows) // (checks or MAX_SAMPLE_CHECKS))]
        m = np.ones(len(checked), dtype=bool)
        if f.city_key is not None:
            m &= self.cities[checked] == self.city_codes.get(f.city_key, -1)
        for flt, value in f.given():
            if rent or not flt.rent:
                m &= flt.test(value, self.cols, f.rent_type)(checked)
        return (int(np.count_nonzero(m)) + 0.5) / (len(checked) + 1)


def _has_column_filters(f: SearchFilters, *, rent: bool) -> bool:
    return f.city_key is not None or any(rent or not flt.rent for flt, _ in f.given())


@dataclass(frozen=True)
class GeoGrid:
    cells: dict[Cell, int]
    total: int
    sample: Sample | None = None

    @classmethod
    def from_rows(
        cls, rows: Iterable[tuple[int, int, int]], sample: Iterable[tuple[str, bytes]] = ()
    ) -> GeoGrid:
        """Counts per cell, and sampled rows as (city_key, index record)."""
        cells = {(int(a), int(b)): int(n) for a, b, n in rows}
        return cls(cells, sum(cells.values()), Sample.from_rows(sample))

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
        if not _has_column_filters(f, rent=rent) or self.sample is None:
            return share
        rows = [self.sample.by_cell.get(cell, _NONE) for cell in cells]
        return share * self.sample.share(np.concatenate(rows or [_NONE]), f, rent=rent)

    def filter_share(self, f: SearchFilters) -> float:
        """The share of the city's listings (or all, without a city) expected to pass the
        filters other than the city, the location and the text, from the sample."""
        if self.sample is None:
            return 1.0
        rows = self._scope(f.city_key)
        return self.sample.share(rows, f, rent=True)

    def _scope(self, city_key: str | None) -> np.ndarray:
        assert self.sample is not None
        if city_key is None:
            return np.arange(len(self.sample), dtype=np.int64)
        return self.sample.by_city.get(city_key, _NONE)

    def collect_is_cheaper(self, f: SearchFilters, page: int) -> bool:
        """Newest first within a city, with a rent range: True when collecting the range from
        the city's rent index and sorting the matches is expected to cost less than walking
        the city's newest index until `page` match (the sample says how many pass)."""
        bounds = {flt.name: f.get(flt) for flt in (MIN_RENT, MAX_RENT)}
        if f.city_key is None or all(v is None for v in bounds.values()):
            return False
        if f.q is not None or f.point is not None or f.bbox is not None:
            return False  # full text and places have their own plan choices
        if self.sample is None or not len(self.sample):
            return False
        rows = self._scope(f.city_key)
        if not len(rows):
            return False
        scope = len(rows) * self.total / len(self.sample)
        # Nothing passing is the case that matters: look at more rows than for other shares.
        walk = min(page / self.sample.share(rows, f, rent=True, checks=MAX_CITY_CHECKS), scope)
        rent_only = SearchFilters(
            rent_type=f.rent_type, values={k: v for k, v in bounds.items() if v is not None}
        )
        return COLLECT_COST_RATIO * scope * self.sample.share(rows, rent_only, rent=True) < walk

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


def _overlap(cell: int, low: float, high: float) -> float:
    """The share of a cell's extent [cell, cell + 1) * GRID_DEGREES inside [low, high]."""
    start, end = cell * GRID_DEGREES, (cell + 1) * GRID_DEGREES
    return max(0.0, min(end, high) - max(start, low)) / GRID_DEGREES


def sample_percent(total: int) -> float:
    """The TABLESAMPLE percentage that yields about SAMPLE_ROWS of `total` listings."""
    return min(100.0, max(0.01, SAMPLE_ROWS * 100.0 / max(total, 1)))
