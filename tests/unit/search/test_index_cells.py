"""The in-process index's cell order (no database): the rows a lat/lng box names are every row
in it, a radius page computed lazily is the page of a full pass, a city's walk is the page of
every match, and items show each row's own values."""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from sichrplace.search.backends.index import index_items
from sichrplace.search.index import layout
from sichrplace.search.index import query as index_query
from sichrplace.search.index.geometry import STRIP_DEG, cell_rows
from sichrplace.search.index.layout import RECORD
from sichrplace.search.index.query import Hit
from sichrplace.search.index.snapshot import Change, Snapshot, build_base, with_changes
from sichrplace.search.params import SearchParams, to_query
from sichrplace.search.repository.where import EARTH_RADIUS_M
from sichrplace.search.schemas import BBox, SearchFilters


def page(snap: Snapshot, f: SearchFilters, sort: str, after: Any, want: int) -> list[Hit]:
    return index_query.run(index_query.page(snap, f, sort, after, want))


# Three "cities" around (50, 8), one of them straddling the others, and listings without
# coordinates in each.
CITIES = (("a", "A", 50.00, 8.00, 0.10), ("b", "B", 50.05, 8.08, 0.06), ("c", "C", 50.3, 8.5, 0.2))


def _snapshot(seed: int, per_city: int = 3000) -> Snapshot:
    rng = np.random.default_rng(seed)
    groups = []
    for key, name, lat, lng, spread in CITIES:
        records = np.zeros(per_city, dtype=RECORD)
        ids = [rng.bytes(16) for _ in range(per_city)]
        records["id"] = ids
        records["lat"] = lat + rng.uniform(-spread, spread, per_city)
        records["lng"] = lng + rng.uniform(-spread, spread, per_city)
        records["lat"][:20] = np.nan
        records["lng"][:20] = np.nan
        records["lat"][20:40] = np.round(records["lat"][20:40], 2)  # on strip edges
        records["warm"] = rng.choice([50_000, 80_000, 120_000], per_city)  # ties
        records["cold"] = records["warm"] - 10_000
        records["created"] = rng.integers(0, 400, per_city)  # ties too
        records["rooms2"] = rng.integers(2, 11, per_city)
        records["amenities"] = rng.integers(0, 16, per_city)  # the first four amenities
        records["flags"] = rng.integers(0, 4, per_city)
        titles = [_title(name, i).encode() for i in ids]
        lengths = np.asarray([len(t) for t in titles], dtype=">i4").tobytes()
        groups.append((key, name, records.tobytes(), b"".join(titles), lengths))
    return build_base(groups, {})


def _title(city: str, listing_id: bytes) -> str:
    return f"Wohnung in {city}, Straße {listing_id.hex()}"  # not ASCII: UTF-8 lengths


def _in_box(snap: Snapshot, box: BBox) -> np.ndarray:
    lat, lng = snap.base["lat"], snap.base["lng"]
    return np.flatnonzero(
        (lat >= box.min_lat) & (lat <= box.max_lat) & (lng >= box.min_lng) & (lng <= box.max_lng)
    )


@pytest.mark.parametrize("seed", range(4))
def test_a_box_names_every_row_in_it_and_little_else(seed: int) -> None:
    snap = _snapshot(seed)
    rng = random.Random(seed)
    for _ in range(200):
        half_lat, half_lng = rng.choice((0.002, 0.01, 0.05, 0.3)), rng.choice((0.003, 0.02, 0.4))
        lat, lng = 50.0 + rng.uniform(-0.2, 0.4), 8.0 + rng.uniform(-0.2, 0.6)
        box = BBox(lng - half_lng, lat - half_lat, lng + half_lng, lat + half_lat)
        key = rng.choice((None, "a", "b", "c"))
        lo, hi = snap.key_slices[key] if key else (0, len(snap.base))
        rows = cell_rows(snap.cells, snap.base.pair, snap.pair_extent, box, lo, hi)
        expected = _in_box(snap, box)
        expected = expected[(expected >= lo) & (expected < hi)]
        assert np.all(np.diff(rows) > 0)  # ascending, each row once
        assert set(expected.tolist()) <= set(rows.tolist())
        assert len(rows) == 0 or (rows[0] >= lo and rows[-1] < hi)
        # Whole cells at most: the box widened by one strip (and, when the runs are per
        # strip, nothing beyond its longitudes).
        wider = BBox(box.min_lng, box.min_lat - STRIP_DEG, box.max_lng, box.max_lat + STRIP_DEG)
        if half_lat * 2 / STRIP_DEG * 3 <= 4096:
            assert set(rows.tolist()) <= set(_in_box(snap, wider).tolist())


def _distance_m(snap: Snapshot, lat0: float, lng0: float) -> np.ndarray:
    lat, lng = np.radians(snap.base["lat"]), np.radians(snap.base["lng"])
    p0, l0 = math.radians(lat0), math.radians(lng0)
    h = np.sin((lat - p0) / 2) ** 2 + math.cos(p0) * np.cos(lat) * np.sin((lng - l0) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(h, 1.0)))


@pytest.mark.parametrize("seed", range(4))
def test_a_radius_page_is_the_page_of_every_row_in_the_circle(seed: int) -> None:
    """Distances computed for the first rows in key order only: the same page as computing
    them for every row (ties in the sort key included)."""
    snap = _snapshot(seed)
    rng = random.Random(seed)
    for _ in range(100):
        params: dict[str, Any] = {
            "lat": round(50.0 + rng.uniform(-0.1, 0.35), 5),
            "lng": round(8.0 + rng.uniform(-0.1, 0.5), 5),
            "radius_km": rng.choice((0.5, 2, 5, 15)),
            "sort": rng.choice(("newest", "rent_asc", "rent_desc")),
            "limit": rng.choice((1, 5, 20, 100)),
        }
        if rng.random() < 0.5:
            params["city"] = rng.choice(("A", "B", "C"))
        query = to_query(SearchParams.model_validate(params))
        f = query.filters
        assert f.point is not None
        assert f.radius_km is not None
        got = page(snap, f, query.sort, None, query.limit + 1)
        inside = np.flatnonzero(_distance_m(snap, f.point.lat, f.point.lng) < f.radius_km * 1000)
        if f.city_key is not None:
            lo, hi = snap.key_slices[f.city_key]
            inside = inside[(inside >= lo) & (inside < hi)]
        cols = snap.base
        key = cols["created"] if query.sort == "newest" else cols["warm"]
        ids = cols.ids.tobytes()  # whole 16 bytes (an S16 item drops trailing zero bytes)
        rows = sorted(
            ((int(key[i]), ids[16 * i : 16 * i + 16]) for i in inside),
            reverse=query.sort != "rent_asc",
        )
        assert [hit.id for hit in got] == [i for _, i in rows[: query.limit + 1]], params


@pytest.mark.parametrize("seed", range(3))
def test_a_city_page_walked_in_order_is_the_page_of_every_match(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A city's page from a walk in the sort's order (the first rows that match, within the
    rent range for rent sorts) is the page the filter over every row of the city picks,
    cursor after cursor (ties in the key included), with superseded rows left out; rare
    matches take several rounds of the walk."""
    snap = _snapshot(seed)
    snap.live[rng_rows(seed, len(snap.base))] = False
    rng = random.Random(seed)
    for _ in range(120):
        params: dict[str, Any] = {
            "city": rng.choice(("A", "B", "C")),
            "sort": rng.choice(("newest", "rent_asc", "rent_desc")),
            "limit": rng.choice((9, 50)),
        }
        if rng.random() < 0.5:
            params["max_rent"] = rng.choice((50_000, 80_000, 100_000, 120_000))
        if rng.random() < 0.4:
            low = rng.choice((40_000, 70_000, 80_000, 120_000))
            params["min_rent"] = min(low, params.get("max_rent", low))
        if rng.random() < 0.3:
            params["rent_type"] = "cold"
        if rng.random() < 0.4:
            params["min_rooms"] = rng.choice((2, 3.5, 4.5))
        if rng.random() < 0.4:
            params["amenities"] = rng.choice(("balcony", "garden,elevator", "parking"))
        if rng.random() < 0.2:
            params["furnished"] = rng.choice(("true", "false"))
        query = to_query(SearchParams.model_validate(params))
        walked = _pages(snap, query)
        with monkeypatch.context() as patched:
            patched.setattr(index_query, "_walk", lambda *args: iter(()))
            assert walked == _pages(snap, query), params


def rng_rows(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).choice(n, n // 10, replace=False)


def _pages(snap: Snapshot, query: Any) -> list[list[Hit]]:
    """Every page of `query`, each from the cursor the last one ends with."""
    pages: list[list[Hit]] = []
    after = None
    while True:
        found = page(snap, query.filters, query.sort, after, query.limit + 1)
        pages.append(found[: query.limit])
        if len(found) <= query.limit:
            return pages
        last_id, created = found[query.limit - 1].id, found[query.limit - 1].created
        if query.sort == "newest":
            key = created
        else:
            rows = snap.base_position(np.asarray([last_id], dtype="S16"))
            rent = snap.base["warm" if query.filters.rent_type == "warm" else "cold"]
            key = int(rent[rows[0]])
        after = (key, last_id)


def test_items_show_each_rows_own_values() -> None:
    """A page's items from the snapshot alone: each hit's own title (titles stay in load
    order while the rows move to cell order), city, columns, and a changed listing's current
    version rather than its base row."""
    snap = _snapshot(7, per_city=500)
    moved = snap.base.ids[snap.key_slices["a"][0] + 3].ljust(16, b"\0")
    record = np.zeros(1, dtype=RECORD)
    record["id"], record["postal"], record["rooms2"], record["size100"] = moved, 1067, 5, 6225
    record["flags"], record["warm"], record["cold"] = layout.PETS, 91_000, 80_000
    record["amenities"], record["available"] = 0b101, layout.NEVER_AVAILABLE
    record["energy"] = layout.NO_ENERGY_CLASS
    record["lat"], record["lng"], record["created"] = np.nan, np.nan, 1_700_000_000_123_456
    change = Change("active", ("a", "A"), record.tobytes(), (), 5, title="Neu: Dachgeschoss")
    snap = with_changes(snap, {moved: change})
    for params in ({"city": "A", "limit": 100}, {"sort": "rent_asc", "limit": 100}):
        query = to_query(SearchParams.model_validate(params))
        hits = page(snap, query.filters, query.sort, None, query.limit)
        listed = [asdict(item) for item in index_items(snap, hits)]
        assert [item["id"] for item in listed] == [str(uuid.UUID(bytes=h.id)) for h in hits]
        for hit, item in zip(hits, listed, strict=True):
            if hit.id == moved:
                assert hit.changed
                assert item == {
                    "id": str(uuid.UUID(bytes=moved)), "title": "Neu: Dachgeschoss",
                    "city": "A", "postal_code": "01067", "cold_rent_cents": 80_000,
                    "warm_rent_cents": 91_000, "rooms": 2.5, "size_sqm": 62.25,
                    "furnished": False, "pets_allowed": True, "available_from": None,
                    "amenities": ["balcony", "elevator"], "latitude": None, "longitude": None,
                    "thumbnail_url": None,
                    "created_at": datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC),
                }  # fmt: skip
                continue
            row = int(snap.base_position(np.asarray([hit.id], dtype="S16"))[0])
            assert not hit.changed
            assert hit.row == row
            cols = snap.base
            city = snap.pairs[int(cols.pair[row])][1]
            assert item["title"] == _title(city, hit.id)
            assert item["city"] == city
            assert item["warm_rent_cents"] == int(cols["warm"][row])
            assert item["rooms"] == int(cols["rooms2"][row]) / 2
            assert item["created_at"] == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
                microseconds=int(cols["created"][row])
            )
        if params.get("city"):
            assert moved in {h.id for h in hits}
