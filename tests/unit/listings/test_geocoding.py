"""Geocoding a listing's address never loses the listing: every failure is `pending`."""

from __future__ import annotations

import asyncio

import pytest

from sichrplace.integrations.maps.types import GeocodeResult, GeocodingUnavailable
from sichrplace.listings import geocoding
from sichrplace.listings.schemas import ListingCreate
from sichrplace.listings.vocabulary import GeocodeStatus
from tests.unit.listings.rows import LISTING

ADDRESS = {
    "street": "Karl-Marx-Allee",
    "house_number": "12a",
    "postal_code": "10243",
    "city": "Berlin",
}


class Answers:
    """A geocoder (the maps interface) that answers with `outcome`."""

    def __init__(self, outcome: GeocodeResult | BaseException | None) -> None:
        self.outcome = outcome
        self.asked: list[dict[str, str]] = []

    async def geocode(
        self, *, street: str, house_number: str, postal_code: str, city: str
    ) -> GeocodeResult | None:
        address = {"street": street, "house_number": house_number}
        self.asked.append({**address, "postal_code": postal_code, "city": city})
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


def test_the_address_of_a_stored_listing_and_of_one_being_created() -> None:
    assert geocoding.address_of(LISTING) == ADDRESS
    created = ListingCreate(
        title="Altbau",
        **ADDRESS,
        cold_rent_cents=1,
        utilities_cents=0,
        deposit_cents=0,
        rooms=1,
        size_sqm=20,
    )
    assert geocoding.address_of(created) == ADDRESS


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (GeocodeResult(52.5, 13.4, "Karl-Marx-Allee 12a"), GeocodeStatus.OK),
        (None, GeocodeStatus.FAILED),  # no such address: no retry
        (GeocodingUnavailable("down"), GeocodeStatus.PENDING),
        (RuntimeError("a bug in a client"), GeocodeStatus.PENDING),
    ],
)
async def test_an_answer_or_a_failure_becomes_a_status(
    outcome: GeocodeResult | BaseException | None, status: GeocodeStatus
) -> None:
    geocoder = Answers(outcome)
    found = await geocoding.geocode(geocoder, ADDRESS)
    assert found.status is status
    assert geocoder.asked == [ADDRESS]
    if status is GeocodeStatus.OK:
        assert (found.latitude, found.longitude) == (52.5, 13.4)
    else:
        assert (found.latitude, found.longitude) == (None, None)


async def test_no_geocoder_or_a_slow_one_is_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (await geocoding.geocode(None, ADDRESS)).status is GeocodeStatus.PENDING

    class Slow(Answers):
        async def geocode(self, **address: str) -> GeocodeResult | None:
            await asyncio.sleep(10)
            return None

    monkeypatch.setattr(geocoding, "GEOCODE_TIMEOUT_SECONDS", 0.01)
    assert (await geocoding.geocode(Slow(None), ADDRESS)).status is GeocodeStatus.PENDING
