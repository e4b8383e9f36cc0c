"""Search metrics (exported with the rest by the observability module)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

FACET_COUNTS = Counter(
    "sichrplace_facet_counts_total",
    "Facet counts computed (cache misses and bypasses) by where: index or postgres.",
    ["source"],
)
FACET_INDEX_LOADS = Counter(
    "sichrplace_facet_index_loads_total",
    "Full loads of this process's facet index by outcome (ok, failed).",
    ["outcome"],
)
FACET_INDEX_ROWS = Gauge(
    "sichrplace_facet_index_rows",
    "Active listings in this process's facet index at its last full load.",
)
FACET_INDEX_CHANGES = Counter(
    "sichrplace_facet_index_changes_total",
    "Changed listings the facet index applied since start.",
)
SEARCH_PAGES = Counter(
    "sichrplace_search_pages_total",
    "Search pages computed (cache misses and bypasses; relevance: first pages) by where "
    "their listings were picked: index (the facet index) or postgres.",
    ["source"],
)
FACET_INDEX_BYTES = Gauge(
    "sichrplace_facet_index_bytes",
    "Bytes of arrays (postings included) of the snapshot this process's index answers from.",
)
FACET_INDEX_FALLBACKS = Counter(
    "sichrplace_facet_index_fallbacks_total",
    "Counts and pages the index left to Postgres, by reason.",
    ["reason"],
)
FACET_INDEX_AGE = Gauge(
    "sichrplace_facet_index_age_seconds",
    "Seconds since the changes this process's facet index answers with were read (its last "
    "look for changes, or load); NaN until its first load.",
)
