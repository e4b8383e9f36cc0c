"""The maintenance SQL: catalogue and statistics reads for `sichrplace db report`, ANALYZE.

One module per concern: `server` (facts, timeouts, extensions), `statements`
(pg_stat_statements), `indexes` (unused, duplicate), `bloat` (tables, indexes), `health`
(replication slots, autovacuum, ANALYZE). Every function takes a connection or session the
caller opened: the caller owns the transaction.
"""
