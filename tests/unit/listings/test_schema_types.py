"""Listing bodies are taken as the API document types them (no lax coercion)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from sichrplace.listings.schemas import ListingCreate, ListingUpdate

VALID: dict[str, Any] = {
    "title": "Helle Wohnung",
    "street": "Musterstraße",
    "house_number": "1",
    "postal_code": "10115",
    "city": "Berlin",
    "cold_rent_cents": 90_000,
    "utilities_cents": 20_000,
    "deposit_cents": 180_000,
    "rooms": 2,
    "size_sqm": 55.5,
    "available_from": "2026-01-01",
    "furnished": True,
    "latitude": 52,
    "longitude": 13.4,
}


def test_a_valid_body_is_taken() -> None:
    listing = ListingCreate.model_validate(VALID)
    assert listing.rooms == 2.0
    assert listing.latitude == 52.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("deposit_cents", False),
        ("cold_rent_cents", "90000"),
        ("rooms", True),
        ("rooms", "2"),
        ("size_sqm", "55"),
        ("latitude", "52.1"),
        ("furnished", 0),
        ("wbs_required", "yes"),
        ("available_from", 0),
        ("available_from", "1700000000"),
    ],
)
def test_a_value_of_another_type_is_refused(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        ListingCreate.model_validate({**VALID, field: value})
    assert caught.value.errors()[0]["loc"][0] == field
    with pytest.raises(ValidationError):
        ListingUpdate.model_validate({field: value})
