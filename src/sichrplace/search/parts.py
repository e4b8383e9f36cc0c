"""What the search domain keeps for the life of an API process (built by the composition root)."""

from __future__ import annotations

from dataclasses import dataclass

from sichrplace.platform.parts import Key
from sichrplace.search.backends.base import SearchBackend
from sichrplace.search.index.keeper import FacetIndex
from sichrplace.search.plans.stats import PlanStats


@dataclass(frozen=True, slots=True)
class SearchParts:
    # What counts and pages (the setting SICHRPLACE_SEARCH_BACKEND picks it).
    backend: SearchBackend
    # Statistics that pick Postgres plans (the density grid and word frequencies).
    plan_stats: PlanStats
    # The in-process index behind the index backend (None with the Postgres backend).
    facet_index: FacetIndex | None
    # Whether a client may ask to skip the cache (`SICHRPLACE_CACHE_CLIENT_BYPASS`).
    client_bypass: bool


SEARCH = Key[SearchParts]("search")
