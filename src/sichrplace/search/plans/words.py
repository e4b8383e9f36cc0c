"""Where a full-text search with other filters starts: the text or the filters.

With indexed filters as well, the text is by default checked last, for the rows that passed
them (repository.where.text_via_lookup): an index-only walk of the scope (the city's
listings, or all) in the page's order, and one primary-key lookup per row that passed the
filters, until enough match. Checked directly instead (`search_tsv @@ q` among the filters),
Postgres picks between reading the word's listings from the GIN index and walking the scope
with a heap visit per row. Which is cheaper depends on how common the word is and how
selective the other filters are; the per-row costs below were measured on 1M listings
(docs/performance.md "Plan choices"). The word and city shares are Postgres's own statistics
(pg_stats, refreshed by ANALYZE); the other filters' share comes from the plan sample
(grid.py). The query's lexemes come from Postgres (the same stemming as the column).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.search.repository import stats

MAX_REMEMBERED_QUERIES = 10_000
BITMAP_VISIT_US = 2.5
HEAP_VISIT_US = 2.3
INDEX_TUPLE_US = 0.3
LOOKUP_US = 6.0


@dataclass(frozen=True, slots=True)
class WordStats:
    words: dict[str, float]  # lexeme -> share of listings containing it
    cities: dict[str, float]  # city_key -> share of listings
    total: int  # listings (pg_class.reltuples)
    # The shares assumed for a lexeme or city missing from the statistics (computed once).
    rarest: float = field(init=False)
    smallest_city: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rarest", min(self.words.values(), default=0.0))
        object.__setattr__(self, "smallest_city", min(self.cities.values(), default=1.0))

    @classmethod
    def from_row(
        cls,
        total: float | None,
        lexemes: Sequence[str] | None,
        lexeme_shares: Sequence[float] | None,
        cities: Sequence[str] | None,
        city_shares: Sequence[float] | None,
    ) -> WordStats:
        # zip() drops the summary numbers Postgres appends to most_common_elem_freqs.
        return cls(
            dict(zip(lexemes or (), lexeme_shares or (), strict=False)),
            dict(zip(cities or (), city_shares or (), strict=False)),
            max(int(total or 0), 0),
        )

    def direct_is_cheaper(
        self, lexemes: Sequence[str], city_key: str | None, need: int, others: float = 1.0
    ) -> bool:
        """True when checking the text directly is expected to cost less than checking it
        last, for a statement that needs `need` matches (`others`: the share of the scope
        passing the other filters)."""
        if not lexemes or not self.words or self.total <= 0:
            return False
        share = min(self.words.get(lexeme, self.rarest) for lexeme in lexemes)  # all must match
        scope = float(self.total)
        if city_key is not None:
            scope *= self.cities.get(city_key, self.smallest_city)
        walked = min(need / (share * max(others, 1e-6)), scope)  # rows passed to fill the page
        last = walked * INDEX_TUPLE_US + walked * others * LOOKUP_US
        direct = min(scope * share * BITMAP_VISIT_US, walked * HEAP_VISIT_US)
        return direct < last


class Lexemes:
    """The lexemes of search texts, asked of Postgres once per distinct text (per process)."""

    def __init__(self, max_entries: int = MAX_REMEMBERED_QUERIES) -> None:
        self._known: dict[str, tuple[str, ...]] = {}
        self._max = max_entries

    async def of(self, session: ReplicaSession, q: str) -> tuple[str, ...]:
        known = self._known.get(q)
        if known is None:
            known = tuple(await stats.fetch_lexemes(session, q))
            if len(self._known) >= self._max:
                self._known.clear()
            self._known[q] = known
        return known
