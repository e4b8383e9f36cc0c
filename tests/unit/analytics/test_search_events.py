"""What a search page tells analytics, without parsing it: the filters' names and the count of
items in the JSON text (a title that spells the marker does not fool it)."""

from __future__ import annotations

from datetime import UTC, datetime

from sichrplace.kit import jsonbody
from sichrplace.search.analytics import filters_used, items_in
from sichrplace.search.items import Item
from sichrplace.search.schemas import GeoPoint, SearchFilters, SearchQuery


def _page(n: int, title: str = "Helle Wohnung") -> bytes:
    item = Item(
        "0b7c1a52-5a3e-4f0e-9f53-0d2d0a8f2c11", title, "Berlin", "10243", 90_000, 110_000,
        2.0, 60.0, False, True, None, ["balcony"], 52.5, 13.4, None, datetime.now(UTC),
    )  # fmt: skip
    return jsonbody.dumps({"items": [item] * n, "next_cursor": None})


def test_items_are_counted_in_the_text() -> None:
    assert items_in(_page(0)) == 0
    assert items_in(_page(20)) == 20
    sly = _page(3, title='Wohnung "thumbnail_url": null, mit Balkon')
    assert items_in(sly) == 3  # quotes inside a string are escaped: no false mark
    again = _page(20)
    assert items_in(again) == items_in(again) == 20  # remembered for the same page object


def test_filters_used_are_names_not_values() -> None:
    query = SearchQuery(
        filters=SearchFilters(
            city_key="berlin",
            q="altbau",
            point=GeoPoint(52.5, 13.4),
            radius_km=2.0,
            values={"max_rent": 90_000, "rooms_min": 2},
        ),
        cursor="abc",
    )
    assert filters_used(query) == ("city", "q", "point", "radius_km", "max_rent", "rooms_min")
    assert filters_used(SearchQuery()) == ()
