"""Counting and paging over a snapshot of the in-process index.

Both are generators that do their work in steps of at most STEP_ROWS rows and yield between
steps, so the caller (keeper.py) can hand the event loop to other requests: a count over all
of Germany's listings is a dozen short steps instead of one long one. `run` drives one
without yielding (tests, benchmarks); the keeper drives them with `await asyncio.sleep(0)`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Generator, Iterator, Sequence
from typing import NamedTuple, TypeVar

import numpy as np

from sichrplace.listings.vocabulary import AMENITIES
from sichrplace.search.filters import MAX_RENT, MIN_RENT, Rows, Test
from sichrplace.search.index import geometry, layout
from sichrplace.search.index.errors import Unsupported
from sichrplace.search.index.layout import Columns
from sichrplace.search.index.snapshot import Snapshot
from sichrplace.search.repository.where import radius_box
from sichrplace.search.schemas import RENT_BUCKET_BOUNDS, FacetRow, SearchFilters

T = TypeVar("T")
Steps = Generator[None, None, T]
STEP_ROWS = 1 << 17  # ~1-2 ms of filtering per step on this machine (docs/performance.md)
_BOUNDS = np.asarray(RENT_BUCKET_BOUNDS, dtype=np.int64)
# For each amenity bit b within its byte: which of the 256 byte values have it.
_HAS_BIT = [np.asarray([(v >> b) & 1 == 1 for v in range(256)]) for b in range(8)]
_NO_ROWS = np.zeros(0, dtype=np.int64)


def run(steps: Steps[T]) -> T:
    """Drive `steps` to the end in one go."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


def tests_of(cols: Columns, f: SearchFilters) -> list[Test]:
    """One test per filter `f` gives, over `cols` (full text, city and radius aside: the
    postings, the city's slice and the geometry handle those)."""
    tests = [flt.test(value, cols, f.rent_type) for flt, value in f.given()]
    if f.bbox is not None:
        tests.append(geometry.box_test(cols, f.bbox))
    return tests


def _match(
    cols: Columns, rows: Rows, tests: Sequence[Test], start: np.ndarray | None
) -> np.ndarray:
    m = np.ones(geometry.size(rows), dtype=bool) if start is None else start.copy()
    for test in tests:
        m &= test(rows)
    return m


def _chunks(rows: Rows) -> list[Rows]:
    """`rows` in pieces of at most STEP_ROWS."""
    n = geometry.size(rows)
    if n <= STEP_ROWS:
        return [rows]
    if isinstance(rows, slice):
        return [
            slice(i, min(i + STEP_ROWS, rows.stop)) for i in range(rows.start, rows.stop, STEP_ROWS)
        ]
    return [rows[i : i + STEP_ROWS] for i in range(0, n, STEP_ROWS)]


class Segment(NamedTuple):
    """Matching rows of one segment: its columns, the rows looked at, which of them match."""

    cols: Columns
    rows: Rows
    match: np.ndarray

    def at(self) -> np.ndarray:
        """The matching rows' positions."""
        rows = self.rows
        if isinstance(rows, slice):
            found: np.ndarray = rows.start + np.flatnonzero(self.match)
            return found
        picked: np.ndarray = rows[self.match]
        return picked


def segments(
    snap: Snapshot,
    f: SearchFilters,
    postings: Sequence[np.ndarray],
    wanted: set[str],
    *,
    radius: bool = True,
    base: bool = True,
) -> Iterator[Segment]:
    """The matching rows, a segment at a time (base rows in chunks of STEP_ROWS, then the
    changed listings): the caller works on each and yields before asking for the next.
    Without `radius`, a radius filter only limits the rows to the circle's box (the caller
    checks the distance); without `base`, only the changed listings' segment."""
    lo, hi = 0, len(snap.base)
    if f.city_key is not None:
        lo, hi = snap.key_slices.get(f.city_key, (0, 0))
    rows: Rows = slice(lo, hi)
    box = f.bbox
    if f.radius_km is not None and f.point is not None:
        # The circle's box; the distance is computed for the box's rows only.
        box = radius_box(f.point.lat, f.point.lng, f.radius_km * 1000.0)
        if box is None:
            raise Unsupported("radius near a pole or the antimeridian")
    if box is not None and hi > lo:
        rows = geometry.cell_rows(snap.cells, snap.base.pair, snap.pair_extent, box, lo, hi)
    if base and geometry.size(rows):
        tests = tests_of(snap.base, f)
        for chunk in _chunks(rows):
            m = _match(snap.base, chunk, tests, snap.live[chunk])
            for posting in postings:
                m &= posting[chunk]
            if radius:
                geometry.within(snap.base, chunk, f, m)
            yield Segment(snap.base, chunk, m)
    # The changed listings: a city's only, when the filters name one (a per-request cost in
    # the city's changes, not in every change since the load).
    changed: Rows = slice(0, len(snap.changed))
    if f.city_key is not None:
        changed = snap.changed_in.get(f.city_key, _NO_ROWS)
    if geometry.size(changed):
        m = _match(snap.changed, changed, tests_of(snap.changed, f), snap.changed_live[changed])
        for lexeme in wanted:
            m &= snap.changed_posting(lexeme)[changed]
        if radius:
            geometry.within(snap.changed, changed, f, m)
        yield Segment(snap.changed, changed, m)


class _Tally:
    def __init__(self, pairs: int) -> None:
        self.pair = np.zeros(pairs, dtype=np.int64)
        self.rooms = np.zeros(41, dtype=np.int64)
        self.bucket = np.zeros(len(RENT_BUCKET_BOUNDS) + 1, dtype=np.int64)
        self.amenity = np.zeros(len(AMENITIES), dtype=np.int64)

    def add(self, segment: Segment, rent_type: str) -> None:
        cols, rows, m = segment
        if not m.any():
            return
        self.pair += np.bincount(cols.pair[rows][m], minlength=len(self.pair))
        self.rooms += np.bincount(cols[layout.ROOMS2][rows][m], minlength=41)[:41]
        rent = cols[layout.WARM if rent_type == "warm" else layout.COLD][rows][m]
        self.bucket += np.bincount(
            np.searchsorted(_BOUNDS, rent, side="right"), minlength=len(self.bucket)
        )
        bits = cols[layout.AMENITY_BITS][rows][m]
        for byte in range((len(AMENITIES) + 7) // 8):
            histogram = np.bincount((bits >> (8 * byte)) & 0xFF, minlength=256)
            for b in range(8):
                i = 8 * byte + b
                if i < len(AMENITIES):
                    self.amenity[i] += int(histogram[_HAS_BIT[b]].sum())

    def rows(self, pairs: Sequence[tuple[str, str]]) -> list[FacetRow]:
        out: list[FacetRow] = []
        for code in np.flatnonzero(self.pair).tolist():
            key, city = pairs[code]
            out.append(FacetRow("city", key, city, int(self.pair[code])))
        for r2 in np.flatnonzero(self.rooms):
            # numeric(3,1) as text, as Postgres writes it: "2.0", "2.5"
            label = f"{r2 // 2}.{5 if r2 % 2 else 0}"
            out.append(FacetRow("rooms", label, None, int(self.rooms[r2])))
        for bucket in np.flatnonzero(self.bucket):
            out.append(FacetRow("rent_bucket", str(bucket), None, int(self.bucket[bucket])))
        for i in np.flatnonzero(self.amenity):
            out.append(FacetRow("amenity", AMENITIES[i], None, int(self.amenity[i])))
        return out


def count(
    snap: Snapshot,
    f: SearchFilters,
    lexemes: Sequence[str] = (),
    postings: Sequence[np.ndarray] = (),
) -> Steps[list[FacetRow]]:
    """The rows facets_statement would return for `f` from the snapshot; full text as the
    AND of `lexemes`, whose base `postings` are given. Raises Unsupported for what it does
    not count."""
    tally = _Tally(len(snap.pairs))
    for segment in segments(snap, f, postings, set(lexemes)):
        tally.add(segment, f.rent_type)
        yield
    return tally.rows(snap.pairs)


class Hit(NamedTuple):
    """A listing on a page: its id (16 bytes), version stamp, created_at in microseconds, and
    where the snapshot holds it (the changed segment or the base, at `row`)."""

    id: bytes
    stamp: int
    created: int
    changed: bool
    row: int


PageKey = tuple[int, bytes]  # (sort key: created_at in microseconds or rent cents, id bytes)


def sort_field(sort: str, f: SearchFilters) -> layout.Field:
    """The field a page is sorted by: created_at, or the filters' rent."""
    if sort == "newest":
        return layout.CREATED
    return layout.WARM if f.rent_type == "warm" else layout.COLD


def page(
    snap: Snapshot,
    f: SearchFilters,
    sort: str,
    after: PageKey | None,
    want: int,
    lexemes: Sequence[str] = (),
    postings: Sequence[np.ndarray] = (),
) -> Steps[list[Hit]]:
    """The first `want` matches after `after` in the order of pages.keyset_statement
    (newest: created_at, id descending; rent: the filters' rent, id)."""
    ascending = sort == "rent_asc"
    radius = f.radius_km is not None and f.point is not None
    found: list[tuple[Columns, np.ndarray, np.ndarray]] = []  # columns, rows, their keys
    walked = yield from _walk(snap, f, sort, after, want, postings)
    if walked is not None:
        found.append((snap.base, *walked))
    field = sort_field(sort, f)
    for segment in segments(snap, f, postings, set(lexemes), radius=False, base=walked is None):
        cols = segment.cols
        at = segment.at()
        key = cols[field][at]
        if after is not None:
            k, i = after
            later = key > k if ascending else key < k
            tie = np.flatnonzero(key == k)
            if len(tie):  # the cursor's own key: the id decides
                ident = cols.ids[at[tie]]
                later[tie] = ident > i if ascending else ident < i
            at, key = at[later], key[later]
        if radius:
            at, key = geometry.first_inside(cols, at, key, f, want, ascending)
        if len(at) > want:
            # Only the rows up to the want-th key (with its ties) can be on the page.
            signed = key if ascending else -key
            cut = np.partition(signed, want - 1)[want - 1]
            near = np.flatnonzero(signed <= cut)
            at, key = at[near], key[near]
        found.append((cols, at, key))
        yield
    return _ordered(snap, found, ascending, want)


def _ordered(
    snap: Snapshot,
    found: list[tuple[Columns, np.ndarray, np.ndarray]],
    ascending: bool,
    want: int,
) -> list[Hit]:
    if not found:
        return []
    key = np.concatenate([k for _, _, k in found])
    ident = np.concatenate([c.ids[at] for c, at, _ in found])
    stamp = np.concatenate([c[layout.STAMP][at] for c, at, _ in found])
    made = np.concatenate([c[layout.CREATED][at] for c, at, _ in found])
    changed = np.concatenate([np.full(len(at), c is snap.changed) for c, at, _ in found])
    row = np.concatenate([at for _, at, _ in found])
    raw = ident.tobytes()  # whole 16 bytes (tolist() would strip trailing zero bytes)
    whole = [raw[16 * n : 16 * n + 16] for n in range(len(ident))]
    ordered = sorted(
        zip(
            key.tolist(),
            whole,
            stamp.tolist(),
            made.tolist(),
            changed.tolist(),
            row.tolist(),
            strict=True,
        ),
        reverse=not ascending,
    )
    return [Hit(*hit[1:]) for hit in ordered[:want]]


def _narrow(
    snap: Snapshot, rows: np.ndarray, tests: Sequence[Test], postings: Sequence[np.ndarray]
) -> np.ndarray:
    """The base `rows` (positions, kept in their order) that are live, pass the `tests` and
    have the postings' words, found one test at a time on the rows that passed the ones
    before: each column is read only for those."""
    rows = rows[snap.live[rows]]
    for posting in postings:
        rows = rows[posting[rows]]
    for test in tests:
        if not len(rows):
            break
        rows = rows[test(rows)]
    return rows


def _walk(
    snap: Snapshot,
    f: SearchFilters,
    sort: str,
    after: PageKey | None,
    want: int,
    postings: Sequence[np.ndarray],
) -> Steps[tuple[np.ndarray, np.ndarray] | None]:
    """The base's part of a city's page: its first `want` matches after `after` and their
    keys, found by walking the city's rows in the page's order (more rows at a time until
    enough match), rather than by filtering every row of the city. None where it does not
    apply (no city, or a box or circle: those take the cell order)."""
    if f.city_key is None or f.bbox is not None or f.radius_km is not None:
        return None
    field = sort_field(sort, f)
    column: np.ndarray = snap.base[field]
    lo, hi = snap.key_slices.get(f.city_key, (0, 0))
    block = snap.orders[field.name][lo:hi]  # ascending (key, id)
    ascending = sort == "rent_asc"
    ids = snap.base.ids

    def position(j: int) -> tuple[int, bytes]:
        row = int(block[j])
        return int(column[row]), ids[row : row + 1].tobytes()

    def key(j: int) -> int:
        return int(column[block[j]])

    # A rent page within the filters' rent range walks that range only (the rows outside it
    # fail the filter anyway): from its cheap end ascending, from its dear end descending.
    first, stop = 0, len(block)
    if field is not layout.CREATED:
        low, high = f.get(MIN_RENT), f.get(MAX_RENT)
        if low is not None:
            first = bisect.bisect_left(range(len(block)), low, key=key)
        if high is not None:
            stop = bisect.bisect_right(range(len(block)), high, key=key)
    if ascending:  # from the first row after the cursor, forwards
        start = first
        if after is not None:
            start = max(start, bisect.bisect_right(range(len(block)), after, key=position))
        rows = block[start:stop]
    else:  # from the last row before the cursor, backwards
        end = stop
        if after is not None:
            end = min(end, bisect.bisect_left(range(len(block)), after, key=position))
        rows = block[first:end][::-1]
    tests = tests_of(snap.base, f)  # once per walk, not per round
    hits: list[np.ndarray] = []
    found, done, step = 0, 0, 4 * want
    while done < len(rows) and found < want:
        chunk = rows[done : done + min(step, STEP_ROWS)]
        hits.append(_narrow(snap, chunk, tests, postings))
        found += len(hits[-1])
        done += len(chunk)
        # The next chunk: what the rest of the page needs at the share of rows matched so
        # far, with half again for luck; four times as many rows while none matched.
        step = math.ceil((want - found) * done / found * 1.5) if found else 4 * done
        if found < want and done < len(rows):
            yield
    at = (np.concatenate(hits) if hits else np.zeros(0, dtype=block.dtype))[:want]
    return at, column[at]


def makes_items(f: SearchFilters) -> bool:
    """Whether the index can make a page's items itself: not with full text (a rank) or a
    point (a distance), which only Postgres computes."""
    return f.q is None and f.point is None
