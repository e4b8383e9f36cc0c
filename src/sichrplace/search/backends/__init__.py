"""Search backends: what counts the facets and picks the listings of a page (ADR 0005).

`base.SearchBackend` is the interface the service uses; `postgres.PostgresBackend` answers
everything with SQL; `index.IndexBackend` answers what the in-process index can (counts,
newest and rent pages, the first relevance window) and hands the rest to Postgres. The
setting `SICHRPLACE_SEARCH_BACKEND` (index | postgres) picks one (sichrplace/composition.py).
"""
