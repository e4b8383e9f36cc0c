"""The search pages: filters (rents typed in euros), facet counts beside the options, cursor
paging, the home box's free text resolved to a place, the API's 422 shown at the field, the
search box's suggestions, and the map view with the same results."""

from __future__ import annotations

import dataclasses
import html
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import insert

from sichrplace.config import Settings
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.search.suggest import service as suggest_service
from sichrplace.search.suggest.models import SearchPlace
from sichrplace.web.pages.listing import listing_path
from sichrplace.web.pages.search import cents
from tests.search.conftest import (  # noqa: F401 - fixtures
    Flat,
    Insert,
    insert_flats,
    landlord,
    make_landlord,
    random_flats,
    wait_for_replica,
)


@dataclass
class Town:
    """A city of its own (no other test's or seeded listings) and a way to add listings."""

    name: str
    add: Insert


@pytest.fixture
def town(unique: str, insert_flats: Insert) -> Town:  # noqa: F811 - the fixture imported above
    return Town(f"Webstadt {unique}", insert_flats)


_CARD = re.compile(r'<li class="card"[^>]*>\s*<a href="(/wohnung/[^"]+)"')


def _cards(text: str) -> list[str]:
    return _CARD.findall(text)


def _href(text: str, label: str) -> str:
    """The link whose text is `label`."""
    found = re.search(rf'<a href="([^"]+)"[^>]*>{re.escape(label)}</a>', text)
    assert found, f"no link {label!r}"
    return html.unescape(found.group(1))


def _flats(city_name: str, n: int, **fields: object) -> list[Flat]:
    flats = random_flats(city_name, n, seed=7)
    for flat in flats:
        flat.status, flat.title = "active", f"Wohnung in {city_name}"
        for name, value in fields.items():
            setattr(flat, name, value)
    return flats


def test_rents_are_typed_in_euros() -> None:
    assert [cents(t) for t in ("750", "749,99", "1.200", "1.200,50", "12.5 €")] == [
        "75000",
        "74999",
        "120000",
        "120050",
        "1250",
    ]
    assert cents("viel") == "viel"  # the API names what is wrong with it


async def test_filters_narrow_the_results_and_facets_count_them(
    web: httpx.AsyncClient, town: Town
) -> None:
    city = town.name
    flats = _flats(city, 5, amenities=[])
    for flat, rooms, cold, amenities in zip(
        flats,
        ("2", "2", "3", "3", "3"),
        (50_000, 70_000, 90_000, 110_000, 130_000),
        (["balcony"], ["balcony"], ["balcony"], [], []),
        strict=True,
    ):
        flat.rooms, flat.cold, flat.utilities, flat.amenities = (
            Decimal(rooms),
            cold,
            10_000,
            amenities,
        )
    await town.add(flats)
    r = await web.get("/suche", params={"city": city})
    assert r.status_code == 200
    text = r.text
    assert sorted(_cards(text)) == sorted(listing_path(_item(f)) for f in flats)
    assert "5 Wohnungen gefunden" in text
    assert f'<h1 id="results-h">Wohnungen in {city}</h1>' in text
    # Counts beside the options: rooms, rent ranges, features.
    assert re.search(r'>2 Zimmer</a> <span class="count">2</span>', text)
    assert re.search(r'>3 Zimmer</a> <span class="count">3</span>', text)
    assert re.search(r'Balkon <span class="count">3</span>', text)
    assert re.search(r'>500 € bis 750 €</a> <span class="count">1</span>', text)
    english = await web.get("/suche", params={"city": city}, headers={"Accept-Language": "en"})
    assert "5 apartments found" in english.text
    assert re.search(r'>3 rooms</a> <span class="count">3</span>', english.text)
    three_rooms = await web.get(_href(text, "3 Zimmer"))
    assert len(_cards(three_rooms.text)) == 3

    # Rents in euros on the page (warm rents: 600, 800, 1.000, 1.200, 1.400 €).
    r = await web.get("/suche", params={"city": city, "min_rent": "800", "max_rent": "1.000"})
    assert len(_cards(r.text)) == 2
    assert 'name="min_rent" type="text" value="800"' in r.text  # as typed
    r = await web.get(
        "/suche", params=[("city", city), ("amenities", "balcony"), ("min_rooms", "3")]
    )
    assert _cards(r.text) == [listing_path(_item(flats[2]))]
    assert 'name="amenities" value="balcony" checked' in r.text
    cheapest = await web.get("/suche", params={"city": city, "sort": "rent_asc"})
    assert _cards(cheapest.text)[0] == listing_path(_item(flats[0]))
    assert '<option value="rent_asc" selected>' in cheapest.text


def _item(flat: Flat) -> dict[str, str]:
    return {"id": str(flat.id), "title": flat.title, "city": flat.city}


async def test_the_cursor_pages_through_every_result_once(
    web: httpx.AsyncClient, town: Town
) -> None:
    city = town.name
    flats = _flats(city, 25)
    await town.add(flats)
    first = await web.get("/suche", params={"city": city, "sort": "rent_asc"})
    assert "Zurück zur ersten Seite" not in first.text
    seen = _cards(first.text)
    assert len(seen) == 20
    following = _href(first.text, "Weitere Ergebnisse")
    query = parse_qs(urlsplit(following).query)
    assert query["city"] == [city]
    assert query["sort"] == ["rent_asc"]
    assert query["cursor"]
    second = await web.get(following)
    assert second.status_code == 200
    seen += _cards(second.text)
    assert sorted(seen) == sorted(listing_path(_item(f)) for f in flats)
    assert "Weitere Ergebnisse</a>" not in second.text
    back = _href(second.text, "Zurück zur ersten Seite")
    assert "cursor" not in back
    assert city in parse_qs(urlsplit(back).query)["city"]


async def _suggestible(db: Database, flats: list[Flat]) -> None:
    """Count the flats' city, districts and postal codes into search_places as the periodic
    refresh does (the refresh itself counts every active listing: seconds at 1M)."""
    counts: Counter[tuple[str, str, str | None, str | None, str]] = Counter()
    for flat in flats:
        row = flat.row(uuid.uuid4())
        counts[
            (row["city_key"], flat.city, row["district_key"], flat.district, flat.postal_code)
        ] += 1
    places = suggest_service.places_from_counts([(*key, n) for key, n in counts.items()])
    async with transaction(db) as session:
        await session.execute(insert(SearchPlace), [dataclasses.asdict(p) for p in places])
    await wait_for_replica(db)


async def test_the_box_text_becomes_a_place(
    web: httpx.AsyncClient, town: Town, db: Database
) -> None:
    city = town.name
    north, south = f"Nordhafen {city[-6:]}", f"Südhang {city[-6:]}"
    flats = _flats(city, 3, district=north)
    other = _flats(city, 2, district=south)
    await town.add([*flats, *other])
    await _suggestible(db, [*flats, *other])

    r = await web.get("/suche", params={"where": city.upper()})
    assert r.status_code == 200
    assert len(_cards(r.text)) == 5
    assert f'name="city" type="text" value="{city}"' in r.text

    r = await web.get("/suche", params={"where": f"{north}, {city}"})
    assert sorted(_cards(r.text)) == sorted(listing_path(_item(f)) for f in flats)
    assert f'name="district" type="text" value="{north}"' in r.text
    assert f"Ort: {north}, {city}" in r.text
    # An explicit place wins over the box's text.
    r = await web.get("/suche", params={"where": north, "city": city, "district": south})
    assert len(_cards(r.text)) == 2

    nowhere = await web.get("/suche", params={"where": f"Nirgendwo {city}"})
    assert nowhere.status_code == 200
    assert f'name="city" type="text" value="Nirgendwo {city}"' in nowhere.text  # taken as a city
    assert not _cards(nowhere.text)
    assert "Keine Wohnung passt zu diesen Filtern" in nowhere.text

    options = await web.get("/suche/vorschlaege", params={"where": city[:-3]})
    assert options.status_code == 200
    assert f'<option value="{city}">5 Wohnungen</option>' in options.text
    assert (
        f'<option value="{north}, {city}">3 Wohnungen</option>'
        in (await web.get("/suche/vorschlaege", params={"where": north.lower()})).text
    )
    short = await web.get("/suche/vorschlaege", params={"where": "N"})
    assert short.status_code == 200
    assert "<option" not in short.text


async def test_refused_filters_are_shown_at_their_fields(web: httpx.AsyncClient) -> None:
    r = await web.get("/suche", params={"min_rooms": "viele", "min_rent": "900", "max_rent": "500"})
    assert r.status_code == 422
    assert 'class="alert" role="alert"' in r.text
    errors = dict(re.findall(r'<p class="error" id="e-([a-z_]+)">([^<]+)</p>', r.text))
    assert "min_rooms" in errors
    assert 'id="f-min_rooms" name="min_rooms" type="text" value="viele" aria-invalid="true"' in (
        r.text
    )
    r = await web.get("/suche", params={"min_rent": "900", "max_rent": "500"})
    assert r.status_code == 422
    assert "max_rent" in dict(re.findall(r'id="e-([a-z_]+)">([^<]+)<', r.text))["min_rent"]
    r = await web.get("/suche", params={"amenities": "sauna", "sort": "distance"})
    assert r.status_code == 422


async def test_the_map_shows_the_same_results_with_their_positions(
    web: httpx.AsyncClient, town: Town, settings: Settings
) -> None:
    city = town.name
    flats = _flats(city, 3, furnished=False)
    flats[0].furnished = True
    await town.add(flats)
    listed = await web.get("/suche", params={"city": city, "furnished": "false"})
    assert "map.js" not in listed.text
    assert 'id="map"' not in listed.text
    mapped = await web.get(_href(listed.text, "Karte"))
    assert mapped.status_code == 200
    text = mapped.text
    assert re.search(r'<link rel="stylesheet" href="/static/map\.[0-9a-f]{10}\.css">', text)
    assert re.search(r'<script src="/static/map\.[0-9a-f]{10}\.js" defer></script>', text)
    tiles = html.escape(settings.web.tile_url)
    assert f'<div id="map" data-tiles="{tiles}" data-attribution="' in text
    furnished = [f for f in flats if not f.furnished]
    assert sorted(_cards(text)) == sorted(listing_path(_item(f)) for f in furnished)
    positions = re.findall(r'<li class="card" data-lat="([0-9.]+)" data-lng="([0-9.]+)">', text)
    assert len(positions) == len(furnished)
    back = _href(text, "Liste")
    assert parse_qs(urlsplit(back).query) == {"city": [city], "furnished": ["false"]}
