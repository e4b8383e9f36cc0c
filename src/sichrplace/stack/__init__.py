"""The local production-like stack: layout, rendering, Postgres bootstrap, supervision."""
