"""What each dashboard shows, as data: rows of panels, each a few PromQL expressions.

Expressions use only `$__rate_interval` among Grafana's variables (the checks put 5m in its
place to parse and run them). Every metric name they use must be exported by our code, one
of the exporters' in `catalogue.py`, or a recording rule (tests/unit/ops/test_dashboards.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from sichrplace.platform.observability.web_vitals import (
    GOOD_THRESHOLD,
    NAMES,
    POOR_THRESHOLD,
    Vital,
)

R = "$__rate_interval"
Kind = Literal["timeseries", "stat"]


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: Kind = "timeseries"
    description: str = ""


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: tuple[Row, ...]
    tags: tuple[str, ...] = field(default=("sichrplace",))


def _p(
    title: str,
    *queries: tuple[str, str],
    unit: str = "short",
    kind: Kind = "timeseries",
    description: str = "",
) -> Panel:
    return Panel(title, tuple(Query(e, legend) for e, legend in queries), unit, kind, description)


def _quantile(q: float, metric: str, by: str, selector: str = "") -> str:
    sel = "{" + selector + "}" if selector else ""
    return f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{sel}[{R}])))"


API_RED = Dashboard(
    uid="sichrplace-api-red",
    title="SichrPlace / API: rate, errors, duration",
    description="Requests per route template, their errors and latency; in flight and admission.",
    rows=(
        Row(
            "Traffic",
            (
                _p(
                    "Requests per second by route",
                    (f"sum by (route) (rate(sichrplace_http_requests_total[{R}]))", "{{route}}"),
                    unit="reqps",
                ),
                _p(
                    "Requests per second by status",
                    (f"sum by (status) (rate(sichrplace_http_requests_total[{R}]))", "{{status}}"),
                    unit="reqps",
                ),
            ),
        ),
        Row(
            "Errors",
            (
                _p(
                    "5xx share by route",
                    (
                        'sum by (route) (rate(sichrplace_http_requests_total{status=~"5.."}'
                        f"[{R}]))"
                        f" / sum by (route) (rate(sichrplace_http_requests_total[{R}]))",
                        "{{route}}",
                    ),
                    unit="percentunit",
                ),
                _p(
                    "4xx per second by route",
                    (
                        'sum by (route) (rate(sichrplace_http_requests_total{status=~"4.."}'
                        f"[{R}]))",
                        "{{route}}",
                    ),
                    unit="reqps",
                ),
            ),
        ),
        Row(
            "Duration",
            (
                _p(
                    "p95 latency by route",
                    (
                        _quantile(0.95, "sichrplace_http_request_duration_seconds", "route"),
                        "{{route}}",
                    ),
                    unit="s",
                ),
                _p(
                    "p99 latency by route",
                    (
                        _quantile(0.99, "sichrplace_http_request_duration_seconds", "route"),
                        "{{route}}",
                    ),
                    unit="s",
                ),
            ),
        ),
        Row(
            "Saturation",
            (
                _p(
                    "Requests in flight per instance",
                    ("sum by (instance) (sichrplace_http_requests_in_flight)", "{{instance}}"),
                ),
                _p(
                    "Admission: waiting and p95 wait",
                    (
                        'sum by (instance) (sichrplace_bulkhead_waiting{bulkhead="requests"})',
                        "waiting {{instance}}",
                    ),
                    (
                        _quantile(
                            0.95,
                            "sichrplace_bulkhead_wait_seconds",
                            "instance",
                            'bulkhead="requests"',
                        ),
                        "p95 wait {{instance}}",
                    ),
                ),
                _p(
                    "Bulkhead rejections (503) per second",
                    (
                        f"sum by (bulkhead) (rate(sichrplace_bulkhead_rejected_total[{R}]))",
                        "{{bulkhead}}",
                    ),
                    unit="reqps",
                ),
            ),
        ),
    ),
)

_SLO_NAMES = (
    "api-availability",
    "search-latency",
    "api-latency",
    "booking-success",
    "payment-success",
)


def _budget_left(slo: str) -> str:
    # Share of the 30-day error budget not yet spent: 1 - (bad ratio over 30d / budget).
    return (
        f'1 - (slo:sli_error:ratio_rate30d{{slo="{slo}"}}'
        f' / on (slo) slo:error_budget:ratio{{slo="{slo}"}})'
    )


SLOS = Dashboard(
    uid="sichrplace-slos",
    title="SichrPlace / SLOs and error budgets",
    description="Each SLO's error ratio, burn rate and the share of its 30-day budget left "
    "(recording rules of deploy/prometheus/rules/slo.rules.yml).",
    rows=(
        Row(
            "Error budget left (30 days)",
            tuple(
                _p(slo, (_budget_left(slo), slo), unit="percentunit", kind="stat")
                for slo in _SLO_NAMES
            ),
        ),
        Row(
            "Burn rate",
            (
                _p(
                    "Burn rate over 1h (page at 14.4)",
                    (
                        "slo:sli_error:ratio_rate1h / on (slo) group_left slo:error_budget:ratio",
                        "{{slo}}",
                    ),
                ),
                _p(
                    "Burn rate over 6h (page at 6)",
                    (
                        "slo:sli_error:ratio_rate6h / on (slo) group_left slo:error_budget:ratio",
                        "{{slo}}",
                    ),
                ),
                _p(
                    "Burn rate over 3d (ticket at 1)",
                    (
                        "slo:sli_error:ratio_rate3d / on (slo) group_left slo:error_budget:ratio",
                        "{{slo}}",
                    ),
                ),
            ),
        ),
        Row(
            "Error ratio",
            (
                _p(
                    "Bad events share over 5m",
                    ("slo:sli_error:ratio_rate5m", "{{slo}}"),
                    unit="percentunit",
                ),
                _p("Objective", ("slo:objective:ratio", "{{slo}}"), unit="percentunit"),
            ),
        ),
    ),
)

POSTGRES = Dashboard(
    uid="sichrplace-postgres",
    title="SichrPlace / Postgres",
    description="Connections, the apps' pools, replica lag, transactions and slow statements "
    "(postgres-exporter, and the app's own pool and lag metrics).",
    rows=(
        Row(
            "Connections",
            (
                _p(
                    "Server connections by state",
                    ("sum by (instance, state) (pg_stat_activity_count)", "{{instance}} {{state}}"),
                    ("max by (instance) (pg_settings_max_connections)", "max {{instance}}"),
                ),
                _p(
                    "App pools: in use / size",
                    (
                        'sum by (job, engine) (sichrplace_db_pool_connections{state="in_use"})',
                        "in use {{job}} {{engine}}",
                    ),
                    ("sum by (job, engine) (sichrplace_db_pool_size)", "size {{job}} {{engine}}"),
                ),
                _p(
                    "App pool checkout p95",
                    (
                        _quantile(0.95, "sichrplace_db_pool_wait_seconds", "job, engine"),
                        "{{job}} {{engine}}",
                    ),
                    unit="s",
                ),
            ),
        ),
        Row(
            "Replication",
            (
                _p(
                    "Replica lag (seconds, as the API sees it)",
                    ("max by (instance) (sichrplace_db_replica_lag_seconds)", "{{instance}}"),
                    unit="s",
                ),
                _p(
                    "Replica lag (bytes)",
                    ("max by (instance) (sichrplace_db_replica_lag_bytes)", "app {{instance}}"),
                    (
                        "max by (instance) (pg_stat_replication_pg_wal_lsn_diff)",
                        "primary {{instance}}",
                    ),
                    unit="bytes",
                ),
                _p(
                    "Replica used for reads",
                    ("min(sichrplace_db_replica_usable)", "usable"),
                    kind="stat",
                ),
            ),
        ),
        Row(
            "Work",
            (
                _p(
                    "Transactions per second",
                    (
                        f"sum by (instance) (rate(pg_stat_database_xact_commit[{R}]))",
                        "commit {{instance}}",
                    ),
                    (
                        f"sum by (instance) (rate(pg_stat_database_xact_rollback[{R}]))",
                        "rollback {{instance}}",
                    ),
                    unit="ops",
                ),
                _p(
                    "Buffer cache hit ratio",
                    (
                        f"sum by (instance) (rate(pg_stat_database_blks_hit[{R}]))"
                        " / (sum by (instance)"
                        f" (rate(pg_stat_database_blks_hit[{R}])) + sum by (instance)"
                        f" (rate(pg_stat_database_blks_read[{R}])))",
                        "{{instance}}",
                    ),
                    unit="percentunit",
                ),
                _p(
                    "Slowest statements (mean ms, top 10)",
                    (
                        "topk(10, max by (queryid) (pg_stat_statements_mean_exec_time_seconds))",
                        "{{queryid}}",
                    ),
                    unit="s",
                ),
                _p(
                    "Most time spent (top 10 by total)",
                    (
                        "topk(10, sum by (queryid)"
                        f" (rate(pg_stat_statements_total_exec_time_seconds[{R}])))",
                        "{{queryid}}",
                    ),
                    unit="s",
                ),
            ),
        ),
    ),
)

PGBOUNCER = Dashboard(
    uid="sichrplace-pgbouncer",
    title="SichrPlace / PgBouncer pools",
    description="Clients served and waiting per pool, server connections (pgbouncer-exporter).",
    rows=(
        Row(
            "Pools",
            (
                _p(
                    "Active clients by database",
                    ("sum by (database) (pgbouncer_active_clients)", "{{database}}"),
                ),
                _p(
                    "Waiting clients by database",
                    ("sum by (database) (pgbouncer_waiting_clients)", "{{database}}"),
                ),
                _p(
                    "Server connections used / free",
                    ("sum(pgbouncer_used_servers)", "used"),
                    ("sum(pgbouncer_free_servers)", "free"),
                ),
                _p(
                    "Queries per second by database",
                    (f"sum by (database) (rate(pgbouncer_requests_total[{R}]))", "{{database}}"),
                    unit="ops",
                ),
            ),
        ),
    ),
)

CACHE = Dashboard(
    uid="sichrplace-cache",
    title="SichrPlace / Cache",
    description="Cache-aside results per domain, hit ratio, Redis errors, near tier.",
    rows=(
        Row(
            "Cache",
            (
                _p(
                    "Hit ratio by domain (10m)",
                    ("domain:sichrplace_cache_hit:ratio_rate10m", "{{domain}}"),
                    unit="percentunit",
                ),
                _p(
                    "Lookups per second by result",
                    (f"sum by (result) (rate(sichrplace_cache_requests_total[{R}]))", "{{result}}"),
                    unit="ops",
                ),
                _p(
                    "Near-tier hits per second by domain",
                    (
                        f"sum by (domain) (rate(sichrplace_cache_near_hits_total[{R}]))",
                        "{{domain}}",
                    ),
                    unit="ops",
                ),
                _p(
                    "Redis errors per second",
                    (
                        f"sum by (operation) (rate(sichrplace_cache_redis_errors_total[{R}]))",
                        "{{operation}}",
                    ),
                    ("min(sichrplace_cache_near_live)", "near tier live"),
                ),
                _p("Redis memory", ("max(redis_memory_used_bytes)", "memory"), unit="bytes"),
            ),
        ),
    ),
)

FACET_INDEX = Dashboard(
    uid="sichrplace-facet-index",
    title="SichrPlace / Facet index",
    description="Freshness, loads, size and fallbacks of each API instance's facet index.",
    rows=(
        Row(
            "Freshness",
            (
                _p(
                    "Age (alert above 300 s)",
                    ("max by (instance) (sichrplace_facet_index_age_seconds)", "{{instance}}"),
                    unit="s",
                ),
                _p(
                    "Loads by outcome",
                    (
                        "sum by (outcome) (increase(sichrplace_facet_index_loads_total[1h]))",
                        "{{outcome}}",
                    ),
                ),
                _p(
                    "Changes applied per second",
                    (
                        f"sum by (instance) (rate(sichrplace_facet_index_changes_total[{R}]))",
                        "{{instance}}",
                    ),
                    unit="ops",
                ),
            ),
        ),
        Row(
            "Work",
            (
                _p(
                    "Listings and bytes",
                    ("max by (instance) (sichrplace_facet_index_rows)", "rows {{instance}}"),
                    ("max by (instance) (sichrplace_facet_index_bytes)", "bytes {{instance}}"),
                ),
                _p(
                    "Counts and pages by source",
                    (
                        f"sum by (source) (rate(sichrplace_facet_counts_total[{R}]))",
                        "counts {{source}}",
                    ),
                    (
                        f"sum by (source) (rate(sichrplace_search_pages_total[{R}]))",
                        "pages {{source}}",
                    ),
                    unit="ops",
                ),
                _p(
                    "Fallbacks to Postgres by reason",
                    (
                        f"sum by (reason) (rate(sichrplace_facet_index_fallbacks_total[{R}]))",
                        "{{reason}}",
                    ),
                    unit="ops",
                ),
            ),
        ),
    ),
)

JOBS = Dashboard(
    uid="sichrplace-jobs",
    title="SichrPlace / Job queues",
    description="Depth, oldest waiting job and dead letters per queue (sampled by the "
    "workers), and runs, failures and retries.",
    rows=(
        Row(
            "Queues",
            (
                _p(
                    "Due jobs waiting",
                    ("max by (queue) (sichrplace_jobs_queue_depth)", "{{queue}}"),
                ),
                _p(
                    "Oldest waiting job (alert above 600 s)",
                    ("max by (queue) (sichrplace_jobs_oldest_age_seconds)", "{{queue}}"),
                    unit="s",
                ),
                _p("Dead letters", ("max by (queue) (sichrplace_jobs_dead_letters)", "{{queue}}")),
                _p(
                    "Scheduled and running",
                    ("max by (queue) (sichrplace_jobs_scheduled)", "scheduled {{queue}}"),
                    ("max by (queue) (sichrplace_jobs_running)", "running {{queue}}"),
                ),
            ),
        ),
        Row(
            "Runs",
            (
                _p(
                    "Runs per second by outcome",
                    (f"sum by (outcome) (rate(sichrplace_jobs_runs_total[{R}]))", "{{outcome}}"),
                    unit="ops",
                ),
                _p(
                    "Failures per second by task",
                    (
                        'sum by (task) (rate(sichrplace_jobs_runs_total{outcome="failed"}'
                        f"[{R}]))",
                        "{{task}}",
                    ),
                    unit="ops",
                ),
                _p(
                    "Retries and dead-lettered per second",
                    (
                        f"sum by (queue) (rate(sichrplace_jobs_retries_total[{R}]))",
                        "retry {{queue}}",
                    ),
                    (
                        f"sum by (queue) (rate(sichrplace_jobs_dead_lettered_total[{R}]))",
                        "dead {{queue}}",
                    ),
                    unit="ops",
                ),
                _p(
                    "Run duration p95 by queue",
                    (_quantile(0.95, "sichrplace_jobs_run_duration_seconds", "queue"), "{{queue}}"),
                    unit="s",
                ),
            ),
        ),
    ),
)

INTEGRATIONS = Dashboard(
    uid="sichrplace-integrations",
    title="SichrPlace / Integrations",
    description="Outbound calls per provider: rate by outcome, latency, retries, breakers.",
    rows=(
        Row(
            "Outbound",
            (
                _p(
                    "Calls per second by provider and outcome",
                    (
                        "sum by (dependency, outcome)"
                        f" (rate(sichrplace_outbound_requests_total[{R}]))",
                        "{{dependency}} {{outcome}}",
                    ),
                    unit="ops",
                ),
                _p(
                    "p95 latency by provider",
                    (
                        _quantile(
                            0.95, "sichrplace_outbound_request_duration_seconds", "dependency"
                        ),
                        "{{dependency}}",
                    ),
                    unit="s",
                ),
                _p(
                    "Error share by provider",
                    (
                        "sum by (dependency) (rate(sichrplace_outbound_requests_total"
                        f'{{outcome!="success"}}[{R}]))'
                        f" / sum by (dependency) (rate(sichrplace_outbound_requests_total[{R}]))",
                        "{{dependency}}",
                    ),
                    unit="percentunit",
                ),
                _p(
                    "Retries per second",
                    (
                        f"sum by (dependency) (rate(sichrplace_outbound_retries_total[{R}]))",
                        "{{dependency}}",
                    ),
                    unit="ops",
                ),
                _p(
                    "Breaker state (0 closed, 1 half-open, 2 open)",
                    ("max by (dependency) (sichrplace_circuit_breaker_state)", "{{dependency}}"),
                ),
            ),
        ),
        Row(
            "Business",
            (
                _p(
                    "Registrations and listings published per hour",
                    ("sum by (role) (increase(sichrplace_registrations_total[1h]))", "{{role}}"),
                    ("sum(increase(sichrplace_listings_published_total[1h]))", "listings"),
                ),
                _p(
                    "Bookings and payments per hour by outcome",
                    (
                        "sum by (outcome) (increase(sichrplace_bookings_total[1h]))",
                        "booking {{outcome}}",
                    ),
                    (
                        "sum by (outcome) (increase(sichrplace_payments_total[1h]))",
                        "payment {{outcome}}",
                    ),
                ),
                _p(
                    "Contracts signed and messages sent per hour",
                    ("sum(increase(sichrplace_contracts_signed_total[1h]))", "contracts"),
                    ("sum(increase(sichrplace_messages_sent_total[1h]))", "messages"),
                ),
            ),
        ),
    ),
)

_VITAL_UNITS: dict[Vital, str] = {"lcp": "s", "inp": "s", "cls": "short", "ttfb": "s"}


def _share(metric: str, bound: float, *, above: bool = False) -> str:
    """The share of reports per page at or under `bound` (a bucket bound: exact), or above.
    `le` as the client library writes it (4 is "4.0"): Prometheus 2 compares it as text."""
    within = f'sum by (page) (rate({metric}_bucket{{le="{float(bound)!r}"}}[{R}]))'
    total = f"sum by (page) (rate({metric}_count[{R}]))"
    return f"({total} - {within}) / {total}" if above else f"{within} / {total}"


def _vital_row(vital: Vital) -> Row:
    metric, good, poor = NAMES[vital], GOOD_THRESHOLD[vital], POOR_THRESHOLD[vital]
    return Row(
        vital.upper(),
        (
            _p(
                f"{vital.upper()} p75 by page (Google assesses the 75th percentile)",
                (_quantile(0.75, metric, "page"), "{{page}}"),
                unit=_VITAL_UNITS[vital],
                description=f"Good up to {good:g}, poor above {poor:g}.",
            ),
            _p(
                f"{vital.upper()} good (<= {good:g}) and poor (> {poor:g}) share by page",
                (_share(metric, good), "good {{page}}"),
                (_share(metric, poor, above=True), "poor {{page}}"),
                unit="percentunit",
            ),
        ),
    )


_REPORTS = Row(
    "Reports",
    (
        _p(
            "Reports recorded per second by vital",
            *(
                (f"sum(rate({NAMES[v]}_count[{R}]))", v.upper())
                for v in ("lcp", "inp", "cls", "ttfb")
            ),
            unit="reqps",
        ),
        _p(
            "Reports not recorded per second by reason",
            (
                f"sum by (reason) (rate(sichrplace_web_vitals_reports_rejected_total[{R}]))",
                "{{reason}}",
            ),
            unit="reqps",
            description="invalid (4xx naming the field), too_large (413), rate_limited (429), "
            "duplicate (a metric id seen before).",
        ),
    ),
)

WEB_VITALS_DASHBOARD = Dashboard(
    uid="sichrplace-web-vitals",
    title="SichrPlace / Core Web Vitals (RUM)",
    description="Real users' Core Web Vitals by page template, as the browsers report them "
    "to POST /api/v1/rum (web/rum.py, platform/observability/web_vitals.py).",
    rows=(*(_vital_row(v) for v in get_args(Vital)), _REPORTS),
)

DASHBOARDS = (
    API_RED,
    SLOS,
    POSTGRES,
    PGBOUNCER,
    CACHE,
    FACET_INDEX,
    JOBS,
    INTEGRATIONS,
    WEB_VITALS_DASHBOARD,
)
