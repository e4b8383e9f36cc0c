"""Plan choices of the search SQL: the density grid that picks the radius plan (its estimate,
the choice, and that both plans return exactly the same pages), and full text checked after
the indexed filters."""

from __future__ import annotations

import math
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from sichrplace.platform.db.engines import Database
from sichrplace.search import repository
from sichrplace.search.density import GRID_DEGREES, MAX_WALK_TUPLES, GeoDensity, GeoGrid
from sichrplace.search.params import SearchParams, to_query
from tests.search.conftest import BYPASS, SEARCH, Flat, Insert, random_flats
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


def test_dense_circles_walk_and_sparse_ones_collect() -> None:
    lat, lng = 52.52, 13.40
    dense = _uniform(400, lat, lng)
    assert dense.walk_is_cheaper(lat, lng, 2_000, page=21)
    # The same circle holding a few listings among a million elsewhere: walking would pass
    # ~21 * 1e6 / few index tuples first.
    sparse = GeoGrid({**_uniform(1, lat, lng, span=3).cells, (0, 0): 1_000_000}, 1_000_036)
    assert not sparse.walk_is_cheaper(lat, lng, 1_000, page=21)
    assert not GeoGrid({}, 0).walk_is_cheaper(lat, lng, 1_000, page=21)
    # The threshold itself: expected walk = page * total / in_circle.
    in_circle = dense.expected_in_circle(lat, lng, 2_000)
    assert 21 * dense.total / in_circle <= MAX_WALK_TUPLES


def test_the_walk_form_has_no_gist_condition() -> None:
    query = to_query(
        SearchParams.model_validate({"lat": 52.5, "lng": 13.4, "radius_km": 2, "sort": "newest"})
    )
    collect = repository.keyset_statement(query, None)
    walk_form = repository.keyset_statement(query, None, radius_via_index=False)
    assert "&&" in collect.sql
    assert "&&" not in walk_form.sql
    assert "<= :radius_m" in walk_form.sql


class _Fixed(GeoDensity):
    """A density whose grid is set by the test."""

    def __init__(self, db: Database, grid: GeoGrid | None) -> None:
        super().__init__(db, max_age_seconds=3600)
        self.grid = grid

    def current(self) -> GeoGrid | None:
        return self.grid


@pytest.fixture
def fixed_density(app: FastAPI, db: Database) -> Iterator[_Fixed]:
    original = app.state.geo_density
    fixed = _Fixed(db, None)
    app.state.geo_density = fixed
    yield fixed
    app.state.geo_density = original


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
    density = GeoDensity(db, max_age_seconds=3600)
    assert density.current() is None  # the first call starts the load
    await density.refresh()
    grid = density.current()
    assert grid is not None
    assert grid.expected_in_circle(CENTER[0], CENTER[1], 3_000) >= 30 * 0.5
    await density.aclose()


def test_full_text_is_checked_after_indexed_filters_only_when_there_are_some() -> None:
    def where(params: dict[str, object]) -> str:
        query = to_query(SearchParams.model_validate(params))
        return repository.keyset_statement(query, None).sql

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
