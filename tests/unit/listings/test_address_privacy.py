"""The approximate location the public sees: a deterministic ~500 m grid (never jitter), and
the one rule that says who sees the exact address."""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass

import pytest

from sichrplace.listings.rules import (
    CELL_DEGREES,
    approximate_point,
    may_see_exact_address,
    shown_point,
)

EARTH_RADIUS_M = 6_371_008.8


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dp, dl = p2 - p1, math.radians(b[1] - a[1])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@pytest.mark.parametrize(("lat", "lng"), [(52.5163, 13.4376), (47.4, 7.6), (54.9, 8.3), (0.1, 0.1)])
def test_a_point_moves_to_its_cell_centre_at_most_half_a_cell_diagonal(
    lat: float, lng: float
) -> None:
    rng = random.Random(f"{lat},{lng}")
    for _ in range(500):
        point = (lat + rng.uniform(-0.05, 0.05), lng + rng.uniform(-0.05, 0.05))
        centre = approximate_point(*point)
        # Cells are ~500 m on a side: the centre is within ~355 m, never on the point itself.
        assert metres(point, centre) < 360
        assert approximate_point(*point) == centre  # deterministic
        assert approximate_point(*centre) == centre  # a centre is its own cell's centre


def test_cells_are_about_500_m_on_a_side_in_germany() -> None:
    for lat in (47.3, 50.0, 52.5, 55.0):
        here = approximate_point(lat, 10.0)
        north = approximate_point(here[0] + CELL_DEGREES, here[1])
        east = next(
            c
            for c in (approximate_point(here[0], here[1] + k * 0.0005) for k in range(1, 40))
            if c != here
        )
        # Each row of cells is cut on its own, so only the row height is compared north.
        assert 480 < metres(here, (north[0], here[1])) < 520
        assert 450 < metres(here, east) < 550


def test_two_listings_in_one_cell_show_the_same_point() -> None:
    a = approximate_point(52.51630, 13.43760)
    b = approximate_point(52.51631, 13.43761)  # the house next door
    assert a == b


def test_shown_point_is_exact_only_when_allowed() -> None:
    assert shown_point(52.5163, 13.4376, exact=True) == (52.5163, 13.4376)
    assert shown_point(52.5163, 13.4376, exact=False) == approximate_point(52.5163, 13.4376)
    assert shown_point(None, None, exact=False) == (None, None)


@dataclass(frozen=True)
class Viewer:
    id: uuid.UUID
    role: str


OWNER = uuid.uuid4()


@pytest.mark.parametrize(
    ("show", "viewer", "viewing", "sees"),
    [
        (False, None, False, False),
        (False, Viewer(uuid.uuid4(), "tenant"), False, False),
        (False, Viewer(uuid.uuid4(), "landlord"), False, False),
        (False, Viewer(OWNER, "landlord"), False, True),
        (False, Viewer(uuid.uuid4(), "admin"), False, True),
        (False, Viewer(uuid.uuid4(), "tenant"), True, True),
        (True, None, False, True),
    ],
)
def test_who_sees_the_exact_address(
    show: bool, viewer: Viewer | None, viewing: bool, sees: bool
) -> None:
    got = may_see_exact_address(
        show_exact_address=show, owner_id=OWNER, viewer=viewer, has_confirmed_viewing=viewing
    )
    assert got is sees
