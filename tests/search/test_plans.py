"""Plan choices of the search SQL: the density grid that picks the radius plan (its estimate,
the choice, and that both plans return exactly the same pages), and full text checked after
the indexed filters."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace

import httpx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import TextClause, text

from sichrplace.app import parts_of_app
from sichrplace.config import Settings
from sichrplace.listings.vocabulary import city_key
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.platform.parts import Parts
from sichrplace.search.backends.postgres import PostgresBackend
from sichrplace.search.index.layout import RECORD
from sichrplace.search.params import SearchParams, to_query
from sichrplace.search.parts import SEARCH as SEARCH_PARTS
from sichrplace.search.plans.grid import GRID_DEGREES, WALK_COST_RATIO, GeoGrid, sample_percent
from sichrplace.search.plans.stats import PlanStats, WordAdvice
from sichrplace.search.plans.words import Lexemes, WordStats
from sichrplace.search.repository import pages, where
from sichrplace.search.schemas import SearchFilters
from tests.conftest import running_app
from tests.search.conftest import BYPASS, SEARCH, Flat, Insert, random_flats, wait_for_replica
from tests.search.helpers import matches, walk

CENTER = (-41.5, -140.25)  # open ocean: nothing else lives here


def _uniform(per_cell: int, lat: float, lng: float, span: int = 20) -> GeoGrid:
    a0, b0 = math.floor(lat / GRID_DEGREES), math.floor(lng / GRID_DEGREES)
    rows = [
        (a, b, per_cell) for a in range(a0 - span, a0 + span) for b in range(b0 - span, b0 + span)
    ]
    return GeoGrid.from_rows(rows)


def test_estimate_of_a_uniform_area_is_its_density_times_the_circle() -> None:
    lat, lng = 52.52, 13.40
    grid = _uniform(100, lat, lng)
    cell_m2 = (GRID_DEGREES * 111_320) * (GRID_DEGREES * 111_320 * math.cos(math.radians(lat)))
    for radius_m in (500.0, 2_000.0, 5_000.0):
        expected = 100 / cell_m2 * math.pi * radius_m**2
        assert grid.expected_in_circle(lat, lng, radius_m) == pytest.approx(expected, rel=0.02)
    assert grid.expected_in_circle(-10.0, -10.0, 5_000.0) == 0  # nobody lives there


def _near(lat: float, lng: float, radius_km: float, **other: object) -> SearchFilters:
    return to_query(
        SearchParams.model_validate({"lat": lat, "lng": lng, "radius_km": radius_km, **other})
    ).filters


def test_dense_circles_walk_and_sparse_ones_collect() -> None:
    lat, lng = 52.52, 13.40
    dense = _uniform(400, lat, lng)
    assert dense.walk_is_cheaper(_near(lat, lng, 2), page=21)
    # The same circle holding a few listings among a million elsewhere: walking would pass
    # ~21 * 1e6 / few index tuples first.
    sparse = GeoGrid({**_uniform(1, lat, lng, span=3).cells, (0, 0): 1_000_000}, 1_000_036)
    assert not sparse.walk_is_cheaper(_near(lat, lng, 1), page=21)
    assert not GeoGrid({}, 0).walk_is_cheaper(_near(lat, lng, 1), page=21)
    # The threshold itself: expected walk = page * total / in_circle, against the box.
    in_circle = dense.expected_in_circle(lat, lng, 2_000)
    assert 21 * dense.total / in_circle <= WALK_COST_RATIO * in_circle * 4 / math.pi


def _sample_row(lat: float, lng: float, warm: int, rooms: float = 2.0) -> tuple[str, bytes]:
    """A sampled Berlin listing as the sample statement returns it: city_key, index record."""
    record = np.zeros(1, dtype=RECORD)
    record["lat"], record["lng"], record["postal"] = lat, lng, 10115
    record["warm"], record["cold"] = warm, warm - 20_000
    record["rooms2"], record["size100"], record["flags"] = int(rooms * 2), 6000, 2
    record["available"] = 2**31 - 1
    return "berlin", record.tobytes()


def test_filters_that_few_listings_in_the_circle_pass_lengthen_the_walk() -> None:
    """The circle is dense, but its flats are dear: a cheap-flat search would pass most of
    the newest index before a page is full, so it collects; the sample knows it."""
    lat, lng = 52.52, 13.40
    counts = _uniform(2_000, lat, lng)
    sample = [_sample_row(lat, lng, warm=150_000 + i) for i in range(380)]
    sample += [_sample_row(lat, lng, warm=60_000)] * 2  # one in ~200 under 700 EUR
    grid = GeoGrid.from_rows(((a, b, n) for (a, b), n in counts.cells.items()), sample)
    assert grid.walk_is_cheaper(_near(lat, lng, 2), page=21)
    assert grid.walk_is_cheaper(_near(lat, lng, 2, max_rent=200_000), page=21)
    assert not grid.walk_is_cheaper(_near(lat, lng, 2, max_rent=70_000), page=21)
    cell = (math.floor(lat / GRID_DEGREES), math.floor(lng / GRID_DEGREES))
    share = grid.passing_share(_near(lat, lng, 2, max_rent=70_000), [cell])
    assert share == pytest.approx((2 + 0.5) / (382 + 1))
    # Checked like the SQL: rooms, and an amenity nobody in the sample has.
    assert grid.walk_is_cheaper(_near(lat, lng, 2, min_rooms=2), page=21)
    assert not grid.walk_is_cheaper(_near(lat, lng, 2, min_rooms=3), page=21)
    assert not grid.walk_is_cheaper(_near(lat, lng, 2, amenities="garden"), page=21)
    # A rent sort walks the rent index itself: its bounds do not count, the bar is lower.
    assert not grid.walk_is_cheaper(_near(lat, lng, 2, max_rent=70_000), page=21, rent_sorted=True)
    assert grid.walk_is_cheaper(_near(lat, lng, 5, max_rent=70_000), page=21, rent_sorted=True)


@given(
    lat=st.floats(-85, 85),
    lng=st.floats(-179.9, 179.9),
    radius_m=st.floats(10, 200_000),
    bearing=st.floats(0, 2 * math.pi),
)
def test_the_radius_prefilter_box_holds_the_whole_circle(
    lat: float, lng: float, radius_m: float, bearing: float
) -> None:
    box = where.radius_box(lat, lng, radius_m)
    if box is None:  # near a pole or across the antimeridian: no prefilter at all
        return
    # The point at radius_m in direction `bearing`, on the sphere `<->` measures on.
    d = radius_m / where.EARTH_RADIUS_M
    p1, l1 = math.radians(lat), math.radians(lng)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(bearing))
    l2 = l1 + math.atan2(
        math.sin(bearing) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    assert box.min_lat <= math.degrees(p2) <= box.max_lat
    assert box.min_lng <= math.degrees(l2) <= box.max_lng


def test_the_walk_form_has_no_gist_condition() -> None:
    query = to_query(
        SearchParams.model_validate({"lat": 52.5, "lng": 13.4, "radius_km": 2, "sort": "newest"})
    )
    collect = pages.keyset_statement(query, None)
    walk_form = pages.keyset_statement(query, None, radius_via_index=False)
    assert "&&" in collect.sql
    assert "&&" not in walk_form.sql
    assert "<= :radius_m" in walk_form.sql


class _Fixed(PlanStats):
    """Plan statistics set by the test."""

    def __init__(self, db: Database, grid: GeoGrid | None) -> None:
        super().__init__(db, max_age_seconds=3600)
        self.grid = grid
        self.word_stats: WordStats | None = None

    def current(self) -> GeoGrid | None:
        return self.grid

    def words(self) -> WordAdvice | None:
        return None if self.word_stats is None else WordAdvice(self.word_stats, Lexemes())


@pytest.fixture
def fixed_density(parts: Parts, db: Database) -> Iterator[_Fixed]:
    """Plan statistics the test sets; the facet index is out of the way (these tests are about
    the SQL that Postgres answers with; tests/search/test_index_differential.py checks that the
    index's pages are the same)."""
    fixed = _Fixed(db, None)
    original = parts.get(SEARCH_PARTS)
    backend = PostgresBackend(fixed, None)
    parts.swap(SEARCH_PARTS, replace(original, plan_stats=fixed, backend=backend))
    yield fixed
    parts.swap(SEARCH_PARTS, original)


@pytest.mark.parametrize("sort", ["newest", "rent_asc"])
async def test_both_radius_plans_return_the_same_pages(
    client: httpx.AsyncClient,
    insert_flats: Insert,
    city: str,
    fixed_density: _Fixed,
    sort: str,
) -> None:
    flats: list[Flat] = random_flats(city, 120, seed=77, center=CENTER, spread_km=8)
    for flat in flats:
        flat.status = "active"
    await insert_flats(flats)
    params = {"city": city, "lat": CENTER[0], "lng": CENTER[1], "radius_km": 4, "sort": sort}
    expected = {str(f.id) for f in flats if matches(f, params)}
    assert expected  # the circle is not empty

    fixed_density.grid = None  # no grid: collect through GiST
    collected = await walk(client, params, limit=7)
    fixed_density.grid = _uniform(10_000, *CENTER)  # "dense": walk the sort index
    walked = await walk(client, params, limit=7)

    assert [i["id"] for i in walked] == [i["id"] for i in collected]
    assert {i["id"] for i in walked} == expected


async def test_the_grid_loads_from_the_replica(
    db: Database, insert_flats: Insert, city: str
) -> None:
    flats = random_flats(city, 30, seed=5, center=CENTER, spread_km=1)
    for flat in flats:
        flat.status = "active"
    await insert_flats(flats)
    density = PlanStats(db, max_age_seconds=3600)
    assert density.current() is None  # the first call starts the load
    await density.refresh()
    grid = density.current()
    assert grid is not None
    assert grid.expected_in_circle(CENTER[0], CENTER[1], 3_000) >= 30 * 0.5
    # The sample carries each listing's filter columns, in its cell (all of them when the
    # table is small enough to be sampled whole).
    assert grid.sample is not None
    rows = grid.sample.by_city.get(city_key(city), np.zeros(0, dtype=np.int64))
    cols = grid.sample.cols
    sampled = {
        (
            f"{cols['postal'][i]:05d}",
            int(cols["warm"][i]),
            int(cols["cold"][i]),
            cols["rooms2"][i] / 2,
        )
        for i in rows.tolist()
    }
    written = {(f.postal_code, f.cold + f.utilities, f.cold, float(f.rooms)) for f in flats}
    assert sampled <= written
    if sample_percent(grid.total) == 100.0:
        assert len(rows) == len(flats)
    for _, _, _, rooms in sampled:
        share = grid.passing_share(_near(*CENTER, 3, city=city, min_rooms=rooms), [])
        assert share == pytest.approx(0.5)  # no sample rows given: no evidence either way
    await density.aclose()


def test_full_text_is_checked_after_indexed_filters_only_when_there_are_some() -> None:
    def where(params: dict[str, object]) -> str:
        query = to_query(SearchParams.model_validate(params))
        return pages.keyset_statement(query, None).sql

    assert "EXISTS" not in where({"city": "Berlin", "q": "Balkon"})
    assert "EXISTS" in where({"city": "Berlin", "q": "Balkon", "min_rooms": 3})
    assert "EXISTS" in where({"q": "Balkon", "amenities": "garden"})
    assert "EXISTS" not in where({"city": "Berlin", "min_rooms": 3})


async def test_only_radius_searches_ask_for_the_grid(
    client: httpx.AsyncClient, fixed_density: _Fixed, city: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []
    monkeypatch.setattr(fixed_density, "current", lambda: asked.append(1))
    near = {"lat": CENTER[0], "lng": CENTER[1], "radius_km": 2}
    for params in ({"city": city}, {**near, "sort": "distance"}):
        assert (await client.get(SEARCH, params=params, headers=BYPASS)).status_code == 200
    assert asked == []  # a plain or nearest-first search never starts the grid's load
    r = await client.get(SEARCH, params={**near, "city": city, "sort": "newest"}, headers=BYPASS)
    assert r.status_code == 200
    assert asked == [1]


def test_the_text_is_checked_first_unless_the_other_filters_are_selective() -> None:
    words = {"balkon": 0.52, "stellplatz": 0.016, "sauna": 0.002}
    stats = WordStats(words, {"berlin": 0.18, "hamburg": 0.1}, 1_000_000)
    # Berlin: 180,000 listings. Stellplatz: 401 matches after ~25,000 lookups when checked
    # last, or its ~2,900 Berlin listings from the index.
    assert stats.direct_is_cheaper(["stellplatz"], "berlin", need=401, others=0.5)
    assert stats.direct_is_cheaper(["stellplatz"], "berlin", need=401, others=0.01)
    # A common word: directly, Postgres walks the city checking the text on the heap row,
    # which beats a lookup per row unless the other filters reject nearly every row.
    assert stats.direct_is_cheaper(["balkon"], "berlin", need=401, others=0.8)
    assert not stats.direct_is_cheaper(["balkon"], "berlin", need=401, others=0.01)
    # All words must match: the rarest decides; unknown words are rarer than the rarest.
    assert stats.direct_is_cheaper(["balkon", "stellplatz"], "berlin", need=401, others=0.01)
    assert stats.direct_is_cheaper(["dachsauna"], None, need=21, others=0.01)
    assert not stats.direct_is_cheaper([], "berlin", need=401)
    assert not WordStats({}, {}, 0).direct_is_cheaper(["stellplatz"], "berlin", need=401)


def test_the_sample_gives_the_other_filters_share_per_city() -> None:
    sample = [_sample_row(52.52, 13.40, warm=150_000)] * 90 + [
        _sample_row(52.52, 13.40, 50_000)
    ] * 10
    grid = GeoGrid.from_rows([], sample)
    berlin = to_query(SearchParams.model_validate({"city": "Berlin", "max_rent": 60_000})).filters
    assert grid.filter_share(berlin) == pytest.approx(10.5 / 101)
    elsewhere = to_query(SearchParams.model_validate({"city": "Jena", "max_rent": 60_000})).filters
    assert grid.filter_share(elsewhere) == pytest.approx(0.5)  # nothing sampled: no evidence


@pytest.mark.parametrize("sort", ["relevance", "newest"])
async def test_both_text_plans_return_the_same_pages(
    client: httpx.AsyncClient,
    insert_flats: Insert,
    city: str,
    fixed_density: _Fixed,
    monkeypatch: pytest.MonkeyPatch,
    sort: str,
) -> None:
    flats = random_flats(city, 90, seed=31)
    for i, flat in enumerate(flats):
        flat.status = "active"
        if i % 3 == 0:
            flat.description = "Eine Wohnung mit Stellplatz." + " Stellplatz frei." * (i % 4)
    await insert_flats(flats)
    params = {"city": city, "q": "Stellplatz", "min_rooms": 2, "sort": sort}
    expected = {str(f.id) for f in flats[::3] if f.rooms >= 2}
    assert expected
    statements: list[str] = []
    clause = where.clause

    def record(sql: str) -> TextClause:
        # The search's own statements: the in-process facet index and plan statistics read
        # `search_tsv` in the background too (their statements never check the search text).
        if where.TSQUERY in sql:
            statements.append(sql)
        return clause(sql)

    monkeypatch.setattr(where, "clause", record)

    fixed_density.word_stats = None  # no statistics: the text is checked last
    last = await walk(client, params, limit=4)
    assert statements
    assert all("EXISTS" in sql for sql in statements)
    statements.clear()
    fixed_density.word_stats = WordStats({"stellplatz": 0.0001}, {}, 1_000_000)  # rare
    first = await walk(client, params, limit=4)
    assert not any("EXISTS" in sql for sql in statements)
    assert any("@@" in sql for sql in statements)

    assert [i["id"] for i in first] == [i["id"] for i in last]
    assert {i["id"] for i in first} == expected


async def test_word_statistics_load_from_the_replica(
    db: Database, insert_flats: Insert, city: str
) -> None:
    await insert_flats(random_flats(city, 5, seed=8))
    async with db.primary.connect() as conn:
        await conn.execute(text("ANALYZE listings"))
        await conn.commit()
    await wait_for_replica(db)
    stats = PlanStats(db, max_age_seconds=3600)
    await stats.refresh()
    advice = stats.words()
    assert advice is not None
    assert advice.stats.total > 0
    assert advice.stats.words["wohnung"] > 0.5  # every listing says "Wohnung"
    assert await advice.lexemes.of(ReplicaSession(db), "Balkone") == ("balkon",)
    await stats.aclose()


def test_a_city_rent_range_is_collected_when_few_of_the_city_pass() -> None:
    lat, lng = 52.52, 13.40
    cheap = [_sample_row(lat, lng, warm=50_000, rooms=1.0)] * 100  # a tenth under 600 EUR...
    dear = [_sample_row(lat, lng, warm=150_000, rooms=3.0)] * 900
    # 1,000 of the city sampled from ~50,000 (about 2 %, as SAMPLE_ROWS of 1M gives).
    counts = [(a, b, n) for (a, b), n in _uniform(31, lat, lng).cells.items()]
    grid = GeoGrid.from_rows(counts, cheap + dear)

    def collect(**params: object) -> bool:
        query = to_query(SearchParams.model_validate({"city": "Berlin", **params}))
        return grid.collect_is_cheaper(query.filters, page=21)

    # ...and none of them has 3 rooms: walking the newest index would pass all of Berlin.
    assert collect(max_rent=60_000, min_rooms=3)
    assert not collect(max_rent=60_000)  # a tenth pass: the walk ends after ~210 listings
    assert not collect(min_rooms=3)  # no rent range to collect
    assert not collect(max_rent=60_000, min_rooms=3, q="Balkon")  # text has its own choice


@pytest.mark.parametrize("rent_type", ["warm", "cold"])
async def test_both_newest_plans_return_the_same_pages(
    client: httpx.AsyncClient,
    insert_flats: Insert,
    city: str,
    fixed_density: _Fixed,
    monkeypatch: pytest.MonkeyPatch,
    rent_type: str,
) -> None:
    flats = random_flats(city, 120, seed=41)
    for flat in flats:
        flat.status = "active"
    await insert_flats(flats)
    params = {"city": city, "max_rent": 150_000, "min_rooms": 2, "rent_type": rent_type}
    expected = {str(f.id) for f in flats if matches(f, params)}
    assert expected
    statements: list[str] = []
    clause = where.clause
    monkeypatch.setattr(where, "clause", lambda sql: statements.append(sql) or clause(sql))

    walked = await walk(client, params, limit=6)
    assert not any("MATERIALIZED" in sql for sql in statements)
    monkeypatch.setattr(GeoGrid, "collect_is_cheaper", lambda *_args, **_kw: True)
    fixed_density.grid = GeoGrid({}, 0)
    collected = await walk(client, params, limit=6)
    assert any("MATERIALIZED" in sql for sql in statements)

    assert [i["id"] for i in collected] == [i["id"] for i in walked]
    assert {i["id"] for i in collected} == expected


async def test_an_instance_serves_with_its_plan_statistics_loaded(settings: Settings) -> None:
    """Loaded during start-up: a fresh instance must not send dense radius searches down the
    slow plan while its first load runs."""
    async with running_app(settings) as application:
        stats: PlanStats = parts_of_app(application).get(SEARCH_PARTS).plan_stats
        assert stats.current() is not None
        assert stats.words() is not None
