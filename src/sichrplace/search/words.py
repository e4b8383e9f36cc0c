"""Where a full-text search should start: the GIN index (rare words) or the filters.

With indexed filters as well, the text is normally checked last, for the rows that passed
them (repository.text_via_lookup): one primary-key lookup per candidate, in newest order,
until enough match. For a rare word that walk is long: "Berlin, 3+ rooms, Stellplatz"
(1.6 % of listings) looked up 35,497 Berlin rows to find 401 matches (282 ms), where
reading the word's 15,504 listings from the GIN index and filtering them takes 122 ms.

The walk needs about `need / share(word)` lookups, but never more than the listings in its
scope (the city's, or all). Reading from the index visits every listing with the word,
`total * share(word)`, anywhere (the GIN index knows no cities), so the index wins when
total * share < min(need / share, scope). The shares are Postgres' own statistics
(pg_stats.most_common_elems of `search_tsv`, most_common_vals of `city_key`, refreshed by
ANALYZE); a lexeme or city missing
from them is rarer than the rarest listed one. The query's lexemes come from Postgres
(`to_tsvector('german', q)`, the same stemming as the column), remembered per process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.search import repository
from sichrplace.search.schemas import SearchFilters

MAX_REMEMBERED_QUERIES = 10_000


@dataclass(frozen=True, slots=True)
class WordStats:
    words: dict[str, float]  # lexeme -> share of listings containing it
    cities: dict[str, float]  # city_key -> share of listings
    total: int  # listings (pg_class.reltuples)

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

    def start_from_text(self, lexemes: Sequence[str], city_key: str | None, need: int) -> bool:
        """True when reading the words' listings from the GIN index is expected to cost less
        than checking the text last while walking `need` matches out of the filtered rows."""
        if not lexemes or not self.words or self.total <= 0:
            return False
        rarest = min(self.words.values())
        share = min(self.words.get(lexeme, rarest) for lexeme in lexemes)  # all must match
        scope = float(self.total)
        if city_key is not None:
            scope *= self.cities.get(city_key, min(self.cities.values(), default=1.0))
        return self.total * share < min(need / share, scope)


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

    async def start_from_text(self, session: ReplicaSession, f: SearchFilters, need: int) -> bool:
        if f.q is None or not repository.text_via_lookup(f):
            return False  # the text is already read from the index
        words = await self.lexemes.of(session, f.q)
        return self.stats.start_from_text(words, f.city_key, need)


def matches_needed(sort: str, first_page: bool, limit: int) -> int:
    """How many matches a page's statement walks for: the relevance window on a first
    relevance page, one more than the page otherwise."""
    return repository.RELEVANCE_WINDOW + 1 if sort == "relevance" and first_page else limit + 1
