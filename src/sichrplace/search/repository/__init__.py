"""All search SQL: text statements with column projections, run through a `ReplicaSession`.

- `where`: the where-clause every statement shares (built from the filter registry), the
  statement type and the driver-level fetches;
- `pages`: result pages (keyset, nearest-first, relevance tiers, listings named by the index);
- `facets`: the facet counts;
- `stats`: what the planner advice reads (density grid and its sample, word statistics);
- `index_feed`: what the in-process index reads (full load, changes, postings).

The statement text depends only on *which* filters are present (values are bound), so the
shapes stay few and their plans are the ones documented in docs/performance.md. `status =
'active'` is a literal so the partial indexes of migration 0005 match.
"""
