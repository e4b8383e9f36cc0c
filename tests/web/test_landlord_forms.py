"""The landlord's forms read as people type: euros either way into cents, Berlin wall-clock
slot times into aware times, only changed fields patched, the API's field names mapped to
the form's inputs."""

from __future__ import annotations

import pytest

from sichrplace.web.client import ApiProblem
from sichrplace.web.pages import landlord_forms as forms


def test_slot_times_are_berlin_wall_clock_times_lasting_real_minutes() -> None:
    winter, _ = forms.slot_times("15.01.2027", "18:00", "30")
    summer, _ = forms.slot_times("2027-07-15", "18:00", "30")
    assert winter.isoformat() == "2027-01-15T18:00:00+01:00"
    assert summer.isoformat() == "2027-07-15T18:00:00+02:00"
    start, end = forms.slot_times("31.10.2027", "01:30", "120")
    assert start.isoformat() == "2027-10-31T01:30:00+02:00"
    assert end.isoformat() == "2027-10-31T02:30:00+01:00"  # 2 h later: clocks went back once


@pytest.mark.parametrize(
    ("typed", "cents"),
    [
        ("1.234,50", 123_450),
        ("1234.50", 123_450),
        ("1234,5", 123_450),
        ("1.234", 123_400),
        ("1,234.50", 123_450),
        ("950 €", 95_000),
        ("0", 0),
        ("", None),
    ],
)
def test_euros_typed_either_way_become_cents(typed: str, cents: int | None) -> None:
    assert forms.cents(typed) == cents


@pytest.mark.parametrize("typed", ["abc", "-5", "1.2345", "12,345", "1e3"])
def test_unreadable_euros_are_refused(typed: str) -> None:
    with pytest.raises(ValueError, match="not an amount of euros"):
        forms.cents(typed)


def test_a_slot_time_that_cannot_be_read_names_its_input() -> None:
    for typed, wrong in (
        (("morgen", "18:00", "30"), "date"),
        (("2027-01-15", "abends", "30"), "start"),
    ):
        with pytest.raises(ValueError, match=wrong):
            forms.slot_times(*typed)


def test_only_changed_fields_are_patched() -> None:
    stored = {
        "title": "Altbau",
        "rooms": 3.0,
        "cold_rent_cents": 95_000,
        "amenities": ["balcony", "cellar"],
        "district": None,
        "furnished": False,
    }
    sent = {
        "title": "Altbau",
        "rooms": 3,
        "cold_rent_cents": 95_000,
        "amenities": ["cellar", "balcony"],
        "district": None,
        "furnished": True,
    }
    assert forms.changed(sent, stored) == {"furnished": True}


def test_the_apis_fields_land_at_the_forms_inputs() -> None:
    problem = ApiProblem(
        422,
        {
            "errors": [
                {"field": "cold_rent_cents", "message": "zu hoch"},
                {"field": "amenities.2", "message": "unbekannt"},
            ]
        },
    )
    own = {"rooms": forms.NUMBER_PROBLEM}
    errors = forms.input_errors(
        problem, forms.LISTING_INPUTS, own, "de", known=forms.LISTING_FIELDS
    )
    assert errors == {
        "cold_rent": "zu hoch",
        "amenities": "unbekannt",
        "rooms": "Geben Sie eine Zahl ein, z. B. 2,5.",
    }
    elsewhere = ApiProblem(422, {"errors": [{"field": "viewing_id", "message": "fehlt"}]})
    found = forms.input_errors(elsewhere, {}, {}, "de", known=("start_date",))
    assert found[forms.UNPLACED] == "viewing_id"  # the page shows the whole problem then
