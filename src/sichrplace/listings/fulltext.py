"""The columns a listing's search reads that the application derives from what it was sent:
the keys of its city and district (listings/places.py) and the parts of the compound words
in its text (kit/german.py), which Postgres adds to `search_tsv` (models.SEARCH_TSV_SQL).

One pure function for every writer: the API (create and update), the bulk seeder and the
backfill of migration 0015.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sichrplace.kit.german import compound_terms
from sichrplace.listings.places import city_key, district_key

DERIVED_COLUMNS = ("city_key", "district_key", "search_extra")


def search_extra(title: str, description: str, district: str | None) -> str:
    """The parts of the compounds in the listing's text ("Altbauwohnung mit Südbalkon" ->
    "Altbau Wohnung Süd Balkon"); the district's too, as a search for "Schöneberg" looks for
    its parts."""
    return compound_terms(f"{title}\n{description}\n{district or ''}")


def derived_columns(values: Mapping[str, Any]) -> dict[str, Any]:
    """city_key, district_key and search_extra for a listing's title, description, city and
    district (district optional)."""
    district = values.get("district")
    return {
        "city_key": city_key(values["city"]),
        "district_key": district_key(district) if district else None,
        "search_extra": search_extra(values["title"], values["description"], district),
    }
