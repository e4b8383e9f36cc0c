"""Where listings are, for the in-process index: the cell order that makes a lat/lng box a
few runs of rows, and the radius check that agrees with PostGIS.

Within each city's slice the listings are ordered by cell: strips of STRIP_DEG latitude
(~1.1 km), longitude within a strip, as one sorted int64 key per listing (city, strip,
longitude in 1e-7 degrees). The rows of a box are then found by binary search: per city whose
listings' extent meets the box, one run per strip (or the whole band of strips when a box
spans thousands of city-strips). ADR 0004 has the measurements.
"""

from __future__ import annotations

import math

import numpy as np

from sichrplace.search.filters import Rows, Test
from sichrplace.search.index import layout
from sichrplace.search.index.errors import Unsupported
from sichrplace.search.index.layout import Columns
from sichrplace.search.repository.where import EARTH_RADIUS_M
from sichrplace.search.schemas import BBox, SearchFilters

STRIP_DEG = 0.01
_LNG_UNITS = 1e7  # longitude steps per degree in a cell key
NO_STRIP = 0xFFFF  # listings without coordinates: after every strip of their city
_MAX_CELL_RUNS = 4096  # more (city, strip) runs than this: whole strips per city instead
# How far PostGIS's sphere distance (`<->` on geography) may be from this haversine: its
# radius is 6,371,008.77 m against EARTH_RADIUS_M (4.5e-9 relative), and the formulas round
# differently in the last bits. Rows closer to the circle than this are left to PostGIS.
_RADIUS_DOUBT_RELATIVE = 1e-6
_RADIUS_DOUBT_M = 0.001


def size(rows: Rows) -> int:
    return rows.stop - rows.start if isinstance(rows, slice) else len(rows)


def strip(lat: float) -> int:
    """The strip of a latitude (the same arithmetic as cell_keys, for one value)."""
    return math.floor((lat + 90.0) / STRIP_DEG)


def _lng_units(lng: float) -> int:
    return math.floor((lng + 180.0) * _LNG_UNITS)


def cell_keys(pair: np.ndarray, lat: np.ndarray, lng: np.ndarray) -> np.ndarray:
    """Each row's cell key: pair code, strip and longitude, so that sorting by it orders each
    city by strip, then longitude (rows without coordinates last)."""
    located = ~(np.isnan(lat) | np.isnan(lng))
    strips = np.where(located, np.floor((np.where(located, lat, 0.0) + 90.0) / STRIP_DEG), 0)
    units = np.where(located, np.floor((np.where(located, lng, 0.0) + 180.0) * _LNG_UNITS), 0)
    strips = np.where(located, strips.astype(np.int64), NO_STRIP)
    return (pair.astype(np.int64) << 48) | (strips << 32) | units.astype(np.int64)


def extents(pair: np.ndarray, lat: np.ndarray, lng: np.ndarray, pairs: int) -> np.ndarray:
    """Per pair code: the min and max latitude and longitude of its rows (NaN if none)."""
    out = np.full((pairs, 4), np.nan)
    if len(pair) == 0:
        return out
    starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    codes = pair[starts]
    for column, values in enumerate((lat, lng)):
        out[codes, 2 * column] = np.fmin.reduceat(values, starts)
        out[codes, 2 * column + 1] = np.fmax.reduceat(values, starts)
    return out


def cell_rows(
    cells: np.ndarray, pair: np.ndarray, extent: np.ndarray, box: BBox, lo: int, hi: int
) -> np.ndarray:
    """Rows within [lo, hi) (of a segment in cell order: its cell keys `cells`, pair codes
    `pair`, per-pair `extent`) whose coordinates may lie in `box`: every row that does, in
    ascending order (whole cells: rows just outside the box may be among them)."""
    first, last = int(pair[lo]), int(pair[hi - 1])
    candidates = first + np.flatnonzero(
        (extent[first : last + 1, 0] <= box.max_lat)
        & (extent[first : last + 1, 1] >= box.min_lat)
        & (extent[first : last + 1, 2] <= box.max_lng)
        & (extent[first : last + 1, 3] >= box.min_lng)
    )
    s0, s1 = max(strip(box.min_lat), 0), min(strip(box.max_lat), NO_STRIP - 1)
    if not len(candidates) or s1 < s0:
        return np.zeros(0, dtype=np.int64)
    heads = candidates.astype(np.int64) << 48
    strips = np.arange(s0, s1 + 1, dtype=np.int64) << 32
    if len(candidates) * len(strips) <= _MAX_CELL_RUNS:
        # One run per (city, strip): the strip's rows within the box's longitudes.
        keys = (heads[:, None] | strips[None, :]).ravel()
        west = max(_lng_units(box.min_lng), 0)
        east = min(_lng_units(box.max_lng), (1 << 32) - 1)
        starts = np.searchsorted(cells, keys | west, side="left")
        ends = np.searchsorted(cells, keys | east, side="right")
    else:
        # A box of many cities and strips: per city, its rows of those strips (the filters
        # then check the longitudes).
        starts = np.searchsorted(cells, heads | strips[0], side="left")
        ends = np.searchsorted(cells, heads | (strips[-1] + (1 << 32)), side="left")
    lengths = ends - starts
    keep = lengths > 0
    starts, lengths = starts[keep], lengths[keep]
    if not len(starts):
        return np.zeros(0, dtype=np.int64)
    # The runs as one array of positions: each run's start, then +1 per row.
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()), dtype=np.int64)


def box_test(cols: Columns, box: BBox) -> Test:
    lat, lng = cols[layout.LAT], cols[layout.LNG]

    def inside(r: Rows) -> np.ndarray:
        a, b = lat[r], lng[r]
        return (a >= box.min_lat) & (a <= box.max_lat) & (b >= box.min_lng) & (b <= box.max_lng)

    return inside


def within(cols: Columns, rows: Rows, f: SearchFilters, m: np.ndarray) -> None:
    """Keep in `m` (the rows that passed the other filters) those within the radius."""
    if f.radius_km is None or f.point is None:
        return
    passed = np.flatnonzero(m)
    m[passed] = inside(cols, rows.start + passed if isinstance(rows, slice) else rows[passed], f)


def inside(cols: Columns, at: np.ndarray, f: SearchFilters) -> np.ndarray:
    """Which of the rows `at` lie within the radius. Raises Unsupported when one is too close
    to the circle for this arithmetic to say what PostGIS would."""
    assert f.radius_km is not None
    assert f.point is not None
    radius = f.radius_km * 1000.0
    doubt = radius * _RADIUS_DOUBT_RELATIVE + _RADIUS_DOUBT_M
    lat, lng = np.radians(cols[layout.LAT][at]), np.radians(cols[layout.LNG][at])
    lat0, lng0 = math.radians(f.point.lat), math.radians(f.point.lng)
    h = np.sin((lat - lat0) / 2) ** 2 + math.cos(lat0) * np.cos(lat) * np.sin((lng - lng0) / 2) ** 2
    distance = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(h, 1.0)))
    if np.any(np.abs(distance - radius) <= doubt):
        raise Unsupported("radius boundary")
    found: np.ndarray = distance < radius
    return found


def first_inside(
    cols: Columns, at: np.ndarray, key: np.ndarray, f: SearchFilters, want: int, ascending: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Of the rows `at` (sort keys `key`), those within the radius whose keys come up to the
    want-th such row's (ties included): distances are computed for the first rows in key
    order only, more at a time until `want` of them lie inside. A row left out comes after
    every row kept, so it cannot be on the page."""
    signed = key if ascending else -key
    first = 4 * want
    while first < len(at):
        cut = np.partition(signed, first - 1)[first - 1]
        chosen = np.flatnonzero(signed <= cut)
        found = inside(cols, at[chosen], f)
        if np.count_nonzero(found) >= want:
            chosen = chosen[found]
            return at[chosen], key[chosen]
        first *= 8
    found = inside(cols, at, f)
    return at[found], key[found]
