"""listings/places.py: the keys cities and districts are filtered, counted and completed by."""

from __future__ import annotations

import pytest

from sichrplace.listings.places import city_key, district_key, name_key
from sichrplace.listings.vocabulary import city_key as vocabulary_city_key


@pytest.mark.parametrize(
    "spelling", ["München", "muenchen", "Muenchen", "munchen", "MÜNCHEN", "  münchen "]
)
def test_every_spelling_of_munich_has_one_key(spelling: str) -> None:
    assert city_key(spelling) == city_key("München") == vocabulary_city_key(spelling)


@pytest.mark.parametrize(
    ("long", "short"),
    [
        ("Frankfurt am Main", "Frankfurt"),
        ("Frankfurt a. M.", "Frankfurt"),
        ("frankfurt/main", "Frankfurt"),
        ("Halle (Saale)", "Halle"),
        ("Freiburg im Breisgau", "Freiburg"),
        ("Offenbach am Main", "Offenbach"),
        ("Mülheim an der Ruhr", "Muelheim"),
    ],
)
def test_long_official_names_have_the_short_names_key(long: str, short: str) -> None:
    assert city_key(long) == city_key(short)


def test_places_that_share_a_short_name_stay_apart() -> None:
    assert city_key("Frankfurt (Oder)") == "frankfurt oder" != city_key("Frankfurt am Main")
    assert city_key("Halle (Westf.)") != city_key("Halle (Saale)")
    assert city_key("Offenbach an der Queich") != city_key("Offenbach")


def test_keys_are_their_own_keys() -> None:
    for name in ("Frankfurt am Main", "Halle (Saale)", "Köln", "Sankt Augustin"):
        assert city_key(city_key(name)) == city_key(name)


def test_districts_fold_and_write_sankt_as_st() -> None:
    assert district_key("Sankt Pauli") == district_key("St. Pauli") == "st pauli"
    assert district_key("Neukölln") == district_key("Neukoelln") == "neukolln"
    assert name_key("Prenzlauer Berg") == "prenzlaur berg"  # "ue" folds like "ü"
