"""Database maintenance: `sichrplace db report` (statements, index usage, bloat, replication
slots, autovacuum) and the nightly ANALYZE of bulk-loaded tables (docs/operations.md,
"Maintenance: autovacuum, analyze, reports")."""
