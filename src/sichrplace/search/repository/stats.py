# ruff: noqa: S608 - statements are assembled from this module's fixed fragments; every value is bound.
"""What the planner advice reads (search/plans/): where the listings are, a sample of them as
index records, what ANALYZE learnt about words and cities, a text's lexemes."""

from __future__ import annotations

from typing import Any

from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.search.index.layout import record_sql
from sichrplace.search.repository.where import TSQUERY, Statement, fetch_binary, rows

# Active listings per cell of this many degrees (search/plans/grid.py).
DENSITY_CELL_DEGREES = 0.02


def density_statement() -> Statement:
    scale = round(1 / DENSITY_CELL_DEGREES)
    sql = (
        f"SELECT floor(l.latitude * {scale})::int, floor(l.longitude * {scale})::int, "
        "count(*)::bigint FROM listings l WHERE l.status = 'active' AND l.latitude IS NOT NULL "
        "GROUP BY 1, 2"
    )
    return Statement(sql, {})


async def fetch_density(session: ReplicaSession) -> list[tuple[Any, ...]]:
    return await rows(session, density_statement())


def density_sample_statement(percent: float) -> Statement:
    """About `percent` % of the located active listings (whole pages, so it reads only those
    pages), each as its city_key and its index record (search/index/layout.py): the filters'
    own tests then estimate their selectivity on it."""
    sql = (
        f"SELECT l.city_key, {record_sql()} FROM listings l TABLESAMPLE SYSTEM (:percent) "
        "WHERE l.status = 'active' AND l.latitude IS NOT NULL"
    )
    return Statement(sql, {"percent": percent})


async def fetch_density_sample(session: ReplicaSession, percent: float) -> list[tuple[str, bytes]]:
    return [
        (key, bytes(record))
        for key, record in await fetch_binary(session, density_sample_statement(percent))
    ]


def word_stats_statement() -> Statement:
    """What ANALYZE learnt about words and cities (search/plans/words.py)."""
    stats = (
        "FROM pg_stats s WHERE s.schemaname = current_schema() AND s.tablename = 'listings' "
        "AND s.attname = "
    )
    sql = (
        "SELECT (SELECT c.reltuples FROM pg_class c WHERE c.oid = 'listings'::regclass), "
        f"(SELECT s.most_common_elems::text::text[] {stats}'search_tsv'), "
        f"(SELECT s.most_common_elem_freqs {stats}'search_tsv'), "
        f"(SELECT s.most_common_vals::text::text[] {stats}'city_key'), "
        f"(SELECT s.most_common_freqs {stats}'city_key')"
    )
    return Statement(sql, {})


async def fetch_word_stats(session: ReplicaSession) -> tuple[Any, ...]:
    return (await rows(session, word_stats_statement()))[0]


def lexemes_statement(q: str) -> Statement:
    return Statement("SELECT tsvector_to_array(to_tsvector('german', :q))", {"q": q})


async def fetch_lexemes(session: ReplicaSession, q: str) -> list[str]:
    return list((await rows(session, lexemes_statement(q)))[0][0] or ())


def tsquery_statement(q: str) -> Statement:
    """What full text searches for `q`, as tsquery text ("'balkon' & 'hell'")."""
    return Statement(f"SELECT {TSQUERY}::text", {"q": q})


async def fetch_tsquery(session: ReplicaSession, q: str) -> str:
    value: str = (await rows(session, tsquery_statement(q)))[0][0]
    return value
