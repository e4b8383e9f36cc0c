"""search/suggest/service.py's pure rules: how counts become places, and what an item says."""

from __future__ import annotations

from sichrplace.search.suggest.repository import Place
from sichrplace.search.suggest.service import places_from_counts, prefix_key, suggestion

COUNTS = [
    # city_key, city, district_key, district, postal code, active listings
    ("munchen", "München", "schwabing", "Schwabing", "80801", 5),
    ("munchen", "MÜNCHEN", "schwabing", "schwabing", "80801", 1),
    ("munchen", "München", None, None, "80331", 2),
    ("frankfurt", "Frankfurt am Main", "bornheim", "Bornheim", "60385", 3),
    ("frankfurt", "Frankfurt", None, None, "60385", 1),
]


def test_counts_become_cities_districts_and_postal_codes_with_their_totals() -> None:
    places = {(p.kind, p.key): p for p in places_from_counts(COUNTS)}
    assert places[("city", "munchen")] == Place(
        "city", "munchen", "munchen", "München", "München", 8
    )
    # Labelled with the commonest spelling; counted over all of them.
    assert places[("city", "frankfurt am main")].listings == 4
    assert places[("city", "frankfurt am main")].label == "Frankfurt am Main"
    assert places[("district", "schwabing")] == Place(
        "district", "munchen", "schwabing", "Schwabing", "München", 6
    )
    assert places[("postal_code", "60385")] == Place(
        "postal_code", "frankfurt", "60385", "60385", "Frankfurt am Main", 4
    )
    assert len(places) == 2 + 2 + 3


def test_a_typed_prefix_is_compared_as_a_place_key() -> None:
    assert prefix_key("Mün") == prefix_key("muen") == prefix_key("MUN") == "mun"
    assert prefix_key("Sankt P") == "st p"
    assert prefix_key("101") == "101"
    assert prefix_key(" !? ") == ""


def test_each_suggestion_names_the_search_parameters_that_select_it() -> None:
    assert suggestion("city", "München", "München", 8)["params"] == {"city": "München"}
    district = suggestion("district", "Kreuzberg", "Berlin", 3)
    assert district == {
        "kind": "district",
        "label": "Kreuzberg",
        "city": "Berlin",
        "listings": 3,
        "params": {"city": "Berlin", "district": "Kreuzberg"},
    }
    postal = suggestion("postal_code", "10115", "Berlin", 2)
    assert postal["params"] == {"city": "Berlin", "postal_code": "10115"}
    assert suggestion("city", "Berlin", "Berlin", 9)["city"] is None
