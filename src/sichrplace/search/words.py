"""Where a full-text search with other filters starts: the text or the filters.

With indexed filters as well, the text is by default checked last, for the rows that passed
them (repository.text_via_lookup): an index-only walk of the scope (the city's listings, or
all) in the page's order, and one primary-key lookup per row that passed the filters, until
enough match. Checked directly instead (`search_tsv @@ q` among the filters), Postgres picks
between reading the word's listings from the GIN index (search_tsv with city_key, migration
0009) and walking the scope with a heap visit per row. Which is cheaper depends on how
common the word is and how selective the other filters are:

- "Berlin, 3+ rooms, Stellplatz" (1.6 % of listings): checked last, 25,000 lookups, 193 ms;
  directly, 2,924 listings from the index, 10 ms.
- "Berlin, 3+ rooms, <= 600 EUR cold, Einbauküche" (55 %, 20 rows pass the filters): checked
  last, an index-only walk of Berlin, 61 ms; directly, 300 ms.

The costs (per row, measured on 1M listings, docs/performance.md "Text first or last"): a
bitmap heap visit ~2.5 us, a heap visit while walking ~2.3 us, an index-only tuple ~0.3 us,
a primary-key lookup ~6 us. The word and city shares are Postgres' own statistics
(pg_stats.most_common_elems of `search_tsv`, most_common_vals of `city_key`, refreshed by
ANALYZE; a lexeme or city missing from them is rarer than the rarest listed one), the other
filters' share comes from the density grid's sample of the listings (search/density.py). The
query's lexemes come from Postgres (`to_tsvector('german', q)`, the same stemming as the
column), remembered per process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.search import repository
from sichrplace.search.schemas import SearchFilters

if TYPE_CHECKING:
    from sichrplace.search.density import GeoGrid

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
            known = tuple(await repository.fetch_lexemes(session, q))
            if len(self._known) >= self._max:
                self._known.clear()
            self._known[q] = known
        return known


@dataclass(frozen=True, slots=True)
class WordAdvice:
    stats: WordStats
    lexemes: Lexemes
    grid: GeoGrid | None = None  # its sample gives the other filters' share

    async def direct_is_cheaper(self, session: ReplicaSession, f: SearchFilters, need: int) -> bool:
        if f.q is None or not repository.text_via_lookup(f):
            return False  # the text is already checked directly: no choice to make
        words = await self.lexemes.of(session, f.q)
        return text_direct(self.stats, words, f, need, self.grid)


def text_direct(
    stats: WordStats, lexemes: Sequence[str], f: SearchFilters, need: int, grid: GeoGrid | None
) -> bool:
    """The choice for filters `f` whose text has `lexemes` (the other filters' share from the
    grid's sample when there is one)."""
    others = 1.0 if grid is None else grid.filter_share(f)
    return stats.direct_is_cheaper(lexemes, f.city_key, need, others)


def matches_needed(sort: str, first_page: bool, limit: int) -> int:
    """How many matches a page's statement walks for: the relevance window on a first
    relevance page, one more than the page otherwise."""
    return repository.RELEVANCE_WINDOW + 1 if sort == "relevance" and first_page else limit + 1
