"""Which metric names a dashboard may use: ours (read from the prometheus_client registry
after importing every module that defines metrics), the exporters' and Prometheus' own
(listed here, as the Debian packages the stack runs export them), and the recording rules
(read from deploy/prometheus/rules/)."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

from sichrplace.config import PROJECT_ROOT

RULES_DIR = PROJECT_ROOT / "deploy" / "prometheus" / "rules"

# Every module that registers metrics: the API app (which imports the domains' metrics), the
# worker's, and those no process imports yet (business counters, web vitals).
METRIC_MODULES = (
    "sichrplace.app",
    "sichrplace.platform.jobs.worker",
    "sichrplace.platform.observability.business",
    "sichrplace.platform.observability.web_vitals",
    # Backups and restore drills: the worker serves them (the backup jobs import it).
    "sichrplace.stack.backup.metrics",
    # Synthetic journeys: the worker serves them (the synthetic job imports it).
    "sichrplace.ops.synthetic.metrics",
)

# Prometheus itself: `up` per scrape target.
PROMETHEUS = frozenset({"up"})

# prometheus-postgres-exporter 0.11.1 (Debian bookworm) with its default collectors, checked
# by running it against the stack's primary; pg_stat_statements_* come from our query file
# deploy/prometheus/postgres-exporter/queries.yaml (the 0.11 built-ins have no such
# collector, and Debian's example query reads columns Postgres 13+ renamed).
POSTGRES_EXPORTER = frozenset(
    {
        "pg_up",
        "pg_stat_activity_count",
        "pg_stat_activity_max_tx_duration",
        "pg_settings_max_connections",
        "pg_stat_database_numbackends",
        "pg_stat_database_xact_commit",
        "pg_stat_database_xact_rollback",
        "pg_stat_database_blks_hit",
        "pg_stat_database_blks_read",
        "pg_stat_database_deadlocks",
        "pg_stat_database_temp_bytes",
        "pg_stat_replication_pg_wal_lsn_diff",
        "pg_replication_slots_pg_wal_lsn_diff",
        "pg_locks_count",
        "pg_database_size_bytes",
        "pg_stat_archiver_failed_count",
        "pg_stat_archiver_last_archive_age",
        "pg_stat_statements_calls",
        "pg_stat_statements_total_exec_time_seconds",
        "pg_stat_statements_mean_exec_time_seconds",
        "pg_stat_statements_rows",
    }
)

# prometheus-pgbouncer-exporter 1.7 (Debian bookworm): SHOW POOLS / STATS / DATABASES / LISTS.
PGBOUNCER_EXPORTER = frozenset(
    {
        "pgbouncer_active_clients",
        "pgbouncer_waiting_clients",
        "pgbouncer_pool_size",
        "pgbouncer_reserve_pool",
        "pgbouncer_requests_total",
        "pgbouncer_query_microseconds_total",
        "pgbouncer_used_servers",
        "pgbouncer_free_servers",
        "pgbouncer_used_clients",
        "pgbouncer_free_clients",
    }
)

# prometheus-redis-exporter (Debian bookworm) defaults.
REDIS_EXPORTER = frozenset(
    {
        "redis_up",
        "redis_connected_clients",
        "redis_memory_used_bytes",
        "redis_commands_processed_total",
        "redis_keyspace_hits_total",
        "redis_keyspace_misses_total",
        "redis_evicted_keys_total",
    }
)

# Patroni 3.0's REST API /metrics (Debian bookworm), one set per node.
PATRONI = frozenset(
    {
        "patroni_primary",
        "patroni_replica",
        "patroni_sync_standby",
        "patroni_postgres_running",
        "patroni_postgres_timeline",
        "patroni_cluster_unlocked",
        "patroni_xlog_location",
        "patroni_xlog_replayed_location",
        "patroni_pending_restart",
    }
)

EXTERNAL = PROMETHEUS | POSTGRES_EXPORTER | PGBOUNCER_EXPORTER | REDIS_EXPORTER | PATRONI


def exported_metric_names() -> frozenset[str]:
    """Every sample name our code can export (counters with and without `_total`,
    histograms with `_bucket`, `_count`, `_sum`)."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    return frozenset(REGISTRY._names_to_collectors)  # the registry offers no public listing


def recording_rule_names(rules_dir: Path = RULES_DIR) -> frozenset[str]:
    names: set[str] = set()
    for path in sorted(rules_dir.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names.update(r["record"] for r in group["rules"] if "record" in r)
    return frozenset(names)


def known_metric_names() -> frozenset[str]:
    return exported_metric_names() | EXTERNAL | recording_rule_names()
