"""What the search domain keeps for the life of an API process (built by the composition root)."""

from __future__ import annotations

from dataclasses import dataclass

from sichrplace.platform.bulkhead import Bulkhead
from sichrplace.platform.parts import Key
from sichrplace.search.density import PlanStats
from sichrplace.search.facet_index import FacetIndex


@dataclass(frozen=True, slots=True)
class SearchParts:
    facet_index: FacetIndex | None  # None: Postgres counts and picks every page
    # Statistics that pick Postgres plans (the density grid and word frequencies).
    plan_stats: PlanStats
    # Facet counts Postgres computes at once in this process (a few at a time).
    facets_bulkhead: Bulkhead
    # Whether a client may ask to skip the cache (`SICHRPLACE_CACHE_CLIENT_BYPASS`).
    client_bypass: bool


SEARCH = Key[SearchParts]("search")
