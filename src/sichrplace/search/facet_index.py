"""Facet counts and search pages from a columnar copy of the active listings, kept in each
API process (ADR 0004).

Exact facets over Postgres cost a pass over every match: Berlin (178,000 active listings)
is ~220 ms of one core, so two cores give ~35 uncached facet requests a second. Counting the
same rows in numpy arrays costs a few milliseconds. The same arrays pick the listings of a
newest or rent-sorted search page, and the window of a first relevance page, which Postgres
then reads (and ranks) by id (search/service.py). This module keeps those arrays:

- **Full load**: every active listing as a 76-byte record (repository.facet_load_statement),
  ~1M listings in one statement, grouped by (city_key, city) so a city is one slice, with the
  listings' titles.
- **Changes**: Postgres stamps `changed_at` on every insert and on every update of a column
  search reads (migration 0012). Before each count the index reads the rows changed since
  its last read, less `facet_index_overlap_seconds` (a change is stamped before it commits
  and replays on the replica later). A changed listing's base row stops counting and its
  current version counts from a small second segment. A count therefore sees every change
  the replica had replayed when the request arrived, as a Postgres count would; reads that
  arrive together share one look (single flight).
- **Full text**: a query that is a plain AND of lexemes (websearch_to_tsquery's form) counts
  from per-lexeme postings over the base rows, loaded from the GIN index the first time a
  common lexeme (at least `facet_index_min_word_share` of the listings in the planner's
  statistics) is asked for. Rarer lexemes, phrases, OR and NOT go to Postgres, which
  answers those from the GIN index cheaply; so do distance sorts.
- **Radius and box filters**: within each city's slice the listings are ordered by cell
  (strips of `STRIP_DEG` latitude, longitude within a strip), so the rows within a lat/lng
  box are a few contiguous runs found by binary search (per city whose listings' extent
  meets the box). A radius filter then computes the haversine distance for the box's rows
  that passed the other filters. PostGIS measures on a sphere of a slightly different radius
  with other rounding: a listing within millimetres of the circle leaves the search to
  PostGIS.
- **Pages**: a city's newest or rent-sorted page walks the city's listings in the page's
  order (per-city orders by created_at, warm and cold rent) until enough match; other pages
  filter the rows they may come from and `partition` the keys.
- **Items**: the records hold every column a search item shows but the title, which the load
  reads too (one UTF-8 blob with each row's span). A page without full text or a point has
  its items made here, as fresh as the look its page used, with no read of Postgres
  (`page_items`); full-text items carry Postgres's rank and point items its distance, so
  those pages read their listings by id (and go to Postgres if one changed since).
- **Rebuilt** from scratch when the changes since the load exceed `facet_index_max_changes`
  (a bulk import), after `facet_index_reload_seconds`, and after a failed look; meanwhile,
  and whenever it cannot vouch for freshness, the caller counts in Postgres.

Counts and pages are computed on the event loop: a few milliseconds for Berlin, less than a
hop to a worker thread cost under load on two cores.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import math
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, NamedTuple, NoReturn

import numpy as np
import redis.asyncio as aioredis
import structlog

from sichrplace.config import FacetIndexSettings
from sichrplace.kit.tasks import stop_task
from sichrplace.listings.vocabulary import AMENITIES
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.search import repository
from sichrplace.search.metrics import FACET_INDEX_CHANGES, FACET_INDEX_LOADS, FACET_INDEX_ROWS
from sichrplace.search.schemas import RENT_BUCKET_BOUNDS, BBox, SearchFilters, SearchQuery
from sichrplace.search.words import WordStats

log = structlog.get_logger(__name__)

# The byte layout of repository._record (big-endian, as Postgres sends it).
RECORD = np.dtype(
    [
        ("id", "S16"),
        ("postal", ">i4"),
        ("rooms2", ">i2"),
        ("size100", ">i4"),
        ("flags", ">i2"),
        ("warm", ">i4"),
        ("cold", ">i4"),
        ("amenities", ">i4"),
        ("available", ">i4"),
        ("lat", ">f8"),
        ("lng", ">f8"),
        ("stamp", ">i8"),
        ("created", ">i8"),
    ]
)
# The record's columns as the arrays keep them (native byte order; rents widened for sums).
NATIVE_TYPES = {
    "postal": "i4", "rooms2": "i2", "size100": "i4", "flags": "i2", "warm": "i8", "cold": "i8",
    "amenities": "i4", "available": "i4", "lat": "f8", "lng": "f8", "stamp": "i8", "created": "i8",
}  # fmt: skip
FURNISHED, PETS = 1, 2
DATE_ZERO = date(2000, 1, 1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # `created` counts microseconds from it
_BOUNDS = np.asarray(RENT_BUCKET_BOUNDS, dtype=np.int64)
# For each amenity bit b within its byte: which of the 256 byte values have it.
_HAS_BIT = [np.asarray([(v >> b) & 1 == 1 for v in range(256)]) for b in range(8)]
_PLAIN_AND = re.compile(r"'[^'\\]+'(?: & '[^'\\]+')*")
_LEXEME = re.compile(r"'([^'\\]+)'")
# The cell order: strips of this many degrees of latitude (~1.1 km), longitude within a strip.
# A cell key packs (pair code, strip, longitude in 1e-7 degrees) into one sortable int64.
STRIP_DEG = 0.01
_LNG_UNITS = 1e7  # longitude steps per degree in a cell key
_NO_STRIP = 0xFFFF  # listings without coordinates: after every strip of their city
_MAX_CELL_RUNS = 4096  # more (city, strip) runs than this: whole strips per city instead
MAX_REMEMBERED_QUERIES = 10_000
# Words whose postings were loaded lately, by any process (sorted set, score: last load).
WORDS_KEY = "search:facet-words"
WORDS_KEPT = 256
WORDS_KEPT_SECONDS = 7 * 86400
POSTINGS_BATCH = 16  # lexemes whose postings one pass over the listings loads
LOAD_TIMEOUT_MS = 120_000  # a full load reads every active listing (~5 s for a million)

Row = tuple[str, Any, Any, int]  # what repository.facets_statement returns, row by row


class Unsupported(Exception):
    """What the index does not answer (the caller asks Postgres)."""


@dataclass(frozen=True, slots=True)
class Columns:
    """One segment of listings as arrays (native byte order), `pair` indexing Snapshot.pairs."""

    ids: np.ndarray
    pair: np.ndarray
    postal: np.ndarray
    rooms2: np.ndarray
    size100: np.ndarray
    flags: np.ndarray
    warm: np.ndarray
    cold: np.ndarray
    amenities: np.ndarray
    available: np.ndarray
    lat: np.ndarray
    lng: np.ndarray
    stamp: np.ndarray  # version (repository.STAMP)
    created: np.ndarray  # created_at in microseconds since 1970

    @classmethod
    def from_records(cls, records: np.ndarray, pair: np.ndarray) -> Columns:
        native = {
            name: np.ascontiguousarray(records[name], dtype=dtype)
            for name, dtype in NATIVE_TYPES.items()
        }
        return cls(ids=np.ascontiguousarray(records["id"]), pair=pair.astype(np.int32), **native)

    def __len__(self) -> int:
        return len(self.ids)


def _empty_records() -> np.ndarray:
    return np.zeros(0, dtype=RECORD)


@dataclass(frozen=True, slots=True)
class Titles:
    """The base's titles: one UTF-8 blob, and each row's start and length in it."""

    blob: bytes
    start: np.ndarray  # int64, per base row
    length: np.ndarray  # int32, per base row

    def __getitem__(self, row: int) -> str:
        start = int(self.start[row])
        return self.blob[start : start + int(self.length[row])].decode()


@dataclass(frozen=True, slots=True)
class Change:
    """The current version of a listing changed since the full load."""

    status: str
    pair: tuple[str, str]
    record: bytes
    lexemes: frozenset[str]
    stamp: int
    title: str = ""


GONE = Change("deleted", ("", ""), b"", frozenset(), repository.DELETED_STAMP)


@dataclass(frozen=True)
class Snapshot:
    """What one count reads; never modified (a change makes a new one that shares the base)."""

    pairs: tuple[tuple[str, str], ...]  # (city_key, city) by code: the base's, then new ones
    base: Columns  # the full load, ordered by pair (a city is one slice), each in cell order
    titles: Titles  # the base rows' titles (what a page's items show besides the columns)
    key_slices: dict[str, tuple[int, int]]
    id_order: np.ndarray  # base positions in id order (to find a changed listing's base row)
    sorted_ids: np.ndarray  # base ids in that order
    cells: np.ndarray  # the base rows' cell keys (ascending: the base is in cell order)
    # Per sort column ("created", "warm", "cold"): base positions, each city_key's slice in
    # ascending (column, id) order, so a city's page is a walk from one end (or the cursor).
    orders: dict[str, np.ndarray]
    pair_extent: np.ndarray  # per pair: min lat, max lat, min lng, max lng (NaN if none)
    live: np.ndarray  # base rows not superseded by a change
    changed: Columns  # active versions of changed listings
    changed_in: dict[str, np.ndarray]  # city_key -> its rows of `changed` (positions)
    changed_lexemes: tuple[frozenset[str], ...]
    changed_titles: tuple[str, ...]
    words: dict[str, float]  # lexeme -> share of listings (pg_stats), which postings may load
    postings: dict[str, np.ndarray] = field(default_factory=dict)  # lexeme -> base rows (bool)
    # lexeme -> rows of `changed` whose text has it (bool), made when first asked for
    changed_postings: dict[str, np.ndarray] = field(default_factory=dict)

    def changed_posting(self, lexeme: str) -> np.ndarray:
        posting = self.changed_postings.get(lexeme)
        if posting is None:
            posting = np.fromiter(
                (lexeme in ls for ls in self.changed_lexemes),
                dtype=bool,
                count=len(self.changed_lexemes),
            )
            self.changed_postings[lexeme] = posting
        return posting

    def base_position(self, ids: np.ndarray) -> np.ndarray:
        """Base positions of `ids` (S16), -1 where an id is not in the base."""
        if len(self.sorted_ids) == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.sorted_ids, ids), len(self.sorted_ids) - 1)
        return np.where(self.sorted_ids[at] == ids, self.id_order[at], -1)


Rows = slice | np.ndarray  # a segment's rows: a slice, or positions
_NO_ROWS = np.zeros(0, dtype=np.int64)


def _size(rows: Rows) -> int:
    return rows.stop - rows.start if isinstance(rows, slice) else len(rows)


def _base_match(
    snap: Snapshot, rows: Rows, f: SearchFilters, postings: Sequence[np.ndarray]
) -> np.ndarray:
    """Which of the base's `rows` are live and pass the filters and the full text's postings
    (city and radius aside)."""
    m = _match(snap.base, rows, f, snap.live[rows])
    for posting in postings:
        m &= posting[rows]
    return m


Test = Callable[[Rows], np.ndarray]


def _tests(cols: Columns, f: SearchFilters) -> list[Test]:
    """One test per filter `f` gives (full text, city and radius aside): which of the `rows`
    given to it pass."""
    tests: list[Test] = []
    if f.postal_code is not None:
        postal = int(f.postal_code)
        tests.append(lambda r: cols.postal[r] == postal)
    if f.min_rooms is not None:
        min_rooms2 = math.ceil(f.min_rooms * 2)
        tests.append(lambda r: cols.rooms2[r] >= min_rooms2)
    if f.max_rooms is not None:
        max_rooms2 = math.floor(f.max_rooms * 2)
        tests.append(lambda r: cols.rooms2[r] <= max_rooms2)
    if f.min_size is not None:
        min_size100 = math.ceil(f.min_size * 100)
        tests.append(lambda r: cols.size100[r] >= min_size100)
    if f.furnished is not None:
        furnished = f.furnished
        tests.append(lambda r: ((cols.flags[r] & FURNISHED) != 0) == furnished)
    if f.pets_allowed is not None:
        pets = f.pets_allowed
        tests.append(lambda r: ((cols.flags[r] & PETS) != 0) == pets)
    if f.available_from is not None:
        day = (f.available_from - DATE_ZERO).days
        tests.append(lambda r: cols.available[r] <= day)
    rent = cols.warm if f.rent_type == "warm" else cols.cold
    if f.min_rent is not None:
        min_rent = f.min_rent
        tests.append(lambda r: rent[r] >= min_rent)
    if f.max_rent is not None:
        max_rent = f.max_rent
        tests.append(lambda r: rent[r] <= max_rent)
    if f.amenities:
        need = 0
        for name in f.amenities:
            need |= 1 << AMENITIES.index(name)
        tests.append(lambda r: (cols.amenities[r] & need) == need)
    if f.bbox is not None:
        b = f.bbox

        def inside(r: Rows) -> np.ndarray:
            lat, lng = cols.lat[r], cols.lng[r]
            return (lat >= b.min_lat) & (lat <= b.max_lat) & (lng >= b.min_lng) & (lng <= b.max_lng)

        tests.append(inside)
    return tests


def _match(cols: Columns, rows: Rows, f: SearchFilters, start: np.ndarray | None) -> np.ndarray:
    """Which of `rows` of `cols` pass the filters (full text, city and radius aside)."""
    m = np.ones(_size(rows), dtype=bool) if start is None else start.copy()
    for test in _tests(cols, f):
        m &= test(rows)
    return m


def _narrow(
    snap: Snapshot, rows: np.ndarray, tests: Sequence[Test], postings: Sequence[np.ndarray]
) -> np.ndarray:
    """The base `rows` (positions, kept in their order) that _base_match passes (`tests`: the
    filters' _tests over the base), found one test at a time on the rows that passed the ones
    before: each column is read only for those, where _base_match reads every column for
    every row."""
    rows = rows[snap.live[rows]]
    for posting in postings:
        rows = rows[posting[rows]]
    for test in tests:
        if not len(rows):
            break
        rows = rows[test(rows)]
    return rows


class _Tally:
    def __init__(self, pairs: int) -> None:
        self.pair = np.zeros(pairs, dtype=np.int64)
        self.rooms = np.zeros(41, dtype=np.int64)
        self.bucket = np.zeros(len(RENT_BUCKET_BOUNDS) + 1, dtype=np.int64)
        self.amenity = np.zeros(len(AMENITIES), dtype=np.int64)

    def add(self, cols: Columns, rows: Rows, m: np.ndarray, rent_type: str) -> None:
        if not m.any():
            return
        self.pair += np.bincount(cols.pair[rows][m], minlength=len(self.pair))
        self.rooms += np.bincount(cols.rooms2[rows][m], minlength=41)[:41]
        rent = (cols.warm if rent_type == "warm" else cols.cold)[rows][m]
        self.bucket += np.bincount(
            np.searchsorted(_BOUNDS, rent, side="right"), minlength=len(self.bucket)
        )
        bits = cols.amenities[rows][m]
        for byte in range((len(AMENITIES) + 7) // 8):
            histogram = np.bincount((bits >> (8 * byte)) & 0xFF, minlength=256)
            for b in range(8):
                i = 8 * byte + b
                if i < len(AMENITIES):
                    self.amenity[i] += int(histogram[_HAS_BIT[b]].sum())

    def rows(self, pairs: Sequence[tuple[str, str]]) -> list[Row]:
        out: list[Row] = []
        for code in np.flatnonzero(self.pair).tolist():
            key, city = pairs[code]
            out.append(("city", key, city, int(self.pair[code])))
        for r2 in np.flatnonzero(self.rooms):
            # numeric(3,1) as text, as Postgres writes it: "2.0", "2.5"
            out.append(("rooms", f"{r2 // 2}.{5 if r2 % 2 else 0}", None, int(self.rooms[r2])))
        for bucket in np.flatnonzero(self.bucket):
            out.append(("rent_bucket", str(bucket), None, int(self.bucket[bucket])))
        for i in np.flatnonzero(self.amenity):
            out.append(("amenity", AMENITIES[i], None, int(self.amenity[i])))
        return out


def count(
    snap: Snapshot,
    f: SearchFilters,
    lexemes: Sequence[str] = (),
    postings: Sequence[np.ndarray] = (),
) -> list[Row]:
    """The rows repository.facets_statement would return for `f` from the snapshot; full text
    as the AND of `lexemes`, whose base `postings` are given. Raises Unsupported for what it
    does not count."""
    tally = _Tally(len(snap.pairs))
    for cols, rows, m in _segments(snap, f, postings, set(lexemes)):
        tally.add(cols, rows, m, f.rent_type)
    return tally.rows(snap.pairs)


def _segments(
    snap: Snapshot,
    f: SearchFilters,
    postings: Sequence[np.ndarray],
    wanted: set[str],
    *,
    radius: bool = True,
    base: bool = True,
) -> list[tuple[Columns, Rows, np.ndarray]]:
    """The matching rows of each segment: (columns, rows, mask over those rows). Without
    `radius`, a radius filter only limits the rows to the circle's box (the caller checks
    the distance); without `base`, only the changed listings' segment."""
    out = []
    lo, hi = 0, len(snap.base)
    if f.city_key is not None:
        lo, hi = snap.key_slices.get(f.city_key, (0, 0))
    rows: Rows = slice(lo, hi)
    box = f.bbox
    if f.radius_km is not None and f.point is not None:
        # The circle's box; the distance is computed for the box's rows only (_within).
        box = repository.radius_box(f.point.lat, f.point.lng, f.radius_km * 1000.0)
        if box is None:
            raise Unsupported("radius near a pole or the antimeridian")
    if box is not None and hi > lo:
        rows = _cell_rows(snap, box, lo, hi)
    if base and _size(rows):
        m = _base_match(snap, rows, f, postings)
        if radius:
            _within(snap.base, rows, f, m)
        out.append((snap.base, rows, m))
    # The changed listings: a city's only, when the filters name one (a per-request cost in
    # the city's changes, not in every change since the load).
    changed: Rows = slice(0, len(snap.changed))
    if f.city_key is not None:
        changed = snap.changed_in.get(f.city_key, _NO_ROWS)
    if _size(changed):
        m = _match(snap.changed, changed, f, None)
        for lexeme in wanted:
            m &= snap.changed_posting(lexeme)[changed]
        if radius:
            _within(snap.changed, changed, f, m)
        out.append((snap.changed, changed, m))
    return out


# How far PostGIS's sphere distance (`<->` on geography) may be from this haversine: its
# radius is 6,371,008.77 m against EARTH_RADIUS_M (4.5e-9 relative), and the formulas round
# differently in the last bits. Rows closer to the circle than this are left to PostGIS.
_RADIUS_DOUBT_RELATIVE = 1e-6
_RADIUS_DOUBT_M = 0.001


def _within(cols: Columns, rows: Rows, f: SearchFilters, m: np.ndarray) -> None:
    """Keep in `m` (the rows that passed the other filters) those within the radius."""
    if f.radius_km is None or f.point is None:
        return
    passed = np.flatnonzero(m)
    m[passed] = _inside(cols, rows.start + passed if isinstance(rows, slice) else rows[passed], f)


def _inside(cols: Columns, at: np.ndarray, f: SearchFilters) -> np.ndarray:
    """Which of the rows `at` lie within the radius. Raises Unsupported when one is too close
    to the circle for this arithmetic to say what PostGIS would."""
    assert f.radius_km is not None
    assert f.point is not None
    radius = f.radius_km * 1000.0
    doubt = radius * _RADIUS_DOUBT_RELATIVE + _RADIUS_DOUBT_M
    lat, lng = np.radians(cols.lat[at]), np.radians(cols.lng[at])
    lat0, lng0 = math.radians(f.point.lat), math.radians(f.point.lng)
    h = np.sin((lat - lat0) / 2) ** 2 + math.cos(lat0) * np.cos(lat) * np.sin((lng - lng0) / 2) ** 2
    distance = 2 * repository.EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(h, 1.0)))
    if np.any(np.abs(distance - radius) <= doubt):
        raise Unsupported("radius boundary")
    inside: np.ndarray = distance < radius
    return inside


def _first_inside(
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
        inside = _inside(cols, at[chosen], f)
        if np.count_nonzero(inside) >= want:
            chosen = chosen[inside]
            return at[chosen], key[chosen]
        first *= 8
    inside = _inside(cols, at, f)
    return at[inside], key[inside]


class Hit(NamedTuple):
    """A listing on a page: its id (16 bytes), version stamp, created_at in microseconds, and
    where the snapshot holds it (the changed segment or the base, at `row`)."""

    id: bytes
    stamp: int
    created: int
    changed: bool
    row: int


PageKey = tuple[int, bytes]  # (sort key: created_at in microseconds or rent cents, id bytes)


def page(
    snap: Snapshot,
    f: SearchFilters,
    sort: str,
    after: PageKey | None,
    want: int,
    lexemes: Sequence[str] = (),
    postings: Sequence[np.ndarray] = (),
) -> list[Hit]:
    """The first `want` matches after `after` in the order of repository.keyset_statement
    (newest: created_at, id descending; rent: the filters' rent, id)."""
    ascending = sort == "rent_asc"
    radius = f.radius_km is not None and f.point is not None
    found: list[tuple[Columns, np.ndarray, np.ndarray]] = []  # columns, rows, their keys
    walked = _walk(snap, f, sort, after, want, postings)
    if walked is not None:
        found.append((snap.base, *walked))
    segments = _segments(snap, f, postings, set(lexemes), radius=False, base=walked is None)
    for cols, rows, m in segments:
        at = rows.start + np.flatnonzero(m) if isinstance(rows, slice) else rows[m]
        key = getattr(cols, _sort_column(sort, f))[at]
        if after is not None:
            k, i = after
            later = key > k if ascending else key < k
            tie = np.flatnonzero(key == k)
            if len(tie):  # the cursor's own key: the id decides
                ident = cols.ids[at[tie]]
                later[tie] = ident > i if ascending else ident < i
            at, key = at[later], key[later]
        if radius:
            at, key = _first_inside(cols, at, key, f, want, ascending)
        if len(at) > want:
            # Only the rows up to the want-th key (with its ties) can be on the page.
            signed = key if ascending else -key
            cut = np.partition(signed, want - 1)[want - 1]
            near = np.flatnonzero(signed <= cut)
            at, key = at[near], key[near]
        found.append((cols, at, key))
    if not found:
        return []
    key = np.concatenate([k for _, _, k in found])
    ident = np.concatenate([c.ids[at] for c, at, _ in found])
    stamp = np.concatenate([c.stamp[at] for c, at, _ in found])
    made = np.concatenate([c.created[at] for c, at, _ in found])
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


def makes_items(f: SearchFilters) -> bool:
    """Whether `items` can make a page's items: not with full text (a rank) or a point (a
    distance), which only Postgres computes."""
    return f.q is None and f.point is None


def items(snap: Snapshot, hits: Sequence[Hit]) -> list[dict[str, Any]]:
    """The search items of `hits` (of a page of `snap`) from the snapshot alone: what
    repository.ITEM_COLUMNS reads, as of the snapshot's last look."""
    out = []
    for hit in hits:
        cols = snap.changed if hit.changed else snap.base
        row = hit.row
        title = snap.changed_titles[row] if hit.changed else snap.titles[row]
        flags, bits = int(cols.flags[row]), int(cols.amenities[row])
        available = int(cols.available[row])
        lat, lng = float(cols.lat[row]), float(cols.lng[row])
        located = not (math.isnan(lat) or math.isnan(lng))
        values = (
            uuid.UUID(bytes=hit.id),
            title,
            snap.pairs[int(cols.pair[row])][1],
            f"{int(cols.postal[row]):05d}",
            int(cols.cold[row]),
            int(cols.warm[row]),
            int(cols.rooms2[row]) / 2,
            int(cols.size100[row]) / 100,
            flags & FURNISHED != 0,
            flags & PETS != 0,
            None
            if available == repository.NEVER_AVAILABLE
            else DATE_ZERO + timedelta(days=available),
            [name for i, name in enumerate(AMENITIES) if bits >> i & 1],
            lat if located else None,
            lng if located else None,
            EPOCH + timedelta(microseconds=hit.created),
        )
        out.append(repository.item(values, ()))
    return out


def _sort_column(sort: str, f: SearchFilters) -> str:
    """The Columns field a page is sorted by: created_at, or the filters' rent."""
    if sort == "newest":
        return "created"
    return "warm" if f.rent_type == "warm" else "cold"


def _walk(
    snap: Snapshot,
    f: SearchFilters,
    sort: str,
    after: PageKey | None,
    want: int,
    postings: Sequence[np.ndarray],
) -> tuple[np.ndarray, np.ndarray] | None:
    """The base's part of a city's page: its first `want` matches after `after` and their
    keys, found by walking the city's rows in the page's order (more rows at a time until
    enough match), rather than by filtering every row of the city. None where it does not
    apply (no city, or a box or circle: those take the cell order)."""
    if f.city_key is None or f.bbox is not None or f.radius_km is not None:
        return None
    name = _sort_column(sort, f)
    column: np.ndarray = getattr(snap.base, name)
    lo, hi = snap.key_slices.get(f.city_key, (0, 0))
    block = snap.orders[name][lo:hi]  # ascending (key, id)
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
    if name != "created":
        if f.min_rent is not None:
            first = bisect.bisect_left(range(len(block)), f.min_rent, key=key)
        if f.max_rent is not None:
            stop = bisect.bisect_right(range(len(block)), f.max_rent, key=key)
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
    tests = _tests(snap.base, f)  # once per walk, not per round
    hits: list[np.ndarray] = []
    found, done, step = 0, 0, 4 * want
    while done < len(rows) and found < want:
        chunk = rows[done : done + step]
        hits.append(_narrow(snap, chunk, tests, postings))
        found += len(hits[-1])
        done += len(chunk)
        # The next chunk: what the rest of the page needs at the share of rows matched so
        # far, with half again for luck; four times as many rows while none matched.
        step = math.ceil((want - found) * done / found * 1.5) if found else 4 * done
    at = (np.concatenate(hits) if hits else np.zeros(0, dtype=block.dtype))[:want]
    return at, column[at]


def _strip(lat: float) -> int:
    """The strip of a latitude (the same arithmetic as _cell_keys, for one value)."""
    return math.floor((lat + 90.0) / STRIP_DEG)


def _lng_units(lng: float) -> int:
    return math.floor((lng + 180.0) * _LNG_UNITS)


def _cell_keys(pair: np.ndarray, lat: np.ndarray, lng: np.ndarray) -> np.ndarray:
    """Each row's cell key: pair code, strip and longitude, so that sorting by it orders each
    city by strip, then longitude (rows without coordinates last)."""
    located = ~(np.isnan(lat) | np.isnan(lng))
    strip = np.where(located, np.floor((np.where(located, lat, 0.0) + 90.0) / STRIP_DEG), 0)
    units = np.where(located, np.floor((np.where(located, lng, 0.0) + 180.0) * _LNG_UNITS), 0)
    strip = np.where(located, strip.astype(np.int64), _NO_STRIP)
    return (pair.astype(np.int64) << 48) | (strip << 32) | units.astype(np.int64)


def _extents(pair: np.ndarray, lat: np.ndarray, lng: np.ndarray, pairs: int) -> np.ndarray:
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


def _cell_rows(snap: Snapshot, box: BBox, lo: int, hi: int) -> np.ndarray:
    """Base rows within [lo, hi) whose coordinates may lie in `box`: every row that does, in
    ascending order (whole cells: rows just outside the box may be among them)."""
    extent = snap.pair_extent
    first, last = int(snap.base.pair[lo]), int(snap.base.pair[hi - 1])
    candidates = first + np.flatnonzero(
        (extent[first : last + 1, 0] <= box.max_lat)
        & (extent[first : last + 1, 1] >= box.min_lat)
        & (extent[first : last + 1, 2] <= box.max_lng)
        & (extent[first : last + 1, 3] >= box.min_lng)
    )
    s0, s1 = max(_strip(box.min_lat), 0), min(_strip(box.max_lat), _NO_STRIP - 1)
    if not len(candidates) or s1 < s0:
        return np.zeros(0, dtype=np.int64)
    heads = candidates.astype(np.int64) << 48
    strips = np.arange(s0, s1 + 1, dtype=np.int64) << 32
    if len(candidates) * len(strips) <= _MAX_CELL_RUNS:
        # One run per (city, strip): the strip's rows within the box's longitudes.
        cells = (heads[:, None] | strips[None, :]).ravel()
        west = max(_lng_units(box.min_lng), 0)
        east = min(_lng_units(box.max_lng), (1 << 32) - 1)
        starts = np.searchsorted(snap.cells, cells | west, side="left")
        ends = np.searchsorted(snap.cells, cells | east, side="right")
    else:
        # A box of many cities and strips: per city, its rows of those strips (the filters
        # then check the longitudes).
        starts = np.searchsorted(snap.cells, heads | strips[0], side="left")
        ends = np.searchsorted(snap.cells, heads | (strips[-1] + (1 << 32)), side="left")
    lengths = ends - starts
    keep = lengths > 0
    starts, lengths = starts[keep], lengths[keep]
    if not len(starts):
        return np.zeros(0, dtype=np.int64)
    # The runs as one array of positions: each run's start, then +1 per row.
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()), dtype=np.int64)


Group = tuple[str, str, bytes, bytes, bytes]  # city_key, city, records, titles, title lengths


def build_base(groups: Iterable[Group], words: dict[str, float]) -> Snapshot:
    """A snapshot from the full load's rows: (city_key, city, concatenated records, their
    titles concatenated in UTF-8, each title's length in bytes as big-endian int4), each
    city's rows in cell order."""
    ordered = sorted(groups, key=lambda g: (g[0], g[1]))
    pairs = tuple((g[0], g[1]) for g in ordered)
    parts = [np.frombuffer(g[2] or b"", dtype=RECORD) for g in ordered]
    lengths = [np.frombuffer(g[4] or b"", dtype=">i4") for g in ordered]
    for (key, city, _, blob, _), part, length in zip(ordered, parts, lengths, strict=True):
        if len(length) != len(part) or int(length.sum()) != len(blob):
            raise ValueError(f"titles do not match the records of {key!r} ({city!r})")
    records = np.concatenate(parts) if parts else _empty_records()
    sizes = np.asarray([len(p) for p in parts], dtype=np.int64)
    pair = np.repeat(np.arange(len(parts), dtype=np.int32), sizes)
    lat, lng = records["lat"].astype(np.float64), records["lng"].astype(np.float64)
    cells = _cell_keys(pair, lat, lng)
    order = np.argsort(cells, kind="stable")  # pair codes lead: each city stays one slice
    cells, pair = cells[order], pair[order]
    base = Columns.from_records(records[order], pair)
    # The titles stay in load order; each base row keeps where its own one is.
    length = np.concatenate(lengths or [np.zeros(0, dtype=">i4")]).astype(np.int32)
    start = np.cumsum(length, dtype=np.int64) - length
    titles = Titles(b"".join(g[3] for g in ordered), start[order], length[order])
    key_slices: dict[str, tuple[int, int]] = {}
    offset = 0
    for (key, _), n in zip(pairs, sizes.tolist(), strict=True):
        lo = key_slices.get(key, (offset, offset))[0]
        key_slices[key] = (lo, offset + n)
        offset += n
    empty = Columns.from_records(_empty_records(), np.zeros(0, dtype=np.int32))
    id_order = np.argsort(base.ids, kind="stable")
    # Which city_key each row belongs to (the slices are contiguous, in pair order), and each
    # row's place in id order (sorts as the ids do, cheaper than the 16-byte ids themselves).
    key_code = np.zeros(len(base), dtype=np.int32)
    for code, (lo, hi) in enumerate(key_slices.values()):
        key_code[lo:hi] = code
    id_rank = np.empty(len(base), dtype=np.int64)
    id_rank[id_order] = np.arange(len(base))
    orders = {
        name: np.lexsort((id_rank, getattr(base, name), key_code)).astype(np.int32)
        for name in ("created", "warm", "cold")
    }
    return Snapshot(
        pairs=pairs,
        base=base,
        titles=titles,
        key_slices=key_slices,
        id_order=id_order,
        sorted_ids=base.ids[id_order],
        cells=cells,
        orders=orders,
        pair_extent=_extents(pair, base.lat, base.lng, len(pairs)),
        live=np.ones(len(base), dtype=bool),
        changed=empty,
        changed_in={},
        changed_lexemes=(),
        changed_titles=(),
        words=words,
    )


def with_changes(snap: Snapshot, changes: dict[bytes, Change]) -> Snapshot:
    """`snap` with its base rows of changed listings retired and their active versions added."""
    ids = np.asarray(list(changes), dtype="S16")
    live = np.ones(len(snap.base), dtype=bool)
    if len(ids):
        at = snap.base_position(ids)
        live[at[at >= 0]] = False
    pairs = list(snap.pairs)
    codes = {p: i for i, p in enumerate(pairs)}
    active = [c for c in changes.values() if c.status == "active"]
    pair = np.empty(len(active), dtype=np.int32)
    for i, c in enumerate(active):
        if c.pair not in codes:
            codes[c.pair] = len(pairs)
            pairs.append(c.pair)
        pair[i] = codes[c.pair]
    records = (
        np.frombuffer(b"".join(c.record for c in active), dtype=RECORD)
        if active
        else _empty_records()
    )
    return replace(
        snap,
        pairs=tuple(pairs),
        live=live,
        changed=Columns.from_records(records, pair),
        changed_in=_rows_by_key([c.pair[0] for c in active]),
        changed_lexemes=tuple(c.lexemes for c in active),
        changed_titles=tuple(c.title for c in active),
        changed_postings={},
    )


def _rows_by_key(keys: Sequence[str]) -> dict[str, np.ndarray]:
    """For each key, the positions where it occurs in `keys` (ascending)."""
    rows: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        rows.setdefault(key, []).append(i)
    return {key: np.asarray(at, dtype=np.int64) for key, at in rows.items()}


def _unknown(
    snap: Snapshot, changes: dict[bytes, Change], seen: list[tuple[uuid.UUID, int]]
) -> list[uuid.UUID]:
    """The listings among `seen` (id, version) whose version the index does not hold: not the
    base row's (the full load may have read it already) nor the last change applied."""
    out: list[uuid.UUID] = []
    unchanged: list[tuple[uuid.UUID, int]] = []
    latest: dict[uuid.UUID, int] = {}
    for listing_id, stamp in seen:  # deleted and inserted again: the row's stamp wins
        latest[listing_id] = max(latest.get(listing_id, stamp), stamp)
    for listing_id, stamp in latest.items():
        known = changes.get(listing_id.bytes)
        if known is None:
            unchanged.append((listing_id, stamp))
        elif known.stamp != stamp:
            out.append(listing_id)
    if unchanged:
        ids = np.asarray([i.bytes for i, _ in unchanged], dtype="S16")
        at = snap.base_position(ids)
        stamps = np.asarray([s for _, s in unchanged], dtype=np.int64)
        held = np.zeros(len(unchanged), dtype=bool)
        if len(snap.base):
            held = (at >= 0) & (snap.base.stamp[np.maximum(at, 0)] == stamps)
        # A tombstone of a listing the index never held: nothing to retire.
        held |= (at < 0) & (stamps == repository.DELETED_STAMP)
        out.extend(i for (i, _), h in zip(unchanged, held.tolist(), strict=True) if not h)
    return out


def _postings(snap: Snapshot, blobs: Sequence[bytes]) -> list[np.ndarray]:
    """For each blob of ids (concatenated 16-byte uuids), which base rows are among them.
    Base rows that changed since the load are retired (`live`) whatever their text is now."""
    out = []
    for blob in blobs:
        at = snap.base_position(np.frombuffer(blob, dtype="S16"))
        posting = np.zeros(len(snap.base), dtype=bool)
        posting[at[at >= 0]] = True
        out.append(posting)
    return out


def plain_lexemes(tsquery: str) -> tuple[str, ...] | None:
    """The lexemes of a tsquery that is a plain AND of them ("'balkon' & 'hell'"), else None
    (phrases, OR, NOT, prefixes, or no lexeme at all)."""
    if not _PLAIN_AND.fullmatch(tsquery):
        return None
    return tuple(dict.fromkeys(_LEXEME.findall(tsquery)))


@dataclass
class _State:
    snap: Snapshot | None = None
    changes: dict[bytes, Change] = field(default_factory=dict)
    seen_until: datetime | None = None  # the clock of the last look at the changes
    loaded_at: float = 0.0  # monotonic


class FacetIndex:
    """One process's facet index: load, follow changes, count (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        settings: FacetIndexSettings,
        redis: aioredis.Redis | None = None,
        *,
        words_key: str = WORDS_KEY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._redis = redis  # remembers the words in use across restarts (`words_key`)
        self._words_key = words_key
        self._clock = clock  # monotonic seconds: load ages and how fresh looks are
        self._settings = settings
        self._state = _State()
        self._load_task: asyncio.Task[None] | None = None
        self._look_task: asyncio.Task[None] | None = None
        # Monotonic times: when the look under way began, and when the snapshot's last look
        # (or its load) began, i.e. what it is as fresh as.
        self._look_began = 0.0
        self._fresh_as_of = 0.0
        self._wanted: set[str] = set()  # lexemes whose postings to load
        self._postings_task: asyncio.Task[None] | None = None
        self._tick_task: asyncio.Task[None] | None = None
        # Where the last look for changes read (the replica, or the primary when the replica
        # is down or lagging): what a count is as fresh as.
        self.last_target: Literal["replica", "primary"] | None = None
        self._queries: OrderedDict[str, tuple[str, ...] | None] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self._settings.enabled

    def start(self) -> None:
        """Start the first full load in the background (counts go to Postgres until then), and
        the looks for changes between requests (a bulk import is noticed within seconds)."""
        if self.enabled:
            self._start_load()
            self._tick_task = asyncio.create_task(self._tick(), name="facet-index-tick")

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._settings.look_interval_seconds)
            with contextlib.suppress(Exception):  # logged by current(); the next tick retries
                await self.current(max_staleness=0.0)

    @property
    def ready(self) -> bool:
        return self._state.snap is not None

    @property
    def words_loaded(self) -> frozenset[str]:
        """The lexemes whose postings this process holds."""
        snap = self._state.snap
        return frozenset(snap.postings) if snap is not None else frozenset()

    def _start_load(self) -> None:
        if self._load_task is None or self._load_task.done():
            self._load_task = asyncio.create_task(self._load(), name="facet-index-load")

    async def _load(self) -> None:
        started = self._clock()
        try:
            session = ReplicaSession(self._db)
            # The clock first: whatever changes after it is read as a change.
            clock = await repository.fetch_clock(session)
            words = WordStats.from_row(*await repository.fetch_word_stats(session)).words
            groups = await repository.fetch_binary(
                session, repository.facet_load_statement(AMENITIES), timeout_ms=LOAD_TIMEOUT_MS
            )
            snap = await asyncio.to_thread(
                build_base,
                (
                    (k, c, bytes(b or b""), bytes(t or b""), bytes(n or b""))
                    for k, c, b, t, n in groups
                ),
                words,
            )
        except Exception as exc:
            FACET_INDEX_LOADS.labels("failed").inc()
            log.warning("facet_index_load_failed", error=repr(exc)[:200])
            return
        # Changes seen during the load were read against the old base: start again from the clock.
        previous = self._state.snap
        self._state = _State(snap=snap, seen_until=clock, loaded_at=self._clock())
        self._fresh_as_of = started  # as fresh as the load (until then, the old snapshot's)
        # The words in use, for the new base: this process's, else those any process used
        # lately (so a restarted process does not make its first full-text counts wait).
        in_use = list(previous.postings) if previous else await self._words_in_use()
        self._want_postings(w for w in in_use if snap.words.get(w, 0.0) >= self._min_share)
        FACET_INDEX_LOADS.labels("ok").inc()
        FACET_INDEX_ROWS.set(len(snap.base))
        log.info(
            "facet_index_loaded",
            listings=len(snap.base),
            cities=len(snap.key_slices),
            seconds=round(self._clock() - started, 2),
        )

    async def _look(self, began: float) -> None:
        """Read which listings changed since the last look (id and version, from an index),
        then the records of those not known in that version, and apply them. `began`: when
        it was asked for (monotonic), before it reads anything."""
        state = self._state
        snap = state.snap
        if snap is None or state.seen_until is None:
            raise Unsupported("not loaded")
        since = state.seen_until - timedelta(seconds=self._settings.overlap_seconds)
        session = ReplicaSession(self._db)
        rows = await repository.fetch_binary(session, repository.facet_changed_statement(since))
        self.last_target = session.last_target
        if self._state is not state:  # a full load finished meanwhile: it is newer
            return
        clock = rows[0][0]
        new = _unknown(snap, state.changes, [(r[1], r[2]) for r in rows if r[1] is not None])
        if len(state.changes) + len(new) > self._settings.max_changes:
            self._reload_after_changes(len(state.changes) + len(new))
        if not new:
            state.seen_until = clock
            self._fresh_as_of = max(self._fresh_as_of, began)
            return
        records = await repository.fetch_binary(
            session, repository.facet_rows_statement(AMENITIES, new)
        )
        if self._state is not state:
            return
        # A listing asked for and not found was deleted outright (tombstone): it retires.
        fresh = {i.bytes: GONE for i in new}
        for listing_id, status, key, city, record, lexemes, title in records:
            raw = bytes(record)
            stamp = int(np.frombuffer(raw, dtype=RECORD)["stamp"][0])
            fresh[listing_id.bytes] = Change(
                status, (key, city), raw, frozenset(lexemes), stamp, title
            )
        merged = {**state.changes, **fresh}
        snap = await asyncio.to_thread(with_changes, snap, merged)
        if self._state is not state:
            return
        FACET_INDEX_CHANGES.inc(len(fresh))
        self._state = _State(snap, merged, clock, state.loaded_at)
        self._fresh_as_of = max(self._fresh_as_of, began)

    def _reload_after_changes(self, changes: int) -> NoReturn:
        """A bulk import: load everything again rather than carry a second copy of the table."""
        log.info("facet_index_reload_after_changes", changes=changes)
        self._state = _State()
        self._start_load()
        raise Unsupported("reloading")

    async def current(self, max_staleness: float | None = None) -> Snapshot:
        """The snapshot, with the changes of a look for them that began at most `max_staleness`
        (default: `max_staleness_seconds`) before this call, waiting for one if need be; calls
        that arrive together share it. Raises Unsupported when not loaded."""
        arrived = self._clock()
        state = self._state
        if state.snap is None:
            self._start_load()
            raise Unsupported("not loaded")
        if arrived - state.loaded_at > self._settings.reload_seconds:
            self._start_load()  # the current snapshot serves until the new one is ready
        if max_staleness is None:
            max_staleness = self._settings.max_staleness_seconds
        oldest = arrived - max_staleness
        while self._fresh_as_of < oldest:
            task = self._look_task
            if task is None or task.done():
                self._look_began = self._clock()
                task = asyncio.create_task(self._look(self._look_began), name="facet-index-look")
                self._look_task = task
            elif self._look_began < oldest:
                # Under way, but begun too early for this call: wait for it, then look again.
                with contextlib.suppress(Exception):
                    await asyncio.shield(task)
                continue
            try:
                await asyncio.shield(task)
            except Unsupported:
                raise
            except Exception as exc:
                log.warning("facet_index_look_failed", error=repr(exc)[:200])
                raise Unsupported("look failed") from exc
        snap = self._state.snap
        if snap is None:
            raise Unsupported("reloading")
        return snap

    async def lexemes(
        self, session: ReplicaSession, snap: Snapshot, q: str
    ) -> tuple[tuple[str, ...], list[np.ndarray]]:
        """The lexemes `q` ANDs and their postings, once loaded; Unsupported otherwise (then
        the postings of its common lexemes start loading for the next time)."""
        if q not in self._queries:
            parsed = plain_lexemes(await repository.fetch_tsquery(session, q))
            self._queries[q] = parsed
            if len(self._queries) > MAX_REMEMBERED_QUERIES:
                self._queries.popitem(last=False)
        lexemes = self._queries[q]
        if not lexemes:
            raise Unsupported("text")
        if any(snap.words.get(lexeme, 0.0) < self._min_share for lexeme in lexemes):
            raise Unsupported("rare word")  # the GIN index answers it cheaply
        missing = [lexeme for lexeme in lexemes if lexeme not in snap.postings]
        if missing:
            # Wait for them rather than count in Postgres meanwhile: a common word's facets
            # there cost more than the pass that loads a dozen words' postings.
            self._want_postings(missing)
            task = self._postings_task
            try:
                async with asyncio.timeout(self._settings.postings_wait_seconds):
                    while task is not None and not task.done():
                        await asyncio.shield(task)
            except TimeoutError:
                pass
            missing = [lexeme for lexeme in lexemes if lexeme not in snap.postings]
            if missing:
                raise Unsupported("postings loading")
        return lexemes, [snap.postings[lexeme] for lexeme in lexemes]

    @property
    def _min_share(self) -> float:
        return self._settings.min_word_share

    async def _words_in_use(self) -> list[str]:
        if self._redis is None:
            return []
        try:
            async with asyncio.timeout(1.0):
                words = await self._redis.zrevrange(
                    self._words_key, 0, self._settings.max_lexemes - 1
                )
        except Exception as exc:  # a cold start is slower, not wrong
            log.warning("facet_index_words_unavailable", error=repr(exc)[:200])
            return []
        return [w.decode() if isinstance(w, bytes) else str(w) for w in words]

    async def _remember_words(self, lexemes: Sequence[str]) -> None:
        if self._redis is None:
            return
        now = time.time()
        try:
            async with asyncio.timeout(1.0), self._redis.pipeline(transaction=False) as pipe:
                pipe.zadd(self._words_key, dict.fromkeys(lexemes, now))
                pipe.zremrangebyscore(self._words_key, 0, now - WORDS_KEPT_SECONDS)
                pipe.zremrangebyrank(self._words_key, 0, -WORDS_KEPT - 1)
                await pipe.execute()
        except Exception as exc:
            log.warning("facet_index_words_unavailable", error=repr(exc)[:200])

    def _want_postings(self, lexemes: Iterable[str]) -> None:
        self._wanted.update(lexemes)
        if self._wanted and (self._postings_task is None or self._postings_task.done()):
            self._postings_task = asyncio.create_task(
                self._load_postings(), name="facet-index-postings"
            )

    async def _load_postings(self) -> None:
        """Load the wanted postings, up to POSTINGS_BATCH lexemes per pass over the listings
        (a pass costs about the same for one common word as for a dozen)."""
        while True:
            snap = self._state.snap
            if snap is None:
                return
            batch = sorted(w for w in self._wanted if w not in snap.postings)[:POSTINGS_BATCH]
            self._wanted.difference_update(batch)
            if not batch:
                return
            try:
                rows = await repository.fetch_binary(
                    ReplicaSession(self._db),
                    repository.postings_statement(batch),
                    timeout_ms=LOAD_TIMEOUT_MS,
                )
                blobs = [bytes(blob or b"") for blob in rows[0]]
                arrays = await asyncio.to_thread(_postings, snap, blobs)
            except Exception as exc:
                log.warning("facet_index_postings_failed", lexemes=batch, error=repr(exc)[:200])
                continue  # what is wanted again is asked for again
            for lexeme, posting in zip(batch, arrays, strict=True):
                while len(snap.postings) >= self._settings.max_lexemes:
                    snap.postings.pop(next(iter(snap.postings)))
                snap.postings[lexeme] = posting
            log.info("facet_index_postings_loaded", lexemes=batch)
            await self._remember_words(batch)

    async def count(self, session: ReplicaSession, f: SearchFilters) -> list[Row]:
        """Facet rows for `f`, with the changes of a look begun at most max_staleness_seconds
        before this call; Unsupported if the index cannot. `session.last_target` is set to
        where that look read."""
        if not self.enabled:
            raise Unsupported("disabled")
        snap, lexemes, postings = await self._prepare(session, f)
        target = self.last_target
        rows = count(snap, f, lexemes, postings)
        session.last_target = target
        return rows

    async def page(
        self,
        session: ReplicaSession,
        query: SearchQuery,
        after: PageKey | None,
    ) -> list[Hit]:
        """The listings on a newest or rent-sorted search page, limit + 1 of them, as fresh as
        `count`'s; Unsupported if the index cannot."""
        return (await self._page(session, query, after))[1]

    async def page_items(
        self,
        session: ReplicaSession,
        query: SearchQuery,
        after: PageKey | None,
    ) -> list[dict[str, Any]]:
        """The items of `page`'s listings from the index alone, as fresh as its look (no read
        of Postgres): for pages whose items carry neither a rank (full text) nor a distance
        (a point), which only Postgres computes. `session.last_target` is set to where that
        look read."""
        if not makes_items(query.filters):
            raise Unsupported("rank or distance")
        snap, hits = await self._page(session, query, after)
        session.last_target = self.last_target
        return items(snap, hits)

    async def _page(
        self, session: ReplicaSession, query: SearchQuery, after: PageKey | None
    ) -> tuple[Snapshot, list[Hit]]:
        f = query.filters
        if not self.enabled or query.sort not in ("newest", "rent_asc", "rent_desc"):
            raise Unsupported("sort")
        snap, lexemes, postings = await self._prepare(session, f)
        return snap, page(snap, f, query.sort, after, query.limit + 1, lexemes, postings)

    async def _prepare(
        self, session: ReplicaSession, f: SearchFilters
    ) -> tuple[Snapshot, tuple[str, ...], list[np.ndarray]]:
        """The current snapshot and the full text's lexemes and postings, for `f`."""
        if session.force_primary:
            # Read-your-writes: the author's own change may not have replayed on the replica
            # the index looks at; Postgres answers on the primary.
            raise Unsupported("pinned to the primary")
        if any(name not in AMENITIES for name in f.amenities):
            raise Unsupported("amenity")
        if f.district_key is not None:
            raise Unsupported("district")  # not in the records: Postgres answers
        snap = await self.current()
        lexemes: tuple[str, ...] = ()
        postings: list[np.ndarray] = []
        if f.q is not None:
            lexemes, postings = await self.lexemes(session, snap, f.q)
        return snap, lexemes, postings

    async def aclose(self) -> None:
        for task in (self._tick_task, self._load_task, self._look_task, self._postings_task):
            await stop_task(task)
