"""Facets assembled from counts: the label of a city spelt in several ways is the commonest
spelling, the same whichever backend counted (rows come in any order)."""

from __future__ import annotations

from sichrplace.search.schemas import FacetRow, SearchFilters
from sichrplace.search.service import assemble_facets


def test_a_citys_label_is_its_commonest_spelling_whatever_the_order() -> None:
    rows = [
        FacetRow("city", "munchen", "MÜNCHEN", 2),
        FacetRow("city", "munchen", "München", 7),
        FacetRow("city", "grossdorf", "GROSSDORF", 2),
        FacetRow("city", "grossdorf", "Großdorf", 2),
    ]
    for ordered in (rows, rows[::-1]):
        cities = {c["value"]: c for c in assemble_facets(SearchFilters(), ordered)["city"]}
        assert cities["munchen"] == {"value": "munchen", "label": "München", "count": 9}
        assert cities["grossdorf"]["label"] == "GROSSDORF"  # a tie: code point order
        assert cities["grossdorf"]["count"] == 4
